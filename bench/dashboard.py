"""Benchmark: dashboard render time per page, a full store vs an empty store.

Builds a city of ``--meters`` meters (default 50: 10 sites, every sector, 3 electricity, 1
gas and 1 PV meter per site) and two SQLite stores: one empty, one with ``--days`` of
readings every ``--interval-min`` minutes (default a year of 30-minute readings, 876,000
readings). The city-scale run of issue 15 is ``--meters 1000 --days 730 --interval-min
1440``: two years of 1,000 meters as daily readings (730,000 readings; the dashboard reads
the daily rollups either way, and 35 million 30-minute readings take hours to generate in
Python). For each store it measures, per page:

* AppTest run time: the page's script run in-process, cold (query cache cleared before each
  run, store already open) and warm (cache filled by the previous run);
* browser time-to-ready: ``streamlit run`` + headless chromium over DevTools, from
  navigation until the page's title, charts and tables have rendered and the script has
  finished: first visit (a new browser session, cold data cache: each round starts its own
  server and warms it, untimed, on the audit page, which also fills the browser's HTTP
  cache with Streamlit's bundle), repeat visit (a new
  session, warm cache) and a page switch inside one session (a click on the sidebar link,
  as on a wall screen that stays open; the chart code is already loaded: the ring of
  switches runs twice and the second lap is timed).

It also records the server's resident memory after 10 and after 50 page loads in one
browser session (page switches in a ring), to show that memory stays flat.

With ``--store influx`` both stores are databases of a throw-away influxd 1.x (the test
fixture's ``start_influxd``, free loopback ports), seeded through ``InfluxStore.write`` and
then rolled up as the ``greenpipe db rollup`` job would (``energy_1h``, ``energy_1d`` and
the per-site and per-sector days, 30 days per step, coverage recorded).

Figures are medians over ``--repeat`` runs, reported with the full/empty ratio. Run:

    .venv/bin/python bench/dashboard.py [--days 365] [--meters 50] [--interval-min 30]
        [--repeat 3] [--store sqlite|influx] [--totals-only] [--pages overview,sites]
        [--no-memory] [--workdir DIR]

With ``--store influx`` it first measures the cold AppTest time of every page on the full
store without the rollup job's per-meter totals (``meter_totals``, deleted) and with them
(rebuilt), in the same run; ``--totals-only`` stops after that table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard.browser import Chromium, PageSpec, find_chromium, ready_expression  # noqa: E402
from dashboard.launch import dashboard_env, streamlit_command  # noqa: E402
from greenpipe.config import load_config  # noqa: E402
from greenpipe.net import free_loopback_port  # noqa: E402
from greenpipe.stores import Catalog  # noqa: E402
from greenpipe.stores.sqlite import SqliteStore  # noqa: E402
from tests.dashboard_seed import synthetic_readings  # noqa: E402

if TYPE_CHECKING:
    from tests.conftest import InfluxProcess

JST = timezone(timedelta(hours=9))
AS_OF = datetime(2026, 3, 31, 12, 0, tzinfo=JST)
SECTORS = ("industry", "industry", "industry", "commercial", "commercial", "public", "public",
           "transport", "household", "industry")
PAGES = (("overview", ""), ("sites", "sites"), ("forecast", "forecast"), ("meters", "meters"),
         ("export", "export"))
TITLES = {"overview": "progress", "sites": "Sites", "forecast": "Forecast", "meters": "Meters",
          "export": "Export"}
# The Sites page's tabs (dashboard/views/sites.py VIEWS) and what each shows with data: charts
# (live power above the tabs included), tables, and a heading (i18n key) inside the tab. The
# bench city has no forecast results, so the baseline tab shows an info box.
SITE_TABS = (("by_month", 2, 0, "si.by_month"), ("co2", 2, 0, "si.co2"),
             ("baseline", 1, 0, "si.baseline"), ("breakdown", 1, 1, "si.breakdown"),
             ("pv", 2, 0, "si.pv"), ("intensity", 2, 0, "si.intensity"),
             ("by_day", 2, 0, "si.by_day"))
# What each page shows with a year of data (the empty store shows info boxes only).
FULL = {"overview": (3, 0), "sites": (2, 0), "forecast": (0, 1), "meters": (0, 1),
        "export": (0, 0)}


def city_toml(db: Path | str, n_sites: int = 10) -> str:
    """A city of ``n_sites`` sites with 3 electricity, 1 gas and 1 PV meter each; ``db``
    is a SQLite path or a store URL."""
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    parts = [f'[city]\nname = "Bench City"\nlanguage = "en"\n[store]\nurl = "{url}"\n',
             "[[targets]]\nscope = \"city\"\nid = \"city\"\nbase_fy = 2013\n"
             "base_co2_t = 200000.0\ntarget_fy = 2030\nreduction_pct = 46.0\n"]
    for s in range(n_sites):
        sector = SECTORS[s % len(SECTORS)]
        parts.append(f'[[sites]]\nid = "site-{s}"\nname = "Site {s}"\nsector = "{sector}"\n'
                     'grid_region = "tepco"\n')
        for j, kind in enumerate(("electricity", "electricity", "electricity", "gas", "pv")):
            parts.append(f'[[meters]]\nid = "m-{s}-{j}"\nsite = "site-{s}"\nkind = "{kind}"\n'
                         f"nominal_kw = {200.0 + 50 * j + 10 * (s % 10)}\n")
    return "\n".join(parts)


def build(tmp: Path, days: int, n_meters: int = 50,
          interval: timedelta = timedelta(minutes=30),
          influx: InfluxProcess | None = None) -> tuple[Path, Path]:
    """Write the config and two stores (empty, ``days`` of data); return the config paths.

    With ``influx`` the stores are two databases of that server, rolled up after seeding.
    """
    paths = []
    for name, n_days in (("empty", 0), ("year", days)):
        db: Path | str = tmp / f"{name}.db" if influx is None else influx.store_url(
            f"bench_{name}")
        cfg_path = tmp / f"{name}.toml"
        done = tmp / f"{name}.done"
        what = f"{n_meters} meters, {n_days} days, {interval}\n"
        if done.exists() and done.read_text(encoding="utf-8") == what:  # --workdir: reuse
            # An InfluxDB server restarted on the same data dir listens on a new port.
            cfg_path.write_text(city_toml(db, max(1, n_meters // 5)), encoding="utf-8")
            print(f"  reusing {db}", flush=True)
            paths.append(cfg_path)
            continue
        done.unlink(missing_ok=True)
        cfg_path.write_text(city_toml(db, max(1, n_meters // 5)), encoding="utf-8")
        cfg = load_config(cfg_path, env={})
        store: Any = (SqliteStore(db, Catalog.of(cfg.meters, cfg.sites)) if influx is None
                      else _influx_store(cfg))
        if n_days:
            meters = [(m.id, m.site, m.kind.value, m.nominal_kw or 100.0) for m in cfg.meters]
            t0 = time.perf_counter()
            written = 0
            for k in range(0, len(meters), 50):  # 50 meters at a time: bounded memory
                readings = synthetic_readings(meters[k:k + 50], AS_OF - timedelta(days=n_days),
                                              AS_OF, interval=interval, seed=7 + k)
                for i in range(0, len(readings), 100_000):
                    written += store.write(readings[i:i + 100_000])
            print(f"  seeded {written:,} readings into {name} in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
            if influx is not None:
                t0 = time.perf_counter()
                _roll_up(store, AS_OF - timedelta(days=n_days + 1), AS_OF)
                print(f"  rolled up in {time.perf_counter() - t0:.0f} s", flush=True)
        store.close()
        done.write_text(what, encoding="utf-8")
        paths.append(cfg_path)
    return paths[0], paths[1]


def _influx_store(cfg: Any) -> Any:
    """Open and initialise the config's InfluxDB store (database, retention)."""
    from greenpipe.stores import open_configured_store
    from greenpipe.stores.influx_admin import init

    store = open_configured_store(cfg)
    init(store)  # type: ignore[arg-type]
    return store


def _roll_up(store: Any, start: datetime, end: datetime) -> None:
    """What ``greenpipe db rollup --hours N`` does over ``(start, end]``, 30 days a step,
    then one run of the periodic job (``--hours 2``), which seals the backfilled days into
    the per-meter totals that ``stats()`` reads."""
    from greenpipe.stores.influx_admin import (
        record_coverage,
        rollup_daily,
        rollup_hourly,
        run_rollups,
    )

    step = timedelta(days=30)
    lo = start
    while lo < end:
        hi = min(end, lo + step)
        rollup_hourly(store, lo, hi)
        rollup_daily(store, lo, hi)
        lo = hi
    record_coverage(store, start, end)
    t0 = time.perf_counter()
    run_rollups(store, hours=2, every_s=None, now=lambda: end)
    print(f"  periodic rollup run (first one builds meter_totals) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def totals_before_after(cfg_path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """InfluxDB: median cold AppTest time per page without ``meter_totals`` (``stats()``
    then sums ``energy_1d`` and takes FIRST/LAST over every point, ``latest()`` and
    ``has_readings()`` scan every point, as before the totals) and with them (rebuilt by a
    periodic rollup run), in the same run."""
    from greenpipe.stores.influx_admin import run_rollups
    from greenpipe.stores.influx_totals import TOTALS_MEASUREMENT

    store = _influx_store(load_config(cfg_path, env={}))
    try:
        store.query(f'DELETE FROM "{TOTALS_MEASUREMENT}"')
        before = apptest_times(cfg_path, repeat)
        run_rollups(store, hours=2, every_s=None, now=lambda: AS_OF)
        after = apptest_times(cfg_path, repeat)
    finally:
        store.close()
    return {name: (before[name][0], after[name][0]) for name, _ in PAGES}


def apptest_times(cfg_path: Path, repeat: int, pages: tuple[tuple[str, str], ...] = PAGES
                  ) -> dict[str, tuple[float, float]]:
    """Median (cold, warm) AppTest run time per page in seconds."""
    os.environ["GREENPIPE_CONFIG"] = str(cfg_path)
    os.environ["GREENPIPE_DASHBOARD_AS_OF"] = AS_OF.isoformat()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=300)
    at.run()  # open the store, import the pages' modules: not part of any page's time
    out: dict[str, tuple[float, float]] = {}
    for name, _ in pages:
        at.switch_page(f"views/{name}.py")
        cold, warm = [], []
        for _ in range(repeat):
            st.cache_data.clear()
            t0 = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
            assert not at.exception, [e.value for e in at.exception]
        out[name] = (statistics.median(cold), statistics.median(warm))
    st.cache_resource.clear()
    return out


@contextlib.contextmanager
def _server(cfg_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A ``streamlit run`` of the dashboard on ``cfg_path`` (free port), once it is healthy."""
    port = free_loopback_port()
    env = dashboard_env(cfg_path, None, AS_OF.isoformat())
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(streamlit_command(port), env=env, stdout=log, stderr=log)
        try:
            for _ in range(600):
                try:
                    if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            yield proc, port
        finally:
            proc.terminate()
            proc.wait(10)


def _click(browser: Chromium, name: str, expr: str) -> float:
    """Click the sidebar link of page ``name`` and wait for ``expr``; the seconds taken."""
    t0 = time.perf_counter()
    browser.evaluate(
        "[...document.querySelectorAll('[data-testid=\"stSidebarNav\"] a')]"
        f".find(a => a.innerText.trim().endsWith('{name.title()}')).click()")
    browser.wait_for(expr, timeout_s=300, stable_polls=1, poll_s=0.05)
    return time.perf_counter() - t0


def browser_times(cfg_path: Path, full: bool, repeat: int, browser: Chromium,
                  pages: tuple[tuple[str, str], ...] = PAGES, memory: bool = True
                  ) -> dict[str, tuple[float, float, float]]:
    """Browser time-to-ready per page in seconds: first visit, repeat visit, page switch
    (medians over ``repeat`` rounds).

    Each round starts its own server and warms it, untimed, on the audit page: that
    imports the dashboard's modules and opens the store once, as a server that has run
    for days has, but fills no data cache the measured pages use. So every round's first
    visit meets a cold data cache, and no page pays the process's start-up alone (before,
    only round 0 was cold and its first page paid the start-up). Page switches go round
    ``pages`` in a ring (one page alone is entered from the forecast page, or the
    overview); ``memory`` adds the server's RSS after 10 and 50 loads (last round).
    """
    ring = pages if len(pages) > 1 else (
        (PAGES[2] if pages[0] != PAGES[2] else PAGES[0]), *pages)
    first: dict[str, list[float]] = {n: [] for n, _ in ring}
    again: dict[str, list[float]] = {n: [] for n, _ in ring}
    switch: dict[str, list[float]] = {n: [] for n, _ in ring}
    out: dict[str, tuple[float, float, float]] = {}
    for r in range(repeat):
        with _server(cfg_path) as (proc, port):
            browser.navigate("about:blank")
            browser.navigate(f"http://127.0.0.1:{port}/audit?warm={r}")
            browser.wait_for(ready_expression(PageSpec("audit", 0, 0, "")), timeout_s=300,
                             stable_polls=1, poll_s=0.05)
            for name, path in pages:
                plots, tables = FULL[name] if full else (0, 0)
                expr = ready_expression(PageSpec(path, plots, tables, TITLES[name]))
                for bucket in (first, again):
                    browser.navigate("about:blank")
                    t0 = time.perf_counter()
                    browser.navigate(f"http://127.0.0.1:{port}/{path}?r={r}")
                    browser.wait_for(expr, timeout_s=300, stable_polls=1, poll_s=0.05)
                    bucket[name].append(time.perf_counter() - t0)
            # Page switches inside one session, in a ring so each page is entered once,
            # starting from the page visited last (``ring[-1]``). Two laps, the second
            # timed: in the first, the first page with a chart also loads and evaluates
            # the chart library for this page load, which an open session (a wall screen)
            # has done long before.
            for lap in range(2):
                for name, _path in ring:
                    plots, tables = FULL[name] if full else (0, 0)
                    took = _click(browser, name, ready_expression(
                        PageSpec(_path, plots, tables, TITLES[name])))
                    if lap == 1:
                        switch[name].append(took)
            if r < repeat - 1:
                continue
            if full and any(n == "sites" for n, _ in pages):
                out["tabs"] = _tab_switches(browser, port, repeat)
            rss: list[float] = []
            for load in range(1, 51 if memory else 0):  # 50 loads: memory must stay flat
                name, _path = ring[load % len(ring)]
                plots, tables = FULL[name] if full else (0, 0)
                _click(browser, name, ready_expression(
                    PageSpec(_path, plots, tables, TITLES[name])))
                if load in (10, 50):
                    rss.append(_rss_mb(proc.pid))
            if memory:
                out["memory"] = (rss[0], rss[1], rss[1] / rss[0])
    for n, _ in pages:
        out[n] = (statistics.median(first[n]), statistics.median(again[n]),
                  statistics.median(switch[n]))
    return out


def _tab_switches(browser: Chromium, port: int, repeat: int) -> tuple[float, float, float]:
    """Median, fastest and slowest time from a click on a Sites tab until its view is
    drawn, in an open session, over every tab ``repeat`` times. [s]"""
    import json

    from dashboard.browser import click_tab
    from dashboard.i18n import t

    browser.navigate(f"http://127.0.0.1:{port}/sites?lang=en")
    browser.wait_for(ready_expression(PageSpec("sites", *FULL["sites"], TITLES["sites"])),
                     timeout_s=300, stable_polls=1, poll_s=0.05)
    times = []
    for _ in range(repeat):
        for view, plots, tables, heading in SITE_TABS:
            expr = ready_expression(PageSpec("sites", plots, tables, TITLES["sites"]))
            shown = (f"(() => {{ const s = {expr}; return s && s.text.includes("
                     f"{json.dumps(t(heading, 'en'))}) ? s : false; }})()")
            t0 = time.perf_counter()
            click_tab(browser, t(f"si.tab.{view}", "en"))
            browser.wait_for(shown, timeout_s=300, stable_polls=1, poll_s=0.02)
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def _rss_mb(pid: int) -> float:
    """Resident memory of a process. [MB]"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--meters", type=int, default=50, help="meters (5 per site)")
    parser.add_argument("--interval-min", type=int, default=30, help="reading interval")
    parser.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    parser.add_argument("--totals-only", action="store_true",
                        help="influx: only the cold AppTest times without/with meter_totals")
    parser.add_argument("--pages", default=",".join(n for n, _ in PAGES),
                        help="comma-separated pages to measure (default: all)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the 50-page-load memory check")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="build the stores here (influx: and keep the influxd data "
                             "dir) and reuse them on the next run with the same directory "
                             "and city (default: a temporary directory)")
    args = parser.parse_args()
    unknown = set(args.pages.split(",")) - {n for n, _ in PAGES}
    if unknown:
        parser.error(f"unknown pages {sorted(unknown)}; choose from "
                     + ", ".join(n for n, _ in PAGES))
    binary = find_chromium()
    with workdir_and_server(args.workdir, args.store == "influx", "dashboard") as (tmp, influx):
        return _run(args, tmp, binary, influx)


@contextlib.contextmanager
def workdir_and_server(workdir: Path | None, influx: bool, name: str
                       ) -> Iterator[tuple[Path, InfluxProcess | None]]:
    """The bench's directory (``workdir``, kept, or a temporary one) and, with ``influx``,
    a throw-away influxd whose data dir is ``influxd`` inside it (so a kept ``workdir``
    keeps the seeded and rolled-up stores for the next run)."""
    with contextlib.ExitStack() as stack:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
            tmp = workdir
        else:
            tmp = Path(stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"greenpipe-bench-{name}-")))
        server = None
        if influx:
            from tests.conftest import start_influxd

            server = start_influxd(tmp / "influxd")
        try:
            yield tmp, server
        finally:
            if server is not None:
                server.process.terminate()
                server.process.wait(30)


def _run(args: argparse.Namespace, tmp: Path, binary: str | None,
         influx: InfluxProcess | None) -> int:
    """Build the stores, measure, print the table."""
    pages = tuple(p for p in PAGES if p[0] in args.pages.split(","))
    empty_cfg, year_cfg = build(tmp, args.days, args.meters,
                                timedelta(minutes=args.interval_min), influx)
    if influx is not None:
        totals = totals_before_after(year_cfg, args.repeat)
        print("\n| page | AppTest cold, stats() without meter_totals | with | ratio |")
        print("| --- | ---: | ---: | ---: |")
        for name, (without, with_) in totals.items():
            print(f"| {name} | {without:.2f} s | {with_:.2f} s | {with_ / without:.2f}x |")
        if args.totals_only:
            return 0
    at_empty = apptest_times(empty_cfg, args.repeat, pages)
    at_year = apptest_times(year_cfg, args.repeat, pages)
    br_empty = br_year = None
    if binary:
        browser = Chromium(binary)
        try:
            br_empty = browser_times(empty_cfg, False, args.repeat, browser, pages,
                                     not args.no_memory)
            br_year = browser_times(year_cfg, True, args.repeat, browser, pages,
                                    not args.no_memory)
        finally:
            browser.close()
    print(f"\n{args.store}: empty store vs {args.days} days x {args.meters} meters "
          f"({args.interval_min}-min readings); median of {args.repeat}")
    print("\n| page | AppTest cold | AppTest warm | browser first visit | browser repeat visit "
          "| browser page switch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, _ in pages:
        pairs = [(at_empty[name][0], at_year[name][0]), (at_empty[name][1], at_year[name][1])]
        if br_empty and br_year:
            pairs += [(br_empty[name][i], br_year[name][i]) for i in (0, 1, 2)]
        cells = [f"{a:.2f} s / {b:.2f} s ({b / a:.1f}x)" for a, b in pairs]
        cells += ["chromium missing"] * (5 - len(cells))
        print(f"| {name} | " + " | ".join(cells) + " |")
    if br_year and "tabs" in br_year:
        med, lo, hi = br_year["tabs"]
        print(f"\nSites tab switch (full store, {len(SITE_TABS)} tabs x {args.repeat}): "
              f"median {med:.2f} s, {lo:.2f}-{hi:.2f} s")
    if br_empty and br_year and not args.no_memory:
        for label, br in (("empty", br_empty), ("full", br_year)):
            at10, at50, ratio = br["memory"]
            print(f"\nserver RSS ({label} store) after 10 / 50 page loads: "
                  f"{at10:.0f} MB / {at50:.0f} MB ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
