"""Benchmark: the finder's precision and recall on injected waste, and its cost vs forecasting.

1. Precision and recall over several seeds: the finder test city (tests/findings_city.py:
   five sites, six injected waste patterns, 430 days of half-hourly readings straight from
   the simulated fleet) is forecast (savings tasks of the two meters the CUSUM and measure
   checks need) and searched. A pattern is recalled when its code fires on its meter with a
   start within 7 days. Precision counts every finding of medium or high confidence: true
   when its meter carries an injected pattern that the code plausibly reflects, false
   otherwise. The same city with every pattern off gives the false alarms of a clean city.
2. Run time: ``greenpipe findings run``'s ``run_finder`` against one ``forecast run``
   (``build_tasks`` + ``execute``, every savings and projection task, one process) on the
   same store of the example city (430 days, 30-minute readings), as a ratio. For a
   1,000-meter fleet (the example city's meters repeated, 125 days of 30-minute readings:
   the finder's 120-day window) the finder is timed in full; the forecast side is the
   example city's per-savings-task time × the fleet's savings tasks, because 1,000 Prophet
   fits do not fit on this 2-core machine in a bench run (tasks are independent, so the
   cost is linear in them).

Run:

    .venv/bin/python bench/findings.py [--seeds 1 2 3] [--fleet 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_store import fill_store
from findings.runner import run_finder
from forecasting.baseline import silence_stan
from forecasting.runner import SavingsTask, build_tasks, execute
from greenpipe.config import Config, load_config
from greenpipe.model import Meter, MeterKind
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.findings_city import AS_OF, PATTERN_CODES, city, forecast

JST = ZoneInfo("Asia/Tokyo")
PLAUSIBLE = {
    "f3-main": {"waste.off_hours_base_load", "drift.change_point"},
    "office-main": {"drift.baseline_cusum", "drift.change_point", "waste.off_hours_base_load"},
    "f2-main": {"demand.peak", "measure.underdelivering", "drift.baseline_cusum"},
    "pv-1": {"pv.underperformance"},
    "depot-chargers": {"ev.peak_charging", "drift.change_point"},
}
"""Codes that truly reflect a pattern injected on the meter (e.g. a spike adds energy too)."""


def precision_recall(seeds: list[int]) -> None:
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            for patterns in (True, False):
                cfg, store = city(Path(tmp), seed=seed, patterns=patterns)
                forecast(cfg, store, ("office-main", "f2-main"))
                run = run_finder(cfg, store, AS_OF)
                store.close()
                confident = [f for f in run.findings if f.confidence != "low"]
                if patterns:
                    hits = 0
                    for meter, code, start in PATTERN_CODES.values():
                        ok = [f for f in run.findings if f.meter == meter and f.code == code
                              and abs((f.start.astimezone(JST).date() - start).days) <= 7]
                        hits += bool(ok)
                    true = sum(f.code in PLAUSIBLE.get(f.meter, set()) for f in confident)
                    rows.append([seed, hits, len(PATTERN_CODES), true, len(confident)])
                else:
                    rows[-1].append(len(confident))
    print("\n| seed | recalled | injected | true findings | findings (medium+) | "
          "clean-city findings (medium+) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    recalled, injected = sum(r[1] for r in rows), sum(r[2] for r in rows)
    true, total = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"\nrecall {recalled}/{injected} = {recalled / injected:.2f}; precision "
          f"{true}/{total} = {true / max(total, 1):.2f}; clean-city false alarms "
          f"{sum(r[5] for r in rows)} over {len(rows)} seeds")


def _fleet(cfg: Config, n_meters: int) -> Config:
    """The example city's energy meters repeated until ``n_meters``, plus its weather meter."""
    energy = [m for m in cfg.meters if m.kind != MeterKind.WEATHER]
    weather = [m for m in cfg.meters if m.kind == MeterKind.WEATHER]
    copies: list[Meter] = []
    i = 0
    while len(copies) < n_meters:
        m = energy[i % len(energy)]
        copies.append(replace(m, id=f"{m.id}-c{i // len(energy):03d}"))
        i += 1
    return replace(cfg, meters=tuple(copies + weather), measures=(), waste_patterns=())


def run_time(fleet_meters: int) -> None:
    silence_stan()
    cfg = load_config(Path(__file__).resolve().parent.parent / "config" / "example.toml", env={})
    end = datetime(2026, 11, 30, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(cfg, store=replace(cfg.store, url=f"sqlite:///{tmp}/city.db"))
        store = SqliteStore(Path(tmp) / "city.db", Catalog.of(cfg.meters, cfg.sites))
        fill_store(cfg, store, end, 430, interval_s=1800)
        t0 = time.perf_counter()
        tasks = build_tasks(cfg, store, end)
        records = execute(tasks, workers=1)
        forecast_s = time.perf_counter() - t0
        from forecasting.runner import baseline_points, split_records

        savings, forecasts = split_records(records)
        store.write_savings(savings)
        store.write_baseline_points(baseline_points(records))
        store.write_forecasts(forecasts)
        t0 = time.perf_counter()
        run = run_finder(cfg, store, end)
        finder_s = time.perf_counter() - t0
        store.close()
    n_savings = sum(isinstance(t, SavingsTask) for t in tasks)
    print(f"\nexample city ({len(cfg.meters)} meters, 430 days of 30-min readings): forecast "
          f"run {forecast_s:.1f} s ({len(tasks)} tasks, {n_savings} savings), finder "
          f"{finder_s:.1f} s ({len(run.findings)} findings); finder / forecast = "
          f"{finder_s / forecast_s:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        big = _fleet(cfg, fleet_meters)
        big = replace(big, store=replace(big.store, url=f"sqlite:///{tmp}/fleet.db"))
        store = SqliteStore(Path(tmp) / "fleet.db", Catalog.of(big.meters, big.sites))
        t0 = time.perf_counter()
        fill_store(big, store, end, 125, interval_s=1800)
        fill_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = run_finder(big, store, end)
        fleet_s = time.perf_counter() - t0
        store.close()
    by_code = Counter((f.code, f.confidence) for f in run.findings)
    print("fleet findings by code and confidence: " + ", ".join(
        f"{code} {conf} {n}" for (code, conf), n in sorted(by_code.items())))
    big_tasks = sum(1 for m in big.meters if m.kind in (
        MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.EV_CHARGING, MeterKind.HEAT))
    forecast_est = big_tasks * forecast_s / max(n_savings, 1)
    ms_per_meter = fleet_s / fleet_meters * 1e3
    print(f"{fleet_meters}-meter fleet (125 days of 30-min readings, filled in {fill_s:.0f} s): "
          f"finder {fleet_s:.1f} s ({len(run.findings)} findings, {ms_per_meter:.0f} "
          f"ms per meter); forecast run estimated {forecast_est:.0f} s ({big_tasks} savings "
          f"tasks x {forecast_s / max(n_savings, 1):.1f} s, the example city's forecast time per "
          f"savings task, projections included); finder / forecast = "
          f"{fleet_s / forecast_est:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--fleet", type=int, default=1000)
    parser.add_argument("--skip-precision", action="store_true")
    parser.add_argument("--skip-time", action="store_true")
    args = parser.parse_args()
    silence_stan()
    print(f"bench/findings.py {date.today().isoformat()}")
    if not args.skip_precision:
        precision_recall(args.seeds)
    if not args.skip_time:
        run_time(args.fleet)


if __name__ == "__main__":
    main()
