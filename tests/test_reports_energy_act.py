"""Energy Conservation Act arithmetic against hand-computed values (reports.energy_act)."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from greenpipe.energy_factors import load_conversions
from reports import energy_act as ea

T = load_conversions()
THRESHOLDS = {t.id: t.value for t in T.thresholds}


def test_every_factor_has_a_source_and_a_verified_flag() -> None:
    assert T.factors and T.thresholds
    for f in T.factors:
        assert f.source and f.unit
    # The ones we could not verify say so.
    assert not T.require("electricity_gj_per_mwh", 2022).verified
    assert T.require("electricity_gj_per_mwh", 2023).verified


def test_kl_conversion_and_the_electricity_switch_at_fy2023() -> None:
    # 1,000 MWh: FY2022 data at 9.76 GJ/MWh = 9,760 GJ = 251.808 kL;
    # FY2023 data at 8.64 GJ/MWh = 8,640 GJ = 222.912 kL.
    fy22 = ea.energy_gj("electricity_purchased", 1_000_000.0, 2022, T)
    fy23 = ea.energy_gj("electricity_purchased", 1_000_000.0, 2023, T)
    assert_allclose([fy22.gj, fy23.gj], [9760.0, 8640.0])
    assert_allclose(ea.crude_oil_kl(9760.0, T, 2022), 251.808)
    assert_allclose(ea.crude_oil_kl(8640.0, T, 2023), 222.912)
    assert fy22.factor is not None and fy22.factor.value == 9.76
    # Earlier years use the earliest (applies_before) entry; later years the newest.
    assert ea.energy_gj("electricity_purchased", 1000.0, 2010, T).gj == pytest.approx(9.76)
    assert ea.energy_gj("electricity_purchased", 1000.0, 2030, T).gj == pytest.approx(8.64)


def test_gas_as_energy_pv_and_heat() -> None:
    # 10,000 kWh of gas x 3.6 MJ/kWh = 36 GJ.
    assert ea.energy_gj("city_gas", 10_000.0, 2025, T).gj == pytest.approx(36.0)
    # Volume: 2 thousand Nm3 x 45 GJ/thousand Nm3 (Tokyo Gas) = 90 GJ.
    heat = T.require("city_gas_tokyo_gas_gj_per_thousand_nm3", 2025).value
    assert ea.gas_gj_from_volume(2.0, heat) == pytest.approx(90.0)
    # Own PV is energy under the Act only from FY2023 data; heat has no verified factor.
    assert ea.energy_gj("pv_self_consumption", 1000.0, 2022, T).gj is None
    assert ea.energy_gj("pv_self_consumption", 1000.0, 2023, T).gj == pytest.approx(8.64)
    assert ea.energy_gj("heat", 1000.0, 2025, T).gj is None


def test_intensity_average_and_yoy() -> None:
    # 100 -> 96 over 5 years: (0.96 ** (1/4) - 1) x 100 = -1.0153 %/yr.
    assert_allclose(ea.avg_change_pct([100.0, 99.0, 98.0, 97.0, 96.0]),
                    (0.96 ** 0.25 - 1) * 100, rtol=1e-12)
    assert_allclose(ea.avg_change_pct([100.0, 96.0]), -4.0)
    assert ea.avg_change_pct([100.0]) is None
    assert ea.avg_change_pct([100.0, None, 98.0]) is None
    assert_allclose(ea.yoy_change_pct(103.0, 100.0), 3.0)
    assert ea.yoy_change_pct(103.0, None) is None


@pytest.mark.parametrize(("avg", "yoys", "expected"), [
    (-1.0, [2.0, 3.0], "S"),           # target met (exactly 1 %/yr) wins over rising years
    (-0.99, [-1.0, 0.5], "A"),         # missed, but not up two years running
    (-0.5, [0.1, 0.2], "B"),           # missed and up two years running
    (5.01, [-3.0, -1.0], "B"),         # 5-year average up more than 5 %
    (5.0, [-3.0, 1.0], "A"),           # exactly 5 % is not "more than"
    (None, [1.0, 1.0], None),
])
def test_class_rules(avg: float | None, yoys: list[float], expected: str | None) -> None:
    assert ea.energy_class(avg, yoys, THRESHOLDS) == expected


def test_nonfossil_rules_from_the_2023_revision() -> None:
    # A = 30 % certificates: 30 + 70 x 0.13 = 39.1 %.
    assert_allclose(ea.purchased_nonfossil_fraction(30.0, T, 2025), 0.391)
    assert ea.purchased_nonfossil_fraction(30.0, T, 2022) is None
    # Share: (PV 100 GJ x 1.2 + purchased non-fossil 50 GJ) / 1,000 GJ = 17 %.
    assert_allclose(ea.nonfossil_share_pct(1000.0, 100.0, 50.0, T, 2025), 17.0)
    # Intensity numerator: (1,000 - 200) + 200 x 0.8 = 960 GJ; no weight before FY2023.
    assert_allclose(ea.intensity_numerator_gj(1000.0, 200.0, T, 2025), 960.0)
    assert_allclose(ea.intensity_numerator_gj(1000.0, 200.0, T, 2022), 1000.0)
