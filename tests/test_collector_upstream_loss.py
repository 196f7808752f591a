"""Issue 14: readings lost upstream on a stock Mosquitto are reported exactly, never silently.

A backfill published while the collector is away overflows Mosquitto's default queue
(``max_queued_messages`` 1000) and the broker drops the rest. The collector must count the
shortfall per meter from ``seq``, see the broker's ``$SYS`` drop counter, persist the count
in the store (``greenpipe store stats --json``) and export both on ``/metrics``. The same run
against a correctly configured broker loses nothing and reports 0.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.service import Collector
from greenpipe import wire
from greenpipe.app.cli import main
from greenpipe.config import Config
from greenpipe.model import MeterKind
from greenpipe.stores.sqlite import SqliteStore
from tests.conftest import (
    EXAMPLE_CONFIG,
    config_for_broker,
    publish_qos1,
    start_mosquitto,
    stop_process,
    wait_until,
)

T0 = datetime(2025, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
SLOTS = 160
"""Readings per meter in the backfill: 11 meters x 160 = 1760, well above 1000."""


def _backfill(cfg: Config) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """The backfill (slot by slot, all meters) and one later live message per meter."""
    # Energy meters only: weather and production meters send other payload forms.
    meters = [m for m in cfg.meters
              if m.kind not in (MeterKind.WEATHER, MeterKind.PRODUCTION)]
    prefix = cfg.broker.topic_prefix

    def message(i: int, seq: int) -> tuple[str, bytes]:
        m = meters[i % len(meters)]
        return (wire.reading_topic(prefix, m.site, m.id),
                wire.encode_reading(T0 + seq * STEP, 1000.0 + 2.5 * seq, 5.0, seq))

    backfill = [message(i, slot) for slot in range(SLOTS) for i in range(len(meters))]
    live = [message(i, SLOTS) for i in range(len(meters))]
    return backfill, live


def collector_id(collector: Collector) -> str:
    return collector._cfg.collector.client_id


def _run(example_config: Config, tmp_path: Path, *, stock: bool
         ) -> tuple[int, dict[str, int], dict[str, int], Collector, Path]:
    broker = start_mosquitto(tmp_path / "mosquitto", stock_queues=stock, sys_interval_s=1)
    try:
        db = tmp_path / "store.db"
        cfg = config_for_broker(example_config, broker, f"sqlite:///{db}")
        cfg = replace(cfg, collector=replace(
            cfg.collector, client_id=f"loss-{time.time_ns()}", flush_interval_s=0.2,
            summary_interval_s=60.0, metrics_port=0))
        backfill, live = _backfill(cfg)
        # 1. The collector subscribes once (its persistent session), then is away.
        first = Collector(cfg)
        first.start()
        assert first.wait_ready(30)
        first.stop()
        # 2. The backfill is published meanwhile; a stock broker queues only 1000 of it.
        publish_qos1(broker, backfill)
        # 3. The collector comes back and drains its queue; the meters then go on sending.
        collector = Collector(cfg)
        collector.start()
        assert collector.wait_ready(30)
        time.sleep(1.0)  # let the queued messages in before the live ones
        publish_qos1(broker, live)
        store = SqliteStore(db)
        last = T0 + SLOTS * STEP
        wait_until(lambda: all(r.ts == last for r in store.latest().values())
                   and len(store.latest()) == len(live)
                   and sum(s.messages for s in store.read_sequence_states().values())
                   == collector.report().decoded, "the live readings stored", timeout_s=30)
        if stock:
            wait_until(lambda: (collector.report().broker_dropped or 0) > 0,
                       "the $SYS drop counter", timeout_s=10)
        stored = {m.meter: m.readings for m in store.stats().meters}
        lost = {m: s.lost for m, s in store.read_sequence_states().items()}
        store.close()
        metrics = collector.metrics.exposition().decode()
        collector.stop()
        (tmp_path / "metrics.txt").write_text(metrics)
        return len(backfill) + len(live), stored, lost, collector, db
    finally:
        stop_process(broker.process)


@pytest.mark.integration
def test_stock_mosquitto_loss_is_reported_exactly(
        example_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    published, stored, lost, collector, db = _run(example_config, tmp_path, stock=True)
    shortfall = published - sum(stored.values())
    assert shortfall > published // 3, "the stock broker should have dropped a lot"
    # Exactly what is missing, meter by meter, counted from seq and persisted in the store.
    per_meter = published // len(stored)
    assert lost == {m: per_meter - n for m, n in stored.items()}
    assert sum(lost.values()) == shortfall
    report = collector.report()
    assert dict(report.upstream_lost) == lost
    # The broker's own counter saw the same messages go.
    assert report.broker_dropped == shortfall
    assert "BROKER DROPPED" in caplog.text and "max_queued_messages" in caplog.text
    assert "UPSTREAM LOSS" in caplog.text
    assert f"LOST UPSTREAM {shortfall} (seq gaps)" in caplog.text  # the stop summary line
    assert "broker: mosquitto version" in caplog.text  # the start-up check saw the broker
    assert "no stored session" not in caplog.text  # the first run's session was kept
    metrics = (tmp_path / "metrics.txt").read_text()
    for meter, n in lost.items():
        assert f'greenpipe_collector_upstream_lost_messages{{meter="{meter}"}} {n}.0' in metrics
    assert f"greenpipe_collector_broker_dropped_messages {shortfall}.0" in metrics
    # ... and `greenpipe store stats --json` reads it from the store.
    capsys.readouterr()
    assert main(["store", "stats", "--json", "--config", str(EXAMPLE_CONFIG),
                 "--store", f"sqlite:///{db}"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["meter"]: r["upstream_lost"] for r in rows[:-1]} == lost
    assert rows[-1]["upstream_lost"] == shortfall
    assert rows[-1]["broker_dropped"] == {collector_id(collector): shortfall}


@pytest.mark.integration
def test_configured_mosquitto_loses_nothing_and_reports_zero(
        example_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    published, stored, lost, collector, _ = _run(example_config, tmp_path, stock=False)
    assert sum(stored.values()) == published
    assert lost == {m: 0 for m in stored}
    report = collector.report()
    assert report.upstream_lost_total == 0 and dict(report.upstream_lost) == {}
    assert report.broker_dropped == 0
    assert "BROKER DROPPED" not in caplog.text and "UPSTREAM LOSS" not in caplog.text
    metrics = (tmp_path / "metrics.txt").read_text()
    assert "greenpipe_collector_broker_dropped_messages 0.0" in metrics
