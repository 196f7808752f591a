"""The collector's processing pipeline: inbound message -> decode -> convert -> batch -> store.

No threads and no paho objects here: ``collector.service`` owns the MQTT client and the one
writer thread, and calls ``Pipeline.handle`` and ``Pipeline.flush`` from that thread only,
so the pipeline (and the store it writes to) is used by exactly one thread. ``report()``
may be called from any thread.

Write errors are classified the way Telegraf's InfluxDB output does it: a retryable
``StoreError`` keeps the batch and retries with exponential backoff (the writer stops
taking messages meanwhile, so the bounded queue fills and the MQTT thread applies
backpressure to the broker); a non-retryable one is narrowed down to the readings the
store refuses, which become dead letters (``store.rejected``) while the rest are written.

``on_durable`` is called after every successful flush with the messages whose readings and
dead letters are now stored (in the store, or in the spool that wraps it); the service
acknowledges exactly those MQTT messages there (manual acks: at-least-once delivery).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from types import MappingProxyType

import orjson

from collector.codes import RejectCode
from collector.decoders import (
    GREENPIPE_JSON,
    DecodeContext,
    Decoder,
    load_json_array,
    load_json_object,
    parse_timestamp,
)
from collector.devices import resolve_decoder
from collector.registers import RegisterTracker
from collector.sequence import observe as observe_seq
from collector.stateless import PENDING, OrderedWriter
from greenpipe.config import Config
from greenpipe.errors import ConfigError, PayloadError, StoreError
from greenpipe.model import DeadLetter, ProductionRecord, Reading, SequenceState
from greenpipe.stores.base import Store
from greenpipe.wire import (
    BATCH_SUFFIX,
    batch_subscription,
    parse_reading_topic,
    reading_subscription,
    reading_topic,
)

log = logging.getLogger(__name__)

_BATCH_END = "/" + BATCH_SUFFIX
INITIAL_BACKOFF_S = 0.1
"""First wait before retrying a retryable store error. [s]"""
MAX_BACKOFF_S = 5.0
"""Longest wait between retries of a retryable store error. [s]"""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One MQTT message as received; paho's message object never leaves the service."""

    topic: str
    payload: bytes
    """The raw payload exactly as received."""
    received_at: datetime
    """When the collector received the message, timezone-aware UTC."""
    mid: int = 0
    """MQTT packet id, acknowledged once the message's readings are durable."""
    qos: int = 0
    topic_error: str | None = None
    """Set when the topic could not be read (invalid UTF-8); the message is dead-lettered."""
    conn: int = 0
    """Which MQTT connection delivered it (1, 2, ... per reconnect): a packet id is only
    meaningful on the connection it came from, so only those messages are acknowledged."""


@dataclass(frozen=True, slots=True)
class Route:
    """Messages matching ``subscription`` (an MQTT topic filter) go to decoder ``decoder``."""

    subscription: str
    decoder: str = GREENPIPE_JSON


def default_routes(cfg: Config) -> tuple[Route, ...]:
    """Return the routes the collector subscribes to: the native topics + ``collector.routes``.

    ``collector.routes`` lists ``DECODER FILTER`` entries separated by ``;``, e.g.
    ``tasmota tele/+/SENSOR; shelly_gen2 +/status/+; shelly_gen2 +/events/rpc``. Raises
    ConfigError for an unknown decoder or a malformed entry.
    """
    routes = [Route(reading_subscription(cfg.broker.topic_prefix), GREENPIPE_JSON),
              # Batch uploads: split by Pipeline.handle, each element decoded as a reading.
              Route(batch_subscription(cfg.broker.topic_prefix), GREENPIPE_JSON)]
    for entry in filter(None, (e.strip() for e in cfg.collector.routes.split(";"))):
        decoder, _, subscription = entry.partition(" ")
        subscription = subscription.strip()
        if not subscription or " " in subscription:
            raise ConfigError("collector.routes", entry,
                              "write each route as `DECODER TOPIC_FILTER`, separated by ;")
        resolve_decoder(decoder)  # validates the name (or json_path spec) now
        routes.append(Route(subscription, decoder))
    return tuple(routes)


@dataclass(frozen=True, slots=True)
class CollectorReport:
    """What a collector run did, as counts."""

    received: int = 0
    """MQTT messages received."""
    decoded: int = 0
    """Messages their decoder accepted (each may still be refused by the quality rules)."""
    written: int = 0
    """Readings written to the store."""
    rejected: Mapping[str, int] = field(default_factory=dict)
    """Rejected messages (or samples) by reason code; each one became a dead letter."""
    dead_letters: int = 0
    """Dead letters written to the store."""
    duplicates: int = 0
    """Exact duplicates of readings already held (redeliveries); nothing new to write."""
    skipped: int = 0
    """Device messages that carry no energy (e.g. a Shelly's ``status/sys``): not stored."""
    forwarded: int = 0
    """Messages passed on to the group member that owns their meter (scale-out)."""
    unwritten: int = 0
    """Readings or dead letters that could not be stored before shutdown (each one logged)."""
    quality: Mapping[str, int] = field(default_factory=dict)
    """Quality flags on the readings written, by code (``quality.first_reading``, ...)."""
    upstream_lost: Mapping[str, int] = field(default_factory=dict)
    """Messages lost upstream (missing ``seq`` numbers) by meter, stored count included."""
    broker_dropped: int | None = None
    """The broker's own count of dropped messages (``$SYS``), None when it shows none."""

    @property
    def upstream_lost_total(self) -> int:
        """Return the messages lost upstream over all meters."""
        return sum(self.upstream_lost.values())

    @property
    def rejected_total(self) -> int:
        """Return the number of rejections over all codes."""
        return sum(self.rejected.values())


@dataclass(slots=True)
class _Counts:
    decoded: int = 0
    written: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    skipped: int = 0
    unwritten: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    quality: Counter[str] = field(default_factory=Counter)


class Pipeline:
    """Decodes, converts and batches messages, and writes them to one store."""

    def __init__(
        self,
        store: Store,
        ctx: DecodeContext,
        tracker: RegisterTracker,
        routes: Sequence[Route],
        *,
        batch_size: int,
        on_durable: Callable[[Sequence[Inbound]], None] | None = None,
        sleep: Callable[[float], object] = time.sleep,
        future_tolerance: timedelta | None = None,
        observe_write: Callable[[float], None] | None = None,
        sequences: Mapping[str, SequenceState] | None = None,
        ordered: OrderedWriter | None = None,
        shared_sequences: bool = False,
    ) -> None:
        """Build a pipeline; ``routes`` name registered decoders (ConfigError otherwise).

        ``ordered`` (``collector.stateless``): readings ``tracker`` leaves pending are
        resolved and written in the store's write transaction. ``shared_sequences``
        (stateless group members, who each see part of a meter's numbers): ``seq``
        observations are folded into the stored states there too.

        ``sequences`` is each meter's stored ``seq`` state (``Store.read_sequence_states``),
        so the upstream-loss count continues across restarts (``collector.sequence``).

        Samples later than their message's ``received_at`` plus ``future_tolerance`` are
        dead-lettered (``quality.future_timestamp``); None accepts any future instant.
        """
        self._future = future_tolerance
        self._observe_write = observe_write
        self._last_seen: dict[str, datetime] = {}
        self._seen_since: dict[str, datetime] = {}
        self._store = store
        self._ctx = ctx
        self._tracker = tracker
        self._routes: list[tuple[str, tuple[str, ...], Decoder]] = [
            (r.subscription, tuple(_match_filter(r.subscription).split("/")),
             resolve_decoder(r.decoder))
            for r in routes
        ]
        self._batch_size = batch_size
        self._on_durable = on_durable
        self._sleep = sleep
        self._readings: list[tuple[Reading, Inbound]] = []
        self._production: list[tuple[ProductionRecord, Inbound]] = []
        self._letters: list[DeadLetter] = []
        self._handled: list[Inbound] = []
        self._counts = _Counts()
        self._lock = threading.Lock()
        self._warned_codes: set[str] = set()
        self._seq: dict[str, SequenceState] = dict(sequences or {})
        self._seq_dirty: set[str] = set()
        self._seq_warned: set[str] = set()
        self._ordered = ordered
        self._fold_seq = ordered if shared_sequences else None
        self._seq_obs: list[tuple[str, str, int, datetime]] = []

    @property
    def pending_records(self) -> int:
        """Readings and dead letters waiting for the next flush."""
        return len(self._readings) + len(self._letters) + len(self._production)

    @property
    def pending_messages(self) -> int:
        """Messages handled since the last flush (including duplicates with nothing to write)."""
        return len(self._handled)

    def batch_full(self) -> bool:
        """Return True when the pending readings and dead letters fill a batch."""
        return self.pending_records >= self._batch_size

    def flush_now(self, now: float, due: float | None, window: int,
                  more_waiting: Callable[[], bool]) -> bool:
        """The writers' flush rule: something is pending and the batch is full, or it is
        ``due`` (``now`` and ``due`` on ``time.monotonic``) [s], or ``window`` messages
        wait for their acks and nothing more is waiting (``more_waiting`` is asked last,
        only then: it may be a system call)."""
        pending = self.pending_messages
        return bool(pending) and (
            self.batch_full() or (due is not None and now >= due)
            or (pending >= window and not more_waiting()))

    def handle(self, msg: Inbound) -> None:
        """Decode and convert one message into pending readings or dead letters; never raises.

        A batch upload (``<prefix>/<site>/<meter>/readings``, docs/mqtt.md) is split into
        its elements, and each goes through the single-reading path on its own: a bad one
        becomes one dead letter (its own payload, on the single-reading topic, the reason
        naming its index), the rest are stored, and the message is acked with the flush
        that makes all of it durable.
        """
        self._handled.append(msg)
        if msg.topic_error is None and msg.topic.endswith(_BATCH_END):
            parsed = parse_reading_topic(self._ctx.topic_prefix, msg.topic, BATCH_SUFFIX)
            if parsed is not None:
                self._handle_batch(msg, *parsed)
                return
        self._handle_one(msg, "")

    def _handle_batch(self, msg: Inbound, site_id: str, meter_id: str) -> None:
        try:
            elements = load_json_array(msg.payload)
        except PayloadError as exc:
            self._reject(msg, str(exc.code), str(exc))
            return
        topic = reading_topic(self._ctx.topic_prefix, site_id, meter_id)
        n = len(elements)
        if not n:
            with self._lock:
                self._counts.decoded += 1
                self._counts.skipped += 1
            return
        for i, element in enumerate(elements):
            try:
                payload = orjson.dumps(element)
            except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
                payload = json.dumps(element).encode()
            self._handle_one(
                Inbound(topic, payload, msg.received_at, msg.mid, msg.qos, None, msg.conn),
                f"batch element {i} of {n} from {msg.topic}: ")

    def _handle_one(self, msg: Inbound, label: str) -> None:
        """Handle one reading message; ``label`` prefixes the reason of its dead letters."""
        try:
            if msg.topic_error is not None:
                raise PayloadError(RejectCode.BAD_TOPIC, msg.topic_error)
            decoder = self._decoder_for(msg.topic)
            samples = decoder(msg.topic, msg.payload, self._ctx.at(msg.received_at))
            with self._lock:
                self._counts.decoded += 1
                if not samples:
                    self._counts.skipped += 1
                for sample in samples:
                    self._last_seen[sample.meter_id] = msg.received_at
                    self._seen_since[sample.meter_id] = msg.received_at
                    if sample.seq is not None:
                        self._observe_seq(sample.meter_id, sample.site_id, sample.seq,
                                          sample.ts, msg.topic)
            for sample in samples:
                if self._future is not None and sample.ts > msg.received_at + self._future:
                    self._reject(
                        msg, RejectCode.FUTURE_TIMESTAMP.value,
                        f"{label}reading of meter {sample.meter_id} at {sample.ts.isoformat()} is "
                        f"more than {self._future.total_seconds():g} s after it was received "
                        f"({msg.received_at.isoformat()}); fix the meter's clock (NTP)")
                    continue
                if sample.quantity is not None:  # production: no register to resolve
                    self._production.append((ProductionRecord(
                        sample.meter_id, sample.site_id, sample.ts, sample.quantity), msg))
                    continue
                try:
                    readings = self._tracker.resolve(sample)
                except PayloadError as exc:
                    self._reject(msg, str(exc.code), label + str(exc))
                    continue
                if not readings:
                    with self._lock:
                        self._counts.duplicates += 1
                for reading in readings:
                    self._readings.append((reading, msg))
        except PayloadError as exc:
            self._reject(msg, str(exc.code), label + str(exc))
            self._observe_rejected_seq(msg)
        except Exception as exc:  # a bug must cost one message, never the collector
            log.exception("unexpected error on message from %s", msg.topic)
            self._reject(msg, RejectCode.INTERNAL_ERROR.value,
                         f"{label}the collector failed on this message: {exc!r}; please report it")

    def flush(self, give_up: Callable[[], bool] = lambda: False) -> bool:
        """Write pending readings, then dead letters; return True when all of it is stored.

        Retryable store errors are retried with backoff until they clear or ``give_up()``
        returns True (the collector is shutting down); what is then still unwritten is
        counted and logged.
        """
        ok = True
        if self._production:
            prod, self._production = self._production, []
            ok = self._write_production(prod, give_up)
        if self._readings:
            batch, self._readings = self._readings, []
            ok = self._write_readings(batch, give_up)
        if self._letters:
            letters, self._letters = self._letters, []
            ok = self._write_letters(letters, give_up) and ok
        if ok and (self._seq_dirty or self._seq_obs):
            ok = self._write_seq_states(give_up)
        handled, self._handled = self._handled, []
        if ok and handled and self._on_durable is not None:
            self._on_durable(handled)
        return ok

    def report(self, received: int) -> CollectorReport:
        """Return the counts so far; ``received`` comes from the MQTT side."""
        with self._lock:
            c = self._counts
            return CollectorReport(
                received=received, decoded=c.decoded, written=c.written,
                rejected=MappingProxyType(dict(sorted(c.rejected.items()))),
                dead_letters=c.dead_letters, duplicates=c.duplicates, skipped=c.skipped,
                unwritten=c.unwritten,
                quality=MappingProxyType(dict(sorted(c.quality.items()))),
                upstream_lost=MappingProxyType(
                    {m: s.lost for m, s in sorted(self._seq.items()) if s.lost}),
            )

    def last_seen(self) -> dict[str, datetime]:
        """Return when each meter's latest decoded message was received (thread-safe)."""
        with self._lock:
            return dict(self._last_seen)

    def take_last_seen(self) -> dict[str, datetime]:
        """Return the last-seen times that changed since the previous call (thread-safe).

        The writer process sends these to the collector's process with every answer, so
        the metrics there stay current without copying every meter's time each batch.
        """
        with self._lock:
            changed, self._seen_since = self._seen_since, {}
        return changed

    # ------------------------------------------------------------ internals

    def _observe_seq(self, meter_id: str, site_id: str, seq: int, ts: datetime,
                     topic: str) -> None:
        """Count upstream loss from ``seq`` (caller holds the lock); warn on a meter's first."""
        if self._fold_seq is not None:
            # A member sees part of each meter's numbers: the store folds them (no warning
            # here, the other members' numbers are holes until their writes commit).
            self._seq_obs.append((meter_id, site_id, seq, ts))
            return
        before = self._seq.get(meter_id)
        after = observe_seq(before, meter_id, site_id, seq, ts)
        self._seq[meter_id] = after
        self._seq_dirty.add(meter_id)
        if before is not None and after.lost > before.lost and meter_id not in self._seq_warned:
            self._seq_warned.add(meter_id)
            log.warning(
                "UPSTREAM LOSS: meter %s skipped %d message(s) before seq %d on %s; they never "
                "reached the collector (dropped by the meter's network, a gateway or the "
                "broker: on Mosquitto set max_queued_messages 0 or a bound above the backlog, "
                "and persistence true). Counted per meter in greenpipe_collector_upstream_"
                "lost_messages and `greenpipe store stats`", meter_id,
                after.lost - before.lost, seq, topic)

    def _observe_rejected_seq(self, msg: Inbound) -> None:
        """A dead-lettered native message still arrived: count its ``seq`` if it is readable,
        so the dead letter is not also reported as upstream loss."""
        parsed = parse_reading_topic(self._ctx.topic_prefix, msg.topic)
        if parsed is None or parsed[1] not in self._ctx.meters:
            return
        try:
            body = load_json_object(msg.payload)
            seq, ts = body.get("seq"), parse_timestamp(body.get("ts"))
        except PayloadError:
            return
        if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0:
            meter = self._ctx.meters[parsed[1]]
            with self._lock:
                self._observe_seq(meter.id, meter.site, seq, ts, msg.topic)

    def _write_seq_states(self, give_up: Callable[[], bool]) -> bool:
        """Store the changed ``seq`` states before the messages are acknowledged."""
        if self._fold_seq is not None:
            return self._fold_seq_states(self._fold_seq, give_up)
        with self._lock:
            states = [self._seq[m] for m in sorted(self._seq_dirty)]
            self._seq_dirty.clear()
        refusal = self._with_retry(lambda: self._store.write_sequence_states(states),
                                   f"{len(states)} sequence states", give_up)
        if refusal is _GAVE_UP:
            return False
        if refusal is not None:  # a store bug: the count goes on in memory and in the log
            log.error("the store refused the upstream-loss counts (%s); they are kept in "
                      "memory and written with the next flush", refusal)
            with self._lock:
                self._seq_dirty.update(s.meter_id for s in states)
        return True

    def _fold_seq_states(self, ordered: OrderedWriter, give_up: Callable[[], bool]) -> bool:
        """Stateless scale-out: fold this member's ``seq`` observations into the store's."""
        with self._lock:
            observed, self._seq_obs = self._seq_obs, []
        merged: dict[str, SequenceState] = {}
        refusal = self._with_retry(lambda: merged.update(ordered.fold_sequences(observed)),
                                   f"{len(observed)} sequence observations", give_up)
        if refusal is not None:
            with self._lock:
                self._seq_obs[:0] = observed
            if refusal is _GAVE_UP:
                return False
            log.error("the store refused the upstream-loss counts (%s); they are kept in "
                      "memory and written with the next flush", refusal)
            return True
        with self._lock:
            self._seq.update(merged)
        return True

    def _store_batch(self, batch: list[tuple[Reading, Inbound]]) -> None:
        """Write a batch (raises StoreError) and count what it stored.

        With an ordered store, readings the tracker left pending (``collector.stateless``)
        are resolved and written in the store's write transaction, after the others.
        """
        start = time.perf_counter()
        written = [r for r, _ in batch]
        outcome = None
        if self._ordered is not None and any(PENDING in r.quality for r in written):
            plain = [r for r in written if PENDING not in r.quality]
            if plain:
                self._store.write(plain)
            outcome = self._ordered.write([r for r in written if PENDING in r.quality])
            written = plain + outcome.written
        else:
            self._store.write(written)
        if self._observe_write is not None:
            self._observe_write(time.perf_counter() - start)
        flags = list(chain.from_iterable(r.quality for r in written))
        with self._lock:
            self._counts.written += len(written)
            if flags:
                self._counts.quality.update(flags)
            if outcome is not None:
                self._counts.duplicates += outcome.duplicates
        if outcome is not None:
            pending = [(r, m) for r, m in batch if PENDING in r.quality]
            for meter_id, tracker in outcome.trackers.items():
                self._tracker.adopt(meter_id, tracker)
            for i, exc in outcome.rejected:
                self._reject(pending[i][1], str(exc.code), str(exc))

    def _decoder_for(self, topic: str) -> Decoder:
        levels = topic.split("/")
        for _, filter_levels, decoder in self._routes:
            if topic_matches(filter_levels, levels):
                return decoder
        raise PayloadError(
            RejectCode.BAD_TOPIC,
            f"no decoder is configured for topic {topic[:80]!r} "
            f"(routes: {', '.join(s for s, _, _ in self._routes)})",
        )

    def _reject(self, msg: Inbound, code: str, reason: str) -> None:
        self._letters.append(
            DeadLetter(received_at=msg.received_at, topic=msg.topic, payload=msg.payload,
                       code=code, reason=reason)
        )
        with self._lock:
            self._counts.rejected[code] += 1
        # Log the first rejection of each kind loudly; later ones show in the summary line.
        if code not in self._warned_codes:
            self._warned_codes.add(code)
            log.warning("dead letter %s from %s: %s", code, msg.topic, reason)
        else:
            log.debug("dead letter %s from %s: %s", code, msg.topic, reason)

    def _write_readings(self, batch: list[tuple[Reading, Inbound]],
                        give_up: Callable[[], bool]) -> bool:
        """Write a batch; on a non-retryable error, narrow it down reading by reading."""
        refusal = self._with_retry(lambda: self._store_batch(batch), f"{len(batch)} readings",
                                   give_up)
        if refusal is None:
            return True
        if refusal is _GAVE_UP:
            self._lost_readings(batch)
            return False
        if len(batch) == 1:
            reading, msg = batch[0]
            self._reject(
                msg, RejectCode.STORE_REJECTED.value,
                f"the store refused the reading of meter {reading.meter_id} at "
                f"{reading.ts.isoformat()}: {refusal}",
            )
            return True
        for i, item in enumerate(batch):
            if not self._write_readings([item], give_up):
                self._lost_readings(batch[i + 1 :])
                return False
        return True

    def _write_production(self, batch: list[tuple[ProductionRecord, Inbound]],
                          give_up: Callable[[], bool]) -> bool:
        """Write production records; a refused batch becomes dead letters, one per message."""
        refusal = self._with_retry(
            lambda: self._store.write_production([p for p, _ in batch]),
            f"{len(batch)} production records", give_up)
        if refusal is None:
            with self._lock:
                self._counts.written += len(batch)
            return True
        if refusal is _GAVE_UP:
            with self._lock:
                self._counts.unwritten += len(batch)
            log.error("%d production records were not stored before shutdown; the broker "
                      "redelivers them (not acknowledged)", len(batch))
            return False
        for rec, msg in batch:
            self._reject(msg, RejectCode.STORE_REJECTED.value,
                         f"the store refused the production of meter {rec.meter_id} at "
                         f"{rec.ts.isoformat()}: {refusal}")
        return True

    def _write_letters(self, letters: list[DeadLetter], give_up: Callable[[], bool]) -> bool:
        refusal = self._with_retry(
            lambda: self._store.write_dead_letters(letters), f"{len(letters)} dead letters",
            give_up,
        )
        if refusal is None:
            with self._lock:
                self._counts.dead_letters += len(letters)
            return True
        # The log is the last place these can go; say everything about each one.
        for d in letters:
            log.error(
                "dead letter NOT stored (%s): topic=%s code=%s reason=%s payload=%r",
                refusal if refusal is not _GAVE_UP else "store unavailable at shutdown",
                d.topic, d.code, d.reason, d.payload[:500],
            )
        with self._lock:
            self._counts.unwritten += len(letters)
        return refusal is not _GAVE_UP

    def _lost_readings(self, batch: Sequence[tuple[Reading, Inbound]]) -> None:
        if not batch:
            return
        with self._lock:
            self._counts.unwritten += len(batch)
        for reading, msg in batch:
            log.error("reading NOT stored (store unavailable at shutdown): meter=%s ts=%s "
                      "topic=%s payload=%r", reading.meter_id, reading.ts.isoformat(),
                      msg.topic, msg.payload[:500])
        log.error("%d readings could not be stored before shutdown; they are listed above",
                  len(batch))

    def _with_retry(self, write: Callable[[], object], what: str,
                    give_up: Callable[[], bool]) -> object:
        """Run ``write``; None on success, the refusal text, or _GAVE_UP."""
        delay = INITIAL_BACKOFF_S
        attempt = 0
        while True:
            try:
                write()
            except StoreError as exc:
                if not exc.retryable:
                    log.error("store refused %s: %s", what, exc)
                    return str(exc)
                attempt += 1
                if give_up():
                    log.error("store still failing after %d attempts at shutdown: %s",
                              attempt, exc)
                    return _GAVE_UP
                log.warning("store write of %s failed (attempt %d): %s; keeping them, "
                            "retrying in %.1f s", what, attempt, exc, delay)
                self._sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
            except Exception as exc:  # a store bug: treat like a refusal, never crash
                log.exception("store failed unexpectedly writing %s", what)
                return f"unexpected store error: {exc!r}"
            else:
                if attempt:
                    log.info("store write of %s succeeded after %d retries", what, attempt)
                return None


def _match_filter(subscription: str) -> str:
    """The filter topics are matched against: ``$share/<group>/`` is not part of the topic."""
    if subscription.startswith("$share/"):
        return subscription.split("/", 2)[2] if subscription.count("/") >= 2 else subscription
    return subscription


def topic_matches(filter_levels: Sequence[str], topic_levels: Sequence[str]) -> bool:
    """Return True when a topic (split on ``/``) matches an MQTT filter (split on ``/``).

    paho's ``topic_matches_sub`` builds a matcher tree per call, which cost a third of the
    per-message time; this is the same MQTT 3.1.1 section 4.7 rule on pre-split levels.
    """
    for i, level in enumerate(filter_levels):
        if level == "#":
            return True
        if i >= len(topic_levels) or (level != "+" and level != topic_levels[i]):
            return False
    return len(topic_levels) == len(filter_levels)


class _GaveUp:
    """Marker: retrying stopped because the collector is shutting down."""

    def __repr__(self) -> str:
        return "<gave up>"


_GAVE_UP = _GaveUp()


def decode_topic(raw: bytes) -> tuple[str, str | None]:
    """The topic of a message's raw bytes, and the dead-letter reason when they are not
    UTF-8 (then decoded with replacement characters, so the dead letter can name it)."""
    try:
        return raw.decode(), None
    except UnicodeDecodeError:
        return (raw.decode("utf-8", "replace"),
                "the topic is not valid UTF-8; publish on a UTF-8 topic")
