"""``greenpipe findings run``: every detector on every meter, merged with what is stored.

Orchestration only: read each meter's half-hour series through the Store protocol (one
indexed query per meter), the newest forecast run's baseline points and savings records,
run the pure detectors, then carry ids and statuses forward (``findings.lifecycle``). No
model is fitted here, so a run costs a fraction of the forecast run it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from findings import demand, drift, measures, pv, waste
from findings.base import SLOT, DetectorResult, FindingWarning, MeterData, meter_frame
from findings.lifecycle import merge
from greenpipe.config import Config
from greenpipe.emissions import load_factors
from greenpipe.finding import Finding
from greenpipe.fiscal import fiscal_year
from greenpipe.model import MeterKind
from greenpipe.plant_calendar import DEFAULT_SHUTDOWNS
from greenpipe.results import BaselinePoint, SavingsRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinderOptions:
    """Look-back window and every detector's options."""

    lookback_days: int = 120
    """Half-hour history each meter is judged on. [d]"""
    off_hours: waste.OffHoursOptions = field(default_factory=waste.OffHoursOptions)
    cusum: drift.CusumOptions = field(default_factory=drift.CusumOptions)
    change_point: drift.ChangePointOptions = field(default_factory=drift.ChangePointOptions)
    peak: demand.PeakOptions = field(default_factory=demand.PeakOptions)
    ev: demand.EvOptions = field(default_factory=demand.EvOptions)
    pv: pv.PvOptions = field(default_factory=pv.PvOptions)
    measure: measures.MeasureOptions = field(default_factory=measures.MeasureOptions)


@dataclass(frozen=True)
class FinderRun:
    """The outcome of one run: findings (with carried-forward status) and warnings."""

    as_of: datetime
    findings: tuple[Finding, ...]
    warnings: tuple[FindingWarning, ...]
    meters: int


def detect_meter(data: MeterData, cfg: Config, options: FinderOptions,
                 points: Sequence[BaselinePoint], savings: Sequence[SavingsRecord]
                 ) -> list[DetectorResult]:
    """Run every detector that applies to one meter."""
    kind = data.meter.kind
    out = [waste.off_hours_base_load(data, options.off_hours),
           drift.change_point(data, options.change_point),
           demand.demand_peak(data, options.peak),
           demand.ev_peak_charging(data, options.ev)]
    if kind in drift.KINDS:
        out.append(drift.baseline_cusum(data, points, options.cusum))
    if kind == MeterKind.PV:
        out.append(pv.pv_underperformance(data, cfg.simulator.latitude_deg,
                                          cfg.simulator.longitude_deg, options.pv))
    declared = {m.id: m.change_pct for m in cfg.measures if m.meter == data.meter.id}
    for rec in savings:
        if rec.measure_id in declared:
            out.append(measures.measure_underdelivering(data, rec, declared[rec.measure_id],
                                                        options.measure))
    return out


def run_finder(cfg: Config, store: Any, as_of: datetime, options: FinderOptions | None = None,
               progress: Callable[[int], None] | None = None, now: datetime | None = None
               ) -> FinderRun:
    """Read the store, run every detector on every meter and merge with stored findings."""
    opt = options or FinderOptions()
    step = progress or (lambda n: None)
    end = pd.Timestamp(as_of).floor(SLOT).to_pydatetime()
    start = end - timedelta(days=opt.lookback_days)
    table = load_factors(overrides=cfg.emission_factors)
    sites = cfg.sites_by_id()
    shutdowns = tuple(cfg.shutdowns) or DEFAULT_SHUTDOWNS
    points_by_meter: dict[str, list[BaselinePoint]] = {}
    for p in store.read_baseline_points():
        points_by_meter.setdefault(p.meter_id, []).append(p)
    savings_by_meter: dict[str, list[SavingsRecord]] = {}
    for rec in store.read_savings():
        savings_by_meter.setdefault(rec.meter_id, []).append(rec)
    temp: pd.Series | None = None
    weather = next((m.id for m in cfg.meters if m.kind == MeterKind.WEATHER), None)
    if weather:
        wx = store.read(start, end, SLOT, meters=[weather])
        temp = pd.Series(wx["temp_air_c"].to_numpy(), index=pd.DatetimeIndex(wx["bucket"]),
                         dtype="float64")
    detected: list[Finding] = []
    warnings: list[FindingWarning] = []
    meters = [m for m in cfg.meters if m.kind != MeterKind.WEATHER]
    for meter in meters:
        site = sites[meter.site]
        frame = store.read(start, end, SLOT, meters=[meter.id])
        series = pd.Series(frame["energy_kwh"].to_numpy(),
                           index=pd.DatetimeIndex(frame["bucket"]), dtype="float64")
        try:
            ef = table.lookup(meter.kind.value if meter.kind != MeterKind.PV else "electricity",
                              site.grid_region, fiscal_year(as_of, site.timezone),
                              cfg.forecasting.emission_basis).ef_kg_per_kwh
        except ValueError:
            ef = 0.0
        data = MeterData(meter, site, meter_frame(series, start, end, site.timezone, shutdowns,
                                                  cfg.tariff, meter.kind, temp),
                         end, ef, cfg.tariff)
        for result in detect_meter(data, cfg, opt, _latest_analysis(points_by_meter.get(
                meter.id, [])),
                                   savings_by_meter.get(meter.id, [])):
            detected += result.findings
            warnings += result.warnings
        step(1)
    stamp = now or datetime.now(UTC)
    stamp = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
    merged = merge(store.read_findings(), detected, stamp)
    return FinderRun(as_of=end, findings=tuple(merged), warnings=tuple(warnings),
                     meters=len(meters))


def _latest_analysis(points: Sequence[BaselinePoint]) -> list[BaselinePoint]:
    """The points of the meter's analysis whose reporting period reaches furthest."""
    by_measure: dict[str, list[BaselinePoint]] = {}
    for p in points:
        by_measure.setdefault(p.measure_id, []).append(p)
    if not by_measure:
        return []
    return max(by_measure.values(), key=lambda ps: max(p.day_start for p in ps))
