"""Fault injection against real processes: the collector loses nothing and counts nothing twice.

* the collector is SIGKILLed between a durable write and its MQTT acks (deterministic,
  ``tests._collector_child``) and mid-stream from outside (the ``greenpipe collect`` CLI);
* Mosquitto is restarted under the running collector.

Every count is exact: what the store holds is compared with what was published. Waits poll
with a deadline; no assertion depends on timing.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from collector.service import Collector
from greenpipe.config import Config
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
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
WRITERS = pytest.mark.parametrize("writer", ["thread", "process"])
"""Every fault here, with decoding and storing in a thread and in the writer process."""

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
METERS = (("factory-1", "f1-main", 1000.0), ("factory-3", "f3-main", 50_000.0),
          ("pv-plant", "pv-1", 7.5))
DEADLINE_S = 90.0


def register(start_kwh: float, i: int) -> float:
    """Register of reading ``i``: steps of 0.25..2.0 kWh, exact in binary floating point."""
    return start_kwh + sum(0.25 * (1 + (k * 7) % 8) for k in range(i))


def stream(first: int, count: int) -> list[tuple[str, bytes]]:
    """Readings ``first .. first+count-1`` of every meter, interleaved as meters publish."""
    return [(reading_topic("greenpipe/v1", site, meter),
             encode_reading(T0 + i * STEP, register(start, i)))
            for i in range(first, first + count) for site, meter, start in METERS]


def stored(db: Path) -> int:
    store = SqliteStore(db)
    try:
        return sum(m.readings for m in store.stats().meters)
    finally:
        store.close()


def assert_complete(db: Path, per_meter: int) -> None:
    """Every meter holds exactly ``per_meter`` readings whose energies sum to the delta."""
    store = SqliteStore(db)
    try:
        stats = {m.meter: m for m in store.stats().meters}
        assert store.stats().dead_letters == 0, store.read_dead_letters()
        assert sorted(stats) == sorted(meter for _, meter, _ in METERS)
        for _, meter, start in METERS:
            assert stats[meter].readings == per_meter
            # The first reading has unknown energy; the rest add up to the register delta,
            # exactly once (a double-counted interval would show here).
            assert stats[meter].energy_kwh == register(start, per_meter - 1) - start
            frame = store.read(T0 - STEP, T0 + per_meter * STEP, STEP, meters=[meter])
            assert frame["readings"].tolist() == [1] * per_meter
            assert math.isnan(frame["energy_kwh"].iloc[0])
            latest = store.latest()[meter]
            assert latest.register_kwh == register(start, per_meter - 1)
    finally:
        store.close()


def child_env(broker: BrokerProcess, client_id: str, **collector: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GREENPIPE_CONFIG": str(REPO / "config" / "example.toml"),
        "GREENPIPE_BROKER_HOST": broker.host,
        "GREENPIPE_BROKER_PORT": str(broker.port),
        "GREENPIPE_COLLECTOR_CLIENT_ID": client_id,
        "GREENPIPE_COLLECTOR_SUMMARY_INTERVAL_S": "3600",
    })
    env.update({f"GREENPIPE_COLLECTOR_{k.upper()}": v for k, v in collector.items()})
    return env


def start_cli_collector(broker: BrokerProcess, db: Path, workdir: Path, client_id: str,
                        name: str, **collector: str) -> tuple[subprocess.Popen[bytes], Path]:
    ready, log_path = workdir / f"{name}.ready", workdir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "collect", "--store", f"sqlite:///{db}",
         "--ready-file", str(ready)],
        env=child_env(broker, client_id, **collector), stdout=log, stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    log.close()
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, f"{name}'s ready file")
        assert proc.poll() is None, log_path.read_text()
    except BaseException:
        stop_process(proc)
        raise
    return proc, log_path


def stop_cli_collector(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    """SIGTERM the collector, wait for its clean exit and return its log."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, log_path.read_text()
    return log_path.read_text()


def final_counts(log: str) -> dict[str, int]:
    """Parse the collector's last ``collector stopped: ...`` line into counts."""
    line = [ln for ln in log.splitlines() if "collector stopped:" in ln][-1]
    return {k.replace(" ", "_"): int(v)
            for v, k in ((m.group(2), m.group(1)) for m in
                         re.finditer(r"(received|written|rejected|dead letters|duplicates) "
                                     r"(\d+)", line))}


@WRITERS
def test_sigkill_between_write_and_ack_redelivers_without_double_counting(
    mosquitto: BrokerProcess, tmp_path: Path, writer: Literal["thread", "process"],
) -> None:
    db = tmp_path / "store.db"
    client_id = f"test-crash-{time.time_ns()}"
    per_meter = 100
    ready = tmp_path / "child.ready"
    crash_after = 3
    # Flushes when 20 messages (max_inflight) wait for their ack and no more are queued, or
    # at 40 (batch_size), so the 300 messages take at least 8 writes; the child kills itself
    # right after its third write returns and records the size of every write.
    child = subprocess.Popen(
        [sys.executable, "-m", "tests._collector_child", f"sqlite:///{db}", str(ready),
         str(crash_after)],
        env=child_env(mosquitto, client_id, max_inflight="20", batch_size="40",
                      flush_interval_s="3600", writer=writer),
        stdout=open(tmp_path / "child.log", "wb"), stderr=subprocess.STDOUT, cwd=REPO,  # noqa: SIM115
    )
    try:
        wait_until(lambda: ready.exists() or child.poll() is not None, "the child's ready file")
        assert child.poll() is None, (tmp_path / "child.log").read_text()
        publish_qos1(mosquitto, stream(0, per_meter))
        assert child.wait(DEADLINE_S) == -signal.SIGKILL
    finally:
        stop_process(child)
    sizes = [int(n) for n in ready.with_suffix(".writes").read_text().split()]
    assert len(sizes) == crash_after and min(sizes) >= 1
    assert stored(db) == sum(sizes)  # written, never acknowledged

    proc, log_path = start_cli_collector(mosquitto, db, tmp_path, client_id, "restarted",
                                         writer=writer)
    try:
        wait_until(lambda: stored(db) == per_meter * len(METERS), "every reading stored")
        counts = final_counts(stop_cli_collector(proc, log_path))
    finally:
        stop_process(proc)
    # The broker redelivers every unacknowledged message: at least those of the third
    # write (the acks of the first two may also have been lost with the process, if paho
    # had not sent them yet). Redelivered stored ones are duplicates; the rest are new.
    total = per_meter * len(METERS)
    assert counts["written"] == total - sum(sizes)
    assert counts["received"] == counts["written"] + counts["duplicates"]
    assert sizes[-1] <= counts["duplicates"] <= sum(sizes)
    assert counts["rejected"] == counts["dead_letters"] == 0
    assert_complete(db, per_meter)


@WRITERS
def test_sigkill_mid_stream_and_restart_loses_nothing(
    mosquitto: BrokerProcess, tmp_path: Path, writer: Literal["thread", "process"],
) -> None:
    db = tmp_path / "store.db"
    client_id = f"test-kill-{time.time_ns()}"
    per_meter = 300
    half = per_meter // 2
    proc, log_path = start_cli_collector(mosquitto, db, tmp_path, client_id, "first",
                                         writer=writer)
    try:
        publish_qos1(mosquitto, stream(0, half))
        wait_until(lambda: stored(db) >= 100, "the collector to be mid-stream")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        stop_process(proc)
    at_kill = stored(db)
    publish_qos1(mosquitto, stream(half, per_meter - half))  # while no collector runs

    proc, log_path = start_cli_collector(mosquitto, db, tmp_path, client_id, "second",
                                         writer=writer)
    try:
        wait_until(lambda: stored(db) == per_meter * len(METERS), "every reading stored")
        counts = final_counts(stop_cli_collector(proc, log_path))
    finally:
        stop_process(proc)
    assert counts["rejected"] == counts["dead_letters"] == 0
    assert counts["written"] == per_meter * len(METERS) - at_kill
    assert_complete(db, per_meter)


@WRITERS
def test_mosquitto_restart_mid_stream_reconnects_and_resumes(
    example_config: Config, tmp_path: Path, writer: Literal["thread", "process"],
) -> None:
    broker = start_mosquitto(tmp_path / "broker")
    db = tmp_path / "store.db"
    per_meter = 200
    half = per_meter // 2
    cfg = config_for_broker(example_config, broker, f"sqlite:///{db}")
    cfg = replace(cfg, collector=replace(cfg.collector, client_id=f"test-mr-{time.time_ns()}",
                                         flush_interval_s=0.2, writer=writer))
    collector = Collector(cfg)
    try:
        collector.start()
        assert collector.wait_ready(30)
        publish_qos1(broker, stream(0, half))
        wait_until(lambda: stored(db) >= 30, "the collector to be mid-stream")
        stop_process(broker.process)  # SIGTERM: Mosquitto saves its sessions
        broker = start_mosquitto(tmp_path / "broker", port=broker.port)
        # Published before the collector is back (its backoff starts at 1 s): the broker
        # queues them for the collector's persistent session.
        publish_qos1(broker, stream(half, per_meter - half))
        wait_until(lambda: stored(db) == per_meter * len(METERS), "every reading stored")
        report = collector.stop()
    finally:
        collector.stop()
        stop_process(broker.process)
    assert collector.subscriptions_acknowledged >= 2
    assert report.rejected_total == report.dead_letters == report.unwritten == 0
    assert report.written == per_meter * len(METERS)
    assert report.received == report.written + report.duplicates
    assert_complete(db, per_meter)


@WRITERS
def test_mqtt5_session_survives_a_collector_restart(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
    writer: Literal["thread", "process"],
) -> None:
    """MQTT 5: clean start off and a session expiry keep the session (3.1.1 is tested above)."""
    db = tmp_path / "store.db"
    cfg = config_for_broker(example_config, mosquitto, f"sqlite:///{db}")
    cfg = replace(cfg, broker=replace(cfg.broker, protocol="5"),
                  collector=replace(cfg.collector, client_id=f"test-v5-{time.time_ns()}",
                                    flush_interval_s=0.2, session_expiry_s=300,
                                    writer=writer))
    first = Collector(cfg)
    try:
        first.start()
        assert first.wait_ready(30)
        publish_qos1(mosquitto, stream(0, 10))
        wait_until(lambda: stored(db) == 30, "the first readings")
    finally:
        first.stop()
    publish_qos1(mosquitto, stream(10, 40))  # while no collector runs
    second = Collector(cfg)
    try:
        second.start()
        wait_until(lambda: stored(db) == 150, "the readings queued while down")
    finally:
        report = second.stop()
    assert (report.received, report.written, report.duplicates) == (120, 120, 0)
    assert_complete(db, 50)
