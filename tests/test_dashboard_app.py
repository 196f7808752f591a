"""AppTest for every dashboard page on a store seeded with hand-computable readings.

The seed (tests/dashboard_seed.py), with the dashboard clock pinned at 2025-10-01 12:00 JST:

* FY2025 to date: f1-main 100,000 + 50,000 kWh electricity, f1-gas 30,000 kWh gas,
  office-1-main 20,000 kWh electricity, pv-1 12,000 kWh PV generation.
* FY2024, same span: f1-main 200,000 kWh.
* Emission factors (shipped table): electricity 0.485, city gas 0.17952 kg-CO2/kWh.
* City target: 1,000 t in FY2013, -46% by FY2030.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from greenpipe.emissions import load_factors
from tests.conftest import InfluxProcess
from tests.dashboard_seed import AS_OF, seed_store, write_config

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGES = ("views/overview.py", "views/sites.py", "views/forecast.py", "views/findings.py",
         "views/meters.py", "views/export.py", "views/reports.py")
EF_GRID = 0.485
EF_GAS = 0.17952


@pytest.fixture(autouse=True)
def _clean_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("GREENPIPE_STORE_URL", "GREENPIPE_DASHBOARD_AS_OF", "GREENPIPE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, lang: str = "en",
         seeded: bool = True) -> AppTest:
    cfg = write_config(tmp_path, lang)
    if seeded:
        seed_store(cfg)
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    return AppTest.from_file(str(APP), default_timeout=60)


def _open(at: AppTest, page: str) -> AppTest:
    if not at._tree.children:  # first run lands on the default page (overview)
        at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _site_view(at: AppTest, view: str) -> AppTest:
    """Open one tab of the Sites page (``dashboard.views.sites.VIEWS``) and rerun."""
    from dashboard.i18n import t

    at.session_state["si_view"] = t(f"si.tab.{view}", at.session_state["lang"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _charts(at: AppTest) -> list:
    return list(at.get("echarts_chart"))


def _figure(at: AppTest, index: int) -> dict:
    """The ECharts option of the page's ``index``-th chart."""
    return json.loads(_charts(at)[index].proto.spec)


def _items(series: dict) -> list:
    """A series' data items: [x, y] pairs, bar values, or {"value": ...} items."""
    return [item["value"] if isinstance(item, dict) else item for item in series["data"]]


def _xs(series: dict) -> list:
    return [item[0] for item in _items(series)]


def _ys(series: dict) -> np.ndarray:
    """The y values of a series (null, a gap, as NaN)."""
    ys = [item[1] if isinstance(item, list) else item for item in _items(series)]
    return np.asarray([np.nan if y is None else y for y in ys], dtype="float64")


def test_seed_factors_are_the_shipped_ones() -> None:
    table = load_factors()
    assert table.lookup("electricity", "tepco", 2025).ef_kg_per_kwh == EF_GRID
    assert table.lookup("electricity", "tepco", 2024).ef_kg_per_kwh == EF_GRID
    assert table.lookup("gas", "tepco", 2025).ef_kg_per_kwh == EF_GAS


def test_every_page_renders_without_exception(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    assert not at.exception
    for page in PAGES:
        _open(at, page)
        assert at.title, page
        assert not at.error, [e.value for e in at.error]


def test_overview_numbers_match_the_store(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    assert not at.exception
    assert at.title[0].value == "テスト市 — FY2025 progress"
    m = _metrics(at)
    co2_t = ((150_000 + 20_000) * EF_GRID + 30_000 * EF_GAS) / 1000  # 87.8356 t
    assert m["FY-to-date CO₂ emissions"][0] == f"{co2_t:,.1f} t" == "87.8 t"
    # Last FY's data (2024-09-30) starts after 2024-04-01: not comparable, so no delta.
    assert m["FY-to-date CO₂ emissions"][1] == ""
    # Straight line 1,000 t (FY2013) -> 540 t (FY2030); FY2025 allows 1000*(1-0.46*12/17),
    # pro rata for 183.5 of 365 days (1 Apr 00:00 to 1 Oct 12:00 JST).
    budget_t = 1000 * (1 - 0.46 * 12 / 17) * 183.5 / 365
    assert m["Target path (FY to date)"][0] == f"{budget_t:,.1f} t" == "339.5 t"
    assert m["Target path (FY to date)"][1] == f"{(co2_t - budget_t) / budget_t * 100:+.1f}%"
    assert m["FY-to-date energy use"][0] == "200.0 MWh"
    assert m["Avoided CO₂ to date"][0] == f"{12_000 * EF_GRID / 1000:,.1f} t" == "5.8 t"
    # f1-gas last seen in June (offline), f2-main never; f1-main has gaps, office a flag.
    assert m["Offline meters"][0] == "2"
    assert m["Quality findings"][0] == "2"
    assert m["Projected FY end"][0] == "–"
    assert any("No forecast yet" in i.value for i in at.info)

    # Top emitting sites, largest at the top (the category axis draws bottom-up) [t].
    # The PV plant emits nothing and is not an emitter.
    top = _figure(at, 2)
    assert top["yAxis"]["data"] == ["駅前オフィス", "第一工場"]
    assert_allclose(_ys(top["series"][0]),
                    [20_000 * EF_GRID / 1000, (150_000 * EF_GRID + 30_000 * EF_GAS) / 1000])


def test_overview_compares_with_last_year_when_history_covers_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from greenpipe.config import load_config
    from greenpipe.stores import Catalog
    from greenpipe.stores.sqlite import SqliteStore
    from tests.dashboard_seed import JST, _r

    at = _app(tmp_path, monkeypatch)
    cfg = load_config(tmp_path / "dashboard.toml", env={})
    store = SqliteStore(tmp_path / "store.db", Catalog.of(cfg.meters, cfg.sites))
    from datetime import datetime
    # A reading on 2024-04-01 01:00 JST makes the store cover all of FY2024's same span.
    store.write([_r("f1-main", "factory-1", datetime(2024, 4, 1, 1, 0, tzinfo=JST), 10_000.0)])
    store.close()
    at.run()
    co2_t = ((150_000 + 20_000) * EF_GRID + 30_000 * EF_GAS) / 1000
    prev_t = 210_000 * EF_GRID / 1000
    delta = f"{(co2_t - prev_t) / prev_t * 100:+.1f}% vs same period last FY"
    assert _metrics(at)["FY-to-date CO₂ emissions"][1] == delta == "-13.8% vs same period last FY"


def test_language_switch_changes_every_label(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch, lang="ja").run()
    assert at.title[0].value == "テスト市 — 2025年度 進捗"
    assert "年度累計 CO₂ 排出量" in _metrics(at)
    assert at.sidebar.radio[0].value == "ja"
    at.sidebar.radio[0].set_value("en").run()
    assert at.title[0].value == "テスト市 — FY2025 progress"
    assert "FY-to-date CO₂ emissions" in _metrics(at)
    assert not any("年度累計" in label for label in _metrics(at))
    _open(at, "views/meters.py")
    assert at.title[0].value == "Meters"
    at.sidebar.radio[0].set_value("ja").run()
    assert at.title[0].value == "メーター"
    assert list(at.dataframe[0].value.columns)[:2] == ["状態", "メーター"]


def test_sites_page_breakdown_and_live_power(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch), "views/sites.py")
    assert at.selectbox[0].value == "factory-1"
    # One view at a time: energy by day is open first, the others not built at all.
    assert [tab.label for tab in at.tabs] == ["By day", "By month", "CO₂ emissions",
                                              "Baseline and savings", "By meter", "PV",
                                              "Intensity"]
    assert [s.value for s in at.subheader] == ["Power, last 24 h (live)", "Energy by day"]
    assert len(_charts(at)) == 2 and not at.dataframe
    _site_view(at, "by_month")
    assert [s.value for s in at.subheader] == ["Power, last 24 h (live)", "Energy by month"]
    months = _figure(at, 1)["series"]
    assert sorted(tr["name"] for tr in months) == ["f1-gas", "f1-main"]  # stacked per meter
    _site_view(at, "breakdown")
    assert [s.value for s in at.subheader] == ["Power, last 24 h (live)",
                                               "Breakdown by meter (FY to date)"]
    table = at.dataframe[0].value
    assert list(table["Meter"]) == ["f1-main", "f1-gas"]
    assert_allclose(table["Energy [MWh]"], [150.0, 30.0])
    assert_allclose(table["Share [%]"], [83.3, 16.7])
    assert_allclose(table["CO₂ [t]"], [72.75, 5.39])
    # Live power: only the 11:00 JST reading of f1-main lies in the last 24 h.
    live = _figure(at, 0)["series"]
    assert [tr["name"] for tr in live] == ["f1-main"]
    assert_allclose(_ys(live[0]), [1000.0])
    _site_view(at, "pv")
    assert any("no PV meter" in i.value for i in at.info)

    at.selectbox[0].set_value("pv-plant").run()
    assert not at.exception
    pv = [f for f in _charts(at) if "Generation" in f.proto.spec]
    assert pv, "the PV vs consumption chart is shown for a site with a PV meter"

    at.selectbox[0].set_value("factory-2").run()  # configured, never reported
    assert not at.exception
    assert [i.value for i in at.info] == ["No data in this period.", "No data in this period."]


def test_meters_page_health_and_dead_letters(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch), "views/meters.py")
    health = at.dataframe[0].value
    assert list(health["Meter"]) == ["f1-gas", "f2-main", "f1-main", "office-1-main", "pv-1"]
    assert list(health["Status"]) == ["🔴 offline", "⚪ never seen", "🟢 online", "🟢 online",
                                      "🟢 online"]
    # f1-main: hourly buckets from 09:00 JST 30 Sep to 12:00 JST 1 Oct = 27, 2 with data.
    assert list(health["Gaps [h]"]) == [0, 0, 25, 0, 0]
    assert list(health["Quality flags"]) == ["", "", "", "quality.counter_reset", ""]
    assert list(health["Dead letters"]) == [0, 0, 1, 1, 0]
    assert list(health["Last seen (JST)"])[:3] == ["1 Jun 2025 12:00 JST", "–",
                                                   "1 Oct 2025 11:00 JST"]
    dead = at.dataframe[1].value
    assert list(dead["Code"]) == ["payload.not_utf8", "payload.bad_json"]
    assert list(dead["Raw payload"]) == ["hex: ff fe 00", '{"ts": oops']
    assert list(dead["Received (JST)"]) == ["1 Oct 2025 11:05 JST", "1 Oct 2025 11:00 JST"]
    assert [c.value for c in at.code] == ["hex: ff fe 00", '{"ts": oops']


def test_meters_page_shows_upstream_loss_and_broker_drops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: readings lost before the collector must show on the Meters page."""
    from greenpipe.model import BrokerStatus, SequenceState
    from greenpipe.stores.sqlite import SqliteStore

    at = _app(tmp_path, monkeypatch)
    store = SqliteStore(tmp_path / "store.db")
    store.write_sequence_states([SequenceState("f1-main", "factory-1", 99, AS_OF, AS_OF,
                                               lost=69),
                                 SequenceState("pv-1", "pv-plant", 99, AS_OF, AS_OF)])
    store.write_broker_status(BrokerStatus("greenpipe-collector", AS_OF, 760, "mosquitto"))
    store.close()
    _open(at, "views/meters.py")
    health = at.dataframe[0].value
    lost = dict(zip(health["Meter"], health["Lost upstream"], strict=True))
    assert lost == {"f1-gas": 0, "f2-main": 0, "f1-main": 69, "office-1-main": 0, "pv-1": 0}
    # Online but with messages lost upstream: marked orange, not green.
    status = dict(zip(health["Meter"], health["Status"], strict=True))
    assert status["f1-main"] == "🟠 online" and status["pv-1"] == "🟢 online"
    assert any("69 messages were lost" in w.value and "max_queued_messages 0" in w.value
               for w in at.warning)
    bars = _figure(at, 0)
    assert bars["yAxis"]["data"] == ["f1-main"] and list(_ys(bars["series"][0])) == [69]
    assert any("Messages the broker dropped" in e.value and "760" in e.value
               for e in at.error)


def test_meters_page_without_upstream_loss_says_so(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch, lang="ja"), "views/meters.py")
    assert any("欠落なし" in s.value for s in at.success)
    assert not at.warning


def test_export_page_counts_rows_in_scope(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch), "views/export.py")
    # Daily rows in FY2025 to date: f1-main 2 days, f1-gas, office-1-main, pv-1 one each.
    assert "5 rows" in [c.value for c in at.caption]
    preview = at.dataframe[0].value
    assert_allclose(preview.groupby("meter")["energy_kwh"].sum().sort_index(),
                    [30_000.0, 150_000.0, 20_000.0, 12_000.0])
    at.radio(key="ex_scope").set_value("site").run()
    at.selectbox(key="ex_which_site").set_value("factory-1").run()
    assert "3 rows" in [c.value for c in at.caption]
    at.radio(key="ex_dataset").set_value("savings").run()
    assert any("No forecast yet" in i.value for i in at.info)


def test_empty_store_shows_helpful_empty_states(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch, seeded=False).run()
    for page in PAGES:
        _open(at, page)
        assert not at.error, (page, [e.value for e in at.error])
        infos = " ".join(i.value for i in at.info)
        assert "is the collector running?" in infos or "No forecast yet" in infos, page
    _open(at, "views/meters.py")
    assert set(at.dataframe[0].value["Status"]) == {"⚪ never seen"}


def test_broken_config_is_an_error_message_not_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENPIPE_CONFIG", str(tmp_path / "missing.toml"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert "missing.toml" in at.error[0].value
    assert "設定エラー" in at.error[0].value and "Configuration error" in at.error[0].value


def test_bad_as_of_is_an_error_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch)
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", "2025-10-01T12:00")  # no offset
    at.run()
    assert not at.exception
    assert "add a UTC offset" in at.error[0].value


def test_login_without_authlib_explains_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path, "en")
    cfg.write_text(cfg.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n"))
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    try:
        import authlib  # noqa: F401
    except ImportError:
        assert "streamlit[auth]" in at.error[0].value
        assert not at.metric  # nothing of the city is shown
    else:  # Authlib present but no [auth] secrets: still no data, a clear message
        assert not at.metric
        # Issue 14: it said only 'st.user has no attribute "is_logged_in"'.
        text = at.error[0].value
        assert "[auth]" in text and ".streamlit/secrets.toml" in text
        assert all(k in text for k in ("redirect_uri", "cookie_secret", "client_id",
                                       "client_secret", "server_metadata_url"))
        assert "is_logged_in" not in text


def test_login_with_incomplete_auth_secrets_names_the_missing_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("authlib")
    cfg = write_config(tmp_path, "en")
    cfg.write_text(cfg.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n"))
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                          "cookie_secret": "x" * 32, "client_id": "greenpipe"}
    at.run()
    assert not at.exception and not at.metric
    assert "lacks client_secret, server_metadata_url" in at.error[0].value


def _app_with_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    cfg = write_config(tmp_path, "en")
    seed_store(cfg, results=True)
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    return AppTest.from_file(str(APP), default_timeout=60)


def test_overview_shows_the_stored_projection(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app_with_results(tmp_path, monkeypatch).run()
    assert not at.exception
    m = _metrics(at)
    # The nearest target (2030) decides: P50 180 t against a 675.3 t path.
    assert m["Projected FY end"] == ("180 t", f"{(180 - 675.3) / 675.3 * 100:+.1f}% vs target path")
    assert m["Probability of meeting target"][0] == "97%"
    # PV 12,000 kWh x 0.485 + measure f1-led 4,850 kg; the null test does not count.
    assert m["Avoided CO₂ to date"][0] == f"{(12_000 * EF_GRID + 4_850) / 1000:,.1f} t" == "10.7 t"
    assert not any("No forecast yet" in i.value for i in at.info)
    name = "Projected FY end (P10–P90)"
    point, band = [s for s in _figure(at, 0)["series"] if s["name"] == name]
    assert point["symbol"] == "diamond" and _xs(point) == ["2026-03-31"]  # the FY's last day
    assert_allclose(_ys(point), [180.0])
    assert _xs(band)[:2] == ["2026-03-31"] * 2
    assert_allclose(_ys(band), [150.0, 210.0])  # P10 to P90: 30 t below, 30 t above


def test_forecast_page_projections_quality_and_savings(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app_with_results(tmp_path, monkeypatch), "views/forecast.py")
    assert not at.info
    proj = at.dataframe[0].value
    assert list(proj["Sector"]) == ["City", "Industry"]
    assert list(proj["Projected median [t]"]) == ["180", "165"]
    assert list(proj["P10–P90 [t]"]) == ["150–210", "140–190"]
    assert list(proj["Target path [t]"]) == ["675", "–"]
    assert list(proj["Probability of meeting target"]) == ["97%", "–"]
    assert list(proj["Warnings"]) == ["", "projection.no_target"]
    targets = at.dataframe[1].value
    assert list(targets["Base-year emissions [t]"]) == ["1,000"]
    assert list(targets["FY2025 trajectory [t]"]) == [f"{1000 * (1 - 0.46 * 12 / 17):,.0f}"]
    quality = at.dataframe[2].value
    assert list(quality["Meter"]) == ["f1-main", "office-1-main"]
    assert list(quality["CV(RMSE) [%]"]) == ["12.0", "35.0"]
    assert list(quality["NMBE [%]"]) == ["-0.40", "2.00"]
    assert list(quality["Result"]) == ["pass", "fail"]
    assert list(quality["Limits CV(RMSE) / NMBE"]) == ["≤ 30% / ±10%"] * 2
    saved = at.dataframe[3].value
    assert list(saved["Measure"]) == ["LED retrofit"]
    assert list(saved["Savings [kWh]"]) == ["10,000"]
    assert list(saved["90% interval [kWh]"]) == ["6,000 – 14,000"]
    assert list(saved["Savings [%]"]) == ["10.0%"]
    assert list(saved["Reporting period"]) == ["1 Jul 2025 – 1 Oct 2025"]
    points = _figure(at, 1)["series"][0]  # the savings of the LED retrofit [MWh]
    assert points["type"] == "scatter" and _items(points) == [["f1-led", 10.0, 6.0, 14.0]]


def test_model_quality_on_short_data_shows_a_dash_and_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: a meter without a fitted model showed raw None cells and "fail"."""
    import math
    from dataclasses import replace

    from greenpipe.stores.sqlite import SqliteStore

    at = _app_with_results(tmp_path, monkeypatch)
    store = SqliteStore(tmp_path / "store.db")
    first = store.read_savings()[0]
    nan = math.nan
    store.write_savings([replace(first, meter_id="f1-gas", measure_id="", cvrmse=None,
                                 nmbe=None, r2=None, cv_cvrmse=None, passes_ashrae=False,
                                 savings_kwh=nan, warnings=("data.low_coverage",))])
    store.close()
    _open(at, "views/forecast.py")
    quality = at.dataframe[2].value
    row = quality[quality["Meter"] == "f1-gas"].iloc[0]
    assert (row["CV(RMSE) [%]"], row["NMBE [%]"]) == ("–", "–")
    assert row["Result"] == "– (insufficient data: data.low_coverage)"
    assert "None" not in quality.to_string() and "fail" not in row["Result"]


def test_sites_page_baseline_vs_actual(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.dashboard_seed import SEED_BASELINE

    at = _site_view(_open(_app_with_results(tmp_path, monkeypatch), "views/sites.py"),
                    "baseline")
    assert "**f1-main · f1-led**" in [m.value for m in at.markdown]
    fig = next(json.loads(f.proto.spec) for f in _charts(at)
               if "Baseline 90% interval" in f.proto.spec)
    # No readings before July: no context line. Bands are a hidden base plus a thickness.
    lower, band, base, below, savings, base2, excess, actual = fig["series"]
    assert actual["name"] == "Actual" and base["name"] == "Baseline"
    assert savings["name"] == "Savings" and band["name"] == "Baseline 90% interval"
    # One point per reporting day, local (JST) dates from 1 July to 30 September 2025.
    assert _xs(actual)[0] == "2025-07-01" and _xs(actual)[-1] == "2025-09-30"
    assert len(_xs(actual)) == 92
    assert_allclose(_ys(actual), [p.observed_kwh for p in SEED_BASELINE])
    assert_allclose(_ys(base), [p.predicted_kwh for p in SEED_BASELINE])
    assert_allclose(_ys(lower), [p.predicted_kwh_lower for p in SEED_BASELINE])
    assert_allclose(_ys(lower) + _ys(band), [p.predicted_kwh_upper for p in SEED_BASELINE])
    # Actual is below the baseline every day: all savings, nothing above the baseline.
    assert_allclose(_ys(below), _ys(actual)) and savings["stack"] == below["stack"]
    assert_allclose(_ys(below) + _ys(savings), _ys(base)) and "areaStyle" in savings
    assert_allclose(_ys(base2), _ys(base)) and excess["stack"] == base2["stack"]
    assert_allclose(_ys(excess), 0.0) and "Above baseline" not in [
        d["name"] for d in fig["legend"]["data"]]
    assert fig["yAxis"]["name"] == "Energy per day [kWh/day]"
    assert fig["xAxis"]["name"] == "Day"
    # The stored totals stay as a caption: they match the daily series' sums.
    assert ("Reporting period 1 Jul 2025 – 1 Oct 2025 (IPMVP Option C) totals: actual "
            "90.0 MWh, baseline 100.0 MWh, savings 10.0 MWh (90% interval 6.0 – 14.0 MWh)"
            ) in [c.value for c in at.caption]
    # The office's null test has a savings record but no daily series: its site says so.
    at.selectbox(key="site").set_value("office-1").run()
    assert not at.exception
    assert "No forecast yet — run `greenpipe forecast run`." in [i.value for i in at.info]


def test_sites_page_baseline_labels_in_japanese(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write_config(tmp_path, "ja")
    seed_store(cfg, results=True)
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    at = _site_view(_open(AppTest.from_file(str(APP), default_timeout=60), "views/sites.py"),
                    "baseline")
    assert "ベースラインと削減量" in [tab.label for tab in at.tabs]
    figs = [json.loads(f.proto.spec) for f in _charts(at)]
    fig = next(f for f in figs if any(s.get("name") == "ベースラインの 90% 区間"
                                      for s in f["series"]))
    names = [s.get("name") for s in fig["series"]]
    assert {"実績", "ベースライン", "削減量"} <= set(names)
    assert fig["yAxis"]["name"] == "1日のエネルギー [kWh/日]"


def test_sites_page_without_a_forecast_shows_the_empty_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _site_view(_open(_app(tmp_path, monkeypatch), "views/sites.py"), "baseline")
    assert "No forecast yet — run `greenpipe forecast run`." in [i.value for i in at.info]
    assert not any("Baseline" in f.proto.spec for f in _charts(at))


def test_export_of_savings_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app_with_results(tmp_path, monkeypatch), "views/export.py")
    at.radio(key="ex_dataset").set_value("savings").run()
    assert "2 rows" in [c.value for c in at.caption]
    table = at.dataframe[0].value
    assert list(table["measure_id"]) == ["f1-led", ""]
    assert_allclose(table["savings_kwh"], [10_000.0, 500.0])
    at.radio(key="ex_dataset").set_value("forecasts").run()
    assert "3 rows" in [c.value for c in at.caption]


@pytest.mark.integration
def test_same_numbers_on_influxdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  influxdb: InfluxProcess) -> None:
    """The seeded city on a real influxd shows what it shows on SQLite."""
    import uuid

    from greenpipe.config import load_config
    from greenpipe.stores import Catalog
    from greenpipe.stores.influx import InfluxStore
    from greenpipe.stores.influx_admin import init
    from tests.dashboard_seed import (
        SEED_BASELINE,
        SEED_DEAD_LETTERS,
        SEED_FORECASTS,
        SEED_READINGS,
        SEED_SAVINGS,
    )

    cfg_path = write_config(tmp_path, "en")
    cfg = load_config(cfg_path, env={})
    url = influxdb.store_url(f"dashboard_{uuid.uuid4().hex[:12]}")
    store = InfluxStore(url, Catalog.of(cfg.meters, cfg.sites))
    init(store)
    store.write(list(SEED_READINGS))
    store.write_dead_letters(list(SEED_DEAD_LETTERS))
    store.write_forecasts(list(SEED_FORECASTS))
    store.write_savings(list(SEED_SAVINGS))
    store.write_baseline_points(list(SEED_BASELINE))
    store.close()
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg_path))
    monkeypatch.setenv("GREENPIPE_STORE_URL", url)
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    m = _metrics(at)
    assert m["FY-to-date CO₂ emissions"][0] == "87.8 t"
    assert m["Target path (FY to date)"][0] == "339.5 t"
    assert m["FY-to-date energy use"][0] == "200.0 MWh"
    assert m["Avoided CO₂ to date"][0] == "10.7 t"
    assert m["Projected FY end"][0] == "180 t"
    assert m["Offline meters"][0] == "2" and m["Quality findings"][0] == "2"
    _site_view(_open(at, "views/sites.py"), "breakdown")
    assert_allclose(at.dataframe[0].value["Energy [MWh]"], [150.0, 30.0])
    _site_view(at, "baseline")
    series = next(json.loads(f.proto.spec) for f in _charts(at)
                  if "Baseline 90% interval" in f.proto.spec)["series"]
    assert_allclose(_ys(series[-1]), [p.observed_kwh for p in SEED_BASELINE])
    assert_allclose(_ys(series[2]), [p.predicted_kwh for p in SEED_BASELINE])
    _open(at, "views/meters.py")
    assert list(at.dataframe[0].value["Gaps [h]"]) == [0, 0, 25, 0, 0]
    assert list(at.dataframe[1].value["Code"]) == ["payload.not_utf8", "payload.bad_json"]
    _open(at, "views/forecast.py")
    assert list(at.dataframe[0].value["Projected median [t]"]) == ["180", "165"]
    _open(at, "views/export.py")
    assert "5 rows" in [c.value for c in at.caption]
    # After `greenpipe db rollup` over the whole span, closed days come from energy_1d and
    # the per-site and per-sector days: the same numbers.
    from greenpipe.stores.influx_admin import run_rollups

    store = InfluxStore(url, Catalog.of(cfg.meters, cfg.sites))
    run_rollups(store, hours=24 * 400, every_s=None, now=lambda: AS_OF)
    assert store.rollup_coverage() is not None
    store.close()
    st.cache_data.clear()
    _open(at, "views/overview.py")
    assert _metrics(at) == m
    _site_view(_open(at, "views/sites.py"), "breakdown")
    assert_allclose(at.dataframe[0].value["Energy [MWh]"], [150.0, 30.0])


def test_unreachable_store_is_an_error_message(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from greenpipe.net import free_loopback_port

    at = _app(tmp_path, monkeypatch, seeded=False)
    monkeypatch.setenv("GREENPIPE_STORE_URL",
                       f"influxdb://127.0.0.1:{free_loopback_port()}/nothing_listens")
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("Store error: ")
    assert "cannot reach InfluxDB" in at.error[0].value


def test_reports_page_companies_sites_co2_and_downloads(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(tmp_path, monkeypatch), "views/reports.py")
    assert at.title[0].value == "Reports"
    assert at.selectbox[0].value == 2024  # the last completed fiscal year by default
    at.selectbox[0].set_value(2025).run()
    # Companies: acme (factory-1 + factory-2) and the office on its own [kL].
    f1_kl = (150 * 8.64 + 30_000 * 0.0036) * 0.0258
    companies = _figure(at, 0)
    assert companies["yAxis"]["data"] == ["駅前オフィス", "アクメ製作所"]  # drawn bottom-up
    assert_allclose(_ys(companies["series"][0]), [20 * 8.64 * 0.0258, f1_kl])
    # The 1,500 kL threshold of the Energy Conservation Act, as a dashed vertical line.
    assert companies["series"][0]["markLine"]["data"] == [{"xAxis": 1500.0}]
    assert any("Below the threshold" in c.value for c in at.caption)
    # factory-1: partial FY2025 (data in Jun, Sep, Oct), intensity needs production it lacks.
    assert at.selectbox[1].value == "factory-1"
    assert any("Partial year: 3 months" in w.value for w in at.warning)
    m = _metrics(at)
    assert m["Crude-oil kL"][0] == f"{f1_kl:,.1f}"
    assert m["Class not determinable"][0] == "—"
    co2 = _figure(at, 2)["series"]
    assert [tr["name"] for tr in co2] == ["Basic", "Adjusted"]
    assert_allclose(_ys(co2[0]), [30_000 * EF_GAS / 1000, 150_000 * EF_GRID / 1000])
    codes = " ".join(w.value for w in at.warning)
    assert "report.production_missing" in codes and "ghg.retailer_without_factors" in codes
    assert len(at.get("download_button")) == 3
    # The office: intensity per floor area; FY2025 is partial, so a hollow marker of its own
    # and no 1 %/yr line (that starts at the first complete year).
    at.selectbox[1].set_value("office-1").run()
    assert not at.exception
    trend = _figure(at, 1)["series"]
    assert [tr["name"] for tr in trend] == ["Actual", "Partial year (for reference)"]
    assert_allclose(_ys(trend[1])[-1], 20 * 8.64 / 1000.0)


def test_reports_page_in_japanese_and_sites_page_intensity(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    at = _open(_app(tmp_path, monkeypatch, lang="ja"), "views/reports.py")
    assert at.title[0].value == "報告"
    at.selectbox[0].set_value(2025).run()
    assert any("部分年度" in w.value for w in at.warning)
    at = _site_view(_open(at, "views/sites.py"), "intensity")
    assert any(s.value == "エネルギー消費原単位 (5年度)" for s in at.subheader)
    at.selectbox[0].set_value("office-1").run()
    assert not at.exception
    names = [[s.get("name") for s in json.loads(f.proto.spec)["series"]]
             for f in _charts(at)]
    assert ["実績", "部分年度 (参考)"] in names, "the Sites page shows intensity, partial apart"


def test_pages_have_no_bare_strings_that_streamlit_magic_would_show() -> None:
    # Streamlit's magic writes any bare expression of a page script to the page, so a
    # docstring under a constant (as in other modules) would appear as page text.
    import ast

    for page in sorted((APP.parent / "views").glob("*.py")):
        body = ast.parse(page.read_text(encoding="utf-8")).body
        bare = [node.lineno for node in body[1:] if isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
        assert not bare, f"{page.name}: bare strings at lines {bare} would show on the page"


def test_the_first_run_freezes_the_startup_heap_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The app moves the started server's objects out of the collector's reach
    (``ui.freeze_startup_heap``) at its first run and never again: later runs, and tests
    that clear ``st.cache_resource``, leave the frozen generation as it is."""
    import gc

    from dashboard import ui

    at = _open(_app(tmp_path, monkeypatch), "views/overview.py")
    frozen = gc.get_freeze_count()
    assert ui._frozen.is_set() and frozen > 10_000  # the modules at least
    st.cache_resource.clear()
    at.run()
    assert not at.exception
    assert gc.get_freeze_count() == frozen and ui.freeze_startup_heap() is False
