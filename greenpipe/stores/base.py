"""The Store protocol every storage backend implements, and the types it returns.

Time semantics (all backends): a reading's ``energy_kwh`` belongs to the interval that
*ends* at its ``ts``. An aggregated read therefore assigns a reading to the bucket
``(b, b + width]`` and labels it ``b``; the time range is ``start < ts <= end``. Buckets
are aligned to the Unix epoch plus ``offset`` (use ``offset=-9 h`` for JST days).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable
from zoneinfo import ZoneInfo

import pandas as pd

from greenpipe.finding import Finding
from greenpipe.model import (
    BrokerStatus,
    DeadLetter,
    Meter,
    ProductionRecord,
    Reading,
    SequenceState,
    Site,
)
from greenpipe.results import (
    BASELINE_TABLE,
    FORECAST_TABLE,
    SAVINGS_TABLE,
    BaselinePoint,
    ForecastRecord,
    SavingsRecord,
)

READ_COLUMNS = ("bucket", "energy_kwh", "power_kw", "temp_air_c", "readings")
PRODUCTION_COLUMNS = ("meter", "site", "bucket", "quantity", "records")
"""Columns of ``Store.read_production``."""
"""Columns of ``Store.read`` besides the group column (named after ``group_by``)."""


class GroupBy(StrEnum):
    """What an aggregated read groups by."""

    METER = "meter"
    SITE = "site"
    SECTOR = "sector"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The meters and sites a store tags readings with (kind, sector)."""

    meters: Mapping[str, Meter] = field(default_factory=dict)
    sites: Mapping[str, Site] = field(default_factory=dict)

    @classmethod
    def of(cls, meters: Iterable[Meter], sites: Iterable[Site]) -> Catalog:
        """Build a catalog from meters and sites (e.g. ``config.meters, config.sites``)."""
        return cls(meters={m.id: m for m in meters}, sites={s.id: s for s in sites})

    def kind_of(self, meter_id: str) -> str:
        """Return the meter's kind, or ``unknown`` when the meter is not catalogued."""
        meter = self.meters.get(meter_id)
        return meter.kind.value if meter else "unknown"

    def sector_of(self, site_id: str) -> str:
        """Return the site's sector, or ``unknown`` when the site is not catalogued."""
        site = self.sites.get(site_id)
        return site.sector.value if site else "unknown"


@dataclass(frozen=True, slots=True)
class MeterStats:
    """What a store holds for one meter."""

    meter: str
    site: str
    readings: int
    first_ts: datetime | None
    last_ts: datetime | None
    energy_kwh: float
    """Sum of the stored interval energies. [kWh]"""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """What a store holds: per-meter statistics and the number of dead letters."""

    meters: tuple[MeterStats, ...]
    dead_letters: int


@runtime_checkable
class Store(Protocol):
    """Storage of readings and dead letters. Implementations: SqliteStore, InfluxStore."""

    def write(self, readings: Sequence[Reading]) -> int:
        """Store readings; the same meter and timestamp twice keeps one reading (the last).

        Returns the number of readings written. Raises StoreError (retryable or not).
        """
        ...

    def read(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        group_by: GroupBy | str = GroupBy.METER,
        meters: Sequence[str] | None = None,
        sites: Sequence[str] | None = None,
        sectors: Sequence[str] | None = None,
        offset: timedelta = timedelta(0),
        kinds: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Aggregate readings into buckets, in the store.

        Returns one row per group and non-empty bucket with columns: the group column
        (``meter``, ``site`` or ``sector``), ``bucket`` (UTC), ``energy_kwh`` (sum),
        ``power_kw`` and ``temp_air_c`` (means) and ``readings`` (count), sorted by group
        then bucket. ``meters``, ``sites``, ``sectors`` and ``kinds`` (meter kinds, e.g.
        ``electricity``) narrow the readings; an empty list matches nothing.
        """
        ...

    def read_rollup(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        group_by: GroupBy | str = GroupBy.METER,
        meters: Sequence[str] | None = None,
        sites: Sequence[str] | None = None,
        sectors: Sequence[str] | None = None,
        offset: timedelta = timedelta(0),
        kinds: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Like ``read``, from the hourly and daily rollups; bucket and offset in whole hours.

        Same frame as ``read`` for every hour the rollups cover: SQLite keeps them in the
        write transaction (always current); InfluxDB's ``energy_1h``/``energy_1d`` (and the
        per-site and per-sector ``energy_site_1d``/``energy_sector_1d``) are current up to
        the last ``greenpipe db rollup``. Whole local days grouped by site or sector without
        a meter filter come from the per-site or per-sector daily rollup, so they do not
        grow with the number of meters. Raises ValueError for finer buckets.
        """
        ...

    def read_monthly(
        self,
        start: datetime,
        end: datetime,
        *,
        tz: str,
        group_by: GroupBy | str = GroupBy.METER,
        meters: Sequence[str] | None = None,
        sites: Sequence[str] | None = None,
        sectors: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Sum readings per local calendar month of ``tz``: the ``read`` frame with buckets
        ``(month start, next month start]`` labelled by the month's start (UTC).

        ``start`` and ``end`` must be local midnights on the 1st of a month (ValueError
        otherwise). Answered from the monthly rollup (SQLite ``rollup_1mo``, InfluxDB
        ``energy_1mo`` inside ``rollup_coverage``) when ``tz`` keeps the store's one UTC
        offset all year, else by one ``read`` per month (``read_by_months``); the numbers
        are the same either way.
        """
        ...

    def has_readings(self) -> bool:
        """True when the store holds at least one reading (one point read, not ``stats``)."""
        ...

    def rollup_coverage(self) -> tuple[datetime, datetime] | None:
        """The span ``(start, end]`` over which ``read_rollup`` equals ``read``, or None.

        SQLite: everything (its rollups are kept in the write transaction). InfluxDB: the
        contiguous span the ``greenpipe db rollup`` job has rolled up (None before its
        first run). Readers fall back to ``read`` outside it rather than show gaps.
        """
        ...

    def latest(self) -> dict[str, Reading]:
        """Return the newest reading of every meter, keyed by meter id."""
        ...

    def stats(self) -> StoreStats:
        """Return per-meter counts, time span and energy, and the dead-letter count."""
        ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store messages that could not be turned into readings, with their reasons."""
        ...

    def read_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return the newest dead letters first, at most ``limit``."""
        ...

    def write_forecasts(self, records: Sequence[ForecastRecord]) -> int:
        """Store projection results (table / measurement ``forecast``); returns the count."""
        ...

    def read_forecasts(self, run_id: str | None = None) -> list[ForecastRecord]:
        """Return the forecast records of ``run_id``, by default of the newest run."""
        ...

    def write_savings(self, records: Sequence[SavingsRecord]) -> int:
        """Store savings results (table / measurement ``savings``); returns the count."""
        ...

    def read_savings(self, run_id: str | None = None) -> list[SavingsRecord]:
        """Return the savings records of ``run_id``, by default of the newest run."""
        ...

    def write_baseline_points(self, points: Sequence[BaselinePoint]) -> int:
        """Store daily baseline-vs-actual points (``baseline_series``); returns the count.

        The same run, meter, measure and day again replaces the point.
        """
        ...

    def read_baseline_points(self, run_id: str | None = None,
                             meter_ids: Sequence[str] | None = None) -> list[BaselinePoint]:
        """Return the points of ``run_id`` (default: the newest run), optionally of some meters.

        Sorted by meter, measure, then day.
        """
        ...

    def write_sequence_states(self, states: Sequence[SequenceState]) -> None:
        """Store each meter's ``seq`` state (upstream loss); one per meter, the last wins."""
        ...

    def read_sequence_states(self) -> dict[str, SequenceState]:
        """Return the stored ``seq`` state of every meter, keyed by meter id."""
        ...

    def write_broker_status(self, status: BrokerStatus) -> None:
        """Store what a collector saw of its broker (one per collector, the last wins)."""
        ...

    def read_broker_status(self) -> list[BrokerStatus]:
        """Return the last broker status each collector stored, by client id."""
        ...

    def write_production(self, records: Sequence[ProductionRecord]) -> int:
        """Store production records (table / measurement ``production``); returns the count.

        The same meter and timestamp twice keeps one record (the last).
        """
        ...

    def read_production(
        self,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        meters: Sequence[str] | None = None,
        sites: Sequence[str] | None = None,
        offset: timedelta = timedelta(0),
    ) -> pd.DataFrame:
        """Sum production per meter into ``(b, b + bucket]`` buckets (range ``start < ts <= end``).

        Columns ``PRODUCTION_COLUMNS``: meter, site, bucket (UTC), quantity (sum, in the
        meter's unit) and records (count), sorted by meter then bucket.
        """
        ...

    def write_findings(self, findings: Sequence[Finding]) -> int:
        """Store findings (table / measurement ``finding``); the same id replaces.

        Returns the count. Raises StoreError (retryable or not).
        """
        ...

    def read_findings(self, status: str | None = None) -> list[Finding]:
        """Return every stored finding (of one ``status`` if given), sorted by id."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


def empty_production_frame() -> pd.DataFrame:
    """Return the empty result of ``Store.read_production`` with the right dtypes."""
    return pd.DataFrame({
        "meter": pd.Series(dtype="object"), "site": pd.Series(dtype="object"),
        "bucket": pd.Series(dtype="datetime64[ns, UTC]"),
        "quantity": pd.Series(dtype="float64"), "records": pd.Series(dtype="int64")})


def production_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Build a ``read_production`` frame from ``(meter, site, bucket_ms, quantity, n)`` rows."""
    if not rows:
        return empty_production_frame()
    frame = pd.DataFrame(sorted(rows, key=lambda r: (r[0], r[2])),
                         columns=list(PRODUCTION_COLUMNS))
    frame["bucket"] = pd.to_datetime(frame["bucket"], unit="ms", utc=True)
    frame["quantity"] = frame["quantity"].astype("float64")
    frame["records"] = frame["records"].astype("int64")
    return frame


class ResultRecordsMixin:
    """The forecast and savings methods of ``Store``, written once for every backend.

    A backend supplies ``_write_records(table, records) -> int`` and
    ``_read_records(table, record_type, run_id) -> list`` for its own storage (a SQLite
    table or an InfluxDB measurement named ``table``), plus its ``read_baseline_points``.
    """

    def _write_records(self, table: str, records: Sequence[Any]) -> int:
        raise NotImplementedError

    def _read_records(self, table: str, cls: type[Any], run_id: str | None) -> list[Any]:
        raise NotImplementedError

    def write_forecasts(self, records: Sequence[ForecastRecord]) -> int:
        """Store forecast records in ``forecast`` (same run and key replaces)."""
        return self._write_records(FORECAST_TABLE, records)

    def write_savings(self, records: Sequence[SavingsRecord]) -> int:
        """Store savings records in ``savings`` (same run and key replaces)."""
        return self._write_records(SAVINGS_TABLE, records)

    def write_baseline_points(self, points: Sequence[BaselinePoint]) -> int:
        """Store points in ``baseline_series`` (same run, meter, measure and day replaces)."""
        return self._write_records(BASELINE_TABLE, points)

    def read_forecasts(self, run_id: str | None = None) -> list[ForecastRecord]:
        """Return the forecast records of ``run_id`` (default: the newest run)."""
        return self._read_records(FORECAST_TABLE, ForecastRecord, run_id)

    def read_savings(self, run_id: str | None = None) -> list[SavingsRecord]:
        """Return the savings records of ``run_id`` (default: the newest run)."""
        return self._read_records(SAVINGS_TABLE, SavingsRecord, run_id)


def empty_read_frame(group_by: GroupBy | str) -> pd.DataFrame:
    """Return the empty result of ``Store.read`` with the right columns and dtypes."""
    group = GroupBy(group_by).value
    return pd.DataFrame(
        {
            group: pd.Series(dtype="object"),
            "bucket": pd.Series(dtype="datetime64[ns, UTC]"),
            "energy_kwh": pd.Series(dtype="float64"),
            "power_kw": pd.Series(dtype="float64"),
            "temp_air_c": pd.Series(dtype="float64"),
            "readings": pd.Series(dtype="int64"),
        }
    )


def day_offset_of(zones: Iterable[str]) -> timedelta:
    """The daily-rollup offset for sites in ``zones``: minus their one fixed UTC offset.

    Shared by the SQLite rollup tables and InfluxDB's ``energy_1d``. A zone with daylight
    saving time (or sites in zones with different offsets) gets UTC days (offset 0),
    because a fixed-width day cannot follow them; reads of other days use hourly rollups.
    """
    offsets = set()
    for name in set(zones):
        zone = ZoneInfo(name)
        for month in (1, 7):
            off = datetime(2025, month, 1, tzinfo=UTC).astimezone(zone).utcoffset()
            offsets.add(off or timedelta(0))
    if len(offsets) != 1:
        return timedelta(0)
    (off,) = offsets
    return -off if off % timedelta(hours=1) == timedelta(0) else timedelta(0)


def check_whole_hours(bucket: timedelta, offset: timedelta) -> None:
    """Validate ``read_rollup``'s bucket and offset; raises ValueError with the fix."""
    for name, value in (("bucket", bucket), ("offset", offset)):
        if value % timedelta(hours=1):
            raise ValueError(f"{name} {value} is not a whole number of hours; "
                             "use read() for finer buckets")


def check_read_args(start: datetime, end: datetime, bucket: timedelta) -> None:
    """Validate the arguments of ``Store.read``; raises ValueError with the fix."""
    for name, ts in (("start", start), ("end", end)):
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise ValueError(f"{name}={ts.isoformat()} has no UTC offset; pass an aware datetime")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if bucket < timedelta(milliseconds=1):
        raise ValueError(f"bucket width {bucket} is too small; use at least 1 ms")


SEQUENCE_INT_FIELDS = ("high_seq", "high_ts_ms", "epoch_ts_ms", "messages", "lost", "restarts")
"""Integer columns of a stored ``SequenceState`` (besides meter, site and the hole lists)."""


def sequence_state_to_row(state: SequenceState) -> dict[str, str | int]:
    """Flatten a ``SequenceState``: instants as epoch ms, hole ranges as JSON text."""
    return {
        "meter_id": state.meter_id, "site_id": state.site_id, "high_seq": state.high_seq,
        "high_ts_ms": round(state.high_ts.timestamp() * 1000),
        "epoch_ts_ms": round(state.epoch_ts.timestamp() * 1000),
        "messages": state.messages, "lost": state.lost, "restarts": state.restarts,
        "holes": json.dumps(state.holes), "old_holes": json.dumps(state.old_holes),
    }


def sequence_state_from_row(row: Mapping[str, Any]) -> SequenceState:
    """Rebuild a ``SequenceState`` from ``sequence_state_to_row`` output."""
    def ranges(text: Any) -> tuple[tuple[int, int], ...]:
        return tuple((int(a), int(b)) for a, b in json.loads(str(text or "[]")))

    def instant(ms: Any) -> datetime:
        return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)

    return SequenceState(
        meter_id=str(row["meter_id"]), site_id=str(row["site_id"]),
        high_seq=int(row["high_seq"]), high_ts=instant(row["high_ts_ms"]),
        epoch_ts=instant(row["epoch_ts_ms"]), messages=int(row["messages"]),
        lost=int(row["lost"]), restarts=int(row["restarts"]),
        holes=ranges(row["holes"]), old_holes=ranges(row["old_holes"]))


def fixed_day_offset(tz: str) -> timedelta | None:
    """Minus ``tz``'s UTC offset when the zone keeps one offset all year (-9 h for JST),
    else None. A store's monthly rollup holds ``tz``'s local months only when this equals
    its daily rollups' ``day_offset``."""
    zone = ZoneInfo(tz)
    offsets = {datetime(2025, m, 1, tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)
               for m in (1, 7)}
    return -offsets.pop() if len(offsets) == 1 else None


def month_of_day(day_start: datetime, day_offset: timedelta) -> datetime:
    """The start of the month (on the ``day_offset`` grid) holding the day that starts at
    ``day_start``; the local date of an instant is its UTC date after subtracting the
    offset (JST: ``day_offset`` = -9 h)."""
    local = day_start - day_offset
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0) + day_offset


def month_starts(start: datetime, end: datetime, tz: str) -> list[datetime]:
    """The local month starts of ``tz`` from ``start`` to ``end`` inclusive, as UTC.

    Raises ValueError (with the fix) unless ``start < end`` and both are local midnights
    on a 1st.
    """
    check_read_args(start, end, timedelta(days=1))
    zone = ZoneInfo(tz)
    out: list[datetime] = []
    for name, ts in (("start", start), ("end", end)):
        local = ts.astimezone(zone)
        if (local.day, local.hour, local.minute, local.second, local.microsecond) != (
                1, 0, 0, 0, 0):
            raise ValueError(f"{name} {ts.isoformat()} is not a month start in {tz} "
                             f"(it is {local.isoformat()}); pass local midnight on the 1st")
    local = start.astimezone(zone).replace(tzinfo=None)
    while True:
        ts = local.replace(tzinfo=zone).astimezone(UTC)
        out.append(ts)
        if ts >= end:
            return out
        local = local.replace(year=local.year + local.month // 12, month=local.month % 12 + 1)


def read_by_months(store: Store, months: Sequence[datetime], *, group_by: GroupBy | str,
                   meters: Sequence[str] | None, sites: Sequence[str] | None,
                   sectors: Sequence[str] | None, kinds: Sequence[str] | None,
                   ) -> pd.DataFrame:
    """``read_monthly`` by one ``Store.read`` per month (one bucket as wide as the month),
    for months no monthly rollup answers. ``months`` are consecutive month starts."""
    frames = []
    for lo, hi in itertools.pairwise(months):
        width = hi - lo
        frames.append(store.read(lo, hi, width, group_by=group_by, meters=meters, sites=sites,
                                 sectors=sectors, kinds=kinds,
                                 offset=(lo - datetime(1970, 1, 1, tzinfo=UTC)) % width))
    return concat_read_frames(frames, group_by)


def read_frame(rows: Sequence[tuple[Any, ...]], group_by: GroupBy | str) -> pd.DataFrame:
    """The ``Store.read`` frame of ``(group, bucket_ms, energy, power, temp, n)`` rows (in
    order: sort them by group then bucket first)."""
    group = GroupBy(group_by)
    if not rows:
        return empty_read_frame(group)
    frame = pd.DataFrame(rows, columns=[group.value, "bucket", "energy_kwh", "power_kw",
                                        "temp_air_c", "readings"])
    frame["bucket"] = pd.to_datetime(frame["bucket"], unit="ms", utc=True)
    for c in ("energy_kwh", "power_kw", "temp_air_c"):
        frame[c] = frame[c].astype("float64")
    frame["readings"] = frame["readings"].astype("int64")
    return frame


def concat_read_frames(frames: Sequence[pd.DataFrame], group_by: GroupBy | str) -> pd.DataFrame:
    """Concatenate ``read`` frames of disjoint buckets, sorted by group then bucket."""
    group = GroupBy(group_by).value
    full = [f for f in frames if not f.empty]
    if not full:
        return empty_read_frame(group_by)
    out = pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]
    return out.sort_values([group, "bucket"], kind="stable").reset_index(drop=True)


_T = TypeVar("_T")


class Memo(Generic[_T]):
    """The last answer of one costly store read, trusted for a while.

    ``get`` returns the remembered answer while its key matches and it is younger than the
    bound, else reads anew; ``clear`` forgets it (after the store changed what it read).
    Hand-written rather than ``cachetools.TTLCache`` (not a dependency here): one value,
    and the bound is given at each call, from the stores' module constants that tests and
    benches shorten at run time.
    """

    def __init__(self) -> None:
        """An empty memo."""
        self._entry: tuple[float, Hashable, _T] | None = None

    def get(self, read: Callable[[], _T], ttl_s: float, key: Hashable = None) -> _T:
        """The remembered answer for ``key`` if younger than ``ttl_s`` [s], else ``read()``."""
        now = time.monotonic()
        entry = self._entry
        if entry is not None and entry[1] == key and now - entry[0] < ttl_s:
            return entry[2]
        value = read()
        self._entry = (now, key, value)
        return value

    def clear(self) -> None:
        """Forget the remembered answer: the next ``get`` reads anew."""
        self._entry = None
