"""Command implementations behind ``greenpipe savings`` and ``greenpipe forecast …``.

``greenpipe.app.cli`` parses arguments and imports this module lazily, so commands that do not
forecast never load Prophet.
"""

from __future__ import annotations

import argparse
import json

from greenpipe.errors import GreenpipeError
from greenpipe.timeparse import parse_instant, parse_period


def savings_command(args: argparse.Namespace) -> int:
    """Run ``greenpipe savings`` on CSV files and print the result (JSON with ``--json``)."""
    from forecasting.baseline import BaselineOptions
    from forecasting.data import BaselineData
    from forecasting.savings import run_savings
    from greenpipe.csvio import check_zone
    from greenpipe.fiscal import DEFAULT_TZ
    from greenpipe.plant_calendar import check_country, country_for_zone, load_shutdowns

    # Offset-free timestamps written in a zone are that site's days unless told otherwise.
    tz = check_zone(args.tz or args.naive_tz or DEFAULT_TZ, "--tz")
    country = check_country(args.country) if args.country else country_for_zone(tz)
    shutdowns = load_shutdowns(args.shutdowns)
    b_start, b_end = parse_period(args.baseline, tz, "--baseline")
    r_start, r_end = parse_period(args.reporting, tz, "--reporting")
    full = BaselineData.from_csv(
        args.meter_csv, args.temperature_csv, temperature_unit=args.temperature_unit,
        granularity=args.granularity, tz=tz, time_column=args.time_column,
        value_column=args.value_column, temperature_time_column=args.temperature_time_column,
        temperature_column=args.temperature_column, timestamp_marks=args.timestamp_marks,
        force=True, naive_tz=args.naive_tz,
    )
    baseline = full.slice(b_start, b_end, purpose="baseline", force=args.force)
    reporting = full.slice(r_start, r_end, purpose="reporting", force=args.force)
    if not 0.5 <= args.interval_level < 1 or args.samples < 50:
        raise GreenpipeError("use --interval-level from 0.5 to below 1 and --samples >= 50")
    fixed = args.hdd_base_c is not None or args.cdd_base_c is not None
    options = BaselineOptions(
        interval_level=args.interval_level, uncertainty_samples=args.samples, seed=args.seed,
        balance_point_search=not fixed,
        hdd_base_c=18.0 if args.hdd_base_c is None else args.hdd_base_c,
        cdd_base_c=22.0 if args.cdd_base_c is None else args.cdd_base_c,
        country=country, shutdowns=shutdowns,
    )
    result = run_savings(baseline, reporting, options, cv_folds=args.cv_folds)
    if args.json:
        print(json.dumps(result.as_json_dict(), ensure_ascii=False))
        return 0
    e, m = result.estimate, result.baseline_metrics
    print(f"savings: {e.savings_kwh:,.1f} kWh ({e.savings_pct:.1%} of the baseline), "
          f"{e.interval_level:.0%} interval {e.savings_kwh_lower:,.1f} … "
          f"{e.savings_kwh_upper:,.1f} kWh")
    print(f"reporting period: observed {e.reporting_observed_kwh:,.1f} kWh, baseline "
          f"predicts {e.reporting_predicted_kwh:,.1f} kWh over {e.n_intervals} "
          f"{result.granularity} intervals")
    verdict = "passes" if m.passes_ashrae else "FAILS"
    print(f"baseline model: CV(RMSE) {m.cvrmse:.1%}, NMBE {m.nmbe:.2%}, R² {m.r2:.3f} "
          f"({verdict} ASHRAE Guideline 14); cross-validated CV(RMSE) "
          f"{result.cv_metrics.cvrmse:.1%}")
    for w in result.warnings:
        print(f"warning {w.code}: {w.message}")
    return 0


def forecast_run_command(args: argparse.Namespace, cfg: object) -> int:
    """Run ``greenpipe forecast run``: build tasks from the store, fit, write the results."""
    import sys
    import time

    from tqdm import tqdm

    from forecasting.runner import (
        baseline_points,
        build_tasks,
        execute,
        latest_reading,
        split_records,
    )
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)  # type: ignore[arg-type]
    try:
        tz = cfg.city.timezone  # type: ignore[attr-defined]
        as_of = (parse_instant(args.as_of, tz, "--as-of") if args.as_of
                 else latest_reading(store))
        t0 = time.monotonic()
        tasks = build_tasks(cfg, store, as_of, force=args.force)  # type: ignore[arg-type]
        f = cfg.forecasting  # type: ignore[attr-defined]
        workers = f.workers if args.workers is None else args.workers
        with tqdm(total=len(tasks), desc="forecast", unit="fit", file=sys.stderr,
                  disable=args.no_progress) as bar:
            records = execute(tasks, workers=workers, dask_address=args.dask,
                              progress=bar.update)
        savings, forecasts = split_records(records)
        store.write_savings(savings)
        store.write_baseline_points(baseline_points(records))
        store.write_forecasts(forecasts)
    finally:
        store.close()
    run_id = tasks[0].run_id if tasks else "-"
    flagged = sum(bool(r.warnings) for r in savings) + sum(bool(r.warnings) for r in forecasts)
    print(f"forecast run {run_id} as of {as_of.isoformat()}: {len(savings)} savings and "
          f"{len(forecasts)} forecast records written to "
          f"{cfg.store.url} in {time.monotonic() - t0:.1f} s "  # type: ignore[attr-defined]
          f"({flagged} with warnings)")
    return 0


def forecast_export_command(args: argparse.Namespace, cfg: object) -> int:
    """Run ``greenpipe forecast export``: write the stored run as a tidy table + metadata."""
    from forecasting.export import metadata, tidy_table, write_export
    from greenpipe.emissions import load_factors
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)  # type: ignore[arg-type]
    try:
        forecasts = store.read_forecasts(args.run_id)
        savings = store.read_savings(args.run_id)
    finally:
        store.close()
    if not forecasts and not savings:
        raise GreenpipeError("the store holds no forecast results"
                             + (f" for run {args.run_id!r}" if args.run_id else "")
                             + "; run `greenpipe forecast run` first")
    table = tidy_table(forecasts, savings, cfg.city.timezone)  # type: ignore[attr-defined]
    sources = load_factors(overrides=cfg.emission_factors).sources()  # type: ignore[attr-defined]
    files = write_export(table, metadata(forecasts, savings, sources), args.format, args.out)
    print(f"exported {len(table)} rows ({len(forecasts)} forecast and {len(savings)} savings "
          f"records) to {', '.join(str(p) for p in files)}")
    return 0
