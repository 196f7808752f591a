"""Forecasting results as stored records: ``ForecastRecord``, ``SavingsRecord``, ``BaselinePoint``.

``greenpipe forecast run`` writes them to the Store (SQLite tables / InfluxDB measurements
``forecast`` and ``savings``) so the dashboard reads results without refitting. Both are
flat, frozen records: numbers in the units their names say, timestamps aware UTC, unknown
values None. ``record_to_row`` / ``record_from_row`` convert them to and from flat rows of
str/int/float/None for any backend (timestamps as epoch milliseconds, tuples as
comma-separated text, booleans as 0/1).

``BaselinePoint`` is one local day of a savings analysis' reporting period (table /
measurement ``baseline_series``): what was used, what the baseline predicts and its band,
so the dashboard can draw baseline vs actual over time.

Reading a run: ``store.read_forecasts()`` returns the newest run's records (the run with
the latest ``created_at``); pass ``run_id`` for an older one.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

FORECAST_TABLE = "forecast"
SAVINGS_TABLE = "savings"
BASELINE_TABLE = "baseline_series"


@dataclass(frozen=True, slots=True)
class ForecastRecord:
    """Projected emissions of one scope in one fiscal year, against one target (if any).

    ``scope`` is ``city``, ``sector`` or ``site``. Quantiles are of the fiscal year's total:
    observed emissions to date plus the forecast of the remainder.
    """

    run_id: str
    created_at: datetime
    scope: str
    scope_id: str
    fiscal_year: int
    co2_t_p10: float
    """10th percentile of the fiscal year's emissions. [t-CO2]"""
    co2_t_p50: float
    """Median projected emissions. [t-CO2]"""
    co2_t_p90: float
    """90th percentile. [t-CO2]"""
    observed_co2_t: float = 0.0
    """Emissions already observed in this fiscal year, as of the run. [t-CO2]"""
    target_fy: int | None = None
    """Target year of the target this row is compared with (None: no target)."""
    base_fy: int | None = None
    base_co2_t: float | None = None
    """Base-year inventory emissions. [t-CO2]"""
    target_co2_t: float | None = None
    """Allowed emissions in ``target_fy``: base × (1 − reduction). [t-CO2]"""
    trajectory_co2_t: float | None = None
    """Linear path from base to target, evaluated at ``fiscal_year``. [t-CO2]"""
    gap_co2_t: float | None = None
    """P50 minus trajectory; positive means above the path (behind). [t-CO2]"""
    probability_meeting: float | None = None
    """Probability that the fiscal year's emissions are at or below the trajectory."""
    model: str = ""
    """JSON metadata: method, granularity, fit period, metrics, factor sources."""
    warnings: tuple[str, ...] = ()
    """Stable warning codes, e.g. ``projection.no_data``."""


@dataclass(frozen=True, slots=True)
class SavingsRecord:
    """Avoided energy of one meter over a reporting period (IPMVP Option C)."""

    run_id: str
    created_at: datetime
    meter_id: str
    site_id: str
    measure_id: str
    """The declared measure evaluated; empty for a null test on a meter without one."""
    granularity: str
    baseline_start: datetime
    baseline_end: datetime
    reporting_start: datetime
    reporting_end: datetime
    reporting_observed_kwh: float
    reporting_predicted_kwh: float
    savings_kwh: float
    """Baseline prediction minus actual over the reporting period. [kWh]"""
    savings_kwh_lower: float
    savings_kwh_upper: float
    interval_level: float
    avoided_co2_kg: float | None = None
    """savings_kwh × the meter's emission factor. [kg-CO2]"""
    ef_kg_per_kwh: float | None = None
    """Factor used for avoided_co2_kg. [kg-CO2/kWh]"""
    cvrmse: float | None = None
    nmbe: float | None = None
    r2: float | None = None
    cv_cvrmse: float | None = None
    """Out-of-sample CV(RMSE) from time-series cross-validation."""
    passes_ashrae: bool = False
    model: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BaselinePoint:
    """One local day of a savings analysis' reporting period: actual vs baseline.

    Days are those with both an observation and a prediction, so the points of one
    (run, meter, measure) sum to its ``SavingsRecord.reporting_observed_kwh`` /
    ``reporting_predicted_kwh``. The band is the central ``interval_level`` of the day's
    posterior predictive paths (``forecasting.savings``).
    """

    run_id: str
    created_at: datetime
    """When the run was made (as in its SavingsRecord); picks the newest run."""
    meter_id: str
    site_id: str
    measure_id: str
    """The declared measure evaluated; empty for a null test."""
    day_start: datetime
    """Start of the local day, as aware UTC (the day is ``(day_start, day_start + 1 d]``)."""
    observed_kwh: float
    """Energy used that day. [kWh]"""
    predicted_kwh: float
    """Baseline (counterfactual) prediction of that day. [kWh]"""
    predicted_kwh_lower: float
    """Lower end of the baseline's interval that day. [kWh]"""
    predicted_kwh_upper: float
    """Upper end of the baseline's interval that day. [kWh]"""


R = TypeVar("R", ForecastRecord, SavingsRecord, BaselinePoint)
AnyRecord = ForecastRecord | SavingsRecord | BaselinePoint


def _base_type(tp: Any) -> Any:
    """``X`` for ``X | None``; any other type unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return tp


def record_to_row(record: AnyRecord) -> dict[str, str | int | float | None]:
    """Flatten a record: datetimes to epoch ms, tuples to comma text, bools to 0/1, NaN to None."""
    row: dict[str, str | int | float | None] = {}
    for f in fields(record):
        v = getattr(record, f.name)
        if isinstance(v, datetime):
            if v.tzinfo is None:
                raise ValueError(f"{type(record).__name__}.{f.name} must be timezone-aware")
            row[f.name] = round(v.timestamp() * 1000)
        elif isinstance(v, tuple):
            row[f.name] = ",".join(v)
        elif isinstance(v, bool):
            row[f.name] = int(v)
        elif isinstance(v, float) and not math.isfinite(v):
            row[f.name] = None
        else:
            row[f.name] = v
    return row


def record_from_row(cls: type[R], row: Mapping[str, Any]) -> R:
    """Rebuild a record from ``record_to_row`` output (unknown keys are ignored).

    A field missing from the row counts as None, exactly like a NULL: InfluxDB stores no
    field for a None (or NaN) value, so a ``SELECT *`` over points that all lack a field
    returns no such column. A missing field with a default gets that default.
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in row and (f.default is not MISSING
                                  or f.default_factory is not MISSING):
            continue
        v = row.get(f.name)
        tp = _base_type(hints[f.name])
        if v is None:
            required = hints[f.name] is tp  # not Optional: fill the type's "unknown"
            kwargs[f.name] = (math.nan if tp is float else "" if tp is str else None
                              ) if required else None
        elif tp is datetime:
            kwargs[f.name] = datetime.fromtimestamp(int(v) / 1000, tz=UTC)
        elif tp is bool:
            kwargs[f.name] = bool(int(v))
        elif typing.get_origin(tp) is tuple:
            kwargs[f.name] = tuple(x for x in str(v).split(",") if x)
        elif tp is int:
            kwargs[f.name] = int(v)
        elif tp is float:
            kwargs[f.name] = float(v)
        else:
            kwargs[f.name] = str(v)
    return cls(**kwargs)


def columns_of(cls: type[AnyRecord]) -> list[tuple[str, str]]:
    """Return (column, SQL type) pairs for a record type: INTEGER, REAL or TEXT."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        tp = _base_type(hints[f.name])
        sql = ("INTEGER" if tp in (int, bool, datetime) else "REAL" if tp is float else "TEXT")
        out.append((f.name, sql))
    return out


FORECAST_KEY = ("run_id", "scope", "scope_id", "fiscal_year", "target_fy")
SAVINGS_KEY = ("run_id", "meter_id", "measure_id")
BASELINE_KEY = ("run_id", "meter_id", "measure_id", "day_start")
_KEY_OF: dict[type, tuple[str, ...]] = {ForecastRecord: FORECAST_KEY, SavingsRecord: SAVINGS_KEY,
                                        BaselinePoint: BASELINE_KEY}


def sort_records(records: list[R]) -> list[R]:
    """Return records in their key order, the order every Store returns them in."""

    def key(r: AnyRecord) -> tuple[object, ...]:
        names = _KEY_OF[type(r)]
        return tuple(-1 if getattr(r, n) is None else getattr(r, n) for n in names)

    return sorted(records, key=key)
