"""The writer process (``collector.writer = "process"``) against real Mosquitto and SQLite.

The child that decodes and stores is SIGKILLed mid-stream: the collector fails loudly,
acknowledges nothing more, and a restarted collector stores exactly what was published,
counting redeliveries as duplicates. Bad payloads become dead letters with their reasons;
a clean stop stores and acknowledges everything it received.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.service import Collector
from greenpipe.config import Config
from greenpipe.errors import ConfigError, StoreError
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
from tests.conftest import BrokerProcess, config_for_broker, publish_qos1, wait_until
from tests.test_collector_faults import METERS, T0, assert_complete, stored, stream

pytestmark = pytest.mark.integration


def process_config(example_config: Config, broker: BrokerProcess, db: Path,
                   client_id: str, **collector: object) -> Config:
    cfg = config_for_broker(example_config, broker, f"sqlite:///{db}")
    return replace(cfg, collector=replace(cfg.collector, client_id=client_id,
                                          writer="process", flush_interval_s=0.2,
                                          **collector))  # type: ignore[arg-type]


def test_writer_process_sigkilled_mid_stream_loses_nothing_and_counts_nothing_twice(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    per_meter, half = 300, 150
    cfg = process_config(example_config, mosquitto, db, f"test-wp-kill-{time.time_ns()}")
    first = Collector(cfg)
    try:
        first.start()
        assert first.wait_ready(30)
        pid = first.writer_pid
        assert pid is not None and pid != os.getpid()
        assert first._health() == (True, "ok (connected, spool 0 rows)\n")
        publish_qos1(mosquitto, stream(0, half))
        wait_until(lambda: stored(db) >= 100, "the collector to be mid-stream")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: first.failure is not None, "the collector to notice")
        assert "writer process" in str(first.failure)
        assert "NOT acknowledged" in str(first.failure)
        assert first._health() == (False, f"failed: {first.failure}\n")
    finally:
        first.stop()
    at_kill = stored(db)
    assert at_kill < half * len(METERS) or first.report().written <= at_kill
    publish_qos1(mosquitto, stream(half, per_meter - half))  # while no collector runs

    second = Collector(cfg)
    try:
        second.start()
        wait_until(lambda: stored(db) == per_meter * len(METERS), "every reading stored")
    finally:
        report = second.stop()
    # Whatever the child stored and could not report is redelivered: a duplicate, not a
    # second interval (assert_complete checks every meter's energy adds up exactly once).
    assert report.written == per_meter * len(METERS) - at_kill
    assert report.received == report.written + report.duplicates
    assert report.rejected_total == report.dead_letters == report.unwritten == 0
    assert_complete(db, per_meter)


def test_writer_process_dead_letters_bad_payloads_with_their_reasons(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "store.db"
    cfg = process_config(example_config, mosquitto, db, f"test-wp-dl-{time.time_ns()}")
    good = stream(0, 4)
    bad = [
        (reading_topic("greenpipe/v1", "factory-1", "f1-main"), b"{not json"),
        (reading_topic("greenpipe/v1", "factory-1", "no-such-meter"),
         encode_reading(T0, 1.0)),
        (reading_topic("greenpipe/v1", "factory-1", "f1-main"),
         encode_reading(datetime.now(UTC) + timedelta(days=30), 5000.0)),  # clock ahead
    ]
    collector = Collector(cfg)
    try:
        collector.start()
        assert collector.wait_ready(30)
        publish_qos1(mosquitto, good + bad)
        wait_until(lambda: collector.report().dead_letters == 3, "three dead letters")
    finally:
        report = collector.stop()
    assert report.received == 15 and report.written == 12
    assert dict(report.rejected) == {"payload.bad_json": 1, "payload.unknown_meter": 1,
                                     "quality.future_timestamp": 1}
    store = SqliteStore(db)
    try:
        letters = {d.code: d for d in store.read_dead_letters()}
    finally:
        store.close()
    assert letters["payload.bad_json"].payload == b"{not json"
    assert "no-such-meter" in letters["payload.unknown_meter"].reason
    assert "fix the meter's clock" in letters["quality.future_timestamp"].reason
    # The child's log records reach the collector's loggers.
    assert "dead letter payload.bad_json" in caplog.text
    assert "collector stopped: received 15, written 12, rejected 3" in caplog.text


def test_writer_process_stop_stores_and_acknowledges_everything_received(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    n = 40
    # No flush by age: only the stop's drain stores what the writer still holds.
    cfg = process_config(example_config, mosquitto, db, f"test-wp-stop-{time.time_ns()}",
                         max_inflight=1000, batch_size=10_000)
    cfg = replace(cfg, collector=replace(cfg.collector, flush_interval_s=3600.0))
    first = Collector(cfg)
    try:
        first.start()
        assert first.wait_ready(30)
        # A service manager (or Ctrl-C) signals the whole process group: the writer process
        # ignores it and ends when the collector's own stop tells it to, after the drain.
        assert first.writer_pid is not None
        os.kill(first.writer_pid, signal.SIGTERM)
        os.kill(first.writer_pid, signal.SIGINT)
        publish_qos1(mosquitto, stream(0, n))
        wait_until(lambda: first.report().received == n * len(METERS), "every message")
        assert first.failure is None
    finally:
        report = first.stop()
    assert report.written == n * len(METERS) == stored(db)
    # Same session: nothing was left unacknowledged, so only the new readings arrive.
    second = Collector(replace(cfg, collector=replace(cfg.collector, flush_interval_s=0.2)))
    try:
        second.start()
        assert second.wait_ready(30)
        publish_qos1(mosquitto, stream(n, 1))
        wait_until(lambda: second.report().written == len(METERS), "the next readings")
    finally:
        again = second.stop()
    assert again.received == len(METERS) and again.duplicates == 0
    assert_complete(db, n + 1)


def test_writer_process_start_errors_are_raised_by_start(
    example_config: Config, mosquitto: BrokerProcess, tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    cfg = process_config(example_config, mosquitto, tmp_path / "file" / "store.db",
                         f"test-wp-err-{time.time_ns()}")
    with pytest.raises(StoreError):
        Collector(cfg).start()
    owned = replace(cfg, collector=replace(cfg.collector, share_group="g",
                                           share_members="a,b", client_id="a"))
    with pytest.raises(ConfigError, match=r"collector\.writer"):
        Collector(owned).start()
