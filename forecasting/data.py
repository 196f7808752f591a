"""Baseline and reporting data: energy and outdoor temperature per interval, with checks.

``BaselineData`` holds one regular series (daily or hourly) of a meter, site, sector or the
whole city, together with outdoor temperature and optional production volume. It is built
from the Store (``from_store``), from CSV files (``from_csv``) or from pandas series
(``from_series``). Every finding about the data is a ``SufficiencyWarning`` with a stable
code; disqualifying findings make the constructors raise ``DataSufficiencyError`` unless
``force=True`` (the CLI's ``--force``), in which case they stay attached as warnings.

Time conventions:

* Energy is an interval quantity. In the Store and in ``timestamp,energy_kwh`` CSVs a
  timestamp marks the *end* of its interval; in OpenEEmeter-style ``start,value`` CSVs it
  marks the *start*. ``timestamp_marks`` chooses; the default follows the column name.
* Rows of ``BaselineData.frame`` are labelled by the UTC instant their interval starts: a
  local midnight for daily data (days are local calendar days in ``tz``), an hour for hourly
  data. An interval is only counted when every reading-hour inside it holds energy
  (no imputation): a day with a missing hour is NaN, not a low value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from greenpipe.csvio import CsvColumn, read_series
from greenpipe.errors import DataSufficiencyError, GreenpipeError
from greenpipe.fiscal import DEFAULT_TZ
from greenpipe.model import require_utc

Granularity = Literal["daily", "hourly"]
GRANULARITIES: tuple[str, ...] = ("daily", "hourly")

MIN_DAYS = {"daily": 90, "hourly": 28}
"""Shortest usable baseline per granularity; shorter is disqualifying. [d]"""
YEARLY_DAYS = 365
"""Baselines this long (12 months) or longer get yearly seasonality. [d]"""
MAX_GAP_DAYS = 7.0
"""A gap longer than this is reported as ``data.long_gap``. [d]"""


@dataclass(frozen=True, slots=True)
class SufficiencyWarning:
    """One finding about the data, with a stable code (e.g. ``data.low_coverage``)."""

    code: str
    message: str
    disqualifying: bool = False

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (``code``, ``message``, ``disqualifying``)."""
        return {"code": self.code, "message": self.message, "disqualifying": self.disqualifying}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a series aggregates: a ``meter``, ``site``, ``sector`` or the whole ``city``."""

    kind: Literal["meter", "site", "sector", "city"]
    id: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``meter:f1-main``, ``site:factory-1``, ``sector:industry`` or ``city``."""
        kind, _, ident = text.partition(":")
        if kind == "city":
            return cls("city", ident or "city")
        if kind not in ("meter", "site", "sector") or not ident:
            raise GreenpipeError(
                f"scope {text!r} is not KIND:ID; use meter:ID, site:ID, sector:NAME or city"
            )
        return cls(kind, ident)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class BaselineData:
    """A regular energy series with temperature and sufficiency findings.

    ``frame`` is indexed by interval start (UTC) and has ``energy_kwh`` [kWh],
    ``temp_air_c`` [°C] (NaN when unknown) and, if given, ``production`` (any unit).
    """

    frame: pd.DataFrame
    granularity: Granularity
    tz: str = DEFAULT_TZ
    warnings: tuple[SufficiencyWarning, ...] = ()
    scope: str = ""
    meta: dict[str, object] = field(default_factory=dict)
    temp_hourly_c: pd.Series | None = None
    """Hourly mean outdoor temperature by UTC hour start, for daily degree-hours. [°C]"""

    @property
    def disqualified(self) -> bool:
        """True when any finding is disqualifying."""
        return any(w.disqualifying for w in self.warnings)

    @property
    def start(self) -> datetime:
        """Start of the first interval (UTC)."""
        return self.frame.index[0].to_pydatetime()

    @property
    def end(self) -> datetime:
        """End of the last interval (UTC)."""
        return (self.frame.index[-1] + _step(self.granularity)).to_pydatetime()

    def slice(self, start: datetime, end: datetime, *, purpose: str = "reporting",
              min_coverage: float = 0.9, force: bool = False) -> BaselineData:
        """Return the intervals starting in ``[start, end)``, re-checked for ``purpose``."""
        start, end = require_utc(start, "start"), require_utc(end, "end")
        frame = self.frame[(self.frame.index >= start) & (self.frame.index < end)]
        return _finish(frame, self.granularity, self.tz, self.scope, purpose, min_coverage,
                       force, dict(self.meta), self.temp_hourly_c)

    @classmethod
    def from_series(
        cls,
        energy_kwh: pd.Series,
        temp_air_c: pd.Series | None = None,
        *,
        granularity: Granularity = "daily",
        tz: str = DEFAULT_TZ,
        production: pd.Series | None = None,
        timestamp_marks: Literal["start", "end"] = "end",
        start: datetime | None = None,
        end: datetime | None = None,
        purpose: Literal["baseline", "reporting"] = "baseline",
        min_coverage: float = 0.9,
        force: bool = False,
        scope: str = "",
    ) -> BaselineData:
        """Build from interval energies indexed by aware timestamps (and point temperatures)."""
        _check_granularity(granularity)
        energy = _aggregate_energy(energy_kwh, granularity, tz, timestamp_marks)
        frame = pd.DataFrame({"energy_kwh": energy})
        frame["temp_air_c"] = (_aggregate_mean(temp_air_c, granularity, tz)
                               .reindex(frame.index) if temp_air_c is not None else np.nan)
        if production is not None:
            frame["production"] = _aggregate_energy(production, granularity, tz,
                                                    timestamp_marks).reindex(frame.index)
        frame = _regularise(frame, granularity, start, end, tz)
        hourly = (_aggregate_mean(temp_air_c, "hourly", tz).dropna()
                  if temp_air_c is not None and granularity == "daily" else None)
        return _finish(frame, granularity, tz, scope, purpose, min_coverage, force,
                       {"temperature_given": temp_air_c is not None}, hourly)

    @classmethod
    def from_store(
        cls,
        store: object,
        scope: Scope | str,
        start: datetime,
        end: datetime,
        granularity: Granularity = "daily",
        *,
        weather_meter: str | None = None,
        tz: str = DEFAULT_TZ,
        purpose: Literal["baseline", "reporting"] = "baseline",
        min_coverage: float = 0.9,
        force: bool = False,
        production_meters: Sequence[str] = (),
    ) -> BaselineData:
        """Read a scope's energy and the weather meter's temperature from a Store.

        Reads hourly buckets in the store (range ``start < ts <= end``), then forms local
        days in pandas so days follow ``tz`` even across DST changes. With
        ``production_meters`` (one unit), their summed output becomes the ``production``
        regressor; none stored leaves it out (the model then has no production term).
        """
        sc = Scope.parse(scope) if isinstance(scope, str) else scope
        start, end = require_utc(start, "start"), require_utc(end, "end")
        hour = timedelta(hours=1)
        kw: dict[str, object] = {}
        if sc.kind == "meter":
            kw = {"group_by": "meter", "meters": [sc.id]}
        elif sc.kind == "site":
            kw = {"group_by": "site", "sites": [sc.id]}
        elif sc.kind == "sector":
            kw = {"group_by": "sector", "sectors": [sc.id]}
        else:
            kw = {"group_by": "sector"}
        raw = store.read(start, end, hour, **kw)  # type: ignore[attr-defined]
        if raw.empty:
            energy = pd.Series(dtype="float64")
        else:
            by_hour = raw.groupby("bucket").agg(
                energy_kwh=("energy_kwh", lambda s: s.sum(min_count=1)),
                readings=("readings", "sum"),
            )
            # An hour with fewer readings than usual is incomplete: unknown, not low.
            energy = by_hour["energy_kwh"].where(
                by_hour["readings"] >= by_hour["readings"].median() * 0.999)
        # Bucket b covers (b, b+1h]: from here on b is the start of an hourly interval.
        energy.index = pd.DatetimeIndex(energy.index)
        temp = None
        if weather_meter:
            w = store.read(start, end, hour, group_by="meter",  # type: ignore[attr-defined]
                           meters=[weather_meter])
            temp = pd.Series(w["temp_air_c"].to_numpy(), index=pd.DatetimeIndex(w["bucket"]))
        data = cls.from_series(
            energy, temp, granularity=granularity, tz=tz, timestamp_marks="start",
            start=start, end=end, purpose=purpose, min_coverage=min_coverage, force=force,
            scope=str(sc), production=_stored_production(store, production_meters, start, end),
        )
        return data

    @classmethod
    def from_csv(
        cls,
        meter_csv: str | Path,
        temperature_csv: str | Path | None = None,
        *,
        temperature_unit: Literal["C", "F"] | None = None,
        granularity: Granularity = "daily",
        tz: str = DEFAULT_TZ,
        time_column: str | None = None,
        value_column: str | None = None,
        temperature_time_column: str | None = None,
        temperature_column: str | None = None,
        timestamp_marks: Literal["start", "end"] | None = None,
        purpose: Literal["baseline", "reporting"] = "baseline",
        min_coverage: float = 0.9,
        force: bool = False,
        naive_tz: str | None = None,
    ) -> BaselineData:
        """Read a meter CSV (``start,value`` or ``timestamp,energy_kwh``) and a temperature CSV.

        Timestamps must be ISO-8601 with a UTC offset, unless ``naive_tz`` names the zone of
        offset-free ones (``greenpipe.csvio``). Temperature in °F (``temperature_unit="F"``,
        or a ``tempF``/``temp_f`` column when no unit is given) is converted to °C. Cells
        marked missing stay unknown and are reported as ``data.missing_values``.
        """
        energy, marks = read_meter_column(meter_csv, time_column, value_column,
                                          naive_tz=naive_tz)
        temp = (read_temperature_column(temperature_csv, temperature_unit,
                                        temperature_time_column, temperature_column,
                                        naive_tz=naive_tz)
                if temperature_csv is not None else None)
        data = cls.from_series(
            energy.series, temp.series if temp else None, granularity=granularity, tz=tz,
            timestamp_marks=timestamp_marks or marks, purpose=purpose,
            min_coverage=min_coverage, force=True, scope=f"csv:{Path(meter_csv).name}",
        )
        missing = {k: (c.missing, c.rows) for k, c in (("meter CSV", energy),
                                                       ("temperature CSV", temp))
                   if c is not None and c.missing}
        return _finish(data.frame, granularity, tz, data.scope, purpose, min_coverage, force,
                       {**data.meta, "csv_missing": missing}, data.temp_hourly_c)


# ---------------------------------------------------------------- CSV


def read_meter_csv(path: str | Path, time_column: str | None = None,
                   value_column: str | None = None, *, naive_tz: str | None = None
                   ) -> tuple[pd.Series, Literal["start", "end"]]:
    """Return interval energies [kWh] by aware timestamp, and whether stamps mark start or end.

    Missing values (``nan``, ``NA``, ``null``, empty, ...) stay NaN; ``read_meter_column``
    also returns their count.
    """
    col, marks = read_meter_column(path, time_column, value_column, naive_tz=naive_tz)
    return col.series, marks


def read_meter_column(path: str | Path, time_column: str | None = None,
                      value_column: str | None = None, *, naive_tz: str | None = None
                      ) -> tuple[CsvColumn, Literal["start", "end"]]:
    """Like ``read_meter_csv`` but returns the ``greenpipe.csvio.CsvColumn`` with counts."""
    col, tcol = read_series(path, "meter CSV", ("start", "timestamp", "ts", "time"),
                            ("energy_kwh", "value", "kwh"), time_column=time_column,
                            value_column=value_column, naive_tz=naive_tz, name="energy_kwh")
    return col, ("start" if tcol == "start" else "end")


FAHRENHEIT_COLUMNS: frozenset[str] = frozenset({"tempf", "temp_f"})
"""Temperature headers (lower-cased) that say °F; read as °F unless a unit is given."""


def read_temperature_csv(path: str | Path, unit: Literal["C", "F"] | None = None,
                         time_column: str | None = None,
                         value_column: str | None = None, *, naive_tz: str | None = None
                         ) -> pd.Series:
    """Return outdoor temperatures in °C by aware timestamp, converting from °F if asked.

    ``unit=None`` reads a ``tempF``/``temp_f`` column as °F and any other as °C.
    """
    return read_temperature_column(path, unit, time_column, value_column,
                                   naive_tz=naive_tz).series


def read_temperature_column(path: str | Path, unit: Literal["C", "F"] | None = None,
                            time_column: str | None = None, value_column: str | None = None,
                            *, naive_tz: str | None = None) -> CsvColumn:
    """Like ``read_temperature_csv`` but returns the ``CsvColumn`` with missing counts. [°C]"""
    if unit not in ("C", "F", None):
        raise GreenpipeError(f"temperature unit {unit!r} is not C or F")
    col, _ = read_series(path, "temperature CSV", ("timestamp", "start", "ts", "time", "dt"),
                         ("temp_air_c", "temperature", "tempF", "temp_f", "temp_c", "value",
                          "temp"), time_column=time_column, value_column=value_column,
                         naive_tz=naive_tz, name="temp_air_c")
    # OpenEEmeter's sample weather files are "dt,tempF": read as °C, 70 °F would be a
    # heat wave and the degree terms nonsense, without any error.
    if unit == "F" or (unit is None and col.column.lower() in FAHRENHEIT_COLUMNS):
        col = replace(col, series=(col.series - 32.0) * 5.0 / 9.0)
    return col


# ---------------------------------------------------------------- aggregation


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise GreenpipeError(f"granularity {granularity!r} is not daily or hourly")


def _step(granularity: str) -> pd.Timedelta:
    return pd.Timedelta(days=1) if granularity == "daily" else pd.Timedelta(hours=1)


def _labels(index: pd.DatetimeIndex, granularity: str, tz: str) -> pd.DatetimeIndex:
    """Map interval-start instants to the UTC start of their local day or hour."""
    if index.tz is None:
        raise GreenpipeError("timestamps must be timezone-aware")
    if granularity == "hourly":
        return index.tz_convert("UTC").floor("h")
    local = index.tz_convert(tz)
    return local.normalize().tz_convert("UTC")


def _stored_production(store: object, meters: Sequence[str], start: datetime, end: datetime
                       ) -> pd.Series | None:
    """Hourly summed output of ``meters`` indexed by interval start (UTC), or None."""
    if not meters:
        return None
    raw = store.read_production(start, end, timedelta(hours=1),  # type: ignore[attr-defined]
                                meters=list(meters))
    if raw.empty:
        return None
    by_hour = raw.groupby("bucket")["quantity"].sum()
    return pd.Series(by_hour.to_numpy(dtype="float64"), index=pd.DatetimeIndex(by_hour.index))


def _aggregate_energy(energy: pd.Series, granularity: str, tz: str,
                      marks: Literal["start", "end"]) -> pd.Series:
    """Sum interval energies per local day / hour; an interval with any missing value is NaN."""
    if energy.empty:
        return pd.Series(dtype="float64")
    idx = pd.DatetimeIndex(energy.index)
    starts = idx - pd.Timedelta(microseconds=1) if marks == "end" else idx
    labels = _labels(starts, granularity, tz)
    values = pd.Series(energy.to_numpy(dtype="float64"), index=labels)
    grouped = values.groupby(level=0)
    total = grouped.sum(min_count=1)
    # A bucket with any NaN reading is unknown; a bucket with fewer readings than the
    # typical full bucket is incomplete (e.g. a day with a missing hour).
    has_nan = values.isna().groupby(level=0).any()
    counts = grouped.size()
    full = counts.median() if len(counts) else 0
    total[has_nan | (counts < full * 0.999)] = np.nan
    return total


def _aggregate_mean(values: pd.Series, granularity: str, tz: str) -> pd.Series:
    if values.empty:
        return pd.Series(dtype="float64")
    labels = _labels(pd.DatetimeIndex(values.index), granularity, tz)
    return pd.Series(values.to_numpy(dtype="float64"), index=labels).groupby(level=0).mean()


def _regularise(frame: pd.DataFrame, granularity: str, start: datetime | None,
                end: datetime | None, tz: str) -> pd.DataFrame:
    """Reindex to every interval between the first and last (or the given range)."""
    if frame.empty and (start is None or end is None):
        return frame
    step = _step(granularity)
    lo = frame.index.min() if start is None else _labels(
        pd.DatetimeIndex([pd.Timestamp(start)]), granularity, tz)[0]
    hi = frame.index.max() if end is None else _labels(
        pd.DatetimeIndex([pd.Timestamp(end) - pd.Timedelta(microseconds=1)]), granularity,
        tz)[0]
    if granularity == "daily":
        local = pd.date_range(lo.tz_convert(tz), hi.tz_convert(tz), freq="D")
        full = local.tz_convert("UTC")
    else:
        full = pd.date_range(lo, hi, freq=step)
    frame = frame.reindex(full)
    frame.index.name = "start"
    return frame


def _finish(frame: pd.DataFrame, granularity: Granularity, tz: str, scope: str, purpose: str,
            min_coverage: float, force: bool, meta: dict[str, object],
            temp_hourly_c: pd.Series | None = None) -> BaselineData:
    warnings = sufficiency(frame, granularity, purpose=purpose, min_coverage=min_coverage)
    missing: dict[str, tuple[int, int]] = meta.get("csv_missing") or {}  # type: ignore[assignment]
    if missing:
        warnings += (SufficiencyWarning("data.missing_values", "; ".join(
            f"{what}: {n} of {rows} rows marked missing (nan/NA/null/empty); those "
            "intervals are unknown, not zero" for what, (n, rows) in missing.items())),)
    data = BaselineData(frame=frame, granularity=granularity, tz=tz, warnings=warnings,
                        scope=scope, meta=meta, temp_hourly_c=temp_hourly_c)
    if data.disqualified and not force:
        bad = "; ".join(f"{w.code}: {w.message}" for w in warnings if w.disqualifying)
        raise DataSufficiencyError(
            f"{purpose} data for {scope or 'the series'} is not sufficient ({bad}); "
            "supply more or better data, or pass --force to analyse it anyway"
        )
    return data


def sufficiency(frame: pd.DataFrame, granularity: str, *, purpose: str = "baseline",
                min_coverage: float = 0.9) -> tuple[SufficiencyWarning, ...]:
    """Return the findings about a regular frame (pure; codes are stable).

    Codes: ``data.no_data`` and ``data.too_short`` (disqualifying), ``data.low_coverage``
    (disqualifying below ``min_coverage``), ``data.no_yearly_cycle`` (baseline < 12 months:
    yearly seasonality off), ``data.long_gap``, ``data.negative_energy``,
    ``data.no_temperature`` and ``data.temperature_gaps``.
    """
    out: list[SufficiencyWarning] = []
    energy = frame["energy_kwh"] if "energy_kwh" in frame else pd.Series(dtype="float64")
    valid = energy.notna()
    if not valid.any():
        return (SufficiencyWarning("data.no_data", "no interval holds energy data", True),)
    per_day = 1 if granularity == "daily" else 24
    span_days = len(frame) / per_day
    coverage = float(valid.mean())
    if purpose == "baseline" and span_days < MIN_DAYS[granularity]:
        out.append(SufficiencyWarning(
            "data.too_short",
            f"baseline spans {span_days:.0f} days; {granularity} models need at least "
            f"{MIN_DAYS[granularity]}", True))
    if coverage < min_coverage:
        out.append(SufficiencyWarning(
            "data.low_coverage",
            f"{coverage:.1%} of {granularity} intervals hold complete data; at least "
            f"{min_coverage:.0%} is required", True))
    if purpose == "baseline" and span_days < YEARLY_DAYS:
        out.append(SufficiencyWarning(
            "data.no_yearly_cycle",
            f"baseline spans {span_days:.0f} days (< 12 months); yearly seasonality is off and "
            "savings across seasons are less reliable"))
    gap = _longest_run(~valid.to_numpy()) / per_day
    if gap > MAX_GAP_DAYS:
        out.append(SufficiencyWarning(
            "data.long_gap", f"longest gap without data is {gap:.1f} days"))
    if (energy < 0).any():
        out.append(SufficiencyWarning(
            "data.negative_energy",
            f"{int((energy < 0).sum())} intervals have negative energy (export or meter error)"))
    temp = frame["temp_air_c"] if "temp_air_c" in frame else pd.Series(dtype="float64")
    if not temp.notna().any():
        out.append(SufficiencyWarning(
            "data.no_temperature", "no outdoor temperature; the model has no weather terms"))
    elif float(temp[valid].notna().mean()) < min_coverage:
        out.append(SufficiencyWarning(
            "data.temperature_gaps",
            f"temperature is known for {float(temp[valid].notna().mean()):.1%} of the intervals "
            "with energy; intervals without it are left out of the fit", True))
    return tuple(out)


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best
