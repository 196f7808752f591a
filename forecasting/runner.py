"""``greenpipe forecast run``: savings of every meter and projections of every scope.

Orchestration only: the main process reads the Store once, runs the sufficiency checks and
builds self-contained tasks (pandas frames and settings, no connections); the fits run in a
process pool sized to the cores, or on a Dask cluster (``dask_address``). Results come back
as ``greenpipe.results`` records and are written to the Store's ``savings``,
``baseline_series`` (one ``BaselinePoint`` per reporting day) and ``forecast`` tables, so the
dashboard reads them without refitting.

Every meter and scope gets a record, including those whose data is insufficient: their
numbers are NaN and their ``warnings`` carry the stable codes (no silent drops).
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from forecasting.baseline import BaselineOptions
from forecasting.data import BaselineData, Scope, SufficiencyWarning
from forecasting.projection import (
    ProjectionTarget,
    meta_json,
    project,
    projection_years,
    sites_for,
    summarise,
)
from greenpipe.config import Config
from greenpipe.emissions import FactorTable, co2_kg, load_factors
from greenpipe.errors import DataSufficiencyError, GreenpipeError
from greenpipe.fiscal import fiscal_year
from greenpipe.model import Meter, MeterKind
from greenpipe.results import BaselinePoint, ForecastRecord, SavingsRecord

log = logging.getLogger(__name__)

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
DASK_CONNECT_TIMEOUT_S = 30.0
"""How long ``--dask`` tries to reach the scheduler before giving up. [s]"""
SAVINGS_KINDS = (MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.EV_CHARGING, MeterKind.HEAT)
"""Meters whose consumption a measure can reduce (PV generation is not savings)."""


@dataclass(frozen=True)
class SavingsTask:
    """One meter's savings analysis, ready to run in another process."""

    run_id: str
    created_at: datetime
    meter_id: str
    site_id: str
    measure_id: str
    baseline: BaselineData | None
    reporting: BaselineData | None
    options: BaselineOptions
    cv_folds: int
    ef_kg_per_kwh: float
    warnings: tuple[SufficiencyWarning, ...] = ()
    periods: tuple[datetime, datetime, datetime, datetime] | None = None
    """(baseline start, baseline end, reporting start, reporting end), for NaN records."""
    granularity: str = "daily"


@dataclass(frozen=True)
class ProjectionTask:
    """One scope's projection against its targets."""

    run_id: str
    created_at: datetime
    scope: str
    scope_id: str
    history: BaselineData | None
    as_of: datetime
    years: tuple[int, ...]
    targets: tuple[ProjectionTarget, ...]
    options: BaselineOptions
    warnings: tuple[str, ...] = ()
    sources: str = ""
    steps: tuple[tuple[str, datetime], ...] = ()
    """Declared measures in the scope: (measure id, first instant in effect)."""
    level_drift_pct_per_year: float = 3.0
    """Yearly s.d. of a flat projection's level random walk (``[forecasting]``). [%]"""


Task = SavingsTask | ProjectionTask


# ---------------------------------------------------------------- task execution (workers)


def run_task(task: Task) -> list[Any]:
    """Run one task; returns its records. Errors become NaN records with warning codes."""
    if isinstance(task, SavingsTask):
        return _run_savings(task)
    return _run_projection(task)


def _nan_savings(task: SavingsTask, codes: Iterable[str]) -> SavingsRecord:
    p = task.periods or (task.created_at,) * 4
    nan = math.nan
    return SavingsRecord(task.run_id, task.created_at, task.meter_id, task.site_id,
                         task.measure_id, task.granularity, p[0], p[1], p[2], p[3],
                         nan, nan, nan, nan, nan, task.options.interval_level,
                         warnings=tuple(codes))


def _run_savings(task: SavingsTask) -> list[SavingsRecord | BaselinePoint]:
    """The savings record of one task, followed by its daily baseline-vs-actual points."""
    from forecasting.savings import run_savings

    codes = [w.code for w in task.warnings]
    if task.baseline is None or task.reporting is None:
        return [_nan_savings(task, codes)]
    try:
        res = run_savings(task.baseline, task.reporting, task.options, cv_folds=task.cv_folds)
    except DataSufficiencyError as exc:
        log.warning("savings of %s skipped: %s", task.meter_id, exc)
        return [_nan_savings(task, [*codes, "model.fit_failed"])]
    e, m = res.estimate, res.baseline_metrics
    points: list[SavingsRecord | BaselinePoint] = [
        BaselinePoint(task.run_id, task.created_at, task.meter_id, task.site_id,
                      task.measure_id, d.day_start, d.observed_kwh, d.predicted_kwh,
                      d.predicted_kwh_lower, d.predicted_kwh_upper) for d in e.daily]
    return [SavingsRecord(
        task.run_id, task.created_at, task.meter_id, task.site_id, task.measure_id,
        res.granularity, res.baseline_start, res.baseline_end, res.reporting_start,
        res.reporting_end, e.reporting_observed_kwh, e.reporting_predicted_kwh, e.savings_kwh,
        e.savings_kwh_lower, e.savings_kwh_upper, e.interval_level,
        avoided_co2_kg=e.savings_kwh * task.ef_kg_per_kwh, ef_kg_per_kwh=task.ef_kg_per_kwh,
        cvrmse=m.cvrmse, nmbe=m.nmbe, r2=m.r2, cv_cvrmse=res.cv_metrics.cvrmse,
        passes_ashrae=m.passes_ashrae,
        model=meta_json({"method": "prophet flat-trend baseline, IPMVP Option C",
                         "metrics": m.as_dict(), "cv_metrics": res.cv_metrics.as_dict(),
                         "n_intervals": e.n_intervals}),
        warnings=tuple(dict.fromkeys(w.code for w in res.warnings)),
    ), *points]


def _run_projection(task: ProjectionTask) -> list[ForecastRecord]:
    codes = list(task.warnings)
    pairs: list[tuple[int, ProjectionTarget | None]] = []
    for fy in task.years:
        matching = [t for t in task.targets if fy in (t.target_fy, task.years[0])]
        pairs += [(fy, t) for t in matching] or [(fy, None)]
    if task.history is None:
        nan = math.nan
        return [_forecast_record(task, summarise(fy, np.array([nan]), nan, t), codes, "")
                for fy, t in pairs]
    try:
        samples, observed, meta = project(
            task.history, task.as_of, task.years, task.options, steps=dict(task.steps),
            level_drift_pct_per_year=task.level_drift_pct_per_year)
    except DataSufficiencyError as exc:
        log.warning("projection of %s:%s skipped: %s", task.scope, task.scope_id, exc)
        nan = math.nan
        return [_forecast_record(task, summarise(fy, np.array([nan]), nan, t),
                                 [*codes, "model.fit_failed"], "") for fy, t in pairs]
    meta["factor_sources"] = task.sources
    if meta.get("trend") == "flat":
        codes.append("projection.flat_trend")
    return [_forecast_record(task, summarise(fy, samples[fy], observed[fy], t), codes,
                             meta_json(meta)) for fy, t in pairs]


def _forecast_record(task: ProjectionTask, y: Any, codes: list[str], model: str
                     ) -> ForecastRecord:
    t = y.target
    return ForecastRecord(
        task.run_id, task.created_at, task.scope, task.scope_id, y.fiscal_year,
        y.co2_t_p10, y.co2_t_p50, y.co2_t_p90, observed_co2_t=y.observed_co2_t,
        target_fy=t.target_fy if t else None, base_fy=t.base_fy if t else None,
        base_co2_t=t.base_co2_t if t else None,
        target_co2_t=t.base_co2_t * (1 - t.reduction_pct / 100) if t else None,
        trajectory_co2_t=y.trajectory_co2_t, gap_co2_t=y.gap_co2_t,
        probability_meeting=y.probability_meeting, model=model,
        warnings=tuple(dict.fromkeys(codes)),
    )


# ---------------------------------------------------------------- task building (main process)


def _local_midnight(d: date, tz: str) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _slice(data: BaselineData, start: datetime, end: datetime, purpose: str, cfg: Config,
           force: bool) -> tuple[BaselineData | None, tuple[SufficiencyWarning, ...]]:
    try:
        return data.slice(start, end, purpose=purpose, min_coverage=cfg.forecasting.min_coverage,
                          force=force), ()
    except DataSufficiencyError:
        forced = data.slice(start, end, purpose=purpose,
                            min_coverage=cfg.forecasting.min_coverage, force=True)
        return None, forced.warnings


def build_tasks(cfg: Config, store: Any, as_of: datetime, *, force: bool = False,
                run_id: str | None = None, created_at: datetime | None = None) -> list[Task]:
    """Read the store and return every savings and projection task of the fleet."""
    run_id = run_id or f"{as_of:%Y%m%dT%H%M}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    # Stores keep millisecond precision; so do records, so they round-trip exactly.
    created_at = created_at or now.replace(microsecond=now.microsecond // 1000 * 1000)
    f = cfg.forecasting
    options = BaselineOptions.from_config(cfg)
    tz = cfg.city.timezone
    table = load_factors(overrides=cfg.emission_factors)
    sites = cfg.sites_by_id()
    weather = next((m.id for m in cfg.meters if m.kind == MeterKind.WEATHER), None)
    first = min((m.first_ts for m in store.stats().meters if m.first_ts), default=None)
    if first is None:
        raise GreenpipeError(f"store {cfg.store.url} holds no readings; run the collector "
                             "(or `greenpipe demo`) first")
    start = first - timedelta(hours=1)
    per_meter: dict[str, BaselineData] = {}
    for meter in cfg.meters:
        if meter.kind in (MeterKind.WEATHER, MeterKind.PRODUCTION):
            continue
        per_meter[meter.id] = BaselineData.from_store(
            store, Scope("meter", meter.id), start, as_of, f.granularity, weather_meter=weather,
            tz=tz, force=True, production_meters=production_regressor(cfg, meter))
    tasks: list[Task] = []
    for meter in cfg.meters:
        if meter.kind not in SAVINGS_KINDS or meter.id not in per_meter:
            continue
        site = sites[meter.site]
        ef = table.lookup(meter.kind.value, site.grid_region, fiscal_year(as_of, tz),
                          f.emission_basis).ef_kg_per_kwh
        measures = [m for m in cfg.measures if m.meter == meter.id]
        windows = [(m.id, _local_midnight(m.start, site.timezone)) for m in measures] or [
            ("", as_of - timedelta(days=f.reporting_days))]
        for measure_id, rep_start in windows:
            b_start = rep_start - timedelta(days=f.baseline_days)
            data = per_meter[meter.id]
            base, bw = _slice(data, b_start, rep_start, "baseline", cfg, force)
            rep, rw = _slice(data, rep_start, as_of, "reporting", cfg, force)
            tasks.append(SavingsTask(run_id, created_at, meter.id, meter.site, measure_id,
                                     base, rep, options, f.cv_folds, ef, bw + rw,
                                     (b_start, rep_start, rep_start, as_of), f.granularity))
    tasks += _projection_tasks(cfg, per_meter, table, as_of, options, run_id, created_at,
                               force)
    return tasks


def production_regressor(cfg: Config, meter: Meter) -> tuple[str, ...]:
    """Production meters whose output feeds ``meter``'s baseline as a regressor.

    The site's production meters, for its electricity, gas and heat meters (not PV or EV
    charging, which production does not drive), and only when they share one unit.
    """
    if meter.kind not in (MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.HEAT):
        return ()
    prod = [m for m in cfg.meters if m.site == meter.site and m.kind == MeterKind.PRODUCTION]
    if len({m.unit for m in prod}) != 1:
        return ()
    return tuple(m.id for m in prod)


def _scope_history(cfg: Config, meter_ids: Sequence[str], per_meter: dict[str, BaselineData],
                   table: FactorTable, scope: str = "") -> BaselineData | None:
    """Daily emissions [kg-CO2] of a set of meters; a day missing any meter is unknown."""
    frames = []
    temp = None
    meters = cfg.meters_by_id()
    sites = cfg.sites_by_id()
    for mid in meter_ids:
        data = per_meter[mid]
        m = meters[mid]
        frame = pd.DataFrame({"bucket": data.frame.index, "kind": m.kind.value,
                              "grid_region": sites[m.site].grid_region,
                              "energy_kwh": data.frame["energy_kwh"].to_numpy()})
        co2 = co2_kg(frame, table=table, basis=cfg.forecasting.emission_basis,
                     tz=cfg.city.timezone)
        frames.append(pd.Series(co2.to_numpy(), index=data.frame.index))
        temp = data.frame["temp_air_c"] if temp is None else temp
    if not frames:
        return None
    total = pd.concat(frames, axis=1).sum(axis=1, min_count=len(frames))
    frame = pd.DataFrame({"energy_kwh": total, "temp_air_c": temp})
    granularity = cfg.forecasting.granularity
    if granularity == "hourly":  # projections are daily whatever the savings granularity
        local = frame.index.tz_convert(cfg.city.timezone).normalize().tz_convert("UTC")
        frame = frame.groupby(local).agg({"energy_kwh": lambda s: s.sum(min_count=len(s)),
                                          "temp_air_c": "mean"})
    return BaselineData(frame=frame, granularity="daily", tz=cfg.city.timezone, scope=scope)


def _projection_tasks(cfg: Config, per_meter: dict[str, BaselineData], table: FactorTable,
                      as_of: datetime, options: BaselineOptions, run_id: str,
                      created_at: datetime, force: bool) -> list[Task]:
    from forecasting.data import sufficiency

    scopes: dict[tuple[str, str], list[ProjectionTarget]] = {("city", "city"): []}
    for s in cfg.sites:
        scopes.setdefault(("site", s.id), [])
        sector = "commercial" if s.sector.value == "public" else s.sector.value
        scopes.setdefault(("sector", sector), [])
    for t in cfg.targets:
        scopes.setdefault((t.scope, t.id), []).append(
            ProjectionTarget(t.base_fy, t.base_co2_t, t.target_fy, t.reduction_pct))
    all_targets = [t for ts in scopes.values() for t in ts]
    sites, meters = cfg.sites_by_id(), cfg.meters_by_id()
    years = tuple(projection_years(as_of, all_targets, cfg.city.timezone))
    sources = "; ".join(f"{k}: {v}" for k, v in table.sources().items())
    tasks: list[Task] = []
    for (scope, scope_id), targets in scopes.items():
        site_ids = set(sites_for(scope, scope_id, cfg.sites))
        meter_ids = [m.id for m in cfg.meters if m.site in site_ids and m.id in per_meter]
        history = _scope_history(cfg, meter_ids, per_meter, table, f"{scope}:{scope_id}")
        codes: list[str] = []
        if history is None:
            codes.append("projection.no_data")
        else:
            findings = sufficiency(history.frame[history.frame.index < pd.Timestamp(as_of)],
                                   "daily", min_coverage=cfg.forecasting.min_coverage)
            codes += [w.code for w in findings]
            if any(w.disqualifying for w in findings) and not force:
                history = None
        steps = tuple((ms.id, _local_midnight(ms.start, sites[meters[ms.meter].site].timezone))
                      for ms in cfg.measures if ms.meter in meter_ids)
        tasks.append(ProjectionTask(run_id, created_at, scope, scope_id, history, as_of,
                                    years, tuple(targets), options, tuple(codes), sources,
                                    steps, cfg.forecasting.level_drift_pct_per_year))
    return tasks


# ---------------------------------------------------------------- execution


def execute(tasks: Sequence[Task], workers: int = 0, dask_address: str | None = None,
            progress: Callable[[int], None] | None = None) -> list[Any]:
    """Run tasks on a local process pool (``workers`` 0 = one per core; 1 = in this process)
    or on a Dask cluster; returns all records, in completion order."""
    out: list[Any] = []
    step = progress or (lambda n: None)
    if dask_address:
        try:
            from dask.distributed import Client
            from dask.distributed import as_completed as dask_completed
        except ImportError:
            raise GreenpipeError(
                "--dask needs dask.distributed, which is not installed; install it with "
                "`pip install 'dask[distributed]'` or run without --dask"
            ) from None
        try:
            client = Client(dask_address, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
        except OSError as exc:
            raise GreenpipeError(f"cannot reach the Dask scheduler at {dask_address} ({exc}); "
                                 "check the address or start the cluster") from None
        with client:
            # A worker that dies mid-run (or is replaced) has its tasks rescheduled on the
            # others by the scheduler; results are collected as they complete.
            futures = client.map(run_task_quietly, list(tasks), pure=False)
            for fut in dask_completed(futures):
                out += fut.result()
                step(1)
        return out
    n = workers or os.cpu_count() or 1
    if n == 1:
        for t in tasks:
            out += run_task(t)
            step(1)
        return out
    # One BLAS/OpenMP thread per worker, as distributed's nanny sets for its workers: a
    # worker per core each with its own BLAS thread pool would oversubscribe the cores.
    # Spawned children read the environment at start-up.
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"),
                                 initializer=_worker_init) as pool:
            for fut in as_completed([pool.submit(run_task, t) for t in tasks]):
                out += fut.result()
                step(1)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out


def run_task_quietly(task: Task) -> list[Any]:
    """``run_task`` with Stan's logging silenced (for workers this module did not start)."""
    _worker_init()
    return run_task(task)


def _worker_init() -> None:
    from forecasting.baseline import silence_stan

    silence_stan()


def latest_reading(store: Any) -> datetime:
    """Return the newest reading's timestamp in the store (the default ``as of``)."""
    latest = [r.ts for r in store.latest().values()]
    if not latest:
        raise GreenpipeError("the store holds no readings; run the collector first")
    return max(latest)


def split_records(records: Iterable[Any]) -> tuple[list[SavingsRecord], list[ForecastRecord]]:
    """Separate savings and forecast records (see ``baseline_points`` for the series)."""
    recs = list(records)
    return ([r for r in recs if isinstance(r, SavingsRecord)],
            [r for r in recs if isinstance(r, ForecastRecord)])


def baseline_points(records: Iterable[Any]) -> list[BaselinePoint]:
    """The daily baseline-vs-actual points among a run's records."""
    return [r for r in records if isinstance(r, BaselinePoint)]

