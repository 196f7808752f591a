"""Emission factors (shipped, sourced, overridable) and emissions arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from greenpipe.config import load_config
from greenpipe.emissions import (
    avoided_co2_kg,
    co2_kg,
    factor_kg_per_kwh,
    grid_import_kwh,
    load_factors,
    normalise_basis,
)


@dataclass
class _Override:
    kind: str
    ef_kg_per_kwh: float
    source: str
    grid_region: str = "japan"
    fiscal_year: int | None = None
    basis: str = "location"
    retailer: str = ""
    menu: str = ""


def test_shipped_defaults_and_sources() -> None:
    table = load_factors()
    ef = table.lookup("electricity", "japan", 2023, "location")
    assert ef.ef_kg_per_kwh == 0.485
    assert "Our World in Data" in ef.source
    # City gas: 0.0136 t-C/GJ x 44/12 x 0.0036 GJ/kWh.
    assert_allclose(table.lookup("gas", "japan", 2024).ef_kg_per_kwh,
                    0.0136 * 44 / 12 * 1000 * 0.0036, rtol=1e-4)
    assert_allclose(table.lookup("heat", "japan", 2024).ef_kg_per_kwh, 0.057 * 1000 * 0.0036)
    assert table.lookup("pv", "japan", 2024).ef_kg_per_kwh == 0.0
    assert all(f.source for f in table.factors)


def test_fallbacks_region_year_kind_basis() -> None:
    table = load_factors()
    # Unknown region -> national; years before the first entry -> earliest; future -> latest.
    assert table.lookup("electricity", "tepco", 2013).ef_kg_per_kwh == 0.485
    assert table.lookup("electricity", "tepco", 2030, "adjusted").basis == "market"
    assert table.lookup("ev_charging", "tepco", 2025).kind == "electricity"
    # Gas has one value for both bases.
    assert table.lookup("gas", "japan", 2025, "market").ef_kg_per_kwh == pytest.approx(0.17952)
    with pytest.raises(ValueError, match="no emission factor for kind 'weather'"):
        table.lookup("weather", "japan", 2025)
    with pytest.raises(ValueError, match="unknown emission basis"):
        normalise_basis("residual")


def test_overrides_by_year_and_for_all_years() -> None:
    table = load_factors(overrides=[
        _Override("electricity", 0.45, "retailer FY2024", "tepco", 2024, "basic"),
        _Override("gas", 0.2, "own measurement"),
    ])
    assert table.lookup("electricity", "tepco", 2023).ef_kg_per_kwh == 0.45  # earliest
    assert table.lookup("electricity", "tepco", 2026).ef_kg_per_kwh == 0.45
    assert table.lookup("electricity", "tepco", 2026).source == "config: retailer FY2024"
    assert table.lookup("electricity", "tepco", 2026, "market").ef_kg_per_kwh == 0.485
    assert table.lookup("gas", "japan", 2013).ef_kg_per_kwh == 0.2
    assert table.lookup("gas", "japan", 2030).ef_kg_per_kwh == 0.2


def test_config_overrides_feed_the_table() -> None:
    cfg = load_config()
    table = load_factors(overrides=cfg.emission_factors)
    assert table.lookup("electricity", "tepco", 2025).ef_kg_per_kwh == 0.485


def test_factor_at_instant_uses_fiscal_year() -> None:
    table = load_factors(overrides=[
        _Override("electricity", 0.50, "a", "japan", 2024),
        _Override("electricity", 0.40, "b", "japan", 2025),
    ])
    # 2025-03-31T15:00Z = 2025-04-01 00:00 JST -> FY2025.
    assert factor_kg_per_kwh("electricity", "japan", datetime(2025, 3, 31, 15, tzinfo=UTC),
                             table=table) == 0.40
    assert factor_kg_per_kwh("electricity", "japan", datetime(2025, 3, 31, 14, tzinfo=UTC),
                             table=table) == 0.50


def test_co2_per_row_hand_computed() -> None:
    table = load_factors(overrides=[
        _Override("electricity", 0.50, "a", "japan", 2024),
        _Override("electricity", 0.40, "b", "japan", 2025),
    ])
    frame = pd.DataFrame({
        "bucket": pd.to_datetime(["2025-03-30T15:00Z", "2025-03-31T15:00Z",
                                  "2025-03-31T15:00Z", "2025-04-01T15:00Z"], utc=True),
        "kind": ["electricity", "electricity", "gas", "pv"],
        "grid_region": ["tepco", "tepco", "tepco", "tepco"],
        "energy_kwh": [100.0, 100.0, 1000.0, np.nan],
    })
    got = co2_kg(frame, table=table)
    assert_allclose(got.to_numpy(), [50.0, 40.0, 179.52, np.nan], rtol=1e-6)
    assert got.name == "co2_kg"
    assert co2_kg(frame.iloc[:0], table=table).empty
    naive = frame.assign(bucket=frame["bucket"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-naive"):
        co2_kg(naive, table=table)


def test_avoided_and_grid_import() -> None:
    assert avoided_co2_kg(1000.0, 0.485) == pytest.approx(485.0)
    assert_allclose(avoided_co2_kg(np.array([10.0, -2.0]), 0.5), [5.0, -1.0])
    with pytest.raises(ValueError):
        avoided_co2_kg(1.0, float("nan"))
    assert_allclose(grid_import_kwh(np.array([10.0, 3.0]), np.array([4.0, 5.0])), [6.0, 0.0])


def test_co2_per_row_equals_the_factor_at_each_rows_instant() -> None:
    """Rows of several kinds, grid regions and fiscal years, shuffled and with repeated
    instants: each row's CO2 is its energy times ``factor_kg_per_kwh`` at its own instant
    (the per-distinct look-ups spread back to the right rows), exactly, on both bases."""
    table = load_factors(overrides=[
        _Override("electricity", 0.50, "a", "tepco", 2024),
        _Override("electricity", 0.40, "b", "tepco", 2025),
        _Override("electricity", 0.30, "c", "kansai", 2025),
    ])
    rng = np.random.default_rng(7)
    instants = pd.date_range("2024-03-25T15:00Z", "2026-04-05T15:00Z", freq="7D")
    n = 300
    frame = pd.DataFrame({
        "bucket": instants[rng.integers(0, len(instants), n)],
        "kind": rng.choice(["electricity", "gas", "pv"], n),
        "grid_region": rng.choice(["tepco", "kansai", "japan"], n),
        "energy_kwh": rng.uniform(0.0, 1000.0, n),
    })
    rows = list(frame[["bucket", "kind", "grid_region", "energy_kwh"]].itertuples(index=False))
    for basis in ("location", "market"):
        factors = [factor_kg_per_kwh(k, r, b.to_pydatetime(), table=table, basis=basis)
                   for b, k, r, _ in rows]
        assert len(set(factors)) >= 3  # kinds, regions and fiscal years matter
        got = co2_kg(frame, table=table, basis=basis)
        assert got.to_numpy().tolist() == [row[3] * f for row, f in zip(rows, factors,
                                                                       strict=True)]
