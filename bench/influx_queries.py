"""Profile: every InfluxQL query of one cold dashboard page run, on a city-scale InfluxDB.

Builds ``bench/dashboard.py``'s city on a throw-away influxd 1.x (free loopback ports,
seeded and rolled up as the ``greenpipe db rollup`` job would), then, for each page named
(default: overview), runs the page once cold in AppTest (query cache cleared) with every
``InfluxStore.query`` timed, and prints the queries by total time (the statement with its
long tag lists shortened) and the page's total: first with ``energy_1mo`` not trusted (a
``rollup_state`` point without ``months_from_ms``, as before the monthly rollup), then
trusted, then with ``energy_site_1mo`` trusted too (``site_months_from_ms``), and then with
``meter_totals`` read once per ``rollup_state`` point rather than at every
``stats()``/``latest()``/``has_readings()`` call, in the same run. Not part of
``make bench``'s ratios; it is the tool that said where the Overview's cold seconds go
(docs/BENCHMARKS.md).

    .venv/bin/python bench/influx_queries.py --meters 300 --days 730 [--pages overview meters]
        [--workdir DIR] [--current-only]

``--workdir`` keeps influxd's data dir, so a second run (e.g. of another checkout, for a
before/after in one session) skips the seeding and the rollup backfill.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
from streamlit.testing.v1 import AppTest

from bench.dashboard import AS_OF, REPO, build, workdir_and_server
from greenpipe.stores import influx_totals as tot
from greenpipe.stores.influx import STATE_CACHE_S, InfluxStore

_LISTS = re.compile(r"\((\"\w+\" = '[^']*'(?: OR )?){3,}\)")
_TIMES = re.compile(r"\d{19}")


def _shape(statement: str) -> str:
    """The statement with tag lists and instants replaced, so repeats group together."""
    return _TIMES.sub("T", _LISTS.sub("(<tags>)", statement))[:240]


@contextlib.contextmanager
def timed_queries() -> Iterator[dict[str, list[float]]]:
    """Time every ``InfluxStore.query`` inside the block, by statement shape."""
    times: dict[str, list[float]] = defaultdict(list)
    original = InfluxStore.query

    def timed(self: InfluxStore, statements: str) -> Any:
        t0 = time.perf_counter()
        try:
            return original(self, statements)
        finally:
            times[_shape(statements)].append(time.perf_counter() - t0)

    InfluxStore.query = timed  # type: ignore[method-assign]
    try:
        yield times
    finally:
        InfluxStore.query = original  # type: ignore[method-assign]


def profile(cfg_path: Path, page: str, months: int, memo: bool
            ) -> tuple[float, list[tuple[str, int, float]]]:
    """Run ``page`` once cold; return its seconds and (query shape, count, seconds).

    ``months``: 0 no monthly rollup trusted, 1 ``energy_1mo``, 2 and ``energy_site_1mo``;
    ``memo``: ``meter_totals`` read once per ``rollup_state`` point
    (``influx_totals.read_totals_cached``), else at every call."""
    os.environ["GREENPIPE_CONFIG"] = str(cfg_path)
    os.environ["GREENPIPE_DASHBOARD_AS_OF"] = AS_OF.isoformat()
    tot.TOTALS_CACHE_S = _TOTALS_CACHE_S if memo else 0.0
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()  # imports and the first open of the store are not the page's cost
    # A new state point, as after a rollup run: the store's memo of the warm-up run's
    # meter_totals no longer applies, so the timed run reads them as a cold one does.
    _set_months(cfg_path, months)
    time.sleep(STATE_CACHE_S + 0.1)  # the page's store then reads the new state point
    with timed_queries() as times:
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.run()
        total = time.perf_counter() - t0
    assert not at.exception, [e.value for e in at.exception]
    rows = sorted(((q, len(v), sum(v)) for q, v in times.items()), key=lambda r: -r[2])
    return total, rows


def _set_months(cfg_path: Path, on: int) -> None:
    """Write a newest ``rollup_state`` point with the same span, with ``months_from_ms``
    (``on`` >= 1: ``energy_1mo`` trusted) and ``site_months_from_ms`` (``on`` = 2:
    ``energy_site_1mo`` too) or without (as recorded before those rollups existed)."""
    from greenpipe.config import load_config
    from greenpipe.stores import open_configured_store
    from greenpipe.stores.influxql import ms_of

    store: Any = open_configured_store(load_config(cfg_path, env={}))
    try:
        (one,) = store.query('SELECT "from_ms", "until_ms", "months_from_ms", '
                             '"site_months_from_ms" FROM "rollup_state" '
                             "ORDER BY time DESC LIMIT 1")[0]
        _, lo, hi, months_from, site_from = one.values[0]
        global _MONTHS_FROM, _SITE_MONTHS_FROM
        _MONTHS_FROM = months_from if months_from is not None else _MONTHS_FROM
        _SITE_MONTHS_FROM = site_from if site_from is not None else _SITE_MONTHS_FROM
        fields = f"from_ms={float(lo)},until_ms={float(hi)}"
        if on >= 1 and _MONTHS_FROM is not None:
            fields += f",months_from_ms={float(_MONTHS_FROM)}"
        if on >= 2 and _SITE_MONTHS_FROM is not None:
            fields += f",site_months_from_ms={float(_SITE_MONTHS_FROM)}"
        from datetime import UTC, datetime

        store.write_lines([f"rollup_state {fields} {ms_of(datetime.now(UTC))}"])
    finally:
        store.close()


_MONTHS_FROM: float | None = None
_SITE_MONTHS_FROM: float | None = None
_TOTALS_CACHE_S = tot.TOTALS_CACHE_S


def main() -> int:
    """Build the city, profile the pages, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--interval-min", type=int, default=1440)
    parser.add_argument("--pages", nargs="+", default=["overview"])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep influxd's data dir here and reuse the seeded, rolled-up "
                             "stores on the next run with the same directory and city")
    parser.add_argument("--current-only", action="store_true",
                        help="profile only the store as the rollup job leaves it (both "
                             "monthly rollups trusted, meter_totals memo), not the three "
                             "earlier variants")
    parser.add_argument("--repeat", type=int, default=1,
                        help="cold runs per variant (each printed; the table of the last)")
    args = parser.parse_args()
    variants = (((2, True),) if args.current_only
                else ((0, False), (1, False), (2, False), (2, True)))
    with workdir_and_server(args.workdir, True, "influxq") as (tmp, influx):
        assert influx is not None
        _, year_cfg = build(tmp, args.days, args.meters,
                            timedelta(minutes=args.interval_min), influx)
        for page in args.pages:
            for months, memo in variants:
                used = ("no monthly rollup", "energy_1mo", "energy_site_1mo")[months]
                for k in range(args.repeat):
                    total, rows = profile(year_cfg, page, months, memo)
                    in_queries = sum(r[2] for r in rows)
                    print(f"\n{page}, {used}, "
                          f"meter_totals {'once per state point' if memo else 'every call'}"
                          f" (run {k + 1}): cold run {total:.2f} s, "
                          f"{sum(r[1] for r in rows)} queries {in_queries:.2f} s", flush=True)
                print("| seconds | count | query |\n| ---: | ---: | --- |")
                for q, n, secs in rows:
                    print(f"| {secs:.3f} | {n} | `{q}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
