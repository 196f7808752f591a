"""Durable spool: readings wait in a local SQLite (WAL) file while the store is down or slow.

``SpoolingStore`` wraps the store the pipeline writes to. While the store accepts writes
and the spool is empty, writes go straight through. A retryable ``StoreError`` (server
down, timeout, 429/503) sends the batch to the spool instead, which counts as durable, so
the collector acknowledges those MQTT messages. Once anything is spooled, later writes are
appended behind it, so the store receives readings in arrival order; ``replay()`` (called
by the writer thread, and before every write) moves spooled rows to the store oldest
first, honouring the server's ``retry_after_s`` and an exponential backoff in between.

The spool file survives a restart (the next collector replays it), and ``latest()``
merges the store's newest reading per meter with the spool's, so a restarted collector
continues each register from the newest value it accepted, stored or spooled. Its size is
bounded by ``collector.spool_max_readings``: a loud warning at 80 %, and when full the
write raises a retryable ``StoreError``, the pipeline keeps the batch unacknowledged and
the broker holds further readings (backpressure instead of loss).

The spool holds each row once; memory stays bounded because replay reads a batch at a
time and nothing is cached besides a row count.

The spool file also keeps the state the collector needs to start: each meter's newest
durable reading (``register_state``) and ``seq`` state (``sequence_snapshot``), updated
with every write. When the store is unreachable at start-up (after a power cut the order
in which services come back is not ours to choose), ``latest()`` and
``read_sequence_states()`` answer from there, the collector spools from the first message
and writes through once the store is back. These two tables are written on a second
connection with ``synchronous=NORMAL`` (WAL): a process crash loses nothing, a power loss
may lose the last updates, which matters only if the store is also down at the restart
(with the store up, its own newest readings win).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from greenpipe.errors import StoreError
from greenpipe.model import DeadLetter, Reading, SequenceState
from greenpipe.stores.base import Store, sequence_state_from_row, sequence_state_to_row

log = logging.getLogger(__name__)
T = TypeVar("T")

WARN_FRACTION = 0.8
"""Fill level from which every spooled batch logs a warning. [-]"""
MIN_RETRY_S = 0.5
"""First wait before replaying after the store failed. [s]"""
MAX_RETRY_S = 5.0
"""Longest wait between replay attempts while the store is down. [s]"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,            -- 'reading' or 'dead_letter'
    meter_id TEXT,
    ts_ms INTEGER,
    body TEXT NOT NULL,
    payload BLOB
);
CREATE INDEX IF NOT EXISTS spool_meter_ts ON spool (meter_id, ts_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequence_state (meter_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS register_state (
    meter_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sequence_snapshot (meter_id TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


def _ms(ts: datetime) -> int:
    return round((ts - _EPOCH) / timedelta(milliseconds=1))


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _reading_row(r: Reading) -> tuple[Any, ...]:
    body = {"site_id": r.site_id, "energy_kwh": r.energy_kwh, "register_kwh": r.register_kwh,
            "power_kw": r.power_kw, "temp_air_c": r.temp_air_c, "quality": sorted(r.quality)}
    return ("reading", r.meter_id, _ms(r.ts), json.dumps(body), None)


def _letter_row(d: DeadLetter) -> tuple[Any, ...]:
    body = {"topic": d.topic, "code": d.code, "reason": d.reason}
    return ("dead_letter", None, _ms(d.received_at), json.dumps(body), bytes(d.payload))


def _decode(kind: str, meter_id: str | None, ts_ms: int, body_text: str,
            payload: bytes | None) -> Reading | DeadLetter:
    body = json.loads(body_text)
    if kind == "reading":
        assert meter_id is not None
        return Reading(meter_id=meter_id, site_id=body["site_id"], ts=_from_ms(ts_ms),
                       energy_kwh=body["energy_kwh"], register_kwh=body["register_kwh"],
                       power_kw=body["power_kw"], temp_air_c=body["temp_air_c"],
                       quality=frozenset(body["quality"]))
    return DeadLetter(received_at=_from_ms(ts_ms), topic=body["topic"], payload=payload or b"",
                      code=body["code"], reason=body["reason"])


def _readings_by_meter(rows: Sequence[tuple[str, str, int, str, bytes | None]]
                       ) -> dict[str, Reading]:
    """Decode spool rows of readings into {meter: reading} (a later row of a meter wins)."""
    out: dict[str, Reading] = {}
    for row in rows:
        item = _decode(*row)
        assert isinstance(item, Reading)
        out[item.meter_id] = item
    return out


class SpoolFullError(StoreError):
    """The spool reached ``collector.spool_max_readings``; retry once the store drains it."""


class Spool:
    """An append-only queue of readings and dead letters in one SQLite file (WAL)."""

    def __init__(self, path: str | Path, max_rows: int, store: str = "") -> None:
        """Open (or create) the spool file; rows left by a previous run are kept.

        ``store`` names the store the rows are for (its URL): a spool still holding rows
        for another store is refused, so they are never replayed into the wrong database.
        """
        self.path = Path(path)
        self.max_rows = max_rows
        self._state: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Used by the collector's writer thread only, but opened on the starting thread.
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a spooled batch is acknowledged to the broker; it must survive power loss.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            (self._depth,) = self._db.execute("SELECT COUNT(*) FROM spool").fetchone()
            row = self._db.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()
            if self._depth == 0 or row is None:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (store,))
            elif row[0] != store:
                self._db.close()
                raise StoreError(
                    f"the spool {self.path} holds {self._depth} rows for store {row[0]!r}, "
                    f"not {store!r}; point store.url back to replay them, or set "
                    "collector.spool_path to another file", retryable=False)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the collector spool {self.path}: {exc}; fix "
                             "collector.spool_path (or set it to \"\" to run without)",
                             retryable=False) from None

    def _state_db(self) -> sqlite3.Connection:
        if self._state is None:
            self._state = sqlite3.connect(self.path, check_same_thread=False,
                                          isolation_level=None)
            self._state.execute("PRAGMA synchronous=NORMAL")
        return self._state

    def remember(self, readings: Sequence[Reading]) -> None:
        """Keep each meter's newest durable reading (start-up state while the store is down)."""
        newest: dict[str, Reading] = {}
        for r in readings:
            held = newest.get(r.meter_id)
            if held is None or r.ts >= held.ts:
                newest[r.meter_id] = r
        rows = [(m, _ms(r.ts), _reading_row(r)[3]) for m, r in newest.items()]
        db = self._state_db()
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO register_state (meter_id, ts_ms, body) VALUES (?, ?, ?) "
                "ON CONFLICT (meter_id) DO UPDATE SET ts_ms = excluded.ts_ms, "
                "body = excluded.body WHERE excluded.ts_ms >= register_state.ts_ms", rows)

    def remembered(self) -> dict[str, Reading]:
        """Return each meter's newest durable reading, as kept by ``remember``."""
        return _readings_by_meter(self._state_db().execute(
            "SELECT 'reading', meter_id, ts_ms, body, NULL FROM register_state").fetchall())

    def snapshot_states(self, states: Sequence[SequenceState]) -> None:
        """Keep meters' latest ``seq`` states (start-up state while the store is down)."""
        db = self._state_db()
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO sequence_snapshot (meter_id, body) VALUES (?, ?)",
                [(s.meter_id, json.dumps(sequence_state_to_row(s))) for s in states])

    def snapshot(self) -> dict[str, SequenceState]:
        """Return the ``seq`` states kept by ``snapshot_states``."""
        rows = self._state_db().execute("SELECT body FROM sequence_snapshot").fetchall()
        found = (sequence_state_from_row(json.loads(body)) for (body,) in rows)
        return {s.meter_id: s for s in found}

    @property
    def depth(self) -> int:
        """Rows waiting for the store. [rows]"""
        return self._depth

    def append(self, items: Sequence[Reading | DeadLetter]) -> None:
        """Append rows atomically in order; SpoolFullError (retryable) when they do not fit."""
        if self._depth + len(items) > self.max_rows:
            raise SpoolFullError(
                f"the spool {self.path} is full ({self._depth} of {self.max_rows} rows) and "
                "the store is still failing; the collector stops acknowledging, so the broker "
                "holds new readings. Fix the store or raise collector.spool_max_readings",
                retryable=True,
            )
        rows = [_reading_row(i) if isinstance(i, Reading) else _letter_row(i) for i in items]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO spool (kind, meter_id, ts_ms, body, payload) VALUES (?,?,?,?,?)",
                rows)
        self._depth += len(items)
        if self._depth >= WARN_FRACTION * self.max_rows:
            log.warning("SPOOL NEARLY FULL: %s holds %d of %d rows (%.0f %%); the store has "
                        "not accepted writes for a while - fix it before the spool fills",
                        self.path, self._depth, self.max_rows,
                        100.0 * self._depth / self.max_rows)

    def peek(self, limit: int) -> list[tuple[int, Reading | DeadLetter]]:
        """Return the oldest ``limit`` rows as ``(seq, item)``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, kind, meter_id, ts_ms, body, payload FROM spool ORDER BY seq LIMIT ?",
            (limit,)).fetchall()
        return [(seq, _decode(kind, meter, ts, body, payload))
                for seq, kind, meter, ts, body, payload in rows]

    def delete_through(self, seq: int) -> None:
        """Forget every row up to and including ``seq`` (they are in the store now)."""
        with self._db:
            cur = self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))
        self._depth = max(0, self._depth - cur.rowcount)

    def latest(self) -> dict[str, Reading]:
        """Return the newest spooled reading of every meter."""
        return _readings_by_meter(self._db.execute(
            "SELECT kind, meter_id, ts_ms, body, payload FROM spool s WHERE kind = 'reading' "
            "AND ts_ms = (SELECT MAX(ts_ms) FROM spool t WHERE t.kind = 'reading' "
            "AND t.meter_id = s.meter_id) ORDER BY seq").fetchall())

    def holds(self, meter_id: str, ts: datetime) -> bool:
        """Return True when a reading of ``meter_id`` at ``ts`` is spooled."""
        row = self._db.execute(
            "SELECT 1 FROM spool WHERE kind = 'reading' AND meter_id = ? AND ts_ms = ? LIMIT 1",
            (meter_id, _ms(ts))).fetchone()
        return row is not None

    def save_states(self, states: Sequence[SequenceState]) -> None:
        """Keep meters' ``seq`` states until the store takes them (one per meter)."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO sequence_state (meter_id, body) VALUES (?, ?)",
                [(s.meter_id, json.dumps(sequence_state_to_row(s))) for s in states])

    def states(self) -> dict[str, SequenceState]:
        """Return the ``seq`` states waiting for the store."""
        rows = self._db.execute("SELECT body FROM sequence_state").fetchall()
        found = (sequence_state_from_row(json.loads(body)) for (body,) in rows)
        return {s.meter_id: s for s in found}

    def forget_states(self, meter_ids: Sequence[str]) -> None:
        """Drop the waiting ``seq`` states of these meters (the store has newer ones)."""
        with self._db:
            self._db.executemany("DELETE FROM sequence_state WHERE meter_id = ?",
                                 [(m,) for m in meter_ids])

    def close(self) -> None:
        """Close the file; rows not yet replayed stay for the next run."""
        if self._state is not None:
            self._state.close()
        self._db.close()


class SpoolingStore:
    """A Store wrapper: write through, or spool while the inner store is failing; replay."""

    def __init__(self, inner: Store, spool: Spool, *, batch_size: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Wrap ``inner``; replay moves at most ``batch_size`` rows per store write."""
        self.inner = inner
        self.spool = spool
        self._batch_size = batch_size
        self._clock = clock
        self._retry_at = 0.0
        self._delay_s = MIN_RETRY_S
        self.replayed = 0
        """Rows moved from the spool to the store so far."""
        self._states_waiting = bool(spool.states())
        if spool.depth:
            log.warning("spool %s holds %d rows from an earlier run; replaying them first",
                        spool.path, spool.depth)

    # ------------------------------------------------------------ writes

    def write(self, readings: Sequence[Reading]) -> int:
        """Write to the store, or spool (durably) when it fails retryably or a backlog waits."""
        if readings:
            self._write_or_spool(list(readings), self.inner.write)
            self.spool.remember(readings)
        return len(readings)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Write dead letters like readings: through, or behind the spool backlog."""
        if letters:
            self._write_or_spool(list(letters), self.inner.write_dead_letters)

    def write_sequence_states(self, states: Sequence[SequenceState]) -> None:
        """Write meters' ``seq`` states through, or keep them in the spool file meanwhile.

        They describe messages received (not readings stored), so they need not wait
        behind spooled rows; while the store fails they wait in the spool file, and
        ``read_sequence_states`` takes the newer of the two after a restart.
        """
        if not states:
            return
        self.spool.snapshot_states(states)
        if self._clock() >= self._retry_at:
            try:
                self.inner.write_sequence_states(states)
            except StoreError as exc:
                if not exc.retryable:
                    raise
                self._failed(exc)
            else:
                if self._states_waiting:
                    self.spool.forget_states([s.meter_id for s in states])
                return
        self.spool.save_states(states)
        self._states_waiting = True

    def _replay_states(self) -> None:
        if not self._states_waiting or self._clock() < self._retry_at:
            return
        waiting = self.spool.states()
        try:
            self.inner.write_sequence_states(list(waiting.values()))
        except StoreError as exc:
            if not exc.retryable:
                raise
            self._failed(exc)
            return
        self.spool.forget_states(list(waiting))
        self._states_waiting = False

    def read_sequence_states(self) -> dict[str, SequenceState]:
        """Each meter's newest ``seq`` state over the store and the spool file."""
        merged = self._from_store_or_kept(self.inner.read_sequence_states,
                                          self.spool.snapshot, "seq counts")
        for meter_id, state in self.spool.states().items():
            held = merged.get(meter_id)
            if held is None or state.messages >= held.messages:
                merged[meter_id] = state
        return merged

    def _write_or_spool(self, items: Sequence[Reading | DeadLetter],
                        direct: Callable[[Any], object]) -> None:
        self.replay()
        if self.spool.depth == 0 and self._clock() >= self._retry_at:
            try:
                direct(items)
                return
            except StoreError as exc:
                if not exc.retryable:
                    raise
                self._failed(exc)
        self.spool.append(items)

    def replay(self) -> int:
        """Move spooled rows to the store, oldest first, while it accepts them; return moved."""
        moved = 0
        while self.spool.depth and self._clock() >= self._retry_at:
            batch = self.spool.peek(self._batch_size)
            try:
                self._write_in_order(batch)
            except StoreError as exc:
                if exc.retryable:
                    self._failed(exc)
                    break
                try:
                    self._narrow(batch)
                except StoreError as again:  # retryable: what was written is rewritten
                    self._failed(again)
                    break
            self.spool.delete_through(batch[-1][0])
            moved += len(batch)
            self.replayed += len(batch)
            self._delay_s = MIN_RETRY_S
            if not self.spool.depth:
                log.info("spool drained: %d rows replayed to the store", self.replayed)
        self._replay_states()
        return moved

    def _write_in_order(self, batch: Sequence[tuple[int, Reading | DeadLetter]]) -> None:
        """Write runs of readings and of dead letters in spool order."""
        run: list[Any] = []
        for _, item in batch:
            if run and type(run[0]) is not type(item):
                self._write_run(run)
                run = []
            run.append(item)
        self._write_run(run)

    def _write_run(self, run: list[Any]) -> None:
        if run and isinstance(run[0], Reading):
            self.inner.write(run)
        elif run:
            self.inner.write_dead_letters(run)

    def _narrow(self, batch: Sequence[tuple[int, Reading | DeadLetter]]) -> None:
        """Replay one row at a time; a row the store refuses becomes a logged dead letter."""
        for _, item in batch:
            try:
                self._write_run([item])
            except StoreError as exc:
                if exc.retryable:
                    raise
                log.error("the store refused a spooled %s, dropped from the spool: %r (%s)",
                          type(item).__name__, item, exc)
                if isinstance(item, Reading):
                    letter = DeadLetter(
                        received_at=datetime.now(UTC), topic=f"spool/{item.meter_id}",
                        payload=repr(item).encode(), code="store.rejected",
                        reason=f"the store refused the spooled reading: {exc}")
                    try:
                        self.inner.write_dead_letters([letter])
                    except StoreError as again:
                        log.error("cannot store the dead letter either: %s", again)

    def _failed(self, exc: StoreError) -> None:
        wait = max(self._delay_s, getattr(exc, "retry_after_s", None) or 0.0)
        self._retry_at = self._clock() + wait
        if self._delay_s == MIN_RETRY_S:
            log.warning("store write failed (%s); spooling to %s, retrying in %.1f s",
                        exc, self.spool.path, wait)
        self._delay_s = min(self._delay_s * 2, MAX_RETRY_S)

    # ------------------------------------------------------------ reads (delegated)

    def latest(self) -> dict[str, Reading]:
        """Newest reading per meter over the store and the spool (the spool is newer)."""
        merged = self._from_store_or_kept(self.inner.latest, self.spool.remembered,
                                          "registers")
        for meter_id, reading in self.spool.latest().items():
            held = merged.get(meter_id)
            if held is None or reading.ts >= held.ts:
                merged[meter_id] = reading
        return merged

    def _from_store_or_kept(self, read: Callable[[], dict[str, T]],
                            kept: Callable[[], dict[str, T]], what: str) -> dict[str, T]:
        """Read start-up state from the store; while it is unreachable, from the spool file."""
        try:
            return dict(read())
        except StoreError as exc:
            if not exc.retryable:
                raise
            log.warning("store unavailable at start (%s); continuing the %s kept in the "
                        "spool %s, spooling until the store is back", exc, what,
                        self.spool.path)
            return kept()

    def close(self) -> None:
        """Try a last replay, then close the store and the spool (the rest waits on disk)."""
        try:
            self.replay()
        except Exception:  # closing must not fail; the rows stay spooled
            log.exception("last replay before closing failed; rows stay in %s", self.spool.path)
        if self.spool.depth:
            log.warning("%d rows stay in the spool %s until the next run", self.spool.depth,
                        self.spool.path)
        self.spool.close()
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
