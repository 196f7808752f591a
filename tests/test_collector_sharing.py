"""Scale-out: collectors share one MQTT 5 subscription; interval energy stays exact.

Mosquitto hands each reading to any member, so every meter's stream is split between
them. With ``share_members`` each meter has one owner (collector.sharing); the others
forward, and the owner puts the readings back in order. Without, the members are stateless
(collector.stateless) and the SQLite store's write transaction orders the readings.
The store must end up with every reading once and each meter's
energies adding up exactly to its register delta.
"""

from __future__ import annotations

import signal
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.service import Collector
from collector.sharing import Ownership, shared
from greenpipe.config import Config
from greenpipe.errors import ConfigError
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
from tests.conftest import (
    BrokerProcess,
    config_for_broker,
    publish_qos1,
    stop_process,
    wait_until,
)
from tests.test_collector_faults import (
    final_counts,
    start_cli_collector,
    stop_cli_collector,
    stored,
)

T0 = datetime(2026, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
METERS = (("factory-1", "f1-main"), ("factory-3", "f3-main"), ("pv-plant", "pv-1"),
          ("office-1", "office-1-main"), ("mall-1", "mall-1-main"))
N = 60


def register(i: int) -> float:
    return 500.0 + sum(0.25 * (1 + k % 4) for k in range(i))


def group_config(base: Config, broker: BrokerProcess, db: Path, me: str, members: str
                 ) -> Config:
    cfg = config_for_broker(base, broker, f"sqlite:///{db}")
    return replace(cfg, broker=replace(cfg.broker, protocol="5"),
                   collector=replace(cfg.collector, client_id=me, share_group="g1",
                                     share_members=members, flush_interval_s=0.1))


def test_ownership_is_stable_and_validated(example_config: Config) -> None:
    cfg = replace(example_config, collector=replace(
        example_config.collector, client_id="a", share_group="g", share_members="a, b"))
    own = Ownership.from_config(cfg)
    assert own is not None
    assert shared("g", "greenpipe/v1/+/+/reading") == "$share/g/greenpipe/v1/+/+/reading"
    owners = {own.owner(reading_topic("greenpipe/v1", s, m)) for s, m in METERS}
    assert owners == {"a", "b"}  # both members own some of these meters
    topic = reading_topic("greenpipe/v1", "factory-1", "f1-main")
    fwd = own.forward_topic("a", topic)
    assert fwd == "greenpipe/v1/_collector/a/greenpipe/v1/factory-1/f1-main/reading"
    assert own.unwrap(fwd) == topic and own.unwrap(topic) is None
    assert Ownership.from_config(example_config) is None
    for members, fix in (("b, c", "including this one ('a')"), ("a, a", "distinct")):
        bad = replace(cfg, collector=replace(cfg.collector, share_members=members))
        with pytest.raises(ConfigError, match=r"collector\.share_members") as info:
            Ownership.from_config(bad)
        assert fix in str(info.value)


@pytest.mark.integration
def test_two_collectors_share_the_load_and_energy_stays_exact(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    ns = time.time_ns()
    a, b = f"a-{ns}", f"b-{ns}"
    collectors = [Collector(group_config(example_config, mosquitto, db, me, f"{a},{b}"))
                  for me in (a, b)]
    try:
        for c in collectors:
            c.start()
            assert c.wait_ready(30)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{ns}",
                          protocol=mqtt.MQTTv5)
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        infos = [pub.publish(reading_topic("greenpipe/v1", site, meter),
                             encode_reading(T0 + i * STEP, register(i)), qos=1)
                 for i in range(N) for site, meter in METERS]
        for info in infos:
            info.wait_for_publish(30)
        pub.disconnect()
        pub.loop_stop()
        store = SqliteStore(db)
        deadline = time.monotonic() + 90
        while sum(m.readings for m in store.stats().meters) < N * len(METERS):
            assert time.monotonic() < deadline, [c.report() for c in collectors]
            time.sleep(0.1)
        reports = [c.stop() for c in collectors]
    finally:
        for c in collectors:
            c.stop()
    total = N * len(METERS)
    # Both collectors got a share of the subscription and forwarded what they do not own.
    assert all(r.forwarded > 0 for r in reports), reports
    assert sum(r.received for r in reports) == total + sum(r.forwarded for r in reports)
    assert all(r.rejected_total == r.unwritten == 0 for r in reports), reports
    # Late arrivals re-split an interval: their next reading is written again.
    assert sum(r.written for r in reports) >= total
    assert sum(r.duplicates for r in reports) == 0
    assert_intervals(store, N)
    store.close()


def assert_intervals(store: SqliteStore, n: int) -> None:
    """Every meter: ``n`` readings once, each interval its register delta, no dead letter."""
    assert store.stats().dead_letters == 0, store.read_dead_letters()
    stats = {m.meter: m for m in store.stats().meters}
    for _, meter in METERS:
        assert stats[meter].readings == n
        assert stats[meter].energy_kwh == register(n - 1) - register(0)
        frame = store.read(T0, T0 + n * STEP, STEP, meters=[meter])
        assert frame["energy_kwh"].tolist() == [register(i) - register(i - 1)
                                                for i in range(1, n)]


# ---------------------------------------------------------------- stateless members

def seq_stream(first: int, count: int) -> list[tuple[str, bytes]]:
    """Readings ``first .. first+count-1`` of every meter, numbered (``seq``) from 0."""
    return [(reading_topic("greenpipe/v1", site, meter),
             encode_reading(T0 + i * STEP, register(i), seq=i))
            for i in range(first, first + count) for site, meter in METERS]


def assert_exact(db: Path, n: int) -> None:
    """Every meter: ``n`` readings once, each interval its register delta, nothing lost."""
    store = SqliteStore(db)
    try:
        assert_intervals(store, n)
        for _, meter in METERS:
            state = store.read_sequence_states()[meter]
            # ``messages`` counts deliveries: a redelivery after a crash counts again.
            assert state.lost == 0 and state.messages >= n
    finally:
        store.close()


@pytest.mark.integration
def test_stateless_members_join_and_restart_mid_stream_and_energy_stays_exact(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    ns = time.time_ns()
    ids = [f"{x}-{ns}" for x in "abc"]

    def member(me: str) -> Collector:
        c = Collector(group_config(example_config, mosquitto, db, me, ""))
        c.start()
        assert c.wait_ready(30)
        return c

    running = {me: member(me) for me in ids[:2]}
    reports = []
    try:
        publish_qos1(mosquitto, seq_stream(0, 20), protocol=mqtt.MQTTv5)
        running[ids[2]] = member(ids[2])  # a member joins: nothing to configure elsewhere
        publish_qos1(mosquitto, seq_stream(20, 20), protocol=mqtt.MQTTv5)
        reports.append(running.pop(ids[0]).stop())  # a member leaves ...
        publish_qos1(mosquitto, seq_stream(40, 10), protocol=mqtt.MQTTv5)
        running[ids[0]] = member(ids[0])  # ... and comes back: its session kept its share
        publish_qos1(mosquitto, seq_stream(50, N - 50), protocol=mqtt.MQTTv5)
        wait_until(lambda: stored(db) >= N * len(METERS), "every reading stored")
        reports += [c.stop() for c in running.values()]
    finally:
        for c in running.values():
            c.stop()
    assert all(r.rejected_total == r.unwritten == r.forwarded == 0 for r in reports), reports
    assert sum(r.received for r in reports) == N * len(METERS)
    assert sum(1 for r in reports if r.received) >= 3  # the load really was shared
    assert_exact(db, N)


@pytest.mark.integration
def test_stateless_member_killed_mid_stream_loses_nothing(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "store.db"
    ns = time.time_ns()
    n = 200
    monkeypatch.setenv("GREENPIPE_BROKER_PROTOCOL", "5")
    group = {"share_group": "g1", "flush_interval_s": "0.1"}
    killed, log_path = start_cli_collector(mosquitto, db, tmp_path, f"k-{ns}", "killed",
                                           **group)
    survivor = Collector(group_config(example_config, mosquitto, db, f"s-{ns}", ""))
    try:
        survivor.start()
        assert survivor.wait_ready(30)
        publish_qos1(mosquitto, seq_stream(0, n // 2), protocol=mqtt.MQTTv5)
        wait_until(lambda: stored(db) >= 100, "the members to be mid-stream")
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(30) == -signal.SIGKILL
        publish_qos1(mosquitto, seq_stream(n // 2, n - n // 2), protocol=mqtt.MQTTv5)
        # Its unacknowledged and newly queued share waits in its session for the restart.
        killed, log_path = start_cli_collector(mosquitto, db, tmp_path, f"k-{ns}", "again",
                                               **group)
        wait_until(lambda: stored(db) >= n * len(METERS), "every reading stored")
        counts = final_counts(stop_cli_collector(killed, log_path))
        report = survivor.stop()
    finally:
        stop_process(killed)
        survivor.stop()
    assert counts["rejected"] == report.rejected_total == 0
    assert counts["received"] > 0 and report.received > 0
    assert_exact(db, n)
