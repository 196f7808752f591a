"""The collector service: MQTT subscription, the writer thread, shutdown and the summary log.

Threads and ownership:

* paho's network thread (``loop_start``) runs the MQTT callbacks. ``on_message`` only
  copies the message into an ``Inbound`` and puts it on a bounded queue
  (``collector.queue_size``). When the queue is full it blocks, so paho stops reading from
  the socket and the broker holds further messages (backpressure, no drop).
  Acknowledgement is manual (``manual_ack=True``): a QoS 1 message is acked only after its
  readings or dead letter are durably stored (store or spool), from ``Pipeline``'s
  ``on_durable`` hook; so a crash at any point loses nothing, the broker redelivers and
  the register tracker recognises the duplicates.
* one writer thread owns the store and the ``Pipeline``: it decodes, converts registers,
  batches, and flushes by size (``batch_size``), by age (``flush_interval_s``) or when
  ``max_inflight`` messages wait for their ack and nothing more is queued (a broker that
  honours the bound sends no more unacknowledged, so waiting longer would only stall
  intake; Mosquitto ignores it for a saved session's backlog, and then the writer keeps
  filling the batch from the queue, which measured 1.3-1.9x less CPU per message than
  writing every 20), and logs the summary line every ``summary_interval_s``.
* with ``collector.writer = "process"`` there is no writer thread:
  ``on_message`` hands the raw message to ``collector.writer_process``, whose child
  process decodes and stores, and whose receiver thread acks what the child reports
  durable (docs/collector.md, "Writer process").
* the caller's thread runs ``start()`` / ``stop()`` (``run_collector`` waits there for a
  stop event, SIGINT or SIGTERM).

Session: client id ``collector.client_id`` with a persistent session (MQTT 3.1.1: clean
session off; MQTT 5: clean start off and SessionExpiryInterval ``session_expiry_s``), so
messages published while the collector is down are queued by the broker and delivered on
restart. Packet ids are per connection: messages delivered on an earlier connection are
not acked (the broker redelivers them after a reconnect anyway). ``on_connect``
subscribes at QoS 1 after every (re)connect; paho reconnects with
backoff (1-30 s) after a broker loss. The ready file is touched on the first SUBACK.

Shutdown (``stop``): close intake (messages arriving now stay unacknowledged, so the broker
keeps them for the next run); the writer drains the queue, flushes the last partial batch
and acks it; then disconnect, and close the store. If the store is down at that moment, the writer
keeps retrying for ``shutdown_grace_s`` before it gives up and logs what it could not store.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt

from collector.assembly import assemble
from collector.broker_watch import SUBSCRIPTIONS as SYS_SUBSCRIPTIONS
from collector.broker_watch import BrokerStatusWriter, BrokerWatch
from collector.metrics import Metrics, use_json_logs
from collector.pipeline import (
    CollectorReport,
    Inbound,
    Pipeline,
    Route,
    decode_topic,
    default_routes,
)
from collector.sharing import Ownership, share_group, shared
from collector.spool import SpoolingStore
from collector.writer_process import ProcessWriter
from greenpipe.config import Config
from greenpipe.errors import ConfigError, GreenpipeError
from greenpipe.mqtt import connect_and_start, make_client
from greenpipe.stores import Store, open_configured_store

__all__ = ["Collector", "CollectorReport", "run_collector"]

log = logging.getLogger(__name__)


def _not_paho_socket_closed_noise(record: logging.LogRecord) -> bool:
    # paho's network thread logs this at ERROR once the socket is closed, on every clean
    # shutdown; connection losses are reported by on_disconnect instead.
    return not record.getMessage().startswith("Client is not connected.")


logging.getLogger(f"{__name__}.paho").addFilter(_not_paho_socket_closed_noise)

_SYS_PREFIX = b"$SYS/"
"""``BrokerWatch.is_sys`` on the raw topic bytes (an ASCII prefix decodes to itself)."""
DEFAULT_SHUTDOWN_GRACE_S = 15.0
"""How long ``stop`` keeps retrying an unavailable store before giving up. [s]"""
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30


class Collector:
    """Subscribes to meter readings and writes them to the configured store.

    Usable in-process: ``start()``, ``wait_ready()``, ``report()``, ``stop()``; or as a
    context manager.
    """

    def __init__(
        self,
        cfg: Config,
        *,
        ready_file: Path | None = None,
        routes: Sequence[Route] | None = None,
        shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S,
        store_factory: Callable[[Config], Store] | None = None,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        """Prepare a collector; nothing connects until ``start()``.

        ``store_factory`` defaults to ``greenpipe.stores.open_configured_store``;
        tests pass a wrapper to inject store faults (with ``collector.writer = "process"``
        it must be a module-level function: it is pickled into the writer process).
        ``on_durable(n)`` is called after each batch of ``n`` messages was made durable
        and its acknowledgements were handed to paho (benchmarks use it).
        """
        self._cfg = cfg
        self._ready_file = ready_file
        self._routes = tuple(routes) if routes is not None else default_routes(cfg)
        self._grace_s = shutdown_grace_s
        self._store_factory = store_factory or open_configured_store
        self._custom_factory = store_factory
        self._on_durable = on_durable
        self._process: ProcessWriter | None = None
        self._summary_at = (time.monotonic(), 0)
        """When the last summary line was logged (monotonic [s]) and ``received`` then."""
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=cfg.collector.queue_size)
        self._ready = threading.Event()
        self._drain = threading.Event()
        self._closing = False
        self._abandon_at: float | None = None
        self._received = 0
        self._dropped = 0
        self._failure: GreenpipeError | None = None
        self._started = False
        self._stopped = False
        self._store: Store | None = None
        self._pipeline: Pipeline | None = None
        self._client: mqtt.Client | None = None
        self._writer: threading.Thread | None = None
        self._backpressure_logged = False
        self._subacks = 0
        self._conn = 0
        self._connected = False
        self._group = share_group(cfg)
        self._ownership = Ownership.from_config(cfg)
        self._forwards: dict[int, tuple[int, int, int]] = {}
        self._forwarded = 0
        self._spooling: SpoolingStore | None = None
        self.metrics = Metrics(self.report, self._last_seen, self._gauges, self._health)
        self.metrics_port: int | None = None
        """The port ``/metrics`` is served on, once started (None when disabled)."""
        self._intake_closed = False
        self._not_taken = 0
        self._watch: BrokerWatch | None = None
        self._sys_mid: int | None = None
        self._status = BrokerStatusWriter(cfg.collector.client_id)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the store, start the writer, connect and subscribe (readiness comes later).

        Raises StoreError when the store cannot be opened and BrokerUnavailableError when
        the broker cannot be reached.
        """
        if self._started:
            raise RuntimeError("a Collector can be started once; create a new one")
        self._started = True
        if self._ready_file is not None:
            self._ready_file.unlink(missing_ok=True)
        cc = self._cfg.collector
        if cc.writer == "process":
            if self._ownership is not None:
                raise ConfigError(
                    "collector.writer", cc.writer,
                    "ownership forwarding (collector.share_members) needs the writer "
                    "thread; set collector.writer = \"thread\" or leave share_members empty")
            self._process = ProcessWriter(
                self._cfg, self._routes, ack=self._ack_raw, on_failure=self._fail,
                observe_write=self.metrics.observe_write, broker_seen=self._broker_seen,
                tick=self._log_summary, store_factory=self._custom_factory)
            had_data = self._process.start()
        else:
            built = assemble(self._cfg, self._routes, self._store_factory,
                             on_durable=self._ack, observe_write=self.metrics.observe_write)
            self._store, self._spooling = built.store, built.spooling
            self._pipeline = built.pipeline
            had_data = built.had_data
            self._writer = threading.Thread(
                target=self._run_writer, name="greenpipe-collector-writer", daemon=True
            )
            self._writer.start()
        self._watch = BrokerWatch(cc.client_id, had_data=had_data)
        if cc.metrics_port:
            try:
                self.metrics_port = self.metrics.serve(cc.metrics_host, cc.metrics_port)
            except OSError as exc:
                self.stop()
                raise GreenpipeError(
                    f"cannot serve metrics on {cc.metrics_host}:{cc.metrics_port} ({exc}); "
                    "choose a free collector.metrics_port or 0 to disable it") from None

        client = make_client(self._cfg.broker, self._cfg.collector.client_id,
                             clean_session=False, manual_ack=True)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        # A bug in a callback must be logged, not end paho's network thread (and intake).
        client.suppress_exceptions = True
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = (self._on_message if self._process is None
                             else self._on_message_to_process)
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        self._client = client
        try:
            connect_and_start(client, self._cfg.broker,
                              session_expiry_s=self._cfg.collector.session_expiry_s,
                              receive_maximum=self._cfg.collector.max_inflight)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged the subscription; raise if it refused it."""
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if self._failure is not None:
                raise self._failure
            if time.monotonic() >= deadline:
                return False
        return True

    @property
    def failure(self) -> GreenpipeError | None:
        """A fatal error seen on the MQTT side (e.g. the subscription was refused), or None."""
        return self._failure

    @property
    def subscriptions_acknowledged(self) -> int:
        """How many SUBACKs the broker has sent: 1 after start, +1 after every reconnect."""
        return self._subacks

    def spool_depth(self) -> int:
        """Readings and dead letters waiting in the spool for the store (0 without spool)."""
        if self._process is not None:
            return self._process.spool_depth()
        return 0 if self._spooling is None else self._spooling.spool.depth

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (``collector.writer = "process"``), else None."""
        return None if self._process is None else self._process.pid

    def _last_seen(self) -> dict[str, datetime]:
        if self._process is not None:
            return self._process.last_seen()
        return {} if self._pipeline is None else self._pipeline.last_seen()

    def _gauges(self) -> dict[str, float]:
        pipeline, process = self._pipeline, self._process
        unacked = (process.held() if process is not None
                   else 0 if pipeline is None else pipeline.pending_messages)
        return {
            "queue_depth": self.queue_depth(),
            "spool_depth": self.spool_depth(),
            "unacked_messages": unacked,
            "connected": 1.0 if self._connected else 0.0,
        }

    def _health(self) -> tuple[bool, str]:
        """Liveness: the writer thread runs and nothing fatal happened."""
        if self._failure is not None:
            return False, f"failed: {self._failure}\n"
        if self._process is not None:
            if not self._process.alive:
                return False, "the writer process is not running\n"
        elif self._writer is None or not self._writer.is_alive():
            return False, "the writer thread is not running\n"
        state = "connected" if self._connected else "reconnecting to the broker"
        return True, f"ok ({state}, spool {self.spool_depth()} rows)\n"

    def queue_depth(self) -> int:
        """Messages waiting between the MQTT thread and the writer."""
        if self._process is not None:
            return self._process.queue_depth()
        return self._queue.qsize()

    @property
    def received(self) -> int:
        """MQTT messages received so far (cheap: no round trip to a writer process)."""
        return self._received

    def report(self) -> CollectorReport:
        """Return the counts so far (thread-safe).

        With the writer process this asks the child for its counts and waits for the
        answer (up to 2 s), so whatever the store already shows is counted.
        """
        if self._process is not None:
            self._process.refresh()
        return self._report()

    def _report(self) -> CollectorReport:
        """The counts as last known, without asking the writer process (writer side)."""
        if self._process is not None:
            report = self._process.report(self._received)
        elif self._pipeline is None:
            return CollectorReport(received=self._received)
        else:
            report = self._pipeline.report(self._received)
        if self._watch is not None and self._watch.dropped is not None:
            report = replace(report, broker_dropped=self._watch.dropped)
        if self._forwarded:
            report = replace(report, forwarded=self._forwarded)
        if self._dropped:
            report = replace(report, unwritten=report.unwritten + self._dropped)
        return report

    def stop(self) -> CollectorReport:
        """Disconnect, flush everything held to the store, close it; return the report.

        Safe to call more than once and after a failed ``start()``.
        """
        if self._stopped or not self._started:
            return self.report()
        self._stopped = True
        self._abandon_at = time.monotonic() + self._grace_s
        # Close intake first, then store and ack what is held, then disconnect: the acks
        # must go out on the connection that delivered the messages.
        self._intake_closed = True
        self._drain.set()
        if self._writer is not None:
            self._writer.join()
        if self._process is not None:
            self._not_taken += self._process.stop(self._grace_s)
        self._closing = True
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        left = self._queue.qsize() + self._not_taken
        if left:
            log.info("%d messages arrived during shutdown and were not acknowledged; the "
                     "broker redelivers them to the next run", left)
        if self._store is not None:
            self._store.close()
        if self._watch is not None:
            self._watch.close()
        self.metrics.close()
        report = self.report()
        log.info("collector stopped: %s", _format_counts(report))
        return report

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            log.error("broker %s:%d refused the connection: %s", self._cfg.broker.host,
                      self._cfg.broker.port, reason)
            return
        self._conn += 1
        self._connected = True
        subscriptions = [(r.subscription, 1) for r in self._routes]
        if self._group is not None:
            subscriptions = [(shared(self._group, f), qos) for f, qos in subscriptions]
        if self._ownership is not None:
            subscriptions.append((self._ownership.private_filter, 1))
        log.info("connected to %s:%d as %s (session present: %s); subscribing to %s at QoS 1",
                 self._cfg.broker.host, self._cfg.broker.port, self._cfg.collector.client_id,
                 getattr(flags, "session_present", "?"),
                 ", ".join(s for s, _ in subscriptions))
        client.subscribe(subscriptions)
        if self._watch is not None:
            self._watch.on_connect(self._conn, getattr(flags, "session_present", None))
            _, self._sys_mid = client.subscribe([(t, 0) for t in SYS_SUBSCRIPTIONS])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reason_codes: list[Any], properties: Any = None) -> None:
        if mid == self._sys_mid and self._watch is not None:
            self._watch.on_suback(not all(getattr(rc, "is_failure", False)
                                          for rc in reason_codes))
            return
        topics = ", ".join(r.subscription for r in self._routes)
        if self._group is not None:
            topics = f"{topics} (shared by group {self._group!r})"
        if any(getattr(rc, "is_failure", False) for rc in reason_codes):
            self._failure = GreenpipeError(
                f"the broker refused the subscription to {topics} ({reason_codes}); check the "
                f"broker ACL for client id {self._cfg.collector.client_id!r}"
            )
            log.error("%s", self._failure)
            return
        if any(getattr(rc, "value", 1) < 1 for rc in reason_codes):
            log.warning("the broker granted QoS 0 for %s: messages can be lost while the "
                        "collector is down", topics)
        log.info("subscribed to %s", topics)
        self._subacks += 1
        if not self._ready.is_set():
            if self._ready_file is not None:
                try:
                    self._ready_file.touch()
                except OSError as exc:
                    log.error("cannot touch ready file %s: %s", self._ready_file, exc)
            self._ready.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any = None) -> None:
        self._connected = False
        if self._conn == 0:  # never connected: start() reports why and gives up
            log.debug("connection to %s:%d closed before it was accepted (%s)",
                      self._cfg.broker.host, self._cfg.broker.port, reason)
            return
        if not self._closing:
            log.warning("lost the connection to %s:%d (%s); reconnecting with backoff "
                        "(%d-%d s)", self._cfg.broker.host, self._cfg.broker.port, reason,
                        RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # Hot path (once per message, on paho's thread, competing with the writer for the
        # GIL): the topic is decoded once, and $SYS is recognised on the raw bytes.
        raw_topic = getattr(msg, "_topic", b"")
        is_bytes = isinstance(raw_topic, bytes)
        if self._watch is not None and is_bytes and raw_topic.startswith(_SYS_PREFIX):
            self._watch.on_message(raw_topic.decode("utf-8", "replace"), bytes(msg.payload))
            return
        if self._intake_closed:  # not acked: the broker keeps it for the next run
            self._not_taken += 1
            return
        self._received += 1
        try:
            topic, topic_error = decode_topic(raw_topic) if is_bytes else (msg.topic, None)
            if self._ownership is not None and topic_error is None:
                original = self._ownership.unwrap(topic)
                if original is not None:
                    topic = original  # forwarded to us: we own it
                elif self._forward(client, topic, msg):
                    return
            item = Inbound(topic=topic, payload=bytes(msg.payload),
                           received_at=datetime.now(UTC), mid=msg.mid, qos=msg.qos,
                           topic_error=topic_error, conn=self._conn)
        except Exception:
            self._dropped += 1
            log.exception("cannot take MQTT message mid=%s; message NOT stored", msg.mid)
            return
        self._enqueue(item)

    def _on_message_to_process(self, client: mqtt.Client, userdata: Any,
                               msg: mqtt.MQTTMessage) -> None:
        """``_on_message`` for the writer process: pass the raw message on, nothing else."""
        raw_topic = msg._topic
        if self._watch is not None and raw_topic.startswith(_SYS_PREFIX):
            self._watch.on_message(raw_topic.decode("utf-8", "replace"), bytes(msg.payload))
            return
        if self._intake_closed or self._failure is not None:
            self._not_taken += 1  # not acked: the broker keeps it for the next run
            return
        self._received += 1
        assert self._process is not None
        self._process.take((raw_topic, msg.payload, msg.mid, msg.qos, self._conn, time.time()))

    def _forward(self, client: mqtt.Client, topic: str, msg: mqtt.MQTTMessage) -> bool:
        """Send a message of a meter another member owns to that member; True if sent."""
        assert self._ownership is not None
        owner = self._ownership.owner(topic)
        if owner == self._ownership.me:
            return False
        info = client.publish(self._ownership.forward_topic(owner, topic), msg.payload, qos=1)
        # on_publish runs on this (network) thread, so it cannot see the mid before this.
        self._forwards[info.mid] = (msg.mid, msg.qos, self._conn)
        self._forwarded += 1
        return True

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any = None) -> None:
        """The broker accepted a forward: now the original may be acknowledged."""
        original = self._forwards.pop(mid, None)
        if original is None:
            return
        if getattr(reason, "is_failure", False):
            log.error("the broker refused a forwarded reading (%s); check the ACL allows "
                      "%s to publish %s/#; the original stays unacknowledged", reason,
                      self._cfg.collector.client_id, self._ownership.prefix
                      if self._ownership else "?")
            return
        orig_mid, orig_qos, conn = original
        if orig_qos > 0 and conn == self._conn:
            client.ack(orig_mid, orig_qos)

    def _enqueue(self, item: Inbound) -> None:
        """Put on the queue, blocking (backpressure) while it is full; never drop silently."""
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if self._intake_closed:  # shutting down: leave it unacked for the next run
                    self._not_taken += 1
                    return
                if not self._backpressure_logged:
                    self._backpressure_logged = True
                    log.warning("writer queue full (%d messages): holding MQTT intake until "
                                "the store catches up", self._queue.maxsize)
                if self._writer is None or not self._writer.is_alive():
                    self._dropped += 1
                    log.error("writer thread is gone; message NOT stored: topic=%s "
                              "payload=%r", item.topic, item.payload[:500])
                    return

    # ------------------------------------------------------------ writer thread

    def _ack(self, messages: Sequence[Inbound]) -> None:
        """Acknowledge messages whose readings are durable (writer thread, after a flush)."""
        self._ack_raw([(m.mid, m.qos, m.conn) for m in messages])

    def _ack_raw(self, messages: Sequence[tuple[int, int, int]]) -> None:
        """Acknowledge (packet id, QoS, connection) of durable messages (writer side)."""
        client, conn = self._client, self._conn
        if client is None:
            return
        for mid, qos, c in messages:
            if qos > 0 and c == conn:
                client.ack(mid, qos)
        if self._on_durable is not None:
            self._on_durable(len(messages))

    def _fail(self, failure: GreenpipeError) -> None:
        """The writer process died: fail loudly; nothing more is acknowledged."""
        self._failure = failure

    def _broker_seen(self) -> tuple[int | None, str | None] | None:
        """The broker's ``$SYS`` drop count and version, for the writer to store."""
        watch = self._watch
        if watch is None or (watch.dropped is None and watch.version is None):
            return None
        return watch.dropped, watch.version

    def _store_broker_status(self, now: float) -> None:
        """Store the broker's ``$SYS`` drop count when it changed (dashboard, store stats)."""
        watch, store = self._watch, self._store
        if watch is not None and store is not None:
            self._status.write(store, (watch.dropped, watch.version), now)

    def _log_summary(self, now: float) -> None:
        """Log the one-line summary every ``summary_interval_s`` (the writer side's loop)."""
        if now - self._summary_at[0] < self._cfg.collector.summary_interval_s:
            return
        received = self._received
        rate = (received - self._summary_at[1]) / (now - self._summary_at[0])
        log.info("collector: %.1f msg/s | %s | queue %d/%d", rate, _format_counts(self._report()),
                 self.queue_depth(), self._cfg.collector.queue_size)
        self._summary_at = (now, received)

    def _give_up(self) -> bool:
        return self._abandon_at is not None and time.monotonic() >= self._abandon_at

    def _run_writer(self) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        cc = self._cfg.collector
        flush_due: float | None = None
        while True:
            now = time.monotonic()
            timeout = 0.25 if flush_due is None else min(0.25, max(0.0, flush_due - now))
            try:
                item: Inbound | None = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            try:
                if item is not None:
                    if flush_due is None:
                        flush_due = time.monotonic() + cc.flush_interval_s
                    pipeline.handle(item)
                now = time.monotonic()
                if pipeline.flush_now(now, flush_due, cc.max_inflight,
                                      lambda: not self._queue.empty()):
                    pipeline.flush(self._give_up)
                    flush_due = None
                if self._spooling is not None and self._spooling.spool.depth:
                    self._spooling.replay()
                self._store_broker_status(now)
                self._log_summary(now)
            except Exception:  # the writer must outlive any bug; the message was counted
                log.exception("collector writer loop error")
            if item is None and self._drain.is_set() and self._queue.empty():
                try:
                    pipeline.flush(self._give_up)
                except Exception:
                    log.exception("collector final flush failed")
                return




def _format_counts(report: CollectorReport) -> str:
    by_code = ", ".join(f"{code}={n}" for code, n in report.rejected.items())
    text = (f"received {report.received}, written {report.written}, rejected "
            f"{report.rejected_total}" + (f" ({by_code})" if by_code else "")
            + f", dead letters {report.dead_letters}, duplicates {report.duplicates}")
    if report.skipped:
        text += f", skipped (no energy) {report.skipped}"
    if report.forwarded:
        text += f", forwarded {report.forwarded}"
    if report.quality:
        text += ", flags (" + ", ".join(f"{c}={n}" for c, n in report.quality.items()) + ")"
    if report.unwritten:
        text += f", NOT STORED {report.unwritten}"
    if report.upstream_lost_total:
        text += f", LOST UPSTREAM {report.upstream_lost_total} (seq gaps)"
    if report.broker_dropped:
        text += f", BROKER DROPPED {report.broker_dropped} (all clients)"
    return text


def run_collector(
    cfg: Config, *, ready_file: Path | None = None, stop: threading.Event | None = None
) -> CollectorReport:
    """Run the collector until ``stop`` is set (or SIGINT/SIGTERM in the main thread).

    On shutdown it disconnects, flushes everything it holds and closes the store. Raises
    GreenpipeError when the broker cannot be reached or refuses the subscription.
    """
    stop = stop or threading.Event()
    if cfg.collector.log_format == "json":
        use_json_logs()
    collector = Collector(cfg, ready_file=ready_file)
    restore = _install_signal_handlers(stop)
    try:
        collector.start()
        while not stop.wait(0.2):
            if collector.failure is not None:
                break
    finally:
        try:
            report = collector.stop()
        finally:
            restore()
    if collector.failure is not None:
        raise collector.failure
    return report


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT/SIGTERM set ``stop`` (a second one aborts); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s received: stopping after flushing what the collector holds "
                 "(send it again to abort)", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
