"""SHK CO2 with retailer/menu factors, fallbacks and year switches (reports.ghg)."""

from __future__ import annotations

import pytest

from greenpipe.emissions import load_factors
from reports.ghg import co2_t, electricity_factor, source_of_kind
from tests.test_greenpipe_emissions import _Override

TABLE = load_factors()


def test_retailer_factor_switches_at_its_results_year() -> None:
    # Shikoku Electric menu C: FY2021 results basic 0.484 / adjusted 0.532; FY2023 0.464.
    fy22 = co2_t("electricity", 1_000_000.0, 2022, "adjusted", TABLE, retailer="yonden",
                 menu="C")
    assert (fy22.ef_kg_per_kwh, fy22.factor_fy, fy22.co2_t) == (0.532, 2021, 532.0)
    assert co2_t("electricity", 1_000_000.0, 2022, "basic", TABLE, retailer="yonden",
                 menu="C").co2_t == pytest.approx(484.0)
    fy23 = co2_t("electricity", 1_000_000.0, 2023, "basic", TABLE, retailer="yonden", menu="C")
    assert (fy23.factor_fy, fy23.co2_t, fy23.retailer_specific) == (2023, pytest.approx(464.0),
                                                                    True)
    assert "Shikoku Electric" in fy23.factor_source
    zero = co2_t("electricity", 1000.0, 2025, "adjusted", TABLE, retailer="yonden", menu="A")
    assert zero.co2_t == 0.0 and zero.retailer_specific


def test_unknown_retailer_falls_back_to_the_national_default() -> None:
    factor, specific = electricity_factor(TABLE, "tepco_ep", "C", "tepco", 2025, "basic")
    assert not specific
    assert factor.ef_kg_per_kwh == TABLE.lookup("electricity", "japan", 2025).ef_kg_per_kwh
    # Retailer entries never leak into grid-region lookups.
    assert TABLE.lookup("electricity", "japan", 2023, "market").retailer == ""


def test_gas_and_sources() -> None:
    # 10,000 kWh of city gas x 0.17952 kg/kWh = 1.7952 t, same for both bases.
    for basis in ("basic", "adjusted"):
        assert co2_t("city_gas", 10_000.0, 2025, basis, TABLE).co2_t == pytest.approx(1.7952)
    assert source_of_kind("ev_charging") == "electricity"
    assert source_of_kind("pv") is None and source_of_kind("production") is None


def test_config_override_adds_a_retailer_and_keeps_grid_factors() -> None:
    table = TABLE.with_overrides([_Override("electricity", 0.4, "retailer notice",
                                            fiscal_year=2024, basis="adjusted",
                                            retailer="tepco_ep", menu="C")])
    found = table.lookup_retailer("tepco_ep", "C", 2025, "adjusted")
    assert found is not None and found.ef_kg_per_kwh == 0.4
    assert found.source == "config: retailer notice"
    assert table.lookup("electricity", "japan", 2025, "adjusted").ef_kg_per_kwh == 0.485
    assert table.lookup_retailer("tepco_ep", "C", 2025, "basic") is None
