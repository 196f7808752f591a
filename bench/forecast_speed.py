"""Benchmark: forecasting speed and model quality, this tree against another, back to back.

Each tree is measured in its own child process (``--code DIR`` puts that tree first on
``sys.path``), one after the other, so the ratios compare code on the same noisy machine
in the same minutes. Measured:

* one meter-year of savings with its interval and metrics (``run_savings``: balance-point
  search, 300 posterior samples, 3 cross-validation folds), daily and hourly, on the
  synthetic meter of the tests (``tests.forecasting_synthetic.daily_meter``: 365 days of
  baseline and 365 of reporting; hourly spreads each day over a working-hours shape);
  median of 3 after one warm-up;
* ``forecast run``'s fits on the example city (``bench.sim_store``, 430 days, seed 42):
  every savings and projection task on a 2-worker process pool, as the CLI runs them
  (worker start-up included), then ``greenpipe forecast run`` end to end in a fresh
  interpreter (store read, fits, results written), and the in-sample CV(RMSE) / NMBE of
  every meter's baseline.

Run (``BEFORE`` is a checkout of the code to compare with, e.g. a worktree of main):

    git worktree add /tmp/greenpipe-main main
    .venv/bin/python bench/forecast_speed.py --before /tmp/greenpipe-main
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def _meter_year(granularity: str) -> float:
    from datetime import date

    import numpy as np
    import pandas as pd

    from forecasting.baseline import BaselineOptions
    from forecasting.data import BaselineData
    from forecasting.savings import run_savings
    from tests.forecasting_synthetic import daily_meter, jst

    energy, temp, _cf = daily_meter(date(2024, 4, 1), 730, step_day=date(2025, 4, 1),
                                    noise=0.03, seed=4)
    if granularity == "hourly":
        shape = np.array([0.6] * 7 + [1.3] * 11 + [0.8] * 6)
        shape /= shape.sum()
        back = pd.to_timedelta(np.arange(23, -1, -1), "h").to_numpy()
        stamps = energy.index.tz_convert(None).to_numpy()[:, None] - back
        ends = pd.DatetimeIndex(stamps.ravel()).tz_localize("UTC")
        energy = pd.Series((energy.to_numpy()[:, None] * shape).ravel(),
                           index=ends)
        temp = temp.reindex(pd.date_range(temp.index[0], temp.index[-1], freq="h")).interpolate()
    full = BaselineData.from_series(energy, temp, granularity=granularity,  # type: ignore[arg-type]
                                    force=True)
    base = full.slice(jst(2024, 4, 1), jst(2025, 4, 1), purpose="baseline", force=True)
    rep = full.slice(jst(2025, 4, 1), jst(2026, 4, 1), purpose="reporting", force=True)
    run_savings(base, rep, BaselineOptions(), cv_folds=3)  # warm-up (imports, Stan)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        run_savings(base, rep, BaselineOptions(), cv_folds=3)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _city() -> dict[str, object]:
    from bench.forecast import END
    from bench.sim_store import fill_store
    from forecasting.runner import build_tasks, execute, split_records
    from greenpipe.config import load_config
    from greenpipe.stores import Catalog
    from greenpipe.stores.sqlite import SqliteStore

    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db", Catalog.of(cfg.meters, cfg.sites))
        fill_store(cfg, store, END, 430)
        tasks = build_tasks(cfg, store, END)
        store.close()
        t0 = time.perf_counter()
        records = execute(tasks, workers=2)
        wall = time.perf_counter() - t0
        # The whole command as a user runs it: a fresh interpreter, reading the store,
        # fitting on the 2-worker pool, writing the results.
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "greenpipe", "forecast", "run", "--store",
             f"sqlite:///{Path(tmp) / 'bench.db'}", "--workers", "2", "--no-progress"],
            capture_output=True, text=True, cwd=Path.cwd())
        cli = time.perf_counter() - t0
        if done.returncode:
            raise SystemExit(f"forecast run failed:\n{done.stderr[-3000:]}")
    savings = split_records(records)[0]
    return {"wall_s": wall, "cli_s": cli, "tasks": len(tasks),
            "metrics": {f"{r.meter_id}/{r.measure_id or '-'}":
                        [r.cvrmse, r.nmbe, r.savings_kwh / r.reporting_predicted_kwh]
                        for r in savings}}


def child() -> None:
    """Measure the tree first on sys.path and print one JSON object."""
    from forecasting.baseline import silence_stan

    silence_stan()
    out = {"daily_s": _meter_year("daily"), "hourly_s": _meter_year("hourly"),
           "city": _city()}
    print(json.dumps(out))


def _run(code: Path) -> dict[str, object]:
    # This file is loaded by path: the other tree need not have it.
    prog = (f"import sys, importlib.util as u; sys.path.insert(0, {str(code)!r}); "
            f"s = u.spec_from_file_location('forecast_speed', {__file__!r}); "
            "b = u.module_from_spec(s); s.loader.exec_module(b); b.child()")
    done = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                          cwd=code)
    if done.returncode:
        raise SystemExit(f"measuring {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Measure ``--before`` and this tree back to back; print Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path,
                    help="checkout to compare with (default: this tree against itself)")
    args = ap.parse_args(argv)
    before = _run((args.before or HERE).resolve())
    after = _run(HERE)
    print("## forecast speed: before vs after, measured back to back\n")
    print("| what | before s | after s | speed-up (before / after) |\n|---|---:|---:|---:|")
    rows = [("one meter-year daily savings + interval + metrics", "daily_s"),
            ("one meter-year hourly savings + interval + metrics", "hourly_s")]
    for name, key in rows:
        b, a = float(before[key]), float(after[key])  # type: ignore[arg-type]
        print(f"| {name} | {b:.2f} | {a:.2f} | {b / a:.1f}x |")
    bc, ac = before["city"], after["city"]
    b, a = bc["wall_s"], ac["wall_s"]  # type: ignore[index]
    print(f"| forecast run fits, example city ({ac['tasks']} tasks, 2 workers) "  # type: ignore[index]
          f"| {b:.1f} | {a:.1f} | {b / a:.1f}x |")
    if "cli_s" in bc and "cli_s" in ac:  # type: ignore[operator]
        b, a = bc["cli_s"], ac["cli_s"]  # type: ignore[index]
        print(f"| `greenpipe forecast run --workers 2`, example city, end to end "
              f"| {b:.1f} | {a:.1f} | {b / a:.1f}x |")
    print("\n| meter/measure | CV(RMSE) before | after | Δ points | NMBE before | after "
          "| savings/baseline before | after |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, (cv_a, nmbe_a, pct_a) in sorted(ac["metrics"].items()):  # type: ignore[index]
        cv_b, nmbe_b, pct_b = bc["metrics"][key]  # type: ignore[index]
        print(f"| {key} | {cv_b:.1%} | {cv_a:.1%} | {100 * (cv_a - cv_b):+.2f} | "
              f"{nmbe_b:.2%} | {nmbe_a:.2%} | {pct_b:.1%} | {pct_a:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
