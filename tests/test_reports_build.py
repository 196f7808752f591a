"""Reports built from a real SQLite store, checked against hand-computed totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from numpy.testing import assert_allclose

from greenpipe.config import Config, config_from_dict
from greenpipe.model import ProductionRecord, Reading
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from reports.build import build_reports

FY_START_2022 = datetime(2022, 3, 31, 15, tzinfo=UTC)  # 2022-04-01 00:00 JST


def city(**extra: Any) -> Config:
    raw: dict[str, Any] = {
        "sites": [{"id": "f1", "name": "Plant", "sector": "industry"},
                  {"id": "o1", "name": "Office", "sector": "commercial"},
                  {"id": "pv", "name": "PV plant", "sector": "public"}],
        "meters": [{"id": "f1-e", "site": "f1", "kind": "electricity"},
                   {"id": "f1-g", "site": "f1", "kind": "gas"},
                   {"id": "f1-pv", "site": "f1", "kind": "pv"},
                   {"id": "f1-out", "site": "f1", "kind": "production", "unit": "t"},
                   {"id": "o1-e", "site": "o1", "kind": "electricity"},
                   {"id": "pv-1", "site": "pv", "kind": "pv"}],
        "companies": [{"id": "acme", "name": "Acme", "sites": ["f1"]}],
        "site_reporting": [
            {"site": "f1", "retailer": "yonden", "menu": "C", "nonfossil_certificate_pct": 0.0},
            {"site": "o1", "intensity_denominator": "floor_area", "floor_area_m2": 2000.0},
            {"site": "pv", "pv_exported": True}],
    }
    raw.update(extra)
    return config_from_dict(raw, env={})


def fill(store: SqliteStore, days: int, *, start: datetime = FY_START_2022,
         prod: float = 10.0, skip_production_from: int | None = None) -> None:
    """Daily readings stamped at each local midnight (the end of the day they measure)."""
    rs, ps = [], []
    for d in range(1, days + 1):
        ts = start + timedelta(days=d)
        rs += [Reading("f1-e", "f1", ts, energy_kwh=1000.0),
               Reading("f1-g", "f1", ts, energy_kwh=500.0),
               Reading("f1-pv", "f1", ts, energy_kwh=100.0),
               Reading("o1-e", "o1", ts, energy_kwh=200.0),
               Reading("pv-1", "pv", ts, energy_kwh=999.0)]
        if skip_production_from is None or d < skip_production_from:
            ps.append(ProductionRecord("f1-out", "f1", ts, prod))
    store.write(rs)
    store.write_production(ps)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    cfg = city()
    return SqliteStore(tmp_path / "r.db", Catalog.of(cfg.meters, cfg.sites))


def test_totals_match_hand_computation_and_the_switch_at_fy2023(store: SqliteStore) -> None:
    fill(store, 365 + 366)  # FY2022 (365 days) and FY2023 (366 days, Feb 2024)
    cfg = city()
    r23 = build_reports(cfg, store, 2023)
    f1 = next(s for s in r23.sites if s.site_id == "f1")
    # FY2023: 366 MWh x 8.64 + 183,000 kWh gas x 3.6 MJ + 36.6 MWh PV x 8.64.
    e_gj, g_gj, pv_gj = 366 * 8.64, 183_000 * 3.6e-3, 36.6 * 8.64
    assert_allclose(f1.energy_gj, e_gj + g_gj + pv_gj)
    assert_allclose(f1.crude_oil_kl, (e_gj + g_gj + pv_gj) * 0.0258)
    assert_allclose(f1.intensity, (e_gj + g_gj + pv_gj) / 3660.0)
    # FY2022: 9.76 GJ/MWh and no PV (not energy under the Act before FY2023).
    y22 = f1.years[2022]
    assert_allclose(y22.energy_gj, 365 * 9.76 + 182_500 * 3.6e-3)
    assert y22.energy_gj_by_type["pv_self_consumption"] is None
    assert_allclose(f1.yoy_change_pct,
                    ((e_gj + g_gj + pv_gj) / 3660) / (y22.energy_gj / 3650) * 100 - 100)
    # Non-fossil share: (PV x 1.2 + purchased x 13 %) / total.
    assert_allclose(f1.nonfossil_share_pct, (pv_gj * 1.2 + e_gj * 0.13) / f1.energy_gj * 100)
    # CO2: Shikoku Electric menu C FY2023 0.464 (basic = adjusted) + gas 0.17952.
    assert_allclose(f1.co2_basic_t, 366_000 * 0.464 / 1000 + 183_000 * 0.17952 / 1000)
    assert f1.energy_class is not None and f1.avg_years == 2
    # The office: per floor area; national default with a named warning.
    o1 = next(s for s in r23.sites if s.site_id == "o1")
    assert_allclose(o1.intensity, 73.2 * 8.64 / 2000.0)
    assert o1.intensity_unit == "GJ/m2"
    codes = {(w.code, w.scope) for w in r23.warnings}
    assert ("ghg.retailer_without_factors", "site:o1") in codes
    # The exporting PV plant is not a consumer: left out, with a warning, not a zero.
    assert "pv" not in {s.site_id for s in r23.sites}
    assert ("report.no_energy_meters", "site:pv") in codes
    # Companies: acme owns f1; o1 is its own company; thresholds unweighted.
    comp = {c.company_id: c for c in r23.companies}
    assert_allclose(comp["acme"].crude_oil_kl, f1.crude_oil_kl)
    assert comp["site:o1"].site_ids == ["o1"] and not comp["acme"].specified
    # A reading stamped 2023-04-01 00:00 JST measures March: it belongs to FY2022 (365 days).
    assert y22.energy_kwh["electricity_purchased"] == 365_000.0


def test_partial_year_is_partial_not_scaled_and_production_gaps_are_named(
        store: SqliteStore) -> None:
    fill(store, 100, skip_production_from=1)  # FY2022 Apr-early Jul, no production at all
    rs = build_reports(city(), store, 2022)
    f1 = next(s for s in rs.sites if s.site_id == "f1")
    assert f1.partial and f1.years[2022].months_with_data == 4
    assert_allclose(f1.energy_gj, 100 * 9.76 + 50_000 * 3.6e-3)  # 100 days, not x 365/100
    assert f1.intensity is None and f1.energy_class is None
    codes = {w.code for w in f1.warnings}
    assert {"report.partial_year", "report.production_missing"} <= codes
    assert rs.total()["partial"] is True


def test_unknown_production_unit_and_retailer_change_recomputes(store: SqliteStore) -> None:
    fill(store, 365)
    store.write_production([ProductionRecord("ghost", "f1", FY_START_2022 + timedelta(days=3),
                                             99.0)])
    cfg = city()
    rs = build_reports(cfg, store, 2022)
    f1 = next(s for s in rs.sites if s.site_id == "f1")
    assert "report.unknown_unit" in {w.code for w in f1.warnings}
    assert_allclose(f1.years[2022].production, 3650.0)  # the ghost meter is left out
    # FY2022 uses Shikoku's FY2021 results: adjusted 0.532.
    assert_allclose(f1.co2_adjusted_t, 365_000 * 0.532 / 1000 + 182_500 * 0.17952 / 1000)
    other = replace(cfg, site_reporting=tuple(
        replace(r, retailer="", menu="") if r.site == "f1" else r for r in cfg.site_reporting))
    f1b = next(s for s in build_reports(other, store, 2022).sites if s.site_id == "f1")
    assert_allclose(f1b.co2_adjusted_t, 365_000 * 0.485 / 1000 + 182_500 * 0.17952 / 1000)


def test_selection_errors_are_clear(store: SqliteStore) -> None:
    from greenpipe.errors import GreenpipeError

    with pytest.raises(GreenpipeError, match="no such company"):
        build_reports(city(), store, 2025, company="nope")
    with pytest.raises(GreenpipeError, match="no such site"):
        build_reports(city(), store, 2025, site="nope")
    rs = build_reports(city(), store, 2025, company="acme")
    assert [s.site_id for s in rs.sites] == ["f1"]
    assert rs.sites[0].years[2025].months_with_data == 0


def _fill_years(store: SqliteStore, first_fy: int, growth: float) -> None:
    """Five complete fiscal years from ``first_fy``; daily output grows by ``growth`` a year."""
    from greenpipe.fiscal import fiscal_year_bounds

    rs, ps = [], []
    for k in range(5):
        start, end = fiscal_year_bounds(first_fy + k)
        for d in range(1, (end - start).days + 1):
            ts = start + timedelta(days=d)
            rs += [Reading("f1-e", "f1", ts, energy_kwh=1000.0),
                   Reading("f1-g", "f1", ts, energy_kwh=500.0)]
            ps.append(ProductionRecord("f1-out", "f1", ts, 10.0 * growth ** k))
    store.write(rs)
    store.write_production(ps)


@pytest.mark.parametrize(("growth", "klass"), [(1.02, "S"), (0.98, "B"), (1.005, "A")])
def test_five_year_average_and_class_by_hand(store: SqliteStore, growth: float,
                                             klass: str) -> None:
    _fill_years(store, 2023, growth)  # FY2023-FY2027, all at 8.64 GJ/MWh
    f1 = next(s for s in build_reports(city(), store, 2027).sites if s.site_id == "f1")
    # Energy per day is constant, output per day x growth a year: I_k = I_0 / growth^k.
    assert f1.avg_years == 5
    assert_allclose(f1.intensity_5y_avg_change_pct, (1 / growth - 1) * 100, rtol=1e-9)
    assert_allclose(f1.yoy_change_pct, (1 / growth - 1) * 100, rtol=1e-9)
    assert f1.energy_class == klass
    assert f1.meets_target is (klass == "S")
    assert "report.short_history" not in {w.code for w in f1.warnings}


def test_a_partial_year_never_enters_a_change_or_a_class(store: SqliteStore) -> None:
    fill(store, 365 + 30)  # FY2022 complete, FY2023 only its first 30 days
    fy22 = next(s for s in build_reports(city(), store, 2022).sites if s.site_id == "f1")
    assert fy22.intensity is not None and fy22.energy_class is None
    assert "report.short_history" in {w.code for w in fy22.warnings}
    fy23 = next(s for s in build_reports(city(), store, 2023).sites if s.site_id == "f1")
    assert fy23.partial and fy23.intensity is not None  # shown, for its 30 days
    assert fy23.yoy_change_pct is None and fy23.energy_class is None


def _numbers(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a report (dataclasses, dicts, lists) by its path, for comparison."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_numbers(v, f"{path}.{k}"))
        return out
    if isinstance(value, list | tuple):
        out = {f"{path}#len": len(value)}
        for i, v in enumerate(value):
            out.update(_numbers(v, f"{path}[{i}]"))
        return out
    return {path: value}


def _assert_same_report(got: Any, want: Any) -> None:
    a, b = _numbers(got), _numbers(want)
    assert sorted(a) == sorted(b)
    for key, v in b.items():
        if isinstance(v, float):
            assert a[key] == pytest.approx(v, rel=1e-12, abs=1e-9), key
        else:
            assert a[key] == v, key


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["sqlite", "influx"])
def test_report_from_monthly_rollups_equals_the_raw_daily_build(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The default build (per-meter months: SQLite rollup_1mo, InfluxDB energy_1mo after
    `db rollup`) gives every number of the build from raw daily reads, on both stores,
    after a late reading and a corrected (rewritten) one, and the same numbers on both."""
    cfg = city()
    catalog = Catalog.of(cfg.meters, cfg.sites)
    if kind == "sqlite":
        store: Any = SqliteStore(tmp_path / "r.db", catalog)
    else:
        from greenpipe.stores.influx import InfluxStore
        from greenpipe.stores.influx_admin import init

        server = request.getfixturevalue("influxdb")
        store = InfluxStore(server.store_url(f"rep_{tmp_path.name[-12:]}"), catalog)
        init(store)
    fill(store, 365 + 366)  # FY2022 and FY2023 (February 2024 has 29 days)
    now = FY_START_2022 + timedelta(days=731, hours=1)

    def job() -> None:
        if kind == "influx":
            from greenpipe.stores.influx_admin import run_rollups

            run_rollups(store, hours=24 * 732, every_s=None, now=lambda: now)

    job()
    corrected = Reading("f1-e", "f1", FY_START_2022 + timedelta(days=70), energy_kwh=1234.0)
    late = Reading("f1-g", "f1", FY_START_2022 + timedelta(days=100, hours=3), energy_kwh=42.0)
    store.write([corrected, late])
    job()  # the catch-up run re-rolls the months of both
    try:
        rolled = build_reports(cfg, store, 2023)
        raw = build_reports(cfg, store, 2023, rollups=False)
        _assert_same_report(rolled.sites, raw.sites)
        _assert_same_report(rolled.companies, raw.companies)
        assert rolled.warnings == raw.warnings
        f1 = next(s for s in rolled.sites if s.site_id == "f1")
        # FY2022: 365 days of 1,000 kWh with one day corrected to 1,234; gas + the late 42.
        assert_allclose(f1.years[2022].energy_kwh["electricity_purchased"],
                        365 * 1000.0 + 234.0)
        assert_allclose(f1.years[2022].energy_kwh["city_gas"], 365 * 500.0 + 42.0)
        assert f1.years[2023].months_with_data == 12 and f1.years[2023].partial is False
        assert len(f1.monthly) == 12
    finally:
        store.close()
