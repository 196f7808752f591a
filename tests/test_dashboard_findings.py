"""AppTest of the 課題と提案 / Findings page and the overview's top three, on seeded findings.

Seed: three open findings and one dismissed, hand-made, on the dashboard test city
(tests/dashboard_seed.py); the clock is pinned at 2025-10-01 12:00 JST.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import streamlit as st
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from greenpipe.config import load_config
from greenpipe.finding import Finding, finding_id
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.dashboard_seed import AS_OF, seed_store, write_config
from tests.test_dashboard_app import _clean_caches  # noqa: F401  (autouse fixture)

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
T0 = AS_OF.astimezone(UTC)
DAY = timedelta(days=1)


def _f(code: str, meter: str, site: str, kwh: float, co2_t: float, yen: float,
       status: str = "new", **evidence: object) -> Finding:
    return Finding(finding_id(code, meter), code, site, meter, T0 - 20 * DAY, T0, kwh, co2_t,
                   yen, "high", f"{meter} の対策", f"Fix {meter}", evidence=dict(evidence),
                   status=status, status_at=T0 - DAY, first_seen=T0 - DAY, last_seen=T0)


SEED = (
    _f("waste.off_hours_base_load", "f1-main", "factory-1", 100_000.0, 48.5, 1_600_000.0,
       days_off_floor_kw=900.0, days_off_level_kw=1_000.0, days_off_excess_kw=100.0),
    _f("demand.peak", "office-1-main", "office-1", 0.0, 0.0, 2_000_000.0,
       peak_kw=1_000.0, around_kw=800.0, peak_at="2025-10-01T11:00:00+09:00"),
    _f("pv.underperformance", "pv-1", "pv-plant", 50_000.0, 24.25, 800_000.0,
       status="acknowledged"),
    _f("drift.change_point", "f1-gas", "factory-1", 500_000.0, 90.0, 4_000_000.0,
       status="dismissed"),
)


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str = "en",
         findings: bool = True) -> tuple[AppTest, Path]:
    cfg = write_config(tmp_path, lang)
    seed_store(cfg)
    if findings:
        config = load_config(cfg, env={})
        store = SqliteStore(config.store.url.removeprefix("sqlite://"),
                            Catalog.of(config.meters, config.sites))
        store.write_findings(list(SEED))
        store.close()
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    return AppTest.from_file(str(APP), default_timeout=60), cfg


def _open(at: AppTest) -> AppTest:
    at.run()
    at.switch_page("views/findings.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _ranking(at: AppTest) -> tuple[list[str], list[float]]:
    spec = json.loads(at.get("echarts_chart")[0].proto.spec)
    values = [item["value"] for item in spec["series"][0]["data"]]
    return spec["yAxis"]["data"][::-1], values[::-1]  # drawn bottom-up: largest first


def test_findings_page_ranks_open_findings_and_totals_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch)[0])
    assert at.title[0].value == "Problems and proposals"
    m = _metrics(at)
    # Default filter: new and acknowledged (the dismissed change point is left out).
    assert m["At stake per year"] == "¥4,400,000"
    assert m["CO₂ at stake per year"] == "72.8 t"  # 48.5 + 0 + 24.25
    assert m["Energy at stake per year"] == "150.0 MWh"
    assert m["Findings"] == "3"
    labels, values = _ranking(at)
    assert labels == ["Off-hours base load · f1-main", "PV underperformance · pv-1",
                      "Demand peak · office-1-main"]
    assert_allclose(values, [48.5, 24.25, 0.0])
    at.radio(key="fd_rank").set_value("cost").run()
    labels, values = _ranking(at)
    assert labels[0] == "Demand peak · office-1-main"
    assert_allclose(values, [2_000_000.0, 1_600_000.0, 800_000.0])
    # Evidence: the off-hours band over f1-main's hourly power; the demand peak's day (the
    # seed has an office reading at 11:30 on 1 Oct) with the peak and the load around it.
    assert len(at.expander) == 3
    assert not at.error
    figures = [json.loads(f.proto.spec) for f in at.get("echarts_chart")[1:]]
    names = [[s.get("name") for s in fig["series"]] for fig in figures]
    assert ["Power [kW]", "Earlier level", "Current level"] in names
    assert ["30-minute demand [kW]", "Peak", "Load around it"] in names
    peak = next(fig for fig in figures
                if fig["series"][0].get("name") == "30-minute demand [kW]")
    assert [y for _, y in peak["series"][1]["data"]] == [1000.0]
    assert [y for _, y in peak["series"][2]["data"]] == [800.0, 800.0]
    # The peak (evidence: 11:00+09:00) on the local wall clock, not UTC (02:00).
    assert [x for x, _ in peak["series"][1]["data"]] == ["2025-10-01 11:00:00"]


def test_filters_by_status_and_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch)[0])
    at.multiselect(key="fd_status").set_value(["dismissed"]).run()
    assert _metrics(at)["Findings"] == "1"
    assert _ranking(at)[0] == ["Step change in use · f1-gas"]
    at.multiselect(key="fd_status").set_value(["new", "acknowledged", "dismissed"]).run()
    at.multiselect(key="fd_sites").set_value(["factory-1"]).run()
    assert _metrics(at)["Findings"] == "2"
    at.multiselect(key="fd_sectors").set_value(["public"]).run()
    assert any("No finding matches" in i.value for i in at.info)


def test_acknowledge_resolve_dismiss_from_the_page(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at, cfg_path = _app(tmp_path, monkeypatch)
    at = _open(at)
    waste = SEED[0]
    at.text_input(key=f"fd_note_{waste.id}").set_value("コンプレッサー停止を手配").run()
    at.button(key=f"fd_ack_{waste.id}").click().run()
    assert not at.exception
    cfg = load_config(cfg_path, env={})
    store = SqliteStore(cfg.store.url.removeprefix("sqlite://"))
    try:
        stored = {f.id: f for f in store.read_findings()}
    finally:
        store.close()
    acked = stored[waste.id]
    assert (acked.status, acked.status_by, acked.status_note) == (
        "acknowledged", "dashboard", "コンプレッサー停止を手配")
    assert acked.status_at is not None and acked.status_at > waste.status_at
    # The page shows the new status at once (no stale cache).
    assert any("acknowledged" in e.label for e in at.expander)
    at.button(key=f"fd_resolve_{waste.id}").click().run()
    assert _metrics(at)["Findings"] == "2"  # resolved leaves the default view


def test_japanese_page_and_empty_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch, lang="ja")[0])
    assert at.title[0].value == "課題と提案"
    assert "年間損失額（合計）" in _metrics(at)
    assert _ranking(at)[0][0] == "休日・夜間の待機電力 · f1-main"
    st.cache_data.clear()
    st.cache_resource.clear()
    (tmp_path / "empty").mkdir()
    empty = _open(_app(tmp_path / "empty", monkeypatch, findings=False)[0])
    assert any("greenpipe findings run" in i.value for i in empty.info)


def test_overview_shows_the_top_three_and_the_total_at_stake(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch)[0].run()
    assert not at.exception
    m = _metrics(at)
    assert m["At stake per year"] == "¥4,400,000"
    assert m["CO₂ at stake per year"] == "72.8 t"
    assert any(s.value == "Top problems and proposals" for s in at.subheader)
    tops = [md.value for md in at.markdown if md.value.startswith("**")]
    assert [x.split(" — ")[0] for x in tops[:3]] == [
        "**Demand peak", "**Off-hours base load", "**PV underperformance"]
