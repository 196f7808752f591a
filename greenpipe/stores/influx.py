"""InfluxStore: the production store, on InfluxDB 1.x, 2.x or 3.x.

Writes use influxdb-client's synchronous ``WriteApi`` where the server has the v2 write API
(2.x, 3.x, 1.8+) and the v1 ``/write`` endpoint on 1.0-1.7 (detected from ``/ping`` or set
by ``store.api``). Its batching mode is not used: it can drop buffered points on close
(influxdb-client-python issues 165, 394, 504); batching belongs to the collector. Line
protocol comes from ``greenpipe.stores.line_protocol``, which serialises a whole batch
column-wise and matches influxdb-client's ``Point`` byte for byte.

Reads are InfluxQL over ``/query`` (see ``greenpipe.stores.influxql``), aggregated in the
database with ``GROUP BY time(...)``, explicit bounds and ``fill(none)``. Schema and
semantics are documented in docs/storage.md.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from influxdb_client import WritePrecision

from greenpipe.errors import ConfigError, StoreError
from greenpipe.finding import Finding
from greenpipe.model import BrokerStatus, DeadLetter, ProductionRecord, Reading, SequenceState
from greenpipe.results import (
    BASELINE_TABLE,
    BaselinePoint,
    ForecastRecord,
    R,
    SavingsRecord,
)
from greenpipe.stores import influx_latest, influx_results, line_protocol
from greenpipe.stores import influx_months as monthly
from greenpipe.stores import influx_points as points
from greenpipe.stores import influx_totals as tot
from greenpipe.stores.base import (
    SEQUENCE_INT_FIELDS,
    Catalog,
    GroupBy,
    Memo,
    MeterStats,
    ResultRecordsMixin,
    StoreStats,
    check_read_args,
    check_whole_hours,
    day_offset_of,
    empty_production_frame,
    empty_read_frame,
    production_frame,
    read_frame,
    sequence_state_from_row,
    sequence_state_to_row,
)
from greenpipe.stores.influx_months import tag_filters
from greenpipe.stores.influxql import (
    InfluxError,
    InfluxHttp,
    Series,
    classify_http_error,
    ms_of,
    quote_ident,
    quote_literal,
    time_literal_ns,
)
from greenpipe.stores.url import StoreUrl, parse_store_url

log = logging.getLogger(__name__)

MEASUREMENT = "energy"
"""Measurement of readings: tags site, meter, kind, sector."""
ROLLUP_MEASUREMENT = "energy_1h"
"""Measurement of hourly rollups, stamped at the end of their hour."""
DAILY_ROLLUP_MEASUREMENT = "energy_1d"
"""Measurement of daily rollups (local days, ``day_offset``), stamped at the end of the day."""
ROLLUP_STATE_MEASUREMENT = "rollup_state"
"""One point (at time 0): the span ``from_ms``..``until_ms`` the rollups cover."""
SITE_DAILY_MEASUREMENT = "energy_site_1d"
"""``energy_1d`` summed per site, meter kind and day (tags site, kind, sector)."""
SECTOR_DAILY_MEASUREMENT = "energy_sector_1d"
"""``energy_1d`` summed per sector, meter kind and day (tags sector, kind)."""
_POINT_WIDTH_MS = {ROLLUP_MEASUREMENT: 3_600_000, DAILY_ROLLUP_MEASUREMENT: 86_400_000,
                   SITE_DAILY_MEASUREMENT: 86_400_000, SECTOR_DAILY_MEASUREMENT: 86_400_000}
"""The span each point of a rollup measurement sums (it is stamped at the span's end). [ms]"""
_POINTS_SPAN = timedelta(days=2)
"""``read`` over at most this span tries the raw points (``short_read_points``)."""
_FEW_SERIES_A_GROUP = (SITE_DAILY_MEASUREMENT, SECTOR_DAILY_MEASUREMENT)
"""Rollups whose series per site or sector are one per meter kind, not one per meter."""
MONTHLY_MEASUREMENT = monthly.MONTHLY_MEASUREMENT
SITE_MONTHLY_MEASUREMENT = monthly.SITE_MONTHLY_MEASUREMENT
DEAD_LETTER_MEASUREMENT = "dead_letter"
SEQUENCE_MEASUREMENT = "sequence_state"
"""Measurement of each meter's ``seq`` state (upstream loss): tag meter, newest point wins."""
BROKER_MEASUREMENT = "broker_status"
"""Measurement of each collector's view of its broker's ``$SYS``: tag client, newest wins."""
PRODUCTION_MEASUREMENT = "production"
"""Production output per production meter: tags meter, site; field quantity."""
TOKEN_ENV = "GREENPIPE_INFLUX_TOKEN"
"""Environment variable holding the InfluxDB token (``user:password`` on 1.x)."""

_CHANGES = re.compile(r"\b(DELETE|DROP)\b", re.IGNORECASE)
STATE_CACHE_S = 1.0
"""How long ``InfluxStore._rollup_state`` trusts its last read (no write in between). [s]"""
_FORBIDDEN_IN_TAGS = ("\n", "\r", "\t", "\\")
_State = tuple[datetime, datetime, datetime | None, datetime | None, int]
"""A ``rollup_state`` point: from, until, months_from, site_months_from, its instant [ms]."""
_dead_letter_seen: OrderedDict[int, int] = OrderedDict()
"""Recent received-at microseconds -> how many dead letters this process stamped with it."""
_dead_letter_lock = threading.Lock()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_version(version: str) -> tuple[int, int]:
    """Return (major, minor) of an X-Influxdb-Version such as ``1.6.7~rc0`` or ``v2.7.4``."""
    text = version.strip().lstrip("vV")
    parts = text.replace("~", ".").replace("-", ".").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    except ValueError:
        return 0, 0


def api_for_version(version: str) -> str:
    """Return ``v2`` when a server version has the v2 write API (1.8+), else ``v1``."""
    major, minor = parse_version(version)
    if major >= 2 or (major == 1 and minor >= 8):
        return "v2"
    return "v1"


def read_token(token_file: str | None = None, env: dict[str, str] | None = None) -> str | None:
    """Return the token from GREENPIPE_INFLUX_TOKEN, else from ``token_file``, else None."""
    env_map = os.environ if env is None else env
    if env_map.get(TOKEN_ENV):
        return env_map[TOKEN_ENV]
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                "store.token_file", token_file,
                f"cannot read it ({exc.strerror}); create it or fix the path",
            ) from None
    return None


def _check_tag(name: str, value: str) -> str:
    if not value:
        raise StoreError(f"cannot store an empty {name} id in InfluxDB (tags must be non-empty)",
                         retryable=False)
    for ch in _FORBIDDEN_IN_TAGS:
        if ch in value:
            raise StoreError(
                f"{name} id {value!r} contains {ch!r}, which InfluxDB line protocol cannot carry "
                "in a tag unchanged; rename it (newlines, tabs and backslashes are not allowed)",
                retryable=False,
            )
    return value


def _unique_ns(ts: datetime) -> int:
    """Return ``ts`` in ns, with the digits below the microsecond counting repeats.

    Every dead letter lives in one series, where InfluxDB would merge two points with the
    same timestamp; letters received in the same microsecond get 0, 1, 2, ... ns on top
    (in the order written), so they stay apart and keep their received time.
    """
    delta = ts.astimezone(UTC) - _EPOCH
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    with _dead_letter_lock:
        n = _dead_letter_seen.pop(us, 0)
        _dead_letter_seen[us] = n + 1
        while len(_dead_letter_seen) > 10_000:
            _dead_letter_seen.popitem(last=False)
    return us * 1000 + n % 1000


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(ms))


def _floats(values: Iterable[float | None]) -> list[float | None]:
    # Always float: an int would be written as an integer field and conflict later.
    return [None if v is None else float(v) for v in values]


def _float(value: float | None) -> float | None:
    # Always float: an int would be written as an integer field and conflict later.
    return None if value is None else float(value)


class InfluxStore(ResultRecordsMixin):
    """A Store in an InfluxDB database (1.x) or bucket (2.x, 3.x)."""

    def __init__(
        self,
        url: str | StoreUrl,
        catalog: Catalog | None = None,
        *,
        org: str = "",
        token: str | None = None,
        api: str = "auto",
        timeout_s: float = 10.0,
    ) -> None:
        """Prepare a store for ``influxdb://HOST:PORT/DB`` (no connection is made yet)."""
        parsed = url if isinstance(url, StoreUrl) else parse_store_url(url, key="store.url")
        if parsed.scheme not in ("influxdb", "influxdbs") or not parsed.database:
            raise ConfigError("store.url", str(url), "use influxdb://HOST:PORT/DATABASE")
        if api not in ("auto", "v1", "v2"):
            raise ConfigError("store.api", api, "choose one of auto, v1, v2")
        self.catalog = catalog or Catalog()
        self.day_offset = day_offset_of(s.timezone for s in self.catalog.sites.values())
        """Offset of ``energy_1d``'s days from UTC midnight (-9 h for a JST city)."""
        self.database: str = parsed.database
        self.org = org
        scheme = "https" if parsed.scheme == "influxdbs" else "http"
        host = parsed.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{host}:{parsed.port or 8086}"
        self._token = token if token is not None else read_token()
        self._timeout_s = timeout_s
        self._api = api
        self._version: str | None = None
        self.http = InfluxHttp(self.base_url, self._token, timeout_s)
        self._client: Any = None
        self._write_api: Any = None
        self._lock = threading.Lock()
        self._state_memo: Memo[_State | None] = Memo()
        """The ``rollup_state`` answer, see ``_rollup_state``."""
        self._totals_memo: Memo[tot.Totals | None] = Memo()
        """The ``meter_totals`` for one state point, see ``tot.read_totals_cached``."""
        self._horizon_memo: Memo[datetime | None] = Memo()
        """The retention horizon, see ``tot.retention_horizon``."""

    def __repr__(self) -> str:
        return f"InfluxStore({self.base_url!r}, database={self.database!r})"

    # ------------------------------------------------------------------ writes

    @property
    def api(self) -> str:
        """The write API in use, ``v1`` or ``v2`` (detected from ``/ping`` when ``auto``)."""
        if self._api == "auto":
            self._version = self.http.ping()
            self._api = api_for_version(self._version)
            log.info("InfluxDB at %s: using the %s write API", self.base_url, self._api)
        return self._api

    def reading_lines(self, readings: Sequence[Reading]) -> list[str]:
        """Serialize readings to line protocol, column-wise (``greenpipe.stores.line_protocol``).

        Tag checks and catalog look-ups run once per distinct meter and site of the batch.
        """
        meters = [r.meter_id for r in readings]
        sites = [r.site_id for r in readings]
        kind_of = {m: self.catalog.kind_of(_check_tag("meter", m)) for m in set(meters)}
        sector_of = {s: self.catalog.sector_of(_check_tag("site", s)) for s in set(sites)}
        return line_protocol.encode(
            MEASUREMENT,
            {"meter": meters, "site": sites,
             "kind": [kind_of[m] for m in meters], "sector": [sector_of[s] for s in sites]},
            {"energy_kwh": _floats(r.energy_kwh for r in readings),
             "register_kwh": _floats(r.register_kwh for r in readings),
             "power_kw": _floats(r.power_kw for r in readings),
             "temp_air_c": _floats(r.temp_air_c for r in readings),
             # Always present, so COUNT("quality") counts readings.
             "quality": [",".join(sorted(r.quality)) for r in readings]},
            [ms_of(r.ts) for r in readings],
        )

    def write(self, readings: Sequence[Reading]) -> int:
        """Store readings; the same meter and timestamp twice keeps one point (the last)."""
        if not readings:
            return 0
        self.write_lines(self.reading_lines(readings))
        return len(readings)

    def write_production(self, records: Sequence[ProductionRecord]) -> int:
        """Store production records in ``production``; same meter and time keeps the last."""
        if not records:
            return 0
        self.write_lines(line_protocol.encode(
            PRODUCTION_MEASUREMENT,
            {"meter": [_check_tag("meter", r.meter_id) for r in records],
             "site": [_check_tag("site", r.site_id) for r in records]},
            {"quantity": [float(r.quantity) for r in records]},
            [ms_of(r.ts) for r in records]))
        return len(records)

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
        """Sum production per meter into ``(b, b + bucket]`` buckets; see ``Store``."""
        check_read_args(start, end, bucket)
        where = [f"time > {time_literal_ns(start)}", f"time <= {time_literal_ns(end)}"]
        for tag, values in (("meter", meters), ("site", sites)):
            if values is not None:
                if not values:
                    return empty_production_frame()
                where.append("(" + " OR ".join(
                    f"{quote_ident(tag)} = {quote_literal(v)}" for v in values) + ")")
        width_ms = round(bucket.total_seconds() * 1000)
        shift_ms = (round(offset.total_seconds() * 1000) + 1) % width_ms  # as in _aggregate
        q = (f'SELECT SUM("quantity"), COUNT("quantity") FROM '
             f"{quote_ident(PRODUCTION_MEASUREMENT)} WHERE {' AND '.join(where)} "
             f'GROUP BY time({width_ms}ms, {shift_ms}ms), "meter", "site" fill(none)')
        rows = [(series.tags.get("meter", ""), series.tags.get("site", ""), v[0] - 1, v[1],
                 int(v[2] or 0))
                for series in self.query(q)[0] for v in series.values]
        return production_frame(rows)

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write line-protocol lines (ms precision); a 413 splits the batch in halves."""
        if not lines:
            return
        try:
            self._write_once(lines)
        except InfluxError as exc:
            if exc.status != 413:
                raise
            if len(lines) == 1:
                raise InfluxError(
                    f"InfluxDB refused a single point as too large (HTTP 413): {exc.body}",
                    retryable=False, status=413, body=exc.body,
                ) from exc
            half = len(lines) // 2
            log.info("InfluxDB answered 413 for %d points; writing halves", len(lines))
            self.write_lines(lines[:half])
            self.write_lines(lines[half:])

    def _write_once(self, lines: Sequence[str], precision: str = "ms") -> None:
        self._state_memo.clear()  # it may be a new rollup_state point: read it anew
        if self.api == "v1":
            self.http.write_v1(self.database, lines, precision=precision)
            return
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        what = f"write of {len(lines)} points to {self.database!r}"
        if not self.org and self._version and parse_version(self._version)[0] == 2:
            raise InfluxError(
                f"{what}: InfluxDB {self._version} needs the organisation; set store.org "
                "(GREENPIPE_STORE_ORG) and open the store with the [store] config",
                retryable=True,
            )
        try:
            self._v2_write_api().write(
                bucket=self.database, org=self.org or "-", record=list(lines),
                write_precision=WritePrecision.NS if precision == "ns" else WritePrecision.MS,
            )
        except ApiException as exc:
            raise classify_http_error(int(exc.status or 0), exc.body, exc.headers, what) from exc
        except HTTPError as exc:
            raise InfluxError(f"{what}: cannot reach InfluxDB at {self.base_url} ({exc}); "
                              "check store.url and that the server is running",
                              retryable=True) from exc

    def _v2_write_api(self) -> Any:
        with self._lock:
            if self._write_api is None:
                from influxdb_client import InfluxDBClient
                from influxdb_client.client.write_api import SYNCHRONOUS

                self._client = InfluxDBClient(
                    url=self.base_url, token=self._token or "", org=self.org or "-",
                    timeout=round(self._timeout_s * 1000), retries=False,
                )
                self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
            return self._write_api

    # ------------------------------------------------------------------ reads

    def query(self, statements: str) -> list[list[Series]]:
        """Run InfluxQL statements against this store's database."""
        if _CHANGES.search(statements):
            self._state_memo.clear()  # it may change what _rollup_state read
        return self.http.query(self.database, statements)

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
        """Aggregate readings into ``(b, b + bucket]`` buckets in InfluxDB; see ``Store.read``."""
        select = ('SUM("energy_kwh"), MEAN("power_kw"), MEAN("temp_air_c"), '
                  'COUNT("quality")')
        return self._aggregate(MEASUREMENT, select, start, end, bucket, group_by,
                               meters, sites, sectors, offset, kinds, rollup=False)

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
        """Like ``read`` but from the rollups; bucket and offset must be whole hours.

        Equals ``read`` for hours that ``greenpipe db rollup`` has covered, and is much
        faster over long ranges. Means are weighted by reading counts, so they are exact.
        Whole local days (buckets of whole days on ``day_offset``, range on midnights) come
        from ``energy_1d`` (or, grouped by site or sector without a meter filter, from
        ``energy_site_1d``/``energy_sector_1d``), anything else from ``energy_1h``.
        """
        check_whole_hours(bucket, offset)
        select = ('SUM("energy_kwh"), SUM("power_kw_sum"), SUM("power_n"), '
                  'SUM("temp_air_c_sum"), SUM("temp_n"), SUM("readings")')
        day = timedelta(days=1)
        daily = bucket % day == timedelta(0) and all(
            (t - self.day_offset) % day == timedelta(0)
            for t in (offset, start - _EPOCH, end - _EPOCH))
        group = GroupBy(group_by)
        measurement = ROLLUP_MEASUREMENT
        if daily:
            measurement = (DAILY_ROLLUP_MEASUREMENT if meters is not None
                           or group == GroupBy.METER else
                           SECTOR_DAILY_MEASUREMENT if group == GroupBy.SECTOR and sites is None
                           else SITE_DAILY_MEASUREMENT)
        if daily and end - start <= bucket and (start - _EPOCH - offset) % bucket == timedelta(0):
            # One bucket over the whole range (a fiscal year's site totals): its whole
            # months from ``energy_site_1mo`` (per meter: ``energy_1mo``), only the days
            # around them from the daily rollup.
            tags = tag_filters(meters, sites, sectors, kinds)
            if tags is None:
                return empty_read_frame(group)
            frame = monthly.one_bucket(self, measurement, start, end, group, tags,
                                       per_site=measurement != DAILY_ROLLUP_MEASUREMENT)
            if frame is not None:
                return frame
        return self._aggregate(measurement, select, start, end, bucket, group, meters, sites,
                               sectors, offset, kinds, rollup=True)

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
        """Sum per local month of ``tz``; see ``Store.read_monthly``.

        The months inside the whole days where ``energy_1mo`` is current come from it in one
        query (``influx_months.month_points``); the others from one raw ``read`` per month.
        """
        return monthly.read_monthly(self, start, end, tz, GroupBy(group_by),
                                    (meters, sites, sectors, kinds))

    def _aggregate(
        self, measurement: str, select: str, start: datetime, end: datetime,
        bucket: timedelta, group_by: GroupBy | str, meters: Sequence[str] | None,
        sites: Sequence[str] | None, sectors: Sequence[str] | None, offset: timedelta,
        kinds: Sequence[str] | None, *, rollup: bool,
    ) -> pd.DataFrame:
        check_read_args(start, end, bucket)
        group = GroupBy(group_by)
        tags = tag_filters(meters, sites, sectors, kinds)
        if tags is None:
            return empty_read_frame(group)
        where = [f"time > {time_literal_ns(start)}", f"time <= {time_literal_ns(end)}", *tags]
        width_ms = round(bucket.total_seconds() * 1000)
        # InfluxQL buckets are [t, t + w); shifting them by 1 ms gives (b, b + w] for
        # ms-precision timestamps, labelled b + 1 ms, which we shift back below.
        shift_ms = (round(offset.total_seconds() * 1000) + 1) % width_ms
        if rollup and width_ms == _POINT_WIDTH_MS.get(measurement) and (
                group == GroupBy.METER or measurement in _FEW_SERIES_A_GROUP):
            # A bucket of the rollup's own width holds one point per series, and the group
            # has one series (a few kinds per site or sector): select the points.
            return points.bucket_points(self, measurement, start, end, width_ms, shift_ms,
                                         group, tags)
        if not rollup and end - start <= _POINTS_SPAN:
            frame = points.short_read_points(self, where, width_ms, shift_ms, group)
            if frame is not None:
                return frame
        q = (f"SELECT {select} FROM {quote_ident(measurement)} WHERE {' AND '.join(where)} "
             f"GROUP BY time({width_ms}ms, {shift_ms}ms), {quote_ident(group.value)} "
             "fill(none)")
        rows: list[tuple[Any, ...]] = []
        for series in self.query(q)[0]:
            key = series.tags.get(group.value, "")
            for v in series.values:
                if rollup:
                    _, energy, p_sum, p_n, t_sum, t_n, n = v
                    power = p_sum / p_n if p_n else None
                    temp = t_sum / t_n if t_n else None
                    rows.append((key, v[0] - 1, energy, power, temp, int(n or 0)))
                else:
                    rows.append((key, v[0] - 1, v[1], v[2], v[3], int(v[4] or 0)))
        rows.sort(key=lambda r: (r[0], r[1]))
        return read_frame(rows, group)

    def has_readings(self) -> bool:
        """True when ``energy`` holds a point: current ``meter_totals`` with a meter answer
        it with one small read; else ``SELECT … LIMIT 1`` (1 s at 730,000 points)."""
        totals = self._current_totals()[1]
        if totals is not None and totals.series:
            return True
        series = self.query(f'SELECT "quality" FROM {quote_ident(MEASUREMENT)} LIMIT 1')[0]
        return any(one.values for one in series)

    def _whole_rollup_days(self) -> tuple[datetime, datetime] | None:
        """The whole local days (``day_offset`` grid) inside ``rollup_coverage``, as the
        span ``(first day's start, last day's end]``; None when there is none."""
        return monthly.whole_days(self, self.rollup_coverage())

    def rollup_coverage(self) -> tuple[datetime, datetime] | None:
        """The contiguous span ``greenpipe db rollup`` has rolled up (None: never run),
        from the retention policy's horizon on (``influx_totals.retention_horizon``): the
        rollups of days whose raw points have expired no longer equal ``read``."""
        return self._coverage_of(self._rollup_state())

    def _coverage_of(self, state: _State | None) -> tuple[datetime, datetime] | None:
        """``rollup_coverage`` of a ``_rollup_state`` answer."""
        return None if state is None else tot.clip_to_retention(self, state[0], state[1])

    def _rollup_state(self) -> _State | None:
        """The newest ``rollup_state``: from, until, ``months_from`` and
        ``site_months_from`` (None: a span recorded before ``energy_1mo`` or
        ``energy_site_1mo`` existed) and the point's instant (the run that wrote it)
        [ms since epoch].

        Memoised for ``STATE_CACHE_S`` (and until this store writes or deletes anything):
        one cold dashboard page asks for it a dozen times or more (every rollup read's
        coverage check). A state point written by another process (the ``db rollup``
        job) is seen that much later: the coverage it replaced was true when recorded."""
        return self._state_memo.get(self._read_rollup_state, STATE_CACHE_S)

    def _read_rollup_state(self) -> _State | None:
        series = self.query(f'SELECT "from_ms", "until_ms", "months_from_ms", '
                            f'"site_months_from_ms" FROM '
                            f"{quote_ident(ROLLUP_STATE_MEASUREMENT)} "
                            "ORDER BY time DESC LIMIT 1")[0]
        for one in series:
            for stamp, lo, hi, months_from, site_from in one.values[:1]:
                if lo is not None and hi is not None:
                    return (_from_ms(int(lo)), _from_ms(int(hi)),
                            None if months_from is None else _from_ms(int(months_from)),
                            None if site_from is None else _from_ms(int(site_from)),
                            int(stamp))
        return None

    def monthly_coverage(self) -> tuple[datetime, datetime] | None:
        """The part of ``rollup_coverage`` where ``energy_1mo`` is current: from the first
        month the rollup job has kept since the monthly rollup existed (``months_from_ms``
        of ``rollup_state``; a backfill run makes it the coverage's start)."""
        return monthly.coverage_since(self, 2, self._rollup_state())

    def site_monthly_coverage(self) -> tuple[datetime, datetime] | None:
        """The part of ``rollup_coverage`` where ``energy_site_1mo`` is current (as
        ``monthly_coverage``, from ``site_months_from_ms``)."""
        return monthly.coverage_since(self, 3, self._rollup_state())

    def latest(self) -> dict[str, Reading]:
        """Return the newest reading of every meter.

        With current ``meter_totals`` only the points outside the sealed days are scanned;
        a meter silent since is read at its ``last_ms`` instant (``influx_latest``).
        """
        return influx_latest.latest(self)

    def _current_totals(self) -> tuple[tuple[datetime, datetime] | None, tot.Totals | None]:
        """The covered whole days and the ``meter_totals`` that match them (or None)."""
        state = self._rollup_state()
        whole = monthly.whole_days(self, self._coverage_of(state))
        if state is None or whole is None:
            return None, None
        # Memoised for the state point: stats(), latest() and has_readings() of one cold
        # dashboard run read the 1,000-series measurement once, not three times.
        totals = tot.read_totals_cached(self, state[4])
        if totals is None or totals.lo != whole[0] or totals.hi > whole[1]:
            return whole, None
        return whole, totals

    def stats(self) -> StoreStats:
        """Return per-meter counts, time span and energy, and the dead-letter count.

        Over the whole local days the rollup job has covered (``rollup_coverage``), the
        days it has sealed come from ``meter_totals`` (one point per meter, see
        ``influx_totals``) and the rest from ``energy_1d``; only the points outside the
        covered days are scanned, so the cost grows with neither the years kept nor the
        meter-days.
        """
        whole, totals = self._current_totals()
        lo, hi = whole if whole is not None else (None, None)
        sealed = totals.hi if totals is not None else lo
        raw = 'COUNT("quality"), SUM("energy_kwh")'
        counting = [tot.sums_by_series(self, raw, MEASUREMENT, tot.span_where(None, lo))]
        instants = [tot.first_last(self, tot.span_where(None, lo))]
        if lo is not None and sealed is not None and hi is not None:
            if sealed < hi:  # covered days after the sealed ones (none: no query)
                counting.append(tot.sums_by_series(self, 'SUM("readings"), SUM("energy_kwh")',
                                                   DAILY_ROLLUP_MEASUREMENT,
                                                   tot.span_where(sealed, hi)))
            edge = points.edge_stats(self, sealed, hi)  # the unsealed edge's raw points
            if edge is not None:
                counting.append(edge[0])
                instants.append(edge[1])
            else:
                counting.append(tot.sums_by_series(self, raw, MEASUREMENT,
                                                   tot.span_where(hi, None)))
                instants.append(tot.first_last(self, tot.span_where(sealed, None)))
        if totals is not None:
            counting.append({k: v[:2] for k, v in totals.series.items()})
            instants.append({k: v[2:] for k, v in totals.series.items()})
        counts: dict[str, list[Any]] = {}
        for part in counting:
            for (meter, site), (n, energy) in part.items():
                entry = counts.setdefault(meter, [site, 0, 0.0])
                entry[0] = min(entry[0], site)
                entry[1] += int(n or 0)
                entry[2] += float(energy or 0.0)
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for part_fl in instants:
            for (meter, _), (f, la) in part_fl.items():
                first[meter] = min(first.get(meter, f), f)
                last[meter] = max(last.get(meter, la), la)
        meters = tuple(
            MeterStats(
                meter=meter, site=site, readings=n,
                first_ts=_from_ms(first[meter]) if meter in first else None,
                last_ts=_from_ms(last[meter]) if meter in last else None,
                energy_kwh=energy,
            )
            for meter, (site, n, energy) in sorted(counts.items())
        )
        dead_letters = self.query(
            f'SELECT COUNT("code") FROM {quote_ident(DEAD_LETTER_MEASUREMENT)}')[0]
        dead = (int(dead_letters[0].values[0][1]) if dead_letters and dead_letters[0].values
                else 0)
        return StoreStats(meters=meters, dead_letters=dead)

    # ------------------------------------------------------------------ dead letters

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters (payload base64-encoded) in the ``dead_letter`` measurement."""
        if not letters:
            return
        lines = []
        for d in letters:
            lines.append(line_protocol.encode_point(
                DEAD_LETTER_MEASUREMENT, {},
                {"topic": d.topic, "code": d.code, "reason": d.reason,
                 "payload_b64": base64.b64encode(bytes(d.payload)).decode("ascii")},
                _unique_ns(d.received_at)))
        self._write_once(lines, precision="ns")

    def read_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return the newest dead letters first."""
        q = (f'SELECT "topic", "code", "reason", "payload_b64" FROM '
             f"{quote_ident(DEAD_LETTER_MEASUREMENT)} ORDER BY time DESC LIMIT {int(limit)}")
        out = []
        for series in self.http.query(self.database, q, epoch="ns")[0]:
            for ts, topic, code, reason, payload in series.values:
                try:
                    raw = base64.b64decode(str(payload or ""), validate=True)
                except binascii.Error:
                    raw = str(payload).encode("utf-8")
                out.append(DeadLetter(
                    received_at=_EPOCH + timedelta(microseconds=int(ts) // 1000),
                    topic=str(topic), payload=raw, code=str(code), reason=str(reason),
                ))
        return out

    # ------------------------------------------------------------------ upstream loss

    def write_sequence_states(self, states: Sequence[SequenceState]) -> None:
        """Store each meter's ``seq`` state as a new point, stamped now (newest wins)."""
        if not states:
            return
        lines = []
        for state in states:
            row = sequence_state_to_row(state)
            lines.append(line_protocol.encode_point(
                SEQUENCE_MEASUREMENT, {"meter": _check_tag("meter", state.meter_id)},
                {name: value for name, value in row.items() if name != "meter_id"},
                _unique_ns(datetime.now(UTC))))
        self._write_once(lines, precision="ns")

    def read_sequence_states(self) -> dict[str, SequenceState]:
        """Return every meter's newest stored ``seq`` state."""
        cols = ["site_id", *SEQUENCE_INT_FIELDS, "holes", "old_holes"]
        q = (f"SELECT {', '.join(quote_ident(c) for c in cols)} FROM "
             f"{quote_ident(SEQUENCE_MEASUREMENT)} GROUP BY \"meter\" "
             "ORDER BY time DESC LIMIT 1")
        out: dict[str, SequenceState] = {}
        for series in self.query(q)[0]:
            for values in series.values[:1]:
                row = dict(zip(["time", *cols], values, strict=True))
                row["meter_id"] = series.tags.get("meter", "")
                out[row["meter_id"]] = sequence_state_from_row(row)
        return dict(sorted(out.items()))

    def write_broker_status(self, status: BrokerStatus) -> None:
        """Store a collector's view of its broker as a point at ``seen_at`` (newest wins)."""
        line = line_protocol.encode_point(
            BROKER_MEASUREMENT, {"client": _check_tag("client", status.client_id)},
            {"version": status.version,
             "dropped": None if status.dropped is None else int(status.dropped)},
            _unique_ns(status.seen_at))
        self._write_once([line], precision="ns")

    def read_broker_status(self) -> list[BrokerStatus]:
        """Return every collector's last view of its broker, by client id."""
        q = (f'SELECT "dropped", "version" FROM {quote_ident(BROKER_MEASUREMENT)} '
             'GROUP BY "client" ORDER BY time DESC LIMIT 1')
        out = []
        for series in self.query(q)[0]:
            for ts, dropped, version in series.values[:1]:
                out.append(BrokerStatus(series.tags.get("client", ""), _from_ms(ts),
                                        None if dropped is None else int(dropped),
                                        str(version or "")))
        return sorted(out, key=lambda b: b.client_id)

    # ------------------------------------------------------------------ results

    def read_baseline_points(self, run_id: str | None = None,
                             meter_ids: Sequence[str] | None = None) -> list[BaselinePoint]:
        """Return the points of ``run_id`` (default: the newest run), optionally of some meters."""
        if meter_ids is not None and not meter_ids:
            return []
        if run_id is None:
            runs = self.query(influx_results.newest_run_by_created_query(BASELINE_TABLE))[0]
            run_id = influx_results.newest_run_by_created(runs)
            if run_id is None:
                return []
        series = self.query(influx_results.run_meters_query(BASELINE_TABLE, run_id,
                                                            meter_ids))[0]
        return influx_results.records_from_series(BaselinePoint, series)

    def _write_records(self, measurement: str,
                       records: Sequence[ForecastRecord | SavingsRecord | BaselinePoint]
                       ) -> int:
        if not records:
            return 0
        self.write_lines(influx_results.record_lines(measurement, records))
        return len(records)

    def _read_records(self, measurement: str, cls: type[R], run_id: str | None) -> list[R]:
        if run_id is None:
            newest = self.query(influx_results.newest_run_query(measurement))[0]
            if not newest or not newest[0].values:
                return []
            tied = self.query(influx_results.at_time_query(measurement,
                                                           newest[0].values[0][0]))[0]
            run_id = influx_results.newest_run_id(tied)
            if run_id is None:
                return []
        series = self.query(influx_results.run_query(measurement, run_id))[0]
        return influx_results.records_from_series(cls, series)

    def write_findings(self, findings: Sequence[Finding]) -> int:
        """Store findings in ``finding``; the same id replaces the stored point."""
        if not findings:
            return 0
        self.write_lines(influx_results.finding_lines(findings))
        return len(findings)

    def read_findings(self, status: str | None = None) -> list[Finding]:
        """Return the stored findings (of one ``status`` if given), sorted by id."""
        series = self.query(influx_results.findings_query(status))[0]
        return influx_results.findings_from_series(series)

    def close(self) -> None:
        """Close HTTP connections."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = self._write_api = None
            self.http.close()
