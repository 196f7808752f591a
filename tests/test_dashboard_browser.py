"""Real-browser test: ``streamlit run`` + Debian's headless chromium over DevTools.

The example city gets synthetic 30-minute readings from 1 April 2025 (so last fiscal year
is covered) to the pinned clock, 2026-11-30 12:00 JST, with its two declared measures in
effect, written straight into a SQLite store. ``greenpipe forecast run`` then fits the real
baselines and projections into the same store, as an operator would. One Streamlit process
serves the dashboard; chromium opens every page in Japanese and in English, waits until the
page's charts and tables have rendered (polling the DOM, never a fixed sleep), saves a PNG
and checks the key elements. ``GREENPIPE_UPDATE_SCREENSHOTS=1`` copies the PNGs to
docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from dashboard.browser import (
    Chromium,
    PageSpec,
    click_tab,
    find_chromium,
    ready_expression,
    render_page,
)
from dashboard.i18n import t
from dashboard.launch import dashboard_env, streamlit_command
from greenpipe.config import load_config
from greenpipe.fiscal import fiscal_year_bounds
from greenpipe.model import MeterKind, ProductionRecord
from greenpipe.net import free_loopback_port
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.conftest import EXAMPLE_CONFIG, stop_process, wait_for_port
from tests.dashboard_seed import SEED_DEAD_LETTERS, synthetic_readings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent
JST = timezone(timedelta(hours=9))
AS_OF = datetime(2026, 11, 30, 12, 0, tzinfo=JST)
FIRST = datetime(2025, 4, 1, 0, 0, tzinfo=JST)

PAGES = {
    "ja": (PageSpec("", 3, 0, "2026年度 進捗"), PageSpec("sites", 2, 0, "拠点"),
           PageSpec("forecast", 2, 4, "予測"), PageSpec("findings", 0, 0, "課題と提案"),
           PageSpec("meters", 0, 2, "メーター"), PageSpec("export", 0, 0, "エクスポート"),
           PageSpec("reports", 3, 0, "報告")),
    "en": (PageSpec("", 3, 0, "FY2026 progress"), PageSpec("sites", 2, 0, "Sites"),
           PageSpec("forecast", 2, 4, "Forecast"),
           PageSpec("findings", 0, 0, "Problems and proposals"),
           PageSpec("meters", 0, 2, "Meters"), PageSpec("export", 0, 0, "Export"),
           PageSpec("reports", 3, 0, "Reports")),
}
# Without login everyone is the city office, which also gets the audit log.
NAV = {"ja": ["概要", "拠点", "予測", "課題と提案", "メーター", "エクスポート", "報告", "監査ログ"],
       "en": ["Overview", "Sites", "Forecast", "Findings", "Meters", "Export", "Reports",
              "Audit log"]}


@dataclass(frozen=True)
class Served:
    """The running dashboard and what its store holds."""

    url: str
    fytd_co2_t: float


def _expected_fytd_co2_t(store: SqliteStore) -> float:
    """FY-to-date CO2 straight from the store: energy per kind x the shipped factors."""
    cfg = load_config(EXAMPLE_CONFIG, env={})
    start, _ = fiscal_year_bounds(2026)
    frame = store.read(start, AS_OF, timedelta(days=1), group_by="meter")
    kinds = {m.id: m.kind.value for m in cfg.meters}
    ef = {"electricity": 0.485, "ev_charging": 0.485, "gas": 0.17952}
    per_meter = frame.groupby("meter")["energy_kwh"].sum()
    return sum(e * ef.get(kinds[m], 0.0) for m, e in per_meter.items()) / 1000.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``streamlit run`` of the dashboard on a free loopback port, seeded store."""
    tmp = tmp_path_factory.mktemp("dashboard-browser")
    cfg = load_config(EXAMPLE_CONFIG, env={})
    store = SqliteStore(tmp / "store.db", Catalog.of(cfg.meters, cfg.sites))
    meters = [(m.id, m.site, m.kind.value, m.nominal_kw or 100.0) for m in cfg.meters
              if m.kind != MeterKind.PRODUCTION]
    changes = {m.meter: (datetime.combine(m.start, datetime.min.time(), JST), m.change_pct)
               for m in cfg.measures}
    readings = synthetic_readings(meters, FIRST, AS_OF, changes=changes)
    store.write(readings)
    # Production follows each factory's main meter: 1 unit per 100 kWh.
    output = {m.site: m.id for m in cfg.meters if m.kind == MeterKind.PRODUCTION}
    mains = {s: next(m.id for m in cfg.meters if m.site == s
                     and m.kind == MeterKind.ELECTRICITY) for s in output}
    store.write_production([ProductionRecord(output[r.site_id], r.site_id, r.ts,
                                             (r.energy_kwh or 0.0) / 100.0)
                            for r in readings if mains.get(r.site_id) == r.meter_id])
    store.write_dead_letters(list(SEED_DEAD_LETTERS))
    expected = _expected_fytd_co2_t(store)
    store.close()
    url = f"sqlite:///{tmp / 'store.db'}"
    fit = subprocess.run(
        [sys.executable, "-m", "greenpipe", "forecast", "run", "--config", str(EXAMPLE_CONFIG),
         "--store", url, "--as-of", AS_OF.isoformat(), "--workers", "1", "--no-progress"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert fit.returncode == 0, fit.stderr[-3000:]
    find = subprocess.run(
        [sys.executable, "-m", "greenpipe", "findings", "run", "--config", str(EXAMPLE_CONFIG),
         "--store", url, "--as-of", AS_OF.isoformat(), "--no-progress"],
        capture_output=True, text=True, timeout=600)
    assert find.returncode == 0, find.stderr[-3000:]
    port = free_loopback_port()
    env = dashboard_env(EXAMPLE_CONFIG, url, AS_OF.isoformat())
    log = open(tmp / "streamlit.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(streamlit_command(port), env=env, stdout=log, stderr=log,
                            cwd=tmp)
    try:
        wait_for_port(port, proc, timeout_s=60)
        health = requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30)
        assert health.ok, health.text
        yield Served(f"http://127.0.0.1:{port}", expected)
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    """Headless chromium with a fresh profile, stopped after the module."""
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not installed; run `make test` (installs it) or "
                    "`apt-get install chromium`")
    b = Chromium(binary)
    yield b
    b.close()


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_page_renders_in_chromium(served: Served, browser: Chromium, lang: str,
                                        tmp_path: Path) -> None:
    shots = []
    for spec in PAGES[lang]:
        name = spec.name
        png = tmp_path / f"{name}_{lang}.png"
        state = render_page(browser, f"{served.url}/{spec.path}?lang={lang}", spec, png)
        shots.append(png)
        assert spec.title in state["title"], (name, state["title"])
        assert state["nav"] == NAV[lang]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        text = state["text"]
        assert state["exceptions"] == 0 and "Traceback" not in text, name
        if name == "overview":
            assert f"{served.fytd_co2_t:,.1f} t" in text
            assert ("年度累計 CO₂ 排出量" if lang == "ja" else "FY-to-date CO₂ emissions") in text
            assert "–" not in text.split("\n")[text.split("\n").index(
                "年度末見通し" if lang == "ja" else "Projected FY end") + 1]
        if name == "forecast":
            assert "f2-led-retrofit" in text and "office-1-bems" in text  # savings chart
        if name == "meters":
            assert "payload.bad_json" in text
        if name == "findings":  # a ranked list with totals, or the empty state that says why
            assert (("年間損失額" if lang == "ja" else "At stake per year") in text
                    or "greenpipe findings run" in text)
        if name == "export":
            assert ("ダウンロード" if lang == "ja" else "Download") in text
        if name == "reports":
            assert ("特定事業者に該当" if lang == "ja" else "Specified business operator") in text
            assert "ghg.retailer_without_factors" in text
    if os.environ.get("GREENPIPE_UPDATE_SCREENSHOTS") == "1":
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for png in shots:
            shutil.copy(png, target / png.name)


# What each tab of the Sites page shows for factory-1 (electricity and gas, no PV): the
# live power chart above the tabs plus the tab's own charts and tables (two baseline
# charts from the forecast run), and its heading.
SITE_VIEWS = {"by_day": (2, 0, "si.by_day"), "by_month": (2, 0, "si.by_month"),
              "co2": (2, 0, "si.co2"),
              "baseline": (3, 0, "si.baseline"), "breakdown": (1, 1, "si.breakdown"),
              "pv": (1, 0, "si.pv"), "intensity": (2, 0, "si.intensity")}


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_sites_page_shows_each_view_in_its_tab(served: Served, browser: Chromium,
                                               lang: str) -> None:
    spec = PageSpec("sites", 2, 0, t("nav.sites", lang))
    render_page(browser, f"{served.url}/sites?lang={lang}", spec)
    views = list(SITE_VIEWS)  # in the page's order (dashboard/views/sites.py VIEWS)
    for view in (*views[1:], views[0]):  # every tab, and back to the first
        plots, tables, heading = SITE_VIEWS[view]
        click_tab(browser, t(f"si.tab.{view}", lang))
        expr = ready_expression(PageSpec("sites", plots, tables, t("nav.sites", lang)))
        browser.wait_for(f"(() => {{ const s = {expr}; return s && s.text.includes("
                         f"{json.dumps(t(heading, lang))}) ? s : false; }})()", timeout_s=60)
        state = browser.evaluate(expr)
        assert state["exceptions"] == 0, view
        # Only the open tab's charts are built: no more than the tab's own.
        assert (state["plots"], state["tables"]) == (plots, tables), view
        if view == "pv":
            assert t("empty.pv", lang) in state["text"]
