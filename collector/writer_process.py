"""The writer process (``collector.writer = "process"``): decode and store in a child.

Why a process: paho's network thread and the writer thread share one GIL, so while both
are busy one collector process cannot use more than about one core, and the collector
reached only ~0.5x the rate of a bare subscriber (docs/BENCHMARKS.md). Here the collector's
process keeps only MQTT: paho's thread appends each message's raw topic, payload, packet
id and receipt time to a deque (no decode, no copy); a sender thread hands whatever is
waiting to the child as one pickled batch (at most ``MAX_BATCHES_IN_FLIGHT`` batches
outstanding, so batches grow with the load by themselves); the child decodes, applies the
quality rules, writes the store or spool and dead letters (``collector.assembly``, the same
``Pipeline`` as the writer thread) and answers each batch with the packet ids that are now
durable; a receiver thread acknowledges exactly those. At-least-once holds as in thread
mode: nothing is acknowledged before the child reports it durable.

Faults: if the child dies (killed, out of memory, a crash in a C library), the receiver
sees the pipe close, the collector fails loudly (``Collector.failure``; ``greenpipe
collect`` exits non-zero for its service manager to restart it) and acknowledges nothing
more; the messages the child held were never acknowledged, so the broker redelivers them
to the restarted collector's session, where the stores recognise the ones already stored
as duplicates. The child is started with ``spawn`` (no fork of a threaded process) and
exits when its parent's pipe closes, so it never outlives the collector.

Logging: the child's log records go through a ``multiprocessing`` queue to the parent's
loggers, so they appear where the collector's own do.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import Any

from collector.assembly import assemble
from collector.broker_watch import BrokerStatusWriter
from collector.pipeline import CollectorReport, Inbound, Route, decode_topic
from greenpipe.config import Config
from greenpipe.errors import ConfigError, GreenpipeError, StoreError
from greenpipe.stores import Store, open_configured_store

__all__ = ["MAX_BATCHES_IN_FLIGHT", "ProcessWriter", "RawMessage"]

log = logging.getLogger(__name__)

MAX_BATCHES_IN_FLIGHT = 2
"""Batches handed to the child and not yet answered: one being written, one waiting."""
START_TIMEOUT_S = 120.0
"""How long the child may take to import, open the store and answer. [s]"""
IDLE_POLL_S = 0.25
"""How often an idle child replays its spool and the sender checks for work. [s]"""

RawMessage = tuple[bytes, bytes | bytearray, int, int, int, float]
"""One MQTT message as paho delivered it: raw topic, payload, packet id, QoS, the
connection number that delivered it, and the receipt time (UNIX). [-, -, -, -, -, s]"""
Ack = tuple[int, int, int]
"""(packet id, QoS, connection number) of a message that is durable."""


class ProcessWriter:
    """The parent's side of the writer process: intake deque, sender and receiver threads."""

    def __init__(
        self,
        cfg: Config,
        routes: Sequence[Route],
        *,
        ack: Callable[[Sequence[Ack]], None],
        on_failure: Callable[[GreenpipeError], None],
        observe_write: Callable[[float], None],
        broker_seen: Callable[[], tuple[int | None, str | None] | None],
        tick: Callable[[float], None],
        store_factory: Callable[[Config], Store] | None = None,
    ) -> None:
        """Prepare; ``start()`` spawns the child.

        ``ack`` gets the durable messages of each batch (receiver thread); ``on_failure``
        is called once if the child dies; ``broker_seen`` returns the broker's drop count
        and version for the child to store (None until known); ``tick(monotonic now)`` runs
        on the sender thread at least every ``IDLE_POLL_S``. ``store_factory`` must be a
        module-level function (it is pickled by reference into the child).
        """
        self._cfg = cfg
        self._routes = tuple(routes)
        self._ack = ack
        self._on_failure = on_failure
        self._observe_write = observe_write
        self._broker_seen = broker_seen
        self._tick = tick
        self._store_factory = store_factory
        self._mp = multiprocessing.get_context("spawn")
        self._cond = threading.Condition()
        self._intake: deque[RawMessage] = deque()
        self._idle = False
        self._batches = 0
        self._held = 0
        self._stopping = False
        self._dead = False
        self._bound = cfg.collector.queue_size
        self._batch_cap = max(cfg.collector.batch_size, cfg.collector.max_inflight)
        self._backpressure_logged = False
        self._report: dict[str, Any] = {}
        self._spool_depth = 0
        self._last_seen: dict[str, datetime] = {}
        self._abandon = self._mp.Value("d", 0.0, lock=False)
        self._logs: Any = self._mp.Queue()
        self._proc: Any = None
        self._inbox: Connection | None = None
        self._outbox: Connection | None = None
        self._threads: list[threading.Thread] = []
        self._send_lock = threading.Lock()
        self._asked = 0
        self._answered = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> bool:
        """Spawn the child and wait until it opened the store; return ``had_data``.

        Re-raises the child's start-up error (StoreError, ConfigError, ...) here.
        """
        inbox_r, inbox_w = self._mp.Pipe(duplex=False)
        outbox_r, outbox_w = self._mp.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        self._proc = self._mp.Process(
            target=_child_main, name="greenpipe-collector-writer", daemon=True,
            args=(self._cfg, self._routes, self._store_factory, inbox_r, outbox_w, self._logs,
                  level, self._abandon))
        listener = threading.Thread(target=self._relay_logs, name="greenpipe-writer-logs",
                                    daemon=True)
        listener.start()
        self._threads.append(listener)
        try:
            self._proc.start()
        except Exception as exc:
            self._logs.put(None)
            raise GreenpipeError(
                f"cannot start the writer process ({exc!r}); with collector.writer = "
                "\"process\" the program's main module must keep its start-up code under "
                "`if __name__ == \"__main__\":` (the child imports it again) and a "
                "store_factory must be a module-level function; or set collector.writer = "
                "\"thread\"") from None
        inbox_r.close()
        outbox_w.close()
        self._inbox, self._outbox = inbox_w, outbox_r
        try:
            if not outbox_r.poll(START_TIMEOUT_S):
                raise GreenpipeError(
                    f"the writer process did not start within {START_TIMEOUT_S:g} s; "
                    "check the store and the machine's load")
            first = outbox_r.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            self._logs.put(None)
            raise GreenpipeError(
                f"the writer process exited while starting (exit code {self._proc.exitcode}); "
                "see the log above") from None
        except BaseException:
            self._kill()
            raise
        if first[0] == "error":
            self._proc.join(10)
            self._logs.put(None)
            raise _rebuilt(first[1])
        self._apply_state(first[2])
        for target, name in ((self._send_loop, "greenpipe-writer-sender"),
                             (self._receive_loop, "greenpipe-writer-receiver")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return bool(first[1])

    def stop(self, grace_s: float) -> int:
        """Hand over what is waiting, let the child store it, then end the child.

        The child keeps retrying an unavailable store for ``grace_s`` (then gives up and
        logs what it could not store). Returns the messages left unsent (not acknowledged:
        the broker redelivers them).
        """
        self._abandon.value = time.monotonic() + grace_s
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            while not self._dead and (self._intake or self._batches):
                self._cond.wait(0.25)
        left = len(self._intake)
        if not self._dead and self._inbox is not None:
            with contextlib.suppress(OSError), self._send_lock:
                self._inbox.send(None)  # the child ends after this
        if self._proc is not None:
            self._proc.join(grace_s + 30.0)
            if self._proc.is_alive():
                log.error("the writer process did not end; killing it")
                self._kill()
        for t in self._threads:
            if t.name != "greenpipe-writer-logs":
                t.join(5)
        self._logs.put(None)
        for t in self._threads:
            t.join(5)
        return left

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    # ------------------------------------------------------------ intake (paho's thread)

    def take(self, message: RawMessage) -> None:
        """Queue one message for the child; blocks (backpressure) while the queue is full."""
        intake = self._intake
        intake.append(message)
        if self._idle:  # the sender sets _idle before it looks, so no wake-up is missed
            with self._cond:
                self._cond.notify_all()
        if len(intake) >= self._bound:
            self._hold()

    def _hold(self) -> None:
        if not self._backpressure_logged:
            self._backpressure_logged = True
            log.warning("writer queue full (%d messages): holding MQTT intake until the store "
                        "catches up", self._bound)
        with self._cond:
            while len(self._intake) >= self._bound and not (self._dead or self._stopping):
                self._cond.wait(0.5)

    # ------------------------------------------------------------ state (any thread)

    @property
    def alive(self) -> bool:
        """True while the child runs and has not failed."""
        return not self._dead and self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._proc is None else int(self._proc.pid)

    def queue_depth(self) -> int:
        """Messages received and not yet handed to the child."""
        return len(self._intake)

    def held(self) -> int:
        """Messages handed to the child and not yet answered (unacknowledged)."""
        return self._held + len(self._intake)

    def spool_depth(self) -> int:
        """The child's spool depth as of its last answer."""
        return self._spool_depth

    def last_seen(self) -> dict[str, datetime]:
        """When each meter's latest message was received, as of the child's last report."""
        return dict(self._last_seen)

    def refresh(self, timeout_s: float = 2.0) -> None:
        """Ask the child for its counts now and wait (at most ``timeout_s``) for the answer.

        The child answers after the batch it is working on, so what a store shows as
        written is counted in ``report()`` afterwards (metrics scrapes, ``stop``). Not for
        the writer side's own threads, which the answer needs.
        """
        if self._inbox is None or not self.alive:
            return
        with self._send_lock:
            self._asked += 1
            want = self._asked
            try:
                self._inbox.send(("state", want))
            except OSError:
                return
        with self._cond:
            self._cond.wait_for(lambda: self._answered >= want or self._dead, timeout_s)

    def report(self, received: int) -> CollectorReport:
        """Return the counts as of the child's last answer; ``received`` from MQTT."""
        r = self._report
        if not r:
            return CollectorReport(received=received)
        return CollectorReport(
            received=received, decoded=r["decoded"], written=r["written"],
            rejected=MappingProxyType(r["rejected"]), dead_letters=r["dead_letters"],
            duplicates=r["duplicates"], skipped=r["skipped"], unwritten=r["unwritten"],
            quality=MappingProxyType(r["quality"]),
            upstream_lost=MappingProxyType(r["upstream_lost"]))

    def _apply_state(self, state: tuple[dict[str, Any], int, dict[str, datetime]]) -> None:
        self._report, self._spool_depth, seen = state
        if seen:
            self._last_seen.update(seen)

    # ------------------------------------------------------------ threads

    def _send_loop(self) -> None:
        assert self._inbox is not None
        sent_status: tuple[int | None, str | None] | None = None
        while True:
            with self._cond:
                while True:
                    self._idle = True
                    if self._dead:
                        return
                    if self._intake and self._batches < MAX_BATCHES_IN_FLIGHT:
                        break
                    if self._stopping and not self._intake:
                        return
                    self._cond.wait(IDLE_POLL_S)
                    self._tick(time.monotonic())
                    seen = self._broker_seen()
                    if seen is not None and seen != sent_status:
                        break
                self._idle = False
                intake = self._intake
                items = [intake.popleft() for _ in range(min(len(intake), self._batch_cap))]
                if items:
                    self._batches += 1
                    self._held += len(items)
                    self._cond.notify_all()  # a held-back paho thread may go on
            seen = self._broker_seen()
            status = None if seen == sent_status else seen
            try:
                with self._send_lock:
                    self._inbox.send((items, status))
            except OSError:
                return  # the child is gone; the receiver reports it
            self._tick(time.monotonic())
            sent_status = seen if status is not None else sent_status

    def _receive_loop(self) -> None:
        assert self._outbox is not None
        while True:
            try:
                kind, settled, acks, durations, state, asked = self._outbox.recv()
            except (EOFError, OSError):
                self._child_died()
                return
            if acks:
                try:
                    self._ack(acks)
                except Exception:
                    log.exception("cannot acknowledge %d messages", len(acks))
            for seconds in durations:
                self._observe_write(seconds)
            with self._cond:
                self._apply_state(state)
                self._answered = max(self._answered, asked)
                self._held -= settled
                if kind == "done":
                    self._batches -= 1
                self._cond.notify_all()
            if kind == "closed":
                return

    def _child_died(self) -> None:
        with self._cond:
            if self._stopping and not self._batches and not self._intake:
                self._dead = True  # ended after the last batch: a normal stop
                self._cond.notify_all()
                return
            held = self._held + len(self._intake)
            self._dead = True
            self._cond.notify_all()
        code = None
        if self._proc is not None:
            self._proc.join(2)
            code = self._proc.exitcode
        failure = GreenpipeError(
            f"the collector's writer process (pid {self.pid}) ended unexpectedly (exit code "
            f"{code}); {held} messages it held were NOT acknowledged, so the broker "
            "redelivers them to this client id's session: restart the collector (a service "
            "manager does) and it resumes without loss")
        log.error("%s", failure)
        self._on_failure(failure)

    def _relay_logs(self) -> None:
        """Hand the child's log records to the parent's loggers (their levels and handlers)."""
        while True:
            try:
                record = self._logs.get()
            except (EOFError, OSError):
                return
            if record is None:
                return
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)


# ------------------------------------------------------------------ the child


def _child_main(cfg: Config, routes: Sequence[Route],
                store_factory: Callable[[Config], Store] | None, inbox: Connection,
                outbox: Connection, logs: Any, level: int, abandon: Any) -> None:
    """Entry point of the writer process: build the pipeline, then serve batches."""
    # Ctrl-C and service managers signal the whole process group; the collector's process
    # drains and then tells this one to end (or this one ends when that one is gone).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(logs)]
    root.setLevel(level)
    acks: list[Ack] = []
    durations: list[float] = []

    def on_durable(messages: Sequence[Inbound]) -> None:
        acks.extend((m.mid, m.qos, m.conn) for m in messages)

    try:
        built = assemble(cfg, routes, store_factory or open_configured_store,
                         on_durable=on_durable, observe_write=durations.append)
    except BaseException as exc:  # the parent re-raises it from start()
        outbox.send(("error", _portable(exc)))
        return
    pipeline, spooling, store = built.pipeline, built.spooling, built.store
    status = BrokerStatusWriter(cfg.collector.client_id)

    parent = os.getppid()

    def give_up() -> bool:
        if os.getppid() != parent:  # the collector died: nothing can be acknowledged now
            return True
        deadline = float(abandon.value)
        return deadline > 0 and time.monotonic() >= deadline

    def state() -> tuple[dict[str, Any], int, dict[str, datetime]]:
        return (_plain(pipeline.report(0)), 0 if spooling is None else spooling.spool.depth,
                pipeline.take_last_seen())

    asked = [0]

    def answer(kind: str, settled: list[int]) -> None:
        outbox.send((kind, settled[0], acks[:], durations[:], state(), asked[0]))
        settled[0] = 0
        acks.clear()
        durations.clear()

    outbox.send(("ready", built.had_data, state()))
    cc = cfg.collector
    settled = [0]

    def flush() -> None:
        settled[0] += pipeline.pending_messages
        pipeline.flush(give_up)

    flush_due: float | None = None
    half_window = max(1, cc.max_inflight // 2)
    try:
        while True:
            now = time.monotonic()
            timeout = IDLE_POLL_S if flush_due is None else min(
                IDLE_POLL_S, max(0.0, flush_due - now))
            got = inbox.poll(timeout)
            items: Sequence[RawMessage] = ()
            if got:
                try:
                    batch = inbox.recv()
                except EOFError:
                    # The collector died: nothing held here is acknowledged (the broker
                    # redelivers it); exit without waiting for a log reader that is gone.
                    logs.cancel_join_thread()
                    return
                if batch is None:
                    flush()
                    answer("closed", settled)
                    return
                if batch[0] == "state":  # the parent wants current counts
                    asked[0] = batch[1]
                    batch = ((), None)
                items, seen_status = batch
                try:
                    _handle(pipeline, items, flush)
                except Exception:  # the loop must outlive any bug; the messages stay unacked
                    log.exception("collector writer process: batch failed")
                if seen_status is not None:
                    status.write(store, seen_status, time.monotonic())
            # The writer thread's flush rule (collector.service): by size, by age, or when
            # the broker's window is used and nothing more is waiting; here at half the
            # window, so that its other half arrives while the child's answer travels back.
            now = time.monotonic()
            if not pipeline.pending_messages:
                flush_due = None
            else:
                flush_due = now + cc.flush_interval_s if flush_due is None else flush_due
                if pipeline.flush_now(now, flush_due, half_window,
                                      lambda: bool(inbox.poll(0))):
                    flush()
                    flush_due = None
            replayed = False
            if spooling is not None and spooling.spool.depth and not inbox.poll(0):
                replayed = True  # the parent learns the new spool depth
                try:
                    spooling.replay()
                except Exception:
                    log.exception("collector writer process: spool replay failed")
            if got or replayed or settled[0]:
                answer("done" if items else "state", settled)
    except (BrokenPipeError, ConnectionResetError):  # the collector died while we answered
        logs.cancel_join_thread()
    finally:
        store.close()


def _handle(pipeline: Any, items: Sequence[RawMessage], flush: Callable[[], None]) -> None:
    """Decode one batch from the parent into the pipeline; flush whenever a batch is full."""
    for raw_topic, payload, mid, qos, conn, at in items:
        topic, topic_error = decode_topic(raw_topic)
        pipeline.handle(Inbound(topic, bytes(payload), datetime.fromtimestamp(at, UTC), mid,
                                qos, topic_error, conn))
        if pipeline.batch_full():
            flush()


def _portable(exc: BaseException) -> tuple[str, tuple[Any, ...]]:
    """A start-up error as plain values (some errors take keyword-only arguments, which
    pickle cannot rebuild); ``_rebuilt`` makes the same error again in the parent."""
    if isinstance(exc, StoreError):
        return "store", (str(exc), exc.retryable)
    if isinstance(exc, ConfigError):
        value = exc.value if isinstance(exc.value, str | int | float | bool) else repr(exc.value)
        return "config", (exc.key, value, exc.fix)
    if isinstance(exc, GreenpipeError):
        return "greenpipe", (str(exc),)
    return "other", (f"the writer process failed to start: {exc!r}",)


def _rebuilt(portable: tuple[str, tuple[Any, ...]]) -> GreenpipeError:
    kind, args = portable
    if kind == "store":
        return StoreError(args[0], retryable=args[1])
    if kind == "config":
        return ConfigError(*args)
    return GreenpipeError(*args)


def _plain(report: CollectorReport) -> dict[str, Any]:
    """The report's counts as plain (picklable) values; ``received`` is the parent's."""
    def d(m: Mapping[str, int]) -> dict[str, int]:
        return dict(m)

    return {"decoded": report.decoded, "written": report.written,
            "rejected": d(report.rejected), "dead_letters": report.dead_letters,
            "duplicates": report.duplicates, "skipped": report.skipped,
            "unwritten": report.unwritten, "quality": d(report.quality),
            "upstream_lost": d(report.upstream_lost)}
