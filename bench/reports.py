"""Statutory reports: build time from the monthly rollups against the raw daily read path.

Two cities:

* the simulated example city (default): a store filled straight from the fleet (hourly
  readings and production, FY2024 and FY2025);
* ``--meters N`` (a multiple of 5): ``bench/dashboard.py``'s city of N/5 sites with 5 meters
  each and ``--days`` of daily readings (``--meters 1000 --days 730`` is issue 15's city).

``--store influx`` puts the store in a throw-away influxd 1.x (free loopback ports) and rolls
it up as ``greenpipe db rollup`` would (``bench/dashboard.py``'s backfill). Then it times,
median of ``--repeat`` runs each, all in the same run:

* baseline: the one ``Store.read`` (daily buckets, 5 fiscal years, every meter) and the one
  ``Store.read_production`` that a report needs;
* ``build_reports(..., rollups=False)``: the raw daily read plus all the Energy Conservation
  Act and SHK arithmetic (the build before the monthly rollups);
* ``build_reports(...)``: the same from ``Store.read_monthly`` (the monthly rollups); the
  two builds' figures are compared (sums of GJ, kL and CO2 over the sites, to 1e-9);
* the xlsx writer for both reports.

Prints a Markdown table for docs/BENCHMARKS.md: ``python -m bench reports [--store influx]
[--meters 1000 --days 730]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_store import fill_store
from greenpipe.config import Config, load_config
from greenpipe.fiscal import fiscal_year_bounds
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from reports.build import ReportSet, build_reports
from reports.export import xlsx_bytes

END = datetime(2026, 3, 31, 15, tzinfo=UTC)  # 2026-04-01 00:00 JST
FY = 2025


def _median_s(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _open(cfg: Config, tmp: Path, influx: Any) -> Any:
    if influx is None:
        return SqliteStore(tmp / "bench.db", Catalog.of(cfg.meters, cfg.sites))
    from bench.dashboard import _influx_store

    return _influx_store(cfg)


def _fill(args: argparse.Namespace, tmp: Path, influx: Any) -> tuple[Config, Any, str]:
    """The config and the filled (and, on InfluxDB, rolled-up) store; a line saying what."""
    from bench.dashboard import AS_OF, _roll_up, city_toml
    from tests.dashboard_seed import synthetic_readings

    end = END
    if args.meters:
        url: Any = tmp / "bench.db" if influx is None else influx.store_url("bench_reports")
        cfg_path = tmp / "city.toml"
        # The raw daily read of 2 years x 1,000 meters takes longer than the default 10 s
        # store timeout on InfluxDB (the "before" build fails with it).
        toml = city_toml(url, args.meters // 5).replace("[store]\n",
                                                        "[store]\ntimeout_s = 600.0\n", 1)
        cfg_path.write_text(toml, encoding="utf-8")
        cfg = load_config(cfg_path, env={})
        store = _open(cfg, tmp, influx)
        meters = [(m.id, m.site, m.kind.value, m.nominal_kw or 100.0) for m in cfg.meters]
        written = 0
        end = AS_OF.astimezone(UTC)
        for k in range(0, len(meters), 50):
            readings = synthetic_readings(meters[k:k + 50], end - timedelta(days=args.days), end,
                                          interval=timedelta(days=1), seed=7 + k)
            for i in range(0, len(readings), 100_000):
                written += store.write(readings[i:i + 100_000])
        what = f"{written:,} daily readings"
    else:
        cfg = load_config(env={})
        store = _open(cfg, tmp, influx)
        written = fill_store(cfg, store, END, args.days, production=True)
        what = f"{written:,} hourly readings (and production)"
    if influx is not None:
        t0 = time.perf_counter()
        _roll_up(store, end - timedelta(days=args.days + 1), end)
        what += f", rolled up in {time.perf_counter() - t0:.0f} s"
    return cfg, store, what


def _figures(rs: ReportSet) -> list[float]:
    return [sum(s.energy_gj for s in rs.sites), sum(s.crude_oil_kl for s in rs.sites),
            sum(s.co2_basic_t for s in rs.sites),
            float(sum(y.months_with_data for s in rs.sites for y in s.years.values()))]


def _query_profile(store: Any, fn: Callable[[], object]) -> list[tuple[str, int, float]]:
    """InfluxDB: every query ``fn`` makes, timed and grouped by shape (none on SQLite)."""
    from bench.influx_queries import timed_queries
    from greenpipe.stores.influx import InfluxStore

    if not isinstance(store, InfluxStore):
        return []
    with timed_queries() as times:
        fn()
    return sorted(((q, len(v), sum(v)) for q, v in times.items()), key=lambda r: -r[2])


def main(argv: list[str] | None = None) -> int:
    """Fill, time and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    parser.add_argument("--meters", type=int, default=0,
                        help="bench/dashboard.py's city of this many meters (0: example city)")
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        influx = None
        if args.store == "influx":
            from tests.conftest import start_influxd

            influx = start_influxd(Path(tmp) / "influxd")
        try:
            cfg, store, what = _fill(args, Path(tmp), influx)
            start, _ = fiscal_year_bounds(FY - 4)
            _, end = fiscal_year_bounds(FY)
            offset = timedelta(seconds=start.timestamp() % 86400)

            def raw() -> None:
                store.read(start, end, timedelta(days=1), group_by="meter", offset=offset)
                store.read_production(start, end, timedelta(days=1), offset=offset)

            base = _median_s(raw, args.repeat)
            before = _median_s(lambda: build_reports(cfg, store, FY, rollups=False), args.repeat)
            after = _median_s(lambda: build_reports(cfg, store, FY), args.repeat)
            rs = build_reports(cfg, store, FY)
            old = build_reports(cfg, store, FY, rollups=False)
            same = all(abs(a - b) <= 1e-9 * max(1.0, abs(b))
                       for a, b in zip(_figures(rs), _figures(old), strict=True))
            write = _median_s(lambda: (xlsx_bytes(rs, "energy-act"), xlsx_bytes(rs, "ghg")),
                              args.repeat)
            queries = _query_profile(store, lambda: build_reports(cfg, store, FY))
            store.close()
        finally:
            if influx is not None:
                influx.process.terminate()
                influx.process.wait(30)
    print(f"{args.store}: {what}; {len(cfg.meters)} meters, {len(rs.sites)} sites reported, "
          f"median of {args.repeat}; monthly build == daily build: {same}")
    print("| step | seconds | ratio to baseline |\n|---|---:|---:|")
    for name, secs in (("baseline: the raw daily read (5 FY) and production", base),
                       (f"`build_reports` FY{FY} from daily reads (before)", before),
                       (f"`build_reports` FY{FY} from monthly rollups (after)", after),
                       ("xlsx of both reports", write)):
        print(f"| {name} | {secs:.3f} | {secs / base:.2f} |")
    print(f"after / before: {after / before:.2f}x")
    if queries:
        print("\nqueries of one build from the monthly rollups (seconds, count, shape):")
        for q, n, secs in queries[:8]:
            print(f"  {secs:.3f} s  {n:3d}x  {q}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
