"""The simulator run over MQTT: backfill counts, registers, status and will, live mode, stop."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenpipe.config import Config
from greenpipe.errors import ConfigError
from greenpipe.net import free_loopback_port
from greenpipe.wire import gateway_status_topic
from simulators.fleet import Fleet
from simulators.runner import SimulateOptions, run_simulator
from tests.conftest import (
    EXAMPLE_CONFIG,
    BrokerProcess,
    config_for_broker,
    start_mosquitto,
    stop_process,
)

JST = timezone(timedelta(hours=9))
NOW = datetime(2025, 11, 3, 12, 34, 56, tzinfo=JST)  # backfill ends 2025-11-03 03:30 UTC


@dataclass
class _Seen:
    messages: dict[str, list[tuple[bytes, bool]]] = field(
        default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    batches: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Batch uploads seen per meter's reading topic (their readings are in ``messages``)."""

    def on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            if msg.topic.endswith("/readings"):  # a batch upload: one entry per reading
                topic = msg.topic[:-1]
                self.batches[topic] += 1
                for element in json.loads(msg.payload):
                    self.messages[topic].append((json.dumps(element).encode(),
                                                 bool(msg.retain)))
                return
            self.messages[msg.topic].append((msg.payload, bool(msg.retain)))

    def count(self, suffix: str) -> int:
        with self.lock:
            return sum(len(v) for k, v in self.messages.items() if k.endswith(suffix))


def _subscribe(broker: BrokerProcess, topic: str) -> tuple[mqtt.Client, _Seen]:
    seen = _Seen()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{time.monotonic_ns()}")
    client.on_message = seen.on_message
    client.on_subscribe = lambda *a: ready.set()
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    assert ready.wait(10), "observer was not subscribed"
    return client, seen


def _wait_for(predicate: object, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop(client: mqtt.Client) -> None:
    client.loop_stop()
    client.disconnect()


def _retained(broker: BrokerProcess, topic: str, expected: int,
              timeout_s: float = 60.0) -> dict[str, list[bytes]]:
    """Return the retained payloads per topic, as a fresh subscriber sees them.

    Retries with a new subscriber until ``expected`` retained messages arrive (a publisher
    may still be connecting); fails if it never happens.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        client, seen = _subscribe(broker, topic)
        try:
            _wait_for(lambda s=seen: s.count("") >= expected, "retained messages", 2)
            complete = all(r for msgs in seen.messages.values() for _, r in msgs)
        except AssertionError:
            complete = False
        finally:
            _stop(client)
        if complete:
            return {k: [p for p, _ in v] for k, v in seen.messages.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"no {expected} retained messages on {topic} in {timeout_s} s")
        time.sleep(0.2)


@pytest.mark.integration
def test_backfill_two_days_publishes_every_slot_with_consistent_registers(
        mosquitto: BrokerProcess, example_config: Config) -> None:
    cfg = config_for_broker(example_config, mosquitto)
    prefix = cfg.broker.topic_prefix
    observer, seen = _subscribe(mosquitto, f"{prefix}/#")
    out = io.StringIO()
    try:
        report = run_simulator(
            cfg, SimulateOptions(seed=7, backfill_days=2, live=False, progress=False),
            now=NOW, out=out)
        slots = 2 * 48 + 1  # the initial instant plus 96 half-hour intervals
        meters = len(cfg.meters)
        _wait_for(lambda: seen.count("/reading") >= meters * slots, "all readings")
        _wait_for(lambda: seen.count("/status") >= 2 * (meters + 1), "status messages")
    finally:
        _stop(observer)

    assert report.readings == meters * slots == seen.count("/reading")
    assert report.backfill_slots == slots and report.live_slots == 0
    assert report.stopped_by == "backfill-done"
    assert report.first_ts == datetime(2025, 11, 1, 3, 30, tzinfo=UTC)
    assert report.last_ts == datetime(2025, 11, 3, 3, 30, tzinfo=UTC)

    fleet = Fleet(cfg, 7)
    by_id = {s.meter: s for s in report.meters}
    for m in cfg.meters:
        topic = f"{prefix}/{m.site}/{m.id}/reading"
        bodies = [json.loads(p) for p, _ in seen.messages[topic]]
        assert len(bodies) == slots, m.id
        # The initial instant alone, then one batch upload per simulated day.
        assert seen.batches[topic] == 2, m.id
        stamps = [datetime.fromisoformat(b["ts"]) for b in bodies]
        assert stamps == [report.first_ts + timedelta(minutes=30 * k) for k in range(slots)]
        if m.kind == "weather":
            assert all(-10 < b["temp_air_c"] < 35 for b in bodies)
            continue
        assert [b["seq"] for b in bodies] == list(range(slots))
        if m.kind == "production":
            assert bodies[0]["quantity"] == 0.0  # the first instant ends no interval
            assert all(b["quantity"] >= 0 for b in bodies), m.id
            # 1-3 Nov 2025 is a weekend and Culture Day; the continuous plant still produces.
            if m.id == "f1-output":
                assert sum(b["quantity"] for b in bodies) > 0
            continue
        wh = [round(b["register_kwh"] * 1000) for b in bodies]
        deltas = [b - a for a, b in itertools.pairwise(wh)]
        assert all(d >= 0 for d in deltas), m.id
        assert sum(deltas) == wh[-1] - wh[0]
        row = [e.meter.id for e in fleet.energy_meters].index(m.id)
        assert bodies[0]["register_kwh"] == fleet.initial_register_kwh[row]
        assert by_id[m.id].register_start_kwh == bodies[0]["register_kwh"]
        assert by_id[m.id].register_end_kwh == bodies[-1]["register_kwh"]
        if m.kind != "pv":
            assert wh[-1] > wh[0], m.id

    # Every meter said online at start and offline at the clean exit, both retained.
    for m in cfg.meters:
        status = f"{prefix}/{m.site}/{m.id}/status"
        assert [p for p, _ in seen.messages[status]] == [b"online", b"offline"]
    retained = _retained(mosquitto, f"{prefix}/+/+/status", meters + 1)
    assert set(retained) == {f"{prefix}/{m.site}/{m.id}/status" for m in cfg.meters} | {
        gateway_status_topic(prefix, cfg.simulator.client_id)}
    assert all(v == [b"offline"] for v in retained.values())

    text = out.getvalue()
    assert f"published {meters * slots:,} readings" in text
    assert "f2-main" in text and "register start kWh" in text


@pytest.mark.integration
def test_live_mode_is_retained_online_continues_registers_and_stops_on_event(
        mosquitto: BrokerProcess, example_config: Config) -> None:
    cfg = config_for_broker(example_config, mosquitto)
    cfg = replace(cfg, simulator=replace(cfg.simulator, live_interval_s=300))
    prefix = cfg.broker.topic_prefix
    observer, seen = _subscribe(mosquitto, f"{prefix}/+/+/+")
    stop = threading.Event()
    result: dict[str, object] = {}
    options = SimulateOptions(seed=3, backfill_days=0.5, live=True, speed=3600.0,
                              duration_s=None, progress=False)

    def run() -> None:
        result["report"] = run_simulator(cfg, options, stop, now=NOW, out=io.StringIO())

    thread = threading.Thread(target=run)
    thread.start()
    try:
        backfill = 25 * len(cfg.meters)
        _wait_for(lambda: seen.count("/reading") >= backfill + 3 * len(cfg.meters), "live data")
        retained = _retained(mosquitto, f"{prefix}/+/+/status", len(cfg.meters) + 1)
        assert all(v == [b"online"] for v in retained.values())
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    report = result["report"]
    assert report.stopped_by == "stop"  # type: ignore[attr-defined]
    live = report.live_slots  # type: ignore[attr-defined]
    assert live >= 3
    _wait_for(lambda: seen.count("/reading") >= (25 + live) * len(cfg.meters), "all readings")
    _stop(observer)
    bodies = [json.loads(p) for p, _ in seen.messages[f"{prefix}/factory-1/f1-main/reading"]]
    # Half a day of backfill is one batch upload; live readings go one by one.
    assert seen.batches[f"{prefix}/factory-1/f1-main/reading"] == 1
    stamps = [datetime.fromisoformat(b["ts"]) for b in bodies]
    backfill_end = datetime(2025, 11, 3, 3, 30, tzinfo=UTC)
    assert stamps[24] == backfill_end
    # live continues from the backfill's last instant, every live_interval_s
    assert stamps[25:] == [backfill_end + timedelta(minutes=5 * k)
                           for k in range(1, len(stamps) - 24)]
    registers = [b["register_kwh"] for b in bodies]
    assert registers == sorted(registers) and registers[25] > registers[24]
    assert [b["seq"] for b in bodies] == list(range(len(bodies)))

    # The same instants computed by a fresh fleet agree with what live published.
    fleet = Fleet(cfg, 3)
    row = [m.meter.id for m in fleet.energy_meters].index("f1-main")
    step = fleet.start(int(stamps[0].timestamp()))
    ends = [int(s.timestamp()) for s in stamps[1:]]
    steps = [step, *fleet.advance(ends)]
    assert [round(s.register_kwh[row], 3) for s in steps] == registers
    assert [round(s.power_kw[row], 3) for s in steps] == [b["power_kw"] for b in bodies]


def test_bad_profile_is_reported_before_connecting(example_config: Config) -> None:
    meters = list(example_config.meters)
    meters[4] = replace(meters[4], profile="night_shift")
    cfg = replace(example_config, meters=tuple(meters),
                  broker=replace(example_config.broker, host="127.0.0.1",
                                 port=free_loopback_port()))  # nothing listens there
    with pytest.raises(ConfigError) as err:
        run_simulator(cfg, SimulateOptions(seed=1, live=False, progress=False))
    assert err.value.key == "meters[4].profile"
    assert "sme_workshop" in str(err.value)


@pytest.mark.parametrize(("options", "key"), [
    (SimulateOptions(seed=1, backfill_days=-1), "--backfill-days"),
    (SimulateOptions(seed=1, speed=0), "--speed"),
    (SimulateOptions(seed=1, duration_s=-5), "--duration"),
])
def test_bad_options_are_config_errors(example_config: Config, options: SimulateOptions,
                                       key: str) -> None:
    with pytest.raises(ConfigError) as err:
        run_simulator(example_config, options)
    assert err.value.key == key


def _cli(broker: BrokerProcess, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "simulate", "--config", str(EXAMPLE_CONFIG),
         "--broker", f"{broker.host}:{broker.port}", "--no-progress", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GREENPIPE_")},
    )


@pytest.mark.integration
def test_cli_sigterm_stops_cleanly_and_a_killed_simulator_leaves_its_will(
        mosquitto: BrokerProcess, example_config: Config) -> None:
    prefix = example_config.broker.topic_prefix
    own = gateway_status_topic(prefix, example_config.simulator.client_id)
    observer, seen = _subscribe(mosquitto, f"{prefix}/#")
    try:
        proc = _cli(mosquitto, "--backfill-days", "0.25", "--speed", "60")
        _wait_for(lambda: seen.count("/reading") >= 14 * len(example_config.meters), "readings")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "stopped: stop" in out and "Traceback" not in err
        assert seen.messages[own][-1][0] == b"offline"

        proc = _cli(mosquitto, "--backfill-days", "0", "--speed", "1")
        _wait_for(lambda: len(seen.messages[own]) >= 3, "the second run's online status")
        assert seen.messages[own][-1][0] == b"online"
        proc.kill()  # no clean exit: the broker publishes the last will
        proc.communicate(timeout=30)
        _wait_for(lambda: len(seen.messages[own]) >= 4, "the last will")
        assert seen.messages[own][-1][0] == b"offline"
    finally:
        _stop(observer)
    assert _retained(mosquitto, own, 1)[own] == [b"offline"]


@pytest.mark.integration
def test_survives_a_broker_restart_and_announces_online_again(
        tmp_path: Path, example_config: Config) -> None:
    broker = start_mosquitto(tmp_path / "first")
    cfg = config_for_broker(example_config, broker)
    cfg = replace(cfg, simulator=replace(cfg.simulator, live_interval_s=300))
    prefix = cfg.broker.topic_prefix
    stop = threading.Event()
    result: dict[str, object] = {}
    options = SimulateOptions(seed=5, backfill_days=1, live=True, speed=600.0,
                              progress=False)
    thread = threading.Thread(target=lambda: result.update(
        report=run_simulator(cfg, options, stop, now=NOW, out=io.StringIO())))
    try:
        thread.start()
        _retained(broker, f"{prefix}/+/+/status", len(cfg.meters) + 1)
        stop_process(broker.process)
        # A fresh broker without the old retained messages, on the same port.
        broker = start_mosquitto(tmp_path / "second", port=broker.port)
        # Once the simulator has reconnected, a new subscriber finds every status retained.
        retained = _retained(broker, f"{prefix}/+/+/status", len(cfg.meters) + 1)
        assert all(v == [b"online"] for v in retained.values())
    finally:
        stop.set()
        thread.join(90)
        stop_process(broker.process)
    assert not thread.is_alive()
    report = result["report"]
    assert report.readings == (49 + report.live_slots) * len(cfg.meters)  # type: ignore[attr-defined]
