"""Statutory reports on the simulated example city: build time against the raw store read.

Fills a SQLite store straight from the fleet (hourly readings and production, FY2024 and
FY2025), then times, median of 5 runs each:

* baseline: the one ``Store.read`` (daily buckets, 5 fiscal years, every meter) and the one
  ``Store.read_production`` that a report needs;
* ``build_reports(cfg, store, 2025)``: the same reads plus all the Energy Conservation Act and
  SHK arithmetic, warnings and company totals;
* the xlsx writer for both reports.

Prints a Markdown table for docs/BENCHMARKS.md: ``python -m bench reports``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_store import fill_store
from greenpipe.config import load_config
from greenpipe.fiscal import fiscal_year_bounds
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from reports.build import build_reports
from reports.export import xlsx_bytes

END = datetime(2026, 3, 31, 15, tzinfo=UTC)  # 2026-04-01 00:00 JST
RUNS = 5


def _median_s(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    """Fill, time and print the table."""
    cfg = load_config(env={})
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", Catalog.of(cfg.meters, cfg.sites))
        readings = fill_store(cfg, store, END, 730, production=True)
        start, _ = fiscal_year_bounds(2021)
        offset = timedelta(seconds=start.timestamp() % 86400)

        def raw() -> None:
            store.read(start, END, timedelta(days=1), group_by="meter", offset=offset)
            store.read_production(start, END, timedelta(days=1), offset=offset)

        base = _median_s(raw)
        build = _median_s(lambda: build_reports(cfg, store, 2025))
        rs = build_reports(cfg, store, 2025)
        write = _median_s(lambda: (xlsx_bytes(rs, "energy-act"), xlsx_bytes(rs, "ghg")))
        store.close()
    print(f"{readings:,} hourly readings, {len(cfg.meters)} meters, {len(rs.sites)} sites, "
          f"median of {RUNS}")
    print("| step | seconds | ratio to baseline |\n|---|---:|---:|")
    for name, secs in (("baseline: the report's store reads (5 FY, daily buckets)", base),
                       ("`build_reports` FY2025 (reads + arithmetic)", build),
                       ("xlsx of both reports", write)):
        print(f"| {name} | {secs:.3f} | {secs / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
