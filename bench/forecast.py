"""Benchmark: fleet forecasting throughput, fit time hourly vs daily, CV(RMSE) on the fleet.

Fills a temporary SqliteStore straight from the simulated example city (``bench.sim_store``,
hourly readings, seed 42), then measures:

* throughput in meters per minute of ``forecast run``'s savings tasks (one per meter and
  measure, the fleet repeated ``--copies`` times) run as a plain sequential loop in this
  process (the baseline), and on the process pool with 1 and 2 workers;
* fit time of one baseline per series (factory and office main meters, 365 days), daily vs
  hourly;
* in-sample and cross-validated CV(RMSE) of every meter's baseline on the simulated fleet.

Run:

    .venv/bin/python bench/forecast.py [--days 430] [--copies 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_store import fill_store
from forecasting.baseline import BaselineModel, BaselineOptions, silence_stan
from forecasting.data import BaselineData, Scope
from forecasting.runner import SavingsTask, build_tasks, execute, run_task, split_records
from greenpipe.config import load_config
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

END = datetime(2026, 11, 28, 15, tzinfo=UTC)  # 2026-11-29 00:00 JST


def _throughput(tasks: list[SavingsTask]) -> list[tuple[str, float, float]]:
    out = []
    t0 = time.perf_counter()
    for t in tasks:
        run_task(t)
    seq = time.perf_counter() - t0
    out.append(("sequential loop in one process (baseline)", seq, len(tasks) / seq * 60))
    for workers in (1, 2):
        t0 = time.perf_counter()
        execute(tasks, workers=workers) if workers > 1 else _pool_of_one(tasks)
        dt = time.perf_counter() - t0
        out.append((f"process pool, {workers} worker{'s' if workers > 1 else ''}", dt,
                    len(tasks) / dt * 60))
    return out


def _pool_of_one(tasks: list[SavingsTask]) -> None:
    # execute(workers=1) runs in-process by design; measure a real one-process pool here.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from forecasting.runner import _worker_init

    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_worker_init) as p:
        list(p.map(run_task, tasks))


def _fit_times(store: SqliteStore, meter: str, weather: str) -> dict[str, float]:
    out = {}
    for gran in ("daily", "hourly"):
        data = BaselineData.from_store(store, Scope("meter", meter), END - timedelta(days=365),
                                       END, gran, weather_meter=weather, force=True)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            BaselineModel(BaselineOptions(uncertainty_samples=0)).fit(data)
            times.append(time.perf_counter() - t0)
        out[gran] = statistics.median(times)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=430)
    ap.add_argument("--copies", type=int, default=3)
    args = ap.parse_args(argv)
    silence_stan()
    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", Catalog.of(cfg.meters, cfg.sites))
        t0 = time.perf_counter()
        n = fill_store(cfg, store, END, args.days)
        print(f"filled store: {n} readings, {args.days} days, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        tasks = build_tasks(cfg, store, END)
        savings_tasks = [t for t in tasks if isinstance(t, SavingsTask)]
        records = split_records(execute(savings_tasks, workers=1))[0]
        weather = next(m.id for m in cfg.meters if m.kind.value == "weather")
        fits = {m: _fit_times(store, m, weather) for m in ("f1-main", "office-1-main")}
        work = savings_tasks * args.copies
        rates = _throughput(work)
        store.close()

    print(f"\n## forecast: savings fits of the example city ({len(savings_tasks)} meter tasks "
          f"x {args.copies} = {len(work)}), daily, {args.days} days simulated\n")
    print("| run | wall s | meters/min | ratio to baseline |\n|---|---:|---:|---:|")
    base = rates[0][2]
    for name, dt, rate in rates:
        print(f"| {name} | {dt:.1f} | {rate:.1f} | {rate / base:.2f} |")
    print("\n| series (365 days) | daily fit s | hourly fit s | hourly / daily |\n"
          "|---|---:|---:|---:|")
    for meter, t in fits.items():
        print(f"| {meter} | {t['daily']:.2f} | {t['hourly']:.2f} | "
              f"{t['hourly'] / t['daily']:.1f} |")
    print("\n| meter | measure | CV(RMSE) in-sample | CV(RMSE) cross-validated | NMBE | R² "
          "| savings % (declared) |\n|---|---|---:|---:|---:|---:|---:|")
    declared = {m.id: m.change_pct for m in cfg.measures}
    for r in sorted(records, key=lambda r: r.meter_id):
        pct = r.savings_kwh / r.reporting_predicted_kwh
        dec = f"{-declared[r.measure_id]:.0f}" if r.measure_id else "0 (null test)"
        print(f"| {r.meter_id} | {r.measure_id or '-'} | {r.cvrmse:.1%} | {r.cv_cvrmse:.1%} | "
              f"{r.nmbe:.2%} | {r.r2:.3f} | {pct:.1%} ({dec}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
