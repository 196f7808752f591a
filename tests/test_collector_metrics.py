"""Tests for collector.metrics: the Prometheus endpoint, /healthz and JSON log lines."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from collector.metrics import JsonFormatter, Metrics
from collector.pipeline import CollectorReport
from collector.service import Collector
from greenpipe.config import Config
from greenpipe.net import free_loopback_port
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
from tests.conftest import BrokerProcess, config_for_broker

T0 = datetime(2026, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
NOW = datetime(2026, 4, 2, tzinfo=UTC)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_exposition_reads_the_report_at_scrape_time() -> None:
    report = CollectorReport(received=10, decoded=8, written=7, rejected={"payload.bad_json": 2},
                             dead_letters=2, duplicates=1, quality={"quality.spike": 1})
    metrics = Metrics(lambda: report, lambda: {"f1-main": NOW - timedelta(seconds=90)},
                      lambda: {"spool_depth": 3.0, "queue_depth": 0.0},
                      lambda: (True, "ok\n"), clock=lambda: NOW)
    metrics.observe_write(0.004)
    got = samples(metrics.exposition().decode())
    p = "greenpipe_collector_"
    assert got[(p + "messages_received_total", ())] == 10
    assert got[(p + "messages_decoded_total", ())] == 8
    assert got[(p + "readings_written_total", ())] == 7
    assert got[(p + "rejected_total", (("reason", "payload.bad_json"),))] == 2
    assert got[(p + "quality_flags_total", (("code", "quality.spike"),))] == 1
    assert got[(p + "duplicates_total", ())] == 1
    assert got[(p + "spool_depth", ())] == 3
    assert got[(p + "meter_last_seen_age_seconds", (("meter", "f1-main"),))] == 90
    assert got[(p + "store_write_seconds_count", ())] == 1
    assert got[(p + "store_write_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[(p + "store_write_seconds_bucket", (("le", "0.0025"),))] == 0


def test_json_log_lines() -> None:
    record = logging.LogRecord("collector.service", logging.WARNING, __file__, 1,
                               "lost %d of %s", (3, "f1-main"), None)
    record.created = T0.timestamp()
    assert json.loads(JsonFormatter().format(record)) == {
        "ts": "2026-04-01T00:00:00.000+00:00", "level": "warning",
        "logger": "collector.service", "msg": "lost 3 of f1-main"}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.integration
def test_endpoint_and_healthz_of_a_running_collector(
    example_config: Config, mosquitto: BrokerProcess, sqlite_store: SqliteStore,
    tmp_path: Path,
) -> None:
    port = free_loopback_port()
    cfg = config_for_broker(example_config, mosquitto, f"sqlite:///{sqlite_store.path}")
    cfg = replace(cfg, collector=replace(cfg.collector, client_id=f"test-m-{time.time_ns()}",
                                         flush_interval_s=0.1, metrics_port=port))
    topic = reading_topic("greenpipe/v1", "factory-1", "f1-main")
    messages = [(topic, encode_reading(T0 + i * STEP, 10.0 + i)) for i in range(5)]
    messages += [(topic, b"{oops"), (topic, encode_reading(T0 + 4 * STEP, 14.0))]
    collector = Collector(cfg)
    try:
        collector.start()
        assert collector.wait_ready(30)
        assert collector.metrics_port == port
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="m-pub")
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        for t, payload in messages:
            client.publish(t, payload, qos=1).wait_for_publish(30)
        client.disconnect()
        client.loop_stop()
        deadline = time.monotonic() + 60
        while sqlite_store.stats().dead_letters < 1 or \
                sum(m.readings for m in sqlite_store.stats().meters) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, text = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        got = samples(text)
        p = "greenpipe_collector_"
        assert got[(p + "messages_received_total", ())] == 7
        assert got[(p + "messages_decoded_total", ())] == 6
        assert got[(p + "readings_written_total", ())] == 5
        assert got[(p + "duplicates_total", ())] == 1
        assert got[(p + "rejected_total", (("reason", "payload.bad_json"),))] == 1
        assert got[(p + "quality_flags_total", (("code", "quality.first_reading"),))] == 1
        assert got[(p + "spool_depth", ())] == 0
        assert got[(p + "connected", ())] == 1
        assert got[(p + "store_write_seconds_count", ())] >= 1
        assert got[(p + "meter_last_seen_age_seconds", (("meter", "f1-main"),))] >= 0
        status, text = _get(f"http://127.0.0.1:{port}/healthz")
        assert (status, text) == (200, "ok (connected, spool 0 rows)\n")
        assert _get(f"http://127.0.0.1:{port}/other")[0] == 404
    finally:
        collector.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
