"""SqliteStore: the embedded default store (one file, no server).

WAL mode lets one writer (the collector) and several reader processes (the dashboard,
``greenpipe store stats``) work at once. Readings are keyed by (meter, ts), so writing the
same meter and timestamp twice keeps one reading.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from greenpipe.errors import StoreError
from greenpipe.finding import (
    FINDINGS_TABLE,
    Finding,
    finding_columns,
    finding_from_row,
    finding_to_row,
)
from greenpipe.model import BrokerStatus, DeadLetter, ProductionRecord, Reading, SequenceState
from greenpipe.results import (
    BASELINE_TABLE,
    FORECAST_TABLE,
    SAVINGS_TABLE,
    BaselinePoint,
    ForecastRecord,
    SavingsRecord,
    columns_of,
    record_from_row,
    record_to_row,
    sort_records,
)
from greenpipe.stores import sqlite_ordered as ordered
from greenpipe.stores import sqlite_rollup as rollup
from greenpipe.stores.base import (
    SEQUENCE_INT_FIELDS,
    Catalog,
    GroupBy,
    MeterStats,
    ResultRecordsMixin,
    StoreStats,
    check_read_args,
    check_whole_hours,
    day_offset_of,
    empty_production_frame,
    empty_read_frame,
    fixed_day_offset,
    month_starts,
    production_frame,
    read_by_months,
    read_frame,
    sequence_state_from_row,
    sequence_state_to_row,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    meter_id     TEXT    NOT NULL,
    ts_ms        INTEGER NOT NULL,
    site_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    sector       TEXT    NOT NULL,
    energy_kwh   REAL,
    register_kwh REAL,
    power_kw     REAL,
    temp_air_c   REAL,
    quality      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (meter_id, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_site_ts ON readings (site_id, ts_ms);
CREATE INDEX IF NOT EXISTS readings_sector_ts ON readings (sector, ts_ms);
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_ms INTEGER NOT NULL,
    topic          TEXT    NOT NULL,
    code           TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    payload        BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS production (
    meter_id TEXT    NOT NULL,
    ts_ms    INTEGER NOT NULL,
    site_id  TEXT    NOT NULL,
    quantity REAL    NOT NULL,
    PRIMARY KEY (meter_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
"""

_SEQUENCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sequence_state (
    meter_id    TEXT    PRIMARY KEY,
    site_id     TEXT    NOT NULL,
    high_seq    INTEGER NOT NULL,
    high_ts_ms  INTEGER NOT NULL,
    epoch_ts_ms INTEGER NOT NULL,
    messages    INTEGER NOT NULL,
    lost        INTEGER NOT NULL,
    restarts    INTEGER NOT NULL,
    holes       TEXT    NOT NULL,
    old_holes   TEXT    NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS broker_status (
    client_id  TEXT    PRIMARY KEY,
    seen_at_ms INTEGER NOT NULL,
    dropped    INTEGER,
    version    TEXT    NOT NULL
) WITHOUT ROWID;
"""
"""Each meter's ``seq`` state (upstream loss, ``collector.sequence``) and each collector's
view of its broker's ``$SYS`` drop counter."""


def _results_schema() -> str:
    """Tables ``forecast``, ``savings``, ``baseline_series``: a column per record field.

    The keys are unique indexes; ``target_fy`` enters as ``IFNULL(target_fy, -1)`` because
    SQLite treats NULLs as distinct, and a forecast without a target must be replaced by
    a rewrite like any other (``INSERT OR REPLACE`` honours expression indexes).
    """
    keys = {FORECAST_TABLE: "run_id, scope, scope_id, fiscal_year, IFNULL(target_fy, -1)",
            SAVINGS_TABLE: "run_id, meter_id, measure_id",
            BASELINE_TABLE: "run_id, meter_id, measure_id, day_start"}
    out = []
    for table, cls in ((FORECAST_TABLE, ForecastRecord), (SAVINGS_TABLE, SavingsRecord),
                       (BASELINE_TABLE, BaselinePoint)):
        cols = ",\n    ".join(f"{name} {sql}" for name, sql in columns_of(cls))
        out.append(f"CREATE TABLE IF NOT EXISTS {table} (\n    {cols}\n);\n"
                   f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} ({keys[table]});\n"
                   f"CREATE INDEX IF NOT EXISTS {table}_created ON {table} (created_at);")
    cols = ",\n    ".join(f"{name} {sql}" for name, sql in finding_columns())
    out.append(f"CREATE TABLE IF NOT EXISTS {FINDINGS_TABLE} (\n    {cols}\n);\n"
               f"CREATE UNIQUE INDEX IF NOT EXISTS {FINDINGS_TABLE}_key ON {FINDINGS_TABLE} (id);")
    return "\n".join(out)


_GROUP_COLUMN = {GroupBy.METER: "meter_id", GroupBy.SITE: "site_id", GroupBy.SECTOR: "sector"}


def _filters(meters: Sequence[str] | None, sites: Sequence[str] | None,
             sectors: Sequence[str] | None, kinds: Sequence[str] | None
             ) -> tuple[list[str], list[object]] | None:
    """SQL conditions and parameters of a read's filters; None when one is an empty list
    (nothing matches)."""
    where: list[str] = []
    params: list[object] = []
    for column, values in (("meter_id", meters), ("site_id", sites), ("sector", sectors),
                           ("kind", kinds)):
        if values is not None:
            if not values:
                return None
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
    return where, params


def _bucket_expr(width_ms: int, offset_ms: int) -> str:
    """SQL for the label ``b`` of the bucket ``(b, b + w]`` holding ``ts_ms``.

    Floor division that is also correct for negative numerators (SQLite's / truncates).
    """
    return (f"((ts_ms - 1 - {offset_ms}) - (((ts_ms - 1 - {offset_ms}) % {width_ms}) "
            f"+ {width_ms}) % {width_ms}) + {offset_ms}")


def _to_ms(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class SqliteStore(ResultRecordsMixin):
    """A Store in one SQLite file."""

    def __init__(self, path: str | Path, catalog: Catalog | None = None,
                 day_offset: timedelta | None = None) -> None:
        """Open (creating if needed) the database at ``path``.

        ``day_offset`` aligns the daily rollup (default: from the catalog's site zones,
        ``base.day_offset_of``; -9 h for a JST city).
        """
        self.path = Path(path)
        self.catalog = catalog or Catalog()
        if day_offset is None and self.catalog.sites:
            day_offset = day_offset_of(s.timezone for s in self.catalog.sites.values())
        # None: no sites to tell the zone (a bare ``store stats``); keep what the file has.
        self._wanted_offset_ms = None if day_offset is None else round(
            day_offset.total_seconds() * 1000)
        self.day_offset_ms = 0
        """Offset of the daily rollup's days from UTC midnight. [ms]"""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection shared across threads, serialised by a lock: the collector
            # writes from its writer thread, Streamlit reads from its script threads.
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(_SCHEMA)
            self._conn.executescript(_results_schema())
            self._conn.executescript(_SEQUENCE_SCHEMA)
            self._conn.executescript(rollup.SCHEMA)
            self._ensure_rollups()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc}; check the path and permissions",
                retryable=False,
            ) from exc
        self._lock = threading.Lock()
        self._writer_lock: int | None = None

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def _ensure_rollups(self) -> None:
        """Rebuild the rollups once when they are missing or were built for another day."""
        have = self._conn.execute("SELECT value FROM meta WHERE key = 'rollup'").fetchone()
        self.day_offset_ms = self._wanted_offset_ms or 0
        if self._wanted_offset_ms is None:
            stored = str(have[0]).split(":") if have is not None else []
            ok = len(stored) == 2 and stored[0] == rollup.ROLLUP_VERSION
            self.day_offset_ms = int(stored[1]) if ok else 0
        want = f"{rollup.ROLLUP_VERSION}:{self.day_offset_ms}"
        if have is not None and have[0] == want:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if have is not None and have[0] == f"1:{self.day_offset_ms}":
                # Version 1 had the hourly and daily rollups: add the site and sector days
                # and the months.
                rollup.rebuild_groups(self._conn)
                rollup.rebuild_months(self._conn, self.day_offset_ms)
            elif have is not None and have[0] == f"2:{self.day_offset_ms}":
                rollup.rebuild_months(self._conn, self.day_offset_ms)  # version 2: add months
            elif have is not None and have[0] == f"3:{self.day_offset_ms}":
                rollup.rebuild_site_months(self._conn)  # version 3: add the site months
            else:
                rollup.rebuild(self._conn, self.day_offset_ms)
            self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rollup', ?)",
                               (want,))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def write(self, readings: Sequence[Reading]) -> int:
        """Store readings; the same meter and timestamp twice keeps the last one."""
        if not readings:
            return 0
        self._transaction(lambda c: self._insert_readings(c, readings))
        return len(readings)

    def write_ordered(
        self, spans: Mapping[str, tuple[datetime, datetime]],
        derive: Callable[[Mapping[str, list[Reading]], Callable[[str, datetime, int],
                                                                 list[Reading]]],
                         Sequence[Reading]],
        is_baseline: Callable[[Reading], bool],
    ) -> int:
        """Write what ``derive`` makes of the stored readings around ``spans``, atomically.

        In one write transaction (``BEGIN IMMEDIATE``: no other writer, process or thread,
        commits in between): read each meter's stored register readings around its span
        ``(earliest, latest)`` of new readings (``sqlite_ordered.register_context``, which
        reads past neighbours that are not ``is_baseline``), call ``derive`` with them
        and ``more(meter_id, after, limit)``, which reads a meter's next stored readings
        when a change reaches further, and store the readings it returns (the same meter
        and timestamp keeps the last). The collector derives interval energy this way
        (``collector.stateless``). ``derive`` may be called again if the write is
        retried. Returns the number of readings written.
        """
        written = [0]

        def body(conn: sqlite3.Connection) -> None:
            context = {m: ordered.register_context(conn, m, _to_ms(lo), _to_ms(hi),
                                                   is_baseline)
                       for m, (lo, hi) in spans.items()}
            readings = derive(context, lambda m, after, limit: ordered.readings_after(
                conn, m, _to_ms(after), limit))
            written[0] = len(readings)
            if readings:
                self._insert_readings(conn, readings)

        self._transaction(body)
        return written[0]

    def _insert_readings(self, conn: sqlite3.Connection, readings: Sequence[Reading]) -> None:
        """INSERT OR REPLACE ``readings`` and rebuild their rollup buckets (in a transaction)."""
        # Catalog look-ups once per distinct meter and site, not per reading.
        kind_of = {m: self.catalog.kind_of(m) for m in {r.meter_id for r in readings}}
        sector_of = {s: self.catalog.sector_of(s) for s in {r.site_id for r in readings}}
        rows = [
            (
                r.meter_id,
                _to_ms(r.ts),
                r.site_id,
                kind_of[r.meter_id],
                sector_of[r.site_id],
                r.energy_kwh,
                r.register_kwh,
                r.power_kw,
                r.temp_air_c,
                ",".join(sorted(r.quality)),
            )
            for r in readings
        ]
        conn.executemany(
            "INSERT OR REPLACE INTO readings (meter_id, ts_ms, site_id, kind, sector, "
            "energy_kwh, register_kwh, power_kw, temp_air_c, quality) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        # The rollups are rebuilt for the touched buckets in the same transaction.
        rollup.refresh(conn, [(r[0], r[1]) for r in rows], self.day_offset_ms)

    def write_production(self, records: Sequence[ProductionRecord]) -> int:
        """Store production records; the same meter and timestamp twice keeps the last."""
        if not records:
            return 0
        rows = [(r.meter_id, _to_ms(r.ts), r.site_id, float(r.quantity)) for r in records]
        self._execute_many("INSERT OR REPLACE INTO production (meter_id, ts_ms, site_id, "
                           "quantity) VALUES (?, ?, ?, ?)", rows)
        return len(rows)

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
        width_ms = round(bucket.total_seconds() * 1000)
        offset_ms = round(offset.total_seconds() * 1000)
        where = ["ts_ms > ?", "ts_ms <= ?"]
        params: list[object] = [_to_ms(start), _to_ms(end)]
        for column, values in (("meter_id", meters), ("site_id", sites)):
            if values is not None:
                if not values:
                    return empty_production_frame()
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        bucket_expr = _bucket_expr(width_ms, offset_ms)
        rows = self._query(
            f"SELECT meter_id, MIN(site_id), {bucket_expr} AS b, SUM(quantity), COUNT(*) "
            f"FROM production WHERE {' AND '.join(where)} GROUP BY meter_id, b "
            "ORDER BY meter_id, b", params)
        return production_frame(rows)

    def _execute_many(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        self._transaction(lambda c: c.executemany(sql, rows))

    def _transaction(self, body: Callable[[sqlite3.Connection], object]) -> None:
        """Run ``body`` in one write transaction; translate errors into ``StoreError``."""
        with self._lock:
            try:
                with self._writers_queue():
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        body(self._conn)
                    except BaseException:
                        self._conn.execute("ROLLBACK")
                        raise
                    self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # "database is locked" and disk-full conditions can clear up: keep the batch.
                raise StoreError(
                    f"SQLite write to {self.path} failed: {exc}", retryable=True
                ) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite rejected the write to {self.path}: {exc}",
                                 retryable=False) from exc

    @contextlib.contextmanager
    def _writers_queue(self) -> Iterator[None]:
        """Hold ``<file>-writer.lock`` (``flock``) around a write transaction.

        Writer processes of one file (collectors sharing a subscription) then wait in the
        kernel and wake the moment the previous writer commits; SQLite's own busy handler
        instead sleeps 1-100 ms between retries, which idled a waiting collector for most
        of the other's transaction (bench/scaleout.py). Advisory: SQLite's locks still
        guard the data; a writer without this lock (another tool) only waits the old way.
        """
        if self._writer_lock is None:
            try:
                self._writer_lock = os.open(f"{self.path}-writer.lock",
                                            os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:  # read-only directory: fall back to SQLite's busy handler
                yield
                return
        fcntl.flock(self._writer_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._writer_lock, fcntl.LOCK_UN)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite query on {self.path} failed: {exc}",
                                 retryable=isinstance(exc, sqlite3.OperationalError)) from exc

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
        """Aggregate readings into ``(b, b + bucket]`` buckets in SQL; see ``Store.read``."""
        check_read_args(start, end, bucket)
        group = GroupBy(group_by)
        col = _GROUP_COLUMN[group]
        width_ms = round(bucket.total_seconds() * 1000)
        offset_ms = round(offset.total_seconds() * 1000)
        filters = _filters(meters, sites, sectors, kinds)
        if filters is None:
            return empty_read_frame(group)
        where = ["ts_ms > ?", "ts_ms <= ?", *filters[0]]
        params: list[object] = [_to_ms(start), _to_ms(end), *filters[1]]
        bucket_expr = _bucket_expr(width_ms, offset_ms)
        # Whole days and hours come from the rollups, only the ragged edges from readings;
        # whole days by site or sector from the per-site or per-sector daily rollup.
        daily = rollup.daily_table(col, meters is not None, sites is not None)
        pieces = rollup.with_months(
            rollup.plan(_to_ms(start), _to_ms(end), width_ms, offset_ms, self.day_offset_ms,
                        daily),
            _to_ms(start), _to_ms(end), width_ms, offset_ms, self.day_offset_ms, daily)
        if pieces:
            sql, params = rollup.read_sql(pieces, col, bucket_expr, where[2:], params[2:])
        else:
            sql = (
                f"SELECT {col}, {bucket_expr} AS b, SUM(energy_kwh), AVG(power_kw), "
                f"AVG(temp_air_c), COUNT(*) FROM readings WHERE {' AND '.join(where)} "
                f"GROUP BY {col}, b ORDER BY {col}, b"
            )
        return read_frame(self._query(sql, params), group)

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
        """Sum per local month of ``tz`` from ``rollup_1mo``; see ``Store.read_monthly``."""
        months = month_starts(start, end, tz)
        group = GroupBy(group_by)
        if fixed_day_offset(tz) != timedelta(milliseconds=self.day_offset_ms):
            return read_by_months(self, months, group_by=group, meters=meters, sites=sites,
                                  sectors=sectors, kinds=kinds)
        filters = _filters(meters, sites, sectors, kinds)
        if filters is None:
            return empty_read_frame(group)
        col = _GROUP_COLUMN[group]
        where = " AND ".join(["b_ms >= ?", "b_ms < ?", *filters[0]])
        sql = (f"SELECT {col} AS g, b_ms, CASE WHEN SUM(energy_n) > 0 THEN SUM(energy_sum) END, "
               "CASE WHEN SUM(power_n) > 0 THEN TOTAL(power_sum) / SUM(power_n) END, "
               "CASE WHEN SUM(temp_n) > 0 THEN TOTAL(temp_sum) / SUM(temp_n) END, SUM(n) "
               f"FROM rollup_1mo WHERE {where} GROUP BY g, b_ms ORDER BY g, b_ms")
        return read_frame(self._query(sql, [_to_ms(start), _to_ms(end), *filters[1]]), group)

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
        """Like ``read`` for whole-hour buckets: SQLite's rollups are always current, so
        ``read`` already answers from them (see ``sqlite_rollup``)."""
        check_whole_hours(bucket, offset)
        return self.read(start, end, bucket, group_by=group_by, meters=meters, sites=sites,
                         sectors=sectors, offset=offset, kinds=kinds)

    def has_readings(self) -> bool:
        """True when the store holds at least one reading."""
        return bool(self._query("SELECT 1 FROM readings LIMIT 1"))

    def rollup_coverage(self) -> tuple[datetime, datetime] | None:
        """Everything: the rollups are rebuilt in each write's transaction."""
        return (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))

    def latest(self) -> dict[str, Reading]:
        """Return the newest reading of every meter (one primary-key seek per meter)."""
        rows = self._query(
            "SELECT r.meter_id, r.site_id, r.ts_ms, r.energy_kwh, r.register_kwh, r.power_kw, "
            "r.temp_air_c, r.quality FROM (SELECT DISTINCT meter_id FROM rollup_1mo) l "
            "JOIN readings r ON r.meter_id = l.meter_id AND r.ts_ms = "
            "(SELECT MAX(ts_ms) FROM readings x WHERE x.meter_id = l.meter_id)"
        )
        out: dict[str, Reading] = {}
        for meter_id, site_id, ts_ms, energy, register, power, temp, quality in rows:
            out[str(meter_id)] = Reading(
                meter_id=str(meter_id),
                site_id=str(site_id),
                ts=_from_ms(int(ts_ms)),
                energy_kwh=energy,
                register_kwh=register,
                power_kw=power,
                temp_air_c=temp,
                quality=frozenset(q for q in str(quality).split(",") if q),
            )
        return out

    def stats(self) -> StoreStats:
        """Return per-meter counts, time span and energy, and the dead-letter count."""
        # Counts and energy from the monthly rollup (kept in every write's transaction, like
        # the daily one it sums, with a thirtieth of its rows: 0.13-0.16 s -> 0.01 s at
        # 1,000 meters x 2 years), first and last instants by primary-key seeks: no scan of
        # the readings, however many there are.
        rows = self._query(
            "SELECT meter_id, MIN(site_id), SUM(n), "
            "(SELECT MIN(ts_ms) FROM readings r WHERE r.meter_id = d.meter_id), "
            "(SELECT MAX(ts_ms) FROM readings r WHERE r.meter_id = d.meter_id), "
            "TOTAL(energy_sum) FROM rollup_1mo d GROUP BY meter_id ORDER BY meter_id"
        )
        meters = tuple(
            MeterStats(
                meter=str(m), site=str(s), readings=int(n),
                first_ts=_from_ms(int(a)),
                last_ts=_from_ms(int(b)),
                energy_kwh=float(e),
            )
            for m, s, n, a, b, e in rows
        )
        (dead,) = self._query("SELECT COUNT(*) FROM dead_letters")[0]
        return StoreStats(meters=meters, dead_letters=int(dead))

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters with their reasons and raw payloads."""
        if not letters:
            return
        rows = [
            (_to_ms(d.received_at), d.topic, d.code, d.reason, bytes(d.payload)) for d in letters
        ]
        self._execute_many(
            "INSERT INTO dead_letters (received_at_ms, topic, code, reason, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    def read_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Return the newest dead letters first."""
        rows = self._query(
            "SELECT received_at_ms, topic, code, reason, payload FROM dead_letters "
            "ORDER BY id DESC LIMIT ?",
            (int(limit),),
        )
        return [
            DeadLetter(
                received_at=_from_ms(int(t)),
                topic=str(topic), payload=bytes(p),
                code=str(code), reason=str(reason),
            )
            for t, topic, code, reason, p in rows
        ]

    def write_sequence_states(self, states: Sequence[SequenceState]) -> None:
        """Store each meter's ``seq`` state (the same meter again replaces it)."""
        if states:
            self._transaction(lambda c: self._insert_sequence_states(c, states))

    def update_sequence_states(
        self, meter_ids: Sequence[str],
        update: Callable[[Mapping[str, SequenceState]], Sequence[SequenceState]],
    ) -> None:
        """Read the stored ``seq`` states of ``meter_ids``, store what ``update`` returns.

        Atomically (one write transaction), so collectors sharing a subscription each fold
        their part of a meter's messages into the same state. ``update`` may be called again
        if the write is retried.
        """
        def body(conn: sqlite3.Connection) -> None:
            stored = self._select_sequence_states(conn, meter_ids)
            states = update(stored)
            if states:
                self._insert_sequence_states(conn, states)

        self._transaction(body)

    def read_sequence_states(self) -> dict[str, SequenceState]:
        """Return every meter's stored ``seq`` state."""
        with self._lock:
            try:
                return self._select_sequence_states(self._conn, None)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite query on {self.path} failed: {exc}",
                                 retryable=isinstance(exc, sqlite3.OperationalError)) from exc

    @staticmethod
    def _insert_sequence_states(conn: sqlite3.Connection,
                                states: Sequence[SequenceState]) -> None:
        rows = [sequence_state_to_row(s) for s in states]
        cols = list(rows[0])
        conn.executemany(f"INSERT OR REPLACE INTO sequence_state ({', '.join(cols)}) "
                         f"VALUES ({', '.join('?' * len(cols))})",
                         [tuple(r.values()) for r in rows])

    @staticmethod
    def _select_sequence_states(conn: sqlite3.Connection, meter_ids: Sequence[str] | None
                                ) -> dict[str, SequenceState]:
        cols = ["meter_id", "site_id", *SEQUENCE_INT_FIELDS, "holes", "old_holes"]
        sql = f"SELECT {', '.join(cols)} FROM sequence_state"
        params: list[str] = []
        if meter_ids is not None:
            params = list(meter_ids)
            sql += f" WHERE meter_id IN ({','.join('?' * len(params))})"
        rows = conn.execute(sql + " ORDER BY meter_id", params).fetchall()
        states = (sequence_state_from_row(dict(zip(cols, r, strict=True))) for r in rows)
        return {s.meter_id: s for s in states}

    def write_broker_status(self, status: BrokerStatus) -> None:
        """Store a collector's view of its broker (the same client id again replaces it)."""
        self._execute_many(
            "INSERT OR REPLACE INTO broker_status (client_id, seen_at_ms, dropped, version) "
            "VALUES (?, ?, ?, ?)",
            [(status.client_id, _to_ms(status.seen_at), status.dropped, status.version)])

    def read_broker_status(self) -> list[BrokerStatus]:
        """Return every collector's last view of its broker, by client id."""
        rows = self._query("SELECT client_id, seen_at_ms, dropped, version FROM broker_status "
                           "ORDER BY client_id")
        return [BrokerStatus(str(c), _from_ms(int(t)), None if d is None else int(d), str(v))
                for c, t, d, v in rows]

    def read_baseline_points(self, run_id: str | None = None,
                             meter_ids: Sequence[str] | None = None) -> list[BaselinePoint]:
        """Return the points of ``run_id`` (default: the newest run), optionally of some meters."""
        return self._read_records(BASELINE_TABLE, BaselinePoint, run_id, meter_ids)

    def _write_records(self, table: str,
                       records: Sequence[ForecastRecord | SavingsRecord | BaselinePoint]
                       ) -> int:
        return self._upsert(table, [record_to_row(r) for r in records])

    def _upsert(self, table: str, rows: Sequence[dict[str, Any]]) -> int:
        """INSERT OR REPLACE flat rows (same keys) into ``table``; returns the count."""
        if not rows:
            return 0
        cols = list(rows[0])
        sql = (f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' * len(cols))})")
        self._execute_many(sql, [tuple(r[c] for c in cols) for r in rows])
        return len(rows)

    def _read_records(self, table: str, cls: type[Any], run_id: str | None,
                      meter_ids: Sequence[str] | None = None) -> list[Any]:
        cols = [c for c, _ in columns_of(cls)]
        if run_id is None:
            newest = self._query(
                f"SELECT run_id FROM {table} ORDER BY created_at DESC, run_id DESC LIMIT 1")
            if not newest:
                return []
            run_id = str(newest[0][0])
        where, params = "run_id = ?", [run_id]
        if meter_ids is not None:
            where += f" AND meter_id IN ({', '.join('?' * len(meter_ids))})"
            params += list(meter_ids)
        rows = self._query(f"SELECT {', '.join(cols)} FROM {table} WHERE {where} "
                           f"ORDER BY rowid", params)
        return sort_records(
            [record_from_row(cls, dict(zip(cols, row, strict=True))) for row in rows])

    def write_findings(self, findings: Sequence[Finding]) -> int:
        """Store findings in ``finding``; the same id replaces the stored one."""
        return self._upsert(FINDINGS_TABLE, [finding_to_row(f) for f in findings])

    def read_findings(self, status: str | None = None) -> list[Finding]:
        """Return the stored findings (of one ``status`` if given), sorted by id."""
        cols = [c for c, _ in finding_columns()]
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self._query(f"SELECT {', '.join(cols)} FROM {FINDINGS_TABLE} {where} "
                           "ORDER BY id", params)
        return [finding_from_row(dict(zip(cols, row, strict=True))) for row in rows]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()
            if self._writer_lock is not None:
                os.close(self._writer_lock)
                self._writer_lock = None
