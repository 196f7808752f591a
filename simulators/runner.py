"""``greenpipe simulate``: backfill history, then publish live, over MQTT (wire contract v1).

Backfill publishes ``backfill_days`` of readings, every ``simulator.interval_s``, ending at
"now" aligned down to the interval, as fast as the broker acknowledges them, as gateway batch
uploads (``<prefix>/<site>/<meter>/readings``, one message per meter per simulated day, as a
gateway uploads what it buffered). Live mode then continues from where the backfill ended,
one single reading per meter every
``simulator.live_interval_s`` of simulated time, with simulated time running ``speed`` times
faster than real time from the moment live mode starts. The first published instant of a
run carries each meter's seeded initial register, so every later interval is complete.

Each meter's retained ``status`` is ``online`` while the run lasts and ``offline`` after a
clean exit. MQTT allows one last will per connection, so the will (``offline``) is
registered on the simulator's own status topic, ``<prefix>/_gateway/<client_id>/status``,
which no real site can collide with (site ids cannot start with ``_``).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from tqdm import tqdm

from greenpipe import wire
from greenpipe.config import Config
from greenpipe.errors import ConfigError
from greenpipe.model import require_utc
from simulators.faults import FaultInjector
from simulators.fleet import Fleet, Step
from simulators.publisher import Publisher

log = logging.getLogger(__name__)

MAX_VALUES_PER_BATCH = 48_000
"""Meter-slots computed per batch in backfill (bounds memory with 1000+ meters). [-]"""
SUMMARY_ROWS = 40
"""Meters listed one per line in the printed summary; the rest are counted. [-]"""


@dataclass(frozen=True, slots=True)
class SimulateOptions:
    """Command-line choices for one simulator run."""

    seed: int
    backfill_days: float = 0.0
    """History to publish first, ending now. [d]"""
    live: bool = True
    """Keep publishing in (accelerated) real time after the backfill."""
    speed: float = 1.0
    """Live mode: simulated seconds per real second. [-]"""
    duration_s: float | None = None
    """Live mode: stop after this many real seconds of live publishing; None runs until
    stopped. [s]"""
    progress: bool = True
    """Show a progress bar during backfill."""
    faults: float = 0.0
    """Probability that a message gets a field fault (``simulators.faults``); 0 is off."""
    continue_from: Mapping[str, tuple[int, float]] | None = None
    """Meter id -> (epoch seconds, register [kWh]) of its newest stored reading: the run
    continues those registers (plus the energy of the gap) instead of the seeded values,
    so a restarted demo shows no counter reset. Meters not listed start seeded."""


@dataclass(frozen=True, slots=True)
class MeterSummary:
    """What one meter published in a run."""

    meter: str
    site: str
    profile: str
    messages: int
    register_start_kwh: float | None
    """First published register; None for weather meters. [kWh]"""
    register_end_kwh: float | None
    """Last published register; None for weather meters. [kWh]"""


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """What a simulator run published."""

    seed: int
    readings: int
    """Reading messages (energy and weather) acknowledged by the broker."""
    status_messages: int
    backfill_slots: int
    """Published instants in backfill, including the initial one."""
    live_slots: int
    first_ts: datetime | None
    last_ts: datetime | None
    elapsed_s: float
    """Wall-clock time of the run. [s]"""
    stopped_by: str
    """``backfill-done``, ``duration`` or ``stop``."""
    meters: tuple[MeterSummary, ...]

    @property
    def messages_per_s(self) -> float:
        """Reading messages per second of wall-clock time. [1/s]"""
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _check_options(cfg: Config, options: SimulateOptions) -> None:
    if not math.isfinite(options.backfill_days) or options.backfill_days < 0:
        raise ConfigError("--backfill-days", options.backfill_days, "use 0 or more days")
    if not math.isfinite(options.speed) or options.speed <= 0:
        raise ConfigError("--speed", options.speed, "use a speed-up factor above 0")
    if options.duration_s is not None and not options.duration_s >= 0:
        raise ConfigError("--duration", options.duration_s, "use 0 or more seconds")
    if not 0.0 <= options.faults <= 1.0:
        raise ConfigError("--faults", options.faults, "use a probability between 0 and 1")


class _Run:
    """The state of one run: fleet, publisher, counters, published registers."""

    def __init__(self, cfg: Config, options: SimulateOptions, fleet: Fleet,
                 publisher: Publisher, stop: threading.Event) -> None:
        self.cfg = cfg
        self.options = options
        self.fleet = fleet
        self.publisher = publisher
        self.stop = stop
        self.seq = 0
        self.readings = 0
        self.first: list[float] | None = None
        self.last: list[float] | None = None
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.faults = FaultInjector(options.faults, options.seed) if options.faults else None
        self._batch_topics: dict[str, str] | None = None

    def step_messages(self, step: Step) -> list[tuple[str, bytes]]:
        """Encode one step (faults applied) and count it as published."""
        registers = [round(r, 3) for r in step.register_kwh.tolist()]
        if self.first is None:
            self.first, self.first_ts = registers, step.t_epoch_s
        self.last, self.last_ts = registers, step.t_epoch_s
        messages = self.fleet.messages(step, self.seq)
        if self.faults is not None:
            messages = self.faults.apply(messages)
        self.readings += len(self.fleet.meters)
        self.seq += 1
        return messages

    def publish_step(self, step: Step) -> None:
        """Publish one step as single readings (live mode)."""
        for topic, payload in self.step_messages(step):
            self.publisher.publish(topic, payload)

    def publish_batches(self, pending: dict[str, list[bytes]]) -> None:
        """Publish each meter's pending readings as one batch upload (backfill), then clear."""
        for meter in self.fleet.meters:
            payloads = pending.pop(meter.topic, None)
            if payloads:
                self.publisher.publish(self.batch_topics[meter.topic],
                                       wire.encode_batch(payloads))

    @property
    def batch_topics(self) -> dict[str, str]:
        """Each meter's reading topic -> its batch topic."""
        if self._batch_topics is None:
            prefix = self.cfg.broker.topic_prefix
            self._batch_topics = {m.topic: wire.batch_topic(prefix, m.meter.site, m.meter.id)
                                  for m in self.fleet.meters}
        return self._batch_topics


def _batches(ends: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(ends), size):
        yield ends[i:i + size]


def _backfill(run: _Run, start_s: int, n_slots: int) -> int:
    """Publish the initial instant and ``n_slots`` intervals; return instants published."""
    interval = run.cfg.simulator.interval_s
    run.publish_step(run.fleet.start(start_s, run.options.continue_from))
    ends = [start_s + k * interval for k in range(1, n_slots + 1)]
    size = max(1, min(1440, MAX_VALUES_PER_BATCH // max(1, len(run.fleet.meters))))
    # One batch upload per meter per simulated day (wire contract: .../readings).
    per_message = max(1, min(86_400 // interval, wire.MAX_BATCH_READINGS))
    pending: dict[str, list[bytes]] = {}
    in_pending = 0
    done = 1
    with tqdm(total=n_slots, desc="backfill", unit="slot", disable=not run.options.progress,
              file=sys.stderr, dynamic_ncols=True) as bar:
        try:
            for batch in _batches(ends, size):
                for step in run.fleet.advance(batch):
                    if run.stop.is_set():
                        return done
                    for topic, payload in run.step_messages(step):
                        pending.setdefault(topic, []).append(payload)
                    in_pending += 1
                    done += 1
                    if in_pending >= per_message:
                        run.publish_batches(pending)
                        bar.update(in_pending)
                        in_pending = 0
        finally:
            run.publish_batches(pending)
            bar.update(in_pending)
    return done


def _live(run: _Run, sim_start_s: float) -> tuple[int, str]:
    """Publish live slots until the duration elapses or ``stop`` is set."""
    assert run.fleet.t_epoch_s is not None
    step_s = run.cfg.simulator.live_interval_s
    speed = run.options.speed
    real0 = time.monotonic()
    deadline = None if run.options.duration_s is None else real0 + run.options.duration_s
    next_s = run.fleet.t_epoch_s + step_s
    published = 0
    log.info("live: publishing every %d s of simulated time at %gx from %s", step_s, speed,
             datetime.fromtimestamp(next_s, UTC).isoformat())
    while True:
        if run.stop.is_set():
            return published, "stop"
        now_real = time.monotonic()
        if deadline is not None and now_real >= deadline:
            return published, "duration"
        sim_now = sim_start_s + speed * (now_real - real0)
        due = max(0, int((sim_now - next_s) // step_s) + 1)
        if due:
            ends = [next_s + k * step_s for k in range(min(due, 1440))]
            for step in run.fleet.advance(ends):
                if run.stop.is_set():
                    return published, "stop"
                run.publish_step(step)
                published += 1
            next_s = ends[-1] + step_s
            continue
        wait_s = (next_s - sim_now) / speed
        if deadline is not None:
            wait_s = min(wait_s, deadline - now_real)
        run.stop.wait(max(0.0, wait_s))


def run_simulator(
    cfg: Config,
    options: SimulateOptions,
    stop: threading.Event | None = None,
    *,
    now: datetime | None = None,
    out: TextIO | None = None,
) -> SimulationReport:
    """Run the simulators: backfill, then live until ``duration_s`` or ``stop``.

    ``now`` (default: the wall clock) fixes where the backfill ends, for reproducible runs;
    ``out`` receives the printed summary (default stdout). Without a ``stop`` event, SIGINT
    and SIGTERM stop the run cleanly when called from the main thread. Raises ConfigError
    before connecting when the config or options are invalid, BrokerUnavailableError when
    the broker cannot be reached or stops acknowledging.
    """
    _check_options(cfg, options)
    fleet = Fleet(cfg, options.seed)  # validates profiles before any connection
    interval = cfg.simulator.interval_s
    now_dt = require_utc(now, "now") if now is not None else datetime.now(UTC)
    end_s = int(now_dt.timestamp()) // interval * interval
    n_slots = math.floor(options.backfill_days * 86400.0 / interval + 1e-9)
    start_s = end_s - n_slots * interval
    if options.continue_from:
        newest = max(ts for ts, _ in options.continue_from.values())
        if newest >= start_s:
            # Continue where the stored data ends (an accelerated live run can have run
            # ahead of the clock): its first instant repeats the stored reading.
            start_s = newest
            n_slots = max(0, (end_s - start_s) // interval)

    stop, restore = _stop_event(stop)
    prefix = cfg.broker.topic_prefix
    client_id = cfg.simulator.client_id
    own_status = wire.gateway_status_topic(prefix, client_id)
    statuses = [own_status] + [
        wire.status_topic(prefix, m.meter.site, m.meter.id) for m in fleet.meters
    ]
    publisher = Publisher(cfg.broker, client_id, will=(own_status, wire.STATUS_OFFLINE),
                          announce=[(topic, wire.STATUS_ONLINE) for topic in statuses])
    run = _Run(cfg, options, fleet, publisher, stop)
    t0 = time.monotonic()
    backfill_slots = live_slots = 0
    stopped_by = "backfill-done"
    log.info("simulating %d meters (seed %d): backfill %d slots of %d s from %s", len(
        fleet.meters), options.seed, n_slots, interval,
        datetime.fromtimestamp(start_s, UTC).isoformat())
    try:
        publisher.connect()  # announces the retained "online" statuses
        backfill_slots = _backfill(run, start_s, n_slots)
        publisher.drain()
        if stop.is_set():
            stopped_by = "stop"
        elif options.live:
            assert fleet.t_epoch_s is not None
            sim_start = max(float(end_s), now_dt.timestamp(), float(fleet.t_epoch_s))
            live_slots, stopped_by = _live(run, sim_start)
        publisher.drain()
        publisher.stop_announcing()
        for topic in statuses:
            publisher.publish(topic, wire.STATUS_OFFLINE, retain=True)
        publisher.drain()
    finally:
        publisher.close()
        restore()
    if run.faults is not None:
        log.info("faults injected (rate %g): %s", options.faults, run.faults.summary())
    report = SimulationReport(
        seed=options.seed,
        readings=run.readings,
        status_messages=2 * len(statuses),
        backfill_slots=backfill_slots,
        live_slots=live_slots,
        first_ts=None if run.first_ts is None else datetime.fromtimestamp(run.first_ts, UTC),
        last_ts=None if run.last_ts is None else datetime.fromtimestamp(run.last_ts, UTC),
        elapsed_s=time.monotonic() - t0,
        stopped_by=stopped_by,
        meters=_meter_summaries(run),
    )
    print_report(report, out or sys.stdout)
    return report


def _stop_event(
    stop: threading.Event | None,
) -> tuple[threading.Event, Callable[[], None]]:
    """Return the stop event and a function restoring signal handlers we replaced."""
    if stop is not None or threading.current_thread() is not threading.main_thread():
        return stop or threading.Event(), lambda: None
    event = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: stopping after the current reading", signum)
        event.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return event, restore


def _meter_summaries(run: _Run) -> tuple[MeterSummary, ...]:
    out: list[MeterSummary] = []
    rows = iter(range(len(run.fleet.energy_meters)))
    instants = run.readings // max(1, len(run.fleet.meters))
    energy = set(run.fleet.energy_meters)
    for m in run.fleet.meters:
        start = end = None
        if m in energy:
            r = next(rows)
            if run.first is not None and run.last is not None:
                start, end = run.first[r], run.last[r]
        out.append(MeterSummary(m.meter.id, m.meter.site, m.profile, instants, start, end))
    return tuple(out)


def print_report(report: SimulationReport, out: TextIO) -> None:
    """Print a compact summary: message counts, then register start and end per meter."""
    span = ""
    if report.first_ts and report.last_ts:
        span = f" covering {report.first_ts:%Y-%m-%d %H:%M} to {report.last_ts:%Y-%m-%d %H:%M} UTC"
    print(
        f"greenpipe simulate: published {report.readings:,} readings "
        f"({report.backfill_slots:,} backfill + {report.live_slots:,} live instants x "
        f"{len(report.meters):,} meters){span}, plus {report.status_messages:,} status "
        f"messages, in {report.elapsed_s:.1f} s ({report.messages_per_s:,.0f} readings/s); "
        f"seed {report.seed}; stopped: {report.stopped_by}",
        file=out,
    )
    print(f"{'meter':<24} {'site':<14} {'profile':<19} {'msgs':>7} "
          f"{'register start kWh':>19} {'register end kWh':>19}", file=out)
    for m in report.meters[:SUMMARY_ROWS]:
        start = "-" if m.register_start_kwh is None else f"{m.register_start_kwh:,.3f}"
        end = "-" if m.register_end_kwh is None else f"{m.register_end_kwh:,.3f}"
        print(f"{m.meter:<24} {m.site:<14} {m.profile:<19} {m.messages:>7,} "
              f"{start:>19} {end:>19}", file=out)
    if len(report.meters) > SUMMARY_ROWS:
        print(f"... and {len(report.meters) - SUMMARY_ROWS:,} more meters "
              "(all are in the returned SimulationReport)", file=out)
    out.flush()
