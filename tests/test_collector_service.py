"""Integration tests for collector.service against real brokers (Mosquitto and amqtt).

Readings are published with a plain paho client at QoS 1; the collector runs in-process
(or as the ``greenpipe collect`` CLI) and writes to a real SQLite file. Every wait polls
with a deadline; no assertion depends on timing.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from collector.codes import RejectCode
from collector.service import Collector, CollectorReport, run_collector
from greenpipe.config import Config
from greenpipe.mqtt import BrokerUnavailableError
from greenpipe.net import free_loopback_port
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_interval, encode_reading, encode_weather, reading_topic
from tests.conftest import (
    REPO,
    BrokerProcess,
    config_for_broker,
    publish_qos1,
    start_mosquitto,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
N = 24
"""Readings per meter in the main scenario."""
REGISTER_METERS = (("factory-1", "f1-main"), ("factory-3", "f3-main"), ("pv-plant", "pv-1"))


@dataclass
class Scenario:
    """What is published, and what the store must hold afterwards."""

    messages: list[tuple[str, bytes]]
    registers: dict[str, list[float]]
    interval_kwh: list[float]
    temps_c: list[float]
    bad: list[tuple[str, bytes, str, str]]
    """(topic, payload, code, fragment of the reason)."""
    duplicates: int


def _epoch_ms_reading(ts: datetime, register_kwh: float) -> bytes:
    return json.dumps({"ts": round(ts.timestamp() * 1000), "register_kwh": register_kwh}
                      ).encode()


def build_scenario(seed: int = 7) -> Scenario:
    """Interleave valid readings of five meters with malformed payloads, deterministically."""
    rng = random.Random(seed)
    registers = {meter: [] for _, meter in REGISTER_METERS}
    for _, meter in REGISTER_METERS:
        value = round(rng.uniform(1_000, 90_000), 3)
        for _ in range(N):
            registers[meter].append(value)
            # At most 140 kWh per 30 min: below every meter's rating (f3-main: 300 kW).
            value = round(value + rng.uniform(0.0, 140.0), 3)
    interval_kwh = [round(rng.uniform(0, 400), 3) for _ in range(N)]
    temps_c = [round(rng.uniform(-5, 30), 2) for _ in range(N)]
    f1 = reading_topic("greenpipe/v1", "factory-1", "f1-main")
    f3 = reading_topic("greenpipe/v1", "factory-3", "f3-main")
    # Between two f1 readings that are already stored, in JST: a late, out-of-order register.
    jst_late = (T0 + 5 * STEP + timedelta(minutes=7)).astimezone(timezone(timedelta(hours=9)))
    bad = [
        (f1, b'{"ts": "2026-04-01T09:00:00+09:00", "register_kwh": ', RejectCode.BAD_JSON,
         "payload is not valid JSON"),
        (f3, b'{"ts": "2026-04-01T09:00:00", "register_kwh": 1.0}', RejectCode.NAIVE_TIMESTAMP,
         "has no UTC offset"),
        ("greenpipe/v1/factory-1/ghost-meter/reading", encode_reading(T0, 1.0),
         RejectCode.UNKNOWN_METER, "meter 'ghost-meter' is not in the configuration"),
        ("greenpipe/v1/factory-2/f1-main/reading", encode_reading(T0, 1.0),
         RejectCode.SITE_MISMATCH, "belongs to site 'factory-1'"),
        (f1, b'{"ts": "2026-04-01T09:00:00+09:00", "register_kwh": NaN}',
         RejectCode.NOT_FINITE, "register_kwh is nan"),
        (f3, b'{"ts": 1775001600000, "register_kwh": -5}', RejectCode.NEGATIVE_REGISTER,
         "never negative"),
        (f1, b"\xff\xfe garbage", RejectCode.NOT_UTF8, "payload is not UTF-8"),
        (f1, encode_reading(jst_late, 1.0), RejectCode.OUT_OF_ORDER,
         "does not fit between its neighbours"),
    ]
    messages: list[tuple[str, bytes]] = []
    duplicates = 0
    bad_at = {3 + 2 * k: item for k, item in enumerate(bad)}
    for i in range(N):
        ts = T0 + i * STEP
        for site, meter in REGISTER_METERS:
            topic = reading_topic("greenpipe/v1", site, meter)
            encode = _epoch_ms_reading if i % 2 else encode_reading
            messages.append((topic, encode(ts, registers[meter][i])))
        messages.append((reading_topic("greenpipe/v1", "bus-depot", "bus-depot-chargers"),
                         encode_interval(ts, interval_kwh[i])))
        messages.append((reading_topic("greenpipe/v1", "city-hall", "weather-hitachi"),
                         encode_weather(ts, temps_c[i])))
        if i in bad_at:
            topic, payload, _, _ = bad_at[i]
            messages.append((topic, payload))
        if i == 10:  # a duplicate publish of an earlier f1 reading
            messages.append((f1, encode_reading(T0 + 9 * STEP, registers["f1-main"][9])))
            duplicates += 1
    assert len(bad_at) == len(bad) and max(bad_at) < N - 1  # valid readings follow bad ones
    return Scenario(messages, registers, interval_kwh, temps_c,
                    [(t, p, c.value, f) for t, p, c, f in bad], duplicates)


def stored_readings(store: SqliteStore) -> int:
    return sum(m.readings for m in store.stats().meters)


def collector_config(example_config: Config, broker: BrokerProcess, db: Path, **collector: object
                     ) -> Config:
    cfg = config_for_broker(example_config, broker, f"sqlite:///{db}")
    defaults: dict[str, object] = {"client_id": f"test-collector-{time.time_ns()}",
                                   "batch_size": 7, "flush_interval_s": 0.2,
                                   "summary_interval_s": 0.5}
    defaults.update(collector)
    return replace(cfg, collector=replace(cfg.collector, **defaults))  # type: ignore[arg-type]


@pytest.fixture(params=["mosquitto", "amqtt_broker"])
def any_broker(request: pytest.FixtureRequest) -> BrokerProcess:
    return request.getfixturevalue(request.param)


@pytest.fixture
def running() -> Iterator[list[Collector]]:
    """Collectors started by a test; any still running are stopped afterwards."""
    collectors: list[Collector] = []
    yield collectors
    for c in collectors:
        c.stop()


def test_pipeline_end_to_end_sums_dead_letters_and_recovery(
    example_config: Config, any_broker: BrokerProcess, sqlite_store: SqliteStore,
    tmp_path: Path, running: list[Collector],
) -> None:
    scenario = build_scenario()
    cfg = collector_config(example_config, any_broker, sqlite_store.path)
    ready = tmp_path / "collector.ready"
    collector = Collector(cfg, ready_file=ready)
    running.append(collector)
    collector.start()
    assert collector.wait_ready(30), "no SUBACK"
    assert ready.exists()

    publish_qos1(any_broker, scenario.messages)
    expected_rows = N * 5
    wait_until(lambda: stored_readings(sqlite_store) == expected_rows
               and sqlite_store.stats().dead_letters == len(scenario.bad),
               "all readings and dead letters in the store")
    report = collector.stop()

    decoder_rejections = sum(1 for _, _, code, _ in scenario.bad
                             if not code.startswith("quality."))
    assert report.broker_dropped in (None, 0)  # None: the broker publishes no $SYS count
    assert replace(report, broker_dropped=None) == CollectorReport(
        received=len(scenario.messages), decoded=len(scenario.messages) - decoder_rejections,
        written=expected_rows,
        rejected={code: 1 for _, _, code, _ in sorted(scenario.bad, key=lambda b: b[2])},
        dead_letters=len(scenario.bad), duplicates=scenario.duplicates, unwritten=0,
        quality={"quality.first_reading": len(REGISTER_METERS), "quality.interval_form": N},
    )
    # Each register meter: interval energies equal the hand-computed deltas, and their sum
    # is exactly the register delta.
    end = T0 + N * STEP
    for _, meter in REGISTER_METERS:
        regs = scenario.registers[meter]
        frame = sqlite_store.read(T0 - STEP, end, STEP, meters=[meter])
        assert frame["readings"].tolist() == [1] * N
        stored = frame["energy_kwh"].tolist()
        assert math.isnan(stored[0])  # first reading: unknown interval energy
        assert_allclose(stored[1:], [regs[i] - regs[i - 1] for i in range(1, N)],
                        rtol=0, atol=1e-9)
        assert abs(math.fsum(stored[1:]) - (regs[-1] - regs[0])) < 1e-9
        latest = sqlite_store.latest()[meter]
        assert (latest.ts, latest.register_kwh) == (T0 + (N - 1) * STEP, regs[-1])
    stats = {m.meter: m for m in sqlite_store.stats().meters}
    assert abs(stats["bus-depot-chargers"].energy_kwh - math.fsum(scenario.interval_kwh)) < 1e-9
    temps = sqlite_store.read(T0 - STEP, end, STEP, meters=["weather-hitachi"])
    assert temps["temp_air_c"].tolist() == scenario.temps_c
    assert stats["weather-hitachi"].energy_kwh == 0.0

    letters = {(d.topic, d.payload): d for d in sqlite_store.read_dead_letters(100)}
    assert len(letters) == len(scenario.bad)
    for topic, payload, code, fragment in scenario.bad:
        letter = letters[(topic, payload)]
        assert letter.code == code
        assert fragment in letter.reason
        assert letter.received_at.tzinfo is not None


def test_stop_flushes_a_partial_batch_via_run_collector(
    example_config: Config, mosquitto: BrokerProcess, sqlite_store: SqliteStore,
    tmp_path: Path,
) -> None:
    cfg = collector_config(example_config, mosquitto, sqlite_store.path, batch_size=10_000,
                           queue_size=10_000, flush_interval_s=3600.0)
    stop = threading.Event()
    ready = tmp_path / "ready"
    result: list[CollectorReport] = []
    thread = threading.Thread(
        target=lambda: result.append(run_collector(cfg, ready_file=ready, stop=stop)))
    thread.start()
    try:
        wait_until(ready.exists, "the ready file")
        topic = reading_topic("greenpipe/v1", "factory-1", "f1-main")
        publish_qos1(mosquitto,
                     [(topic, encode_reading(T0 + i * STEP, 100.0 + i)) for i in range(5)])
        # Neither the batch size nor the flush interval is reached, so nothing is stored yet.
        time.sleep(0.3)
        assert stored_readings(sqlite_store) == 0
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    (report,) = result
    assert (report.received, report.written, report.unwritten) == (5, 5, 0)
    assert stored_readings(sqlite_store) == 5
    assert sqlite_store.stats().meters[0].energy_kwh == 4.0


def test_persistent_session_delivers_what_was_published_while_down(
    example_config: Config, mosquitto: BrokerProcess, sqlite_store: SqliteStore,
    running: list[Collector],
) -> None:
    cfg = collector_config(example_config, mosquitto, sqlite_store.path)
    topic = reading_topic("greenpipe/v1", "factory-3", "f3-main")
    registers = [500.0, 501.125, 503.5, 503.75, 510.0, 512.001]
    first = Collector(cfg)
    running.append(first)
    first.start()
    assert first.wait_ready(30)
    publish_qos1(mosquitto,
                 [(topic, encode_reading(T0 + i * STEP, registers[i])) for i in range(3)])
    wait_until(lambda: stored_readings(sqlite_store) == 3, "the first three readings")
    first.stop()

    # Published while no collector runs: the broker queues them for the persistent session.
    publish_qos1(mosquitto, [(topic, encode_reading(T0 + i * STEP, registers[i]))
                        for i in range(3, 6)])
    second = Collector(cfg)  # same client id
    running.append(second)
    second.start()
    wait_until(lambda: stored_readings(sqlite_store) == 6, "the readings queued while down")
    second.stop()
    frame = sqlite_store.read(T0 - STEP, T0 + 6 * STEP, STEP, meters=["f3-main"])
    # The 4th reading continues from the stored register (no second first_reading gap).
    assert_allclose(frame["energy_kwh"].tolist()[1:], [1.125, 2.375, 0.25, 6.25, 2.001],
                    rtol=0, atol=1e-12)


def test_reconnects_and_resumes_after_the_broker_restarts(
    example_config: Config, tmp_path: Path, sqlite_store: SqliteStore,
    running: list[Collector],
) -> None:
    broker = start_mosquitto(tmp_path / "restarting")
    try:
        cfg = collector_config(example_config, broker, sqlite_store.path)
        collector = Collector(cfg)
        running.append(collector)
        collector.start()
        assert collector.wait_ready(30)
        topic = reading_topic("greenpipe/v1", "pv-plant", "pv-1")
        publish_qos1(broker, [(topic, encode_reading(T0, 10.0))])
        wait_until(lambda: stored_readings(sqlite_store) == 1, "the reading before restart")

        stop_process(broker.process)
        broker = start_mosquitto(tmp_path / "restarting", port=broker.port)
        # The fixture's Mosquitto cannot persist sessions across a restart, so wait for the
        # collector to reconnect and resubscribe before publishing.
        wait_until(lambda: collector.subscriptions_acknowledged == 2, "the resubscription")
        publish_qos1(broker, [(topic, encode_reading(T0 + STEP, 12.5))])
        wait_until(lambda: stored_readings(sqlite_store) == 2, "the reading after restart")
        report = collector.stop()
        assert (report.received, report.written) == (2, 2)
        assert sqlite_store.latest()["pv-1"].energy_kwh == 2.5
    finally:
        stop_process(broker.process)


def test_cli_collect_flushes_on_sigterm(
    example_config: Config, mosquitto: BrokerProcess, sqlite_store: SqliteStore,
    tmp_path: Path,
) -> None:
    ready = tmp_path / "cli.ready"
    env = dict(os.environ)
    env.update({
        "GREENPIPE_CONFIG": str(REPO / "config" / "example.toml"),
        "GREENPIPE_COLLECTOR_CLIENT_ID": f"test-cli-{time.time_ns()}",
        "GREENPIPE_COLLECTOR_BATCH_SIZE": "10000",
        "GREENPIPE_COLLECTOR_QUEUE_SIZE": "10000",
        "GREENPIPE_COLLECTOR_FLUSH_INTERVAL_S": "3600",
    })
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "collect", "--broker",
         f"{mosquitto.host}:{mosquitto.port}", "--store", f"sqlite:///{sqlite_store.path}",
         "--ready-file", str(ready)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, "the CLI's ready file")
        assert proc.poll() is None, (tmp_path / "collector.log").read_text()
        topic = reading_topic("greenpipe/v1", "office-1", "office-1-main")
        publish_qos1(mosquitto, [(topic, encode_reading(T0 + i * STEP, 7.0 * i)) for i in range(4)])
        time.sleep(0.3)
        assert stored_readings(sqlite_store) == 0  # held in the batch until shutdown
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, (tmp_path / "collector.log").read_text()
    finally:
        stop_process(proc)
        log.close()
    assert stored_readings(sqlite_store) == 4
    output = (tmp_path / "collector.log").read_text()
    assert "SIGTERM received" in output
    assert "collector stopped: received 4, written 4" in output


def test_unreachable_broker_is_a_clear_error_and_releases_the_store(
    example_config: Config, sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    nobody = BrokerProcess("127.0.0.1", free_loopback_port(), None)  # type: ignore[arg-type]
    cfg = collector_config(example_config, nobody, sqlite_store.path)
    ready = tmp_path / "ready"
    with pytest.raises(BrokerUnavailableError, match=f"cannot reach MQTT broker 127.0.0.1:"
                       f"{nobody.port}.*check broker.host/broker.port"):
        run_collector(cfg, ready_file=ready, stop=threading.Event())
    assert not ready.exists()
    assert all(t.name != "greenpipe-collector-writer" for t in threading.enumerate())
