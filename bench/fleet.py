"""Benchmark: ``forecast run`` on a simulated daily fleet, local process pool vs Dask.

A city of ``--meters`` simulated meters (``bench.simulate.city_config``: ten load profiles
on up to 100 sites, one weather station) gets ``--days`` of daily readings written straight
into a temporary SqliteStore (``bench.sim_store``). Then, timed:

* end to end on the local pool, as ``greenpipe forecast run`` does it: read the store and
  build the tasks, fit every savings and projection task on a 2-worker process pool, write
  the records back; reported as meters per minute per core;
* the fits alone on the same 2-worker pool (the baseline) and on a ``distributed``
  LocalCluster of 2 single-threaded worker processes on loopback; the ratio is the cost
  or gain of the Dask path on the same cores.

Run:

    .venv/bin/python bench/fleet.py [--meters 1000] [--days 430] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_store import fill_store
from bench.simulate import city_config
from forecasting.baseline import silence_stan
from forecasting.runner import SavingsTask, baseline_points, build_tasks, execute, split_records
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

END = datetime(2026, 11, 28, 15, tzinfo=UTC)
CORES = 2


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--days", type=int, default=430)
    ap.add_argument("--repeat", type=int, default=1,
                    help="time the two engines this many times, alternating; report medians")
    args = ap.parse_args(argv)
    silence_stan()
    cfg = city_config(args.meters, 1883)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "fleet.db", Catalog.of(cfg.meters, cfg.sites))
        t0 = time.perf_counter()
        n = fill_store(cfg, store, END, args.days, interval_s=86400)
        print(f"filled store: {n:,} daily readings in {time.perf_counter() - t0:.0f} s",
              flush=True)
        t0 = time.perf_counter()
        tasks = build_tasks(cfg, store, END)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        records = execute(tasks, workers=CORES)
        t_pool = time.perf_counter() - t0
        t0 = time.perf_counter()
        savings, forecasts = split_records(records)
        store.write_savings(savings)
        store.write_baseline_points(baseline_points(records))
        store.write_forecasts(forecasts)
        t_write = time.perf_counter() - t0
        store.close()
    print(f"pool: build {t_build:.0f} s, fits {t_pool:.0f} s, write {t_write:.0f} s", flush=True)
    from distributed import LocalCluster

    pool_s, dask_s = [t_pool], []
    with LocalCluster(n_workers=CORES, threads_per_worker=1, processes=True, host="127.0.0.1",
                      scheduler_port=0, dashboard_address="127.0.0.1:0", silence_logs=40) as lc:
        for k in range(args.repeat):
            if k:  # alternate, so a busy spell on the shared machine hits both engines
                t0 = time.perf_counter()
                execute(tasks, workers=CORES)
                pool_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dask_records = execute(tasks, dask_address=lc.scheduler_address)
            dask_s.append(time.perf_counter() - t0)
            print(f"round {k + 1}: pool {pool_s[-1]:.0f} s, Dask {dask_s[-1]:.0f} s "
                  f"(ratio {pool_s[-1] / dask_s[-1]:.2f})", flush=True)
    assert len(dask_records) == len(records)
    t_pool, t_dask = statistics.median(pool_s), statistics.median(dask_s)
    meters = sum(isinstance(t, SavingsTask) for t in tasks)
    total = t_build + t_pool + t_write
    rate = meters / (total / 60) / CORES
    print(f"\n## fleet: {meters} meters ({len(tasks)} tasks incl. projections), "
          f"{args.days} days of daily readings, {CORES} cores\n")
    print("| run | wall s | meters/min/core | ratio to pool |\n|---|---:|---:|---:|")
    print(f"| end to end, local pool (read + fits + write) | {total:.0f} | {rate:.1f} | |")
    print(f"| fits on the local process pool, 2 workers (baseline) | {t_pool:.0f} | "
          f"{meters / (t_pool / 60) / CORES:.1f} | 1.00 |")
    print(f"| fits on a Dask LocalCluster, 2 worker processes | {t_dask:.0f} | "
          f"{meters / (t_dask / 60) / CORES:.1f} | {t_pool / t_dask:.2f} |")
    if args.repeat > 1:
        ratios = [p / d for p, d in zip(pool_s, dask_s, strict=True)]
        print(f"\nFits: medians of {args.repeat} alternating rounds; per-round ratios "
              f"{', '.join(f'{r:.2f}' for r in ratios)} (median "
              f"{statistics.median(ratios):.2f}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
