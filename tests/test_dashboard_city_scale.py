"""A 1,000-meter city in a real browser: every page gets ready and shows the raw numbers.

To keep the test well under a minute the store is built quickly: 1,000 meters (200 sites of
3 electricity, 1 gas and 1 PV meter) with one reading per meter and day for the 30 days up
to the pinned clock (30,000 readings), written straight into SQLite through
``SqliteStore.write`` (so the rollups are maintained as in production). The two-year,
1,000-meter timing run is ``bench/dashboard.py --meters 1000 --days 730 --interval-min
1440`` (docs/BENCHMARKS.md). The expected numbers are summed with plain SQL over the raw
``readings`` table, bypassing the rollups the dashboard reads.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from dashboard.browser import Chromium, PageSpec, find_chromium, render_page
from dashboard.launch import dashboard_env, streamlit_command
from greenpipe.config import load_config
from greenpipe.fiscal import fiscal_year_bounds
from greenpipe.net import free_loopback_port
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.conftest import stop_process, wait_for_port
from tests.dashboard_seed import synthetic_readings

pytestmark = pytest.mark.integration
JST = timezone(timedelta(hours=9))
AS_OF = datetime(2026, 3, 31, 12, 0, tzinfo=JST)
SITES = 200
SECTORS = ("industry", "commercial", "public", "transport", "household")
PAGES = (PageSpec("", 3, 0, "FY2025 progress"), PageSpec("sites", 2, 0, "Sites"),
         PageSpec("forecast", 0, 0, "Forecast"),
         PageSpec("findings", 0, 0, "Problems and proposals"),
         PageSpec("meters", 0, 1, "Meters"), PageSpec("export", 0, 0, "Export"),
         PageSpec("reports", 0, 0, "Reports"))


def _city_toml(db: Path) -> str:
    parts = [f'[city]\nname = "City of 1000"\nlanguage = "en"\n[store]\nurl = "sqlite:///{db}"\n']
    for s in range(SITES):
        parts.append(f'[[sites]]\nid = "site-{s:03d}"\nname = "Site {s:03d}"\n'
                     f'sector = "{SECTORS[s % len(SECTORS)]}"\ngrid_region = "tepco"\n')
        for j, kind in enumerate(("electricity", "electricity", "electricity", "gas", "pv")):
            parts.append(f'[[meters]]\nid = "m-{s:03d}-{j}"\nsite = "site-{s:03d}"\n'
                         f'kind = "{kind}"\nnominal_kw = {100.0 + 50 * j}\n')
    return "\n".join(parts)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    """The dashboard serving the 1,000-meter store; yields (url, FY-to-date use in MWh)."""
    tmp = tmp_path_factory.mktemp("city-scale")
    db = tmp / "city.db"
    cfg_path = tmp / "city.toml"
    cfg_path.write_text(_city_toml(db), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    assert len(cfg.meters) == 1000
    store = SqliteStore(db, Catalog.of(cfg.meters, cfg.sites))
    meters = [(m.id, m.site, m.kind.value, m.nominal_kw or 100.0) for m in cfg.meters]
    store.write(synthetic_readings(meters, AS_OF - timedelta(days=30), AS_OF,
                                   interval=timedelta(days=1)))
    store.close()
    fy_start, _ = fiscal_year_bounds(2025)
    with sqlite3.connect(db) as raw:
        (use_kwh,) = raw.execute(
            "SELECT SUM(energy_kwh) FROM readings WHERE kind != 'pv' AND ts_ms > ? "
            "AND ts_ms <= ?", (round(fy_start.timestamp() * 1000),
                               round(AS_OF.timestamp() * 1000))).fetchone()
    port = free_loopback_port()
    env = dashboard_env(cfg_path, None, AS_OF.isoformat())
    log = open(tmp / "streamlit.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(streamlit_command(port), env=env, stdout=log, stderr=log, cwd=tmp)
    try:
        wait_for_port(port, proc, timeout_s=60)
        assert requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30).ok
        yield f"http://127.0.0.1:{port}", float(use_kwh) / 1000.0
    finally:
        stop_process(proc)
        log.close()


def test_every_page_is_ready_on_1000_meters_with_the_raw_numbers(
        city: tuple[str, float], tmp_path: Path) -> None:
    url, use_mwh = city
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not installed; run `make test` (installs it) or "
                    "`apt-get install chromium`")
    browser = Chromium(binary)
    try:
        for spec in PAGES:
            state = render_page(browser, f"{url}/{spec.path}?lang=en", spec,
                                tmp_path / f"{spec.name}.png", timeout_s=120)
            text = state["text"]
            assert spec.title in state["title"], (spec.name, state["title"])
            assert state["exceptions"] == 0 and "Traceback" not in text, spec.name
            if spec.name == "overview":
                assert use_mwh > 100.0
                assert f"{use_mwh:,.1f} MWh" in text  # the rollups equal the raw sum
            if spec.name == "meters":
                # The 1,000-row health table scrolls inside a bounded grid (25 rows in
                # view, problems first) instead of a 35,000-pixel one drawn whole.
                height = browser.evaluate(
                    "document.querySelector('[data-testid=\"stDataFrame\"]')"
                    ".getBoundingClientRect().height")
                assert 38 + 35 * 20 < height <= 38 + 35 * 25 + 2, height
            if spec.name == "export":
                # A city-wide year is read when downloading, not on every page view: the
                # page gives its size from the configured meters (1,000 × 365 days).
                assert "about 365,000 rows (built when you download)" in text
    finally:
        browser.close()
