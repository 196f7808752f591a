"""Profile: every InfluxQL query of one cold dashboard page run, on a city-scale InfluxDB.

Builds ``bench/dashboard.py``'s city on a throw-away influxd 1.x (free loopback ports,
seeded and rolled up as the ``greenpipe db rollup`` job would), then, for each page named
(default: overview), runs the page once cold in AppTest (query cache cleared) with every
``InfluxStore.query`` timed, and prints the queries by total time (the statement with its
long tag lists shortened) and the page's total. Not part of ``make bench``'s ratios; it is
the tool that said where the Overview's cold seconds go (docs/BENCHMARKS.md).

    .venv/bin/python bench/influx_queries.py --meters 300 --days 730 [--pages overview meters]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
from streamlit.testing.v1 import AppTest

from bench.dashboard import AS_OF, REPO, build
from greenpipe.stores.influx import InfluxStore

_LISTS = re.compile(r"\((\"\w+\" = '[^']*'(?: OR )?){3,}\)")
_TIMES = re.compile(r"\d{19}")


def _shape(statement: str) -> str:
    """The statement with tag lists and instants replaced, so repeats group together."""
    return _TIMES.sub("T", _LISTS.sub("(<tags>)", statement))[:240]


def profile(cfg_path: Path, page: str) -> tuple[float, list[tuple[str, int, float]]]:
    """Run ``page`` once cold; return its seconds and (query shape, count, seconds)."""
    os.environ["GREENPIPE_CONFIG"] = str(cfg_path)
    os.environ["GREENPIPE_DASHBOARD_AS_OF"] = AS_OF.isoformat()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()  # imports and the first open of the store are not the page's cost
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
        st.cache_data.clear()
        t0 = time.perf_counter()
        at.run()
        total = time.perf_counter() - t0
    finally:
        InfluxStore.query = original  # type: ignore[method-assign]
    assert not at.exception, [e.value for e in at.exception]
    rows = sorted(((q, len(v), sum(v)) for q, v in times.items()), key=lambda r: -r[2])
    return total, rows


def main() -> int:
    """Build the city, profile the pages, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=300)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--interval-min", type=int, default=1440)
    parser.add_argument("--pages", nargs="+", default=["overview"])
    args = parser.parse_args()
    from tests.conftest import start_influxd

    with tempfile.TemporaryDirectory(prefix="greenpipe-bench-influxq-") as tmp:
        influx = start_influxd(Path(tmp) / "influxd")
        try:
            _, year_cfg = build(Path(tmp), args.days, args.meters,
                                timedelta(minutes=args.interval_min), influx)
            for page in args.pages:
                total, rows = profile(year_cfg, page)
                in_queries = sum(r[2] for r in rows)
                print(f"\n{page}: cold run {total:.2f} s, {sum(r[1] for r in rows)} queries "
                      f"{in_queries:.2f} s")
                print("| seconds | count | query |\n| ---: | ---: | --- |")
                for q, n, secs in rows:
                    print(f"| {secs:.3f} | {n} | `{q}` |")
        finally:
            influx.process.terminate()
            influx.process.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
