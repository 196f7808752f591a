"""Reports on the simulated example city, checked against totals computed independently.

The store is filled straight from the simulated fleet for FY2025 (hourly, production too).
The expected figures come from plain SQL sums over the stored rows and the factors typed in
here by hand (8.64 GJ/MWh, 3.6 MJ/kWh, 0.0258 kL/GJ, Shikoku Electric menu C 0.464, grid
0.485, city gas 0.17952 kg-CO2/kWh), not from the report code.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from bench.sim_store import fill_store
from greenpipe.config import load_config
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from reports.build import build_reports

FY_START = datetime(2025, 3, 31, 15, tzinfo=UTC)  # 2025-04-01 00:00 JST
FY_END = datetime(2026, 3, 31, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    cfg = load_config(env={})
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    store = SqliteStore(db, Catalog.of(cfg.meters, cfg.sites))
    fill_store(cfg, store, FY_END, 365, production=True)
    rs = build_reports(cfg, store, 2025)
    store.close()
    return db, rs


def _sums(db: Path, sql: str) -> dict[tuple[str, str], float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(sql, (round(FY_START.timestamp() * 1000),
                                  round(FY_END.timestamp() * 1000))).fetchall()
    return {(str(a), str(b)): float(v) for a, b, v in rows}


def test_fy2025_report_matches_independent_totals(city: tuple[Path, object]) -> None:
    db, rs = city
    kwh = _sums(db, "SELECT site_id, kind, SUM(energy_kwh) FROM readings WHERE ts_ms > ? "
                    "AND ts_ms <= ? AND energy_kwh IS NOT NULL GROUP BY site_id, kind")
    out = _sums(db, "SELECT site_id, 'q', SUM(quantity) FROM production WHERE ts_ms > ? "
                    "AND ts_ms <= ? GROUP BY site_id")
    sites = {s.site_id: s for s in rs.sites}  # type: ignore[attr-defined]
    assert "pv-plant" not in sites  # exported PV: not consumption
    for sid, rep in sites.items():
        elec = kwh.get((sid, "electricity"), 0.0) + kwh.get((sid, "ev_charging"), 0.0)
        gas = kwh.get((sid, "gas"), 0.0)
        pv = kwh.get((sid, "pv"), 0.0)
        gj = elec / 1000 * 8.64 + gas * 3.6e-3 + pv / 1000 * 8.64
        assert_allclose(rep.energy_gj, gj, rtol=1e-9, err_msg=sid)
        assert_allclose(rep.crude_oil_kl, gj * 0.0258, rtol=1e-9, err_msg=sid)
        assert not rep.partial and rep.years[2025].months_with_data == 12
        ef = 0.464 if rep.reporting.retailer == "yonden" and rep.reporting.menu == "C" else (
            0.0 if rep.reporting.retailer == "yonden" else 0.485)
        assert_allclose(rep.co2_basic_t, (elec * ef + gas * 0.17952) / 1000, rtol=1e-9,
                        err_msg=sid)
        if sid.startswith("factory"):
            assert_allclose(rep.intensity, gj / out[(sid, "q")], rtol=1e-9, err_msg=sid)
    # Offices use floor area; the city hall is on a renewable menu (0 kg-CO2/kWh).
    assert_allclose(sites["office-1"].intensity, sites["office-1"].energy_gj / 12000.0)
    assert sites["city-hall"].co2_basic_t == pytest.approx(
        kwh[("city-hall", "gas")] * 0.17952 / 1000)
    # The company-wide threshold: factory-1 + factory-2, unweighted.
    comp = {c.company_id: c for c in rs.companies}  # type: ignore[attr-defined]
    assert_allclose(comp["hitachi-demo"].crude_oil_kl,
                    sites["factory-1"].crude_oil_kl + sites["factory-2"].crude_oil_kl)
    assert comp["hitachi-demo"].specified  # a 4 MW continuous plant is far above 1,500 kL
    codes = {(w.code, w.scope) for w in rs.warnings}  # type: ignore[attr-defined]
    assert ("ghg.retailer_without_factors", "site:factory-1") in codes  # tepco_ep
    assert ("ghg.retailer_without_factors", "site:factory-2") not in codes
    assert not any(c == "report.production_missing" for c, _ in codes)
