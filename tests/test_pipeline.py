"""End-to-end: simulators -> real broker -> collector -> SqliteStore, as separate processes.

An independent paho observer records every reading the simulators publish, so the test
knows the exact truth: each meter's stored readings must match the published count, and its
stored interval energies must add up exactly to its published register delta.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenpipe.app.demo import resume_backfill_days
from greenpipe.config import Config, load_config
from greenpipe.model import Reading
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.conftest import EXAMPLE_CONFIG, BrokerProcess, signal_and_collect, wait_until

pytestmark = pytest.mark.integration

BACKFILL_DAYS = 2
BAD_PAYLOADS = (b"not json", b'{"ts": "2025-01-01T00:00:00", "register_kwh": 1}')


@dataclass
class Observed:
    """What an independent subscriber saw on the broker, per meter."""

    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_register: dict[str, float] = field(default_factory=dict)
    last_register: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload in BAD_PAYLOADS:
            return  # published by this test on purpose; they must become dead letters
        meter = msg.topic.split("/")[-2]
        body = json.loads(msg.payload)
        # A batch upload (backfill) counts each of its readings.
        bodies = body if msg.topic.endswith("/readings") else [body]
        with self.lock:
            for body in bodies:
                self.count[meter] += 1
                if "register_kwh" in body:
                    self.first_register.setdefault(meter, body["register_kwh"])
                    self.last_register[meter] = body["register_kwh"]


def _observe(broker: BrokerProcess, prefix: str) -> tuple[mqtt.Client, Observed]:
    observed = Observed()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-observer",
                         protocol=mqtt.MQTTv311)
    client.on_message = observed.on_message
    client.on_subscribe = lambda *a: ready.set()
    client.connect(broker.host, broker.port)
    client.subscribe([(f"{prefix}/+/+/reading", 1), (f"{prefix}/+/+/readings", 1)])
    client.loop_start()
    assert ready.wait(10), "observer was not subscribed"
    return client, observed


def _run_cli(*args: str, env: dict[str, str] | None = None,
             **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "greenpipe", *args],
        env={**os.environ, **(env or {})}, text=True, **kwargs,  # type: ignore[call-overload]
    )


def _pipeline(broker: BrokerProcess, tmp_path: Path, example_config: Config) -> None:
    db = tmp_path / "pipeline.db"
    store_url = f"sqlite:///{db}"
    broker_arg = f"{broker.host}:{broker.port}"
    ready = tmp_path / "collector.ready"
    observer, observed = _observe(broker, example_config.broker.topic_prefix)
    collector = _run_cli("collect", "--config", str(EXAMPLE_CONFIG), "--broker", broker_arg,
                         "--store", store_url, "--ready-file", str(ready),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(ready.exists, "the collector to subscribe", 60)
        sim = subprocess.run(
            [sys.executable, "-m", "greenpipe", "simulate", "--config", str(EXAMPLE_CONFIG),
             "--broker", broker_arg, "--seed", "7", "--backfill-days", str(BACKFILL_DAYS),
             "--no-live", "--no-progress"],
            capture_output=True, text=True, timeout=300,
        )
        assert sim.returncode == 0, sim.stderr
        # Malformed input in the middle of the stream must not stop valid ingest.
        bad = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-bad")
        bad.connect(broker.host, broker.port)
        bad.loop_start()
        for payload in BAD_PAYLOADS:
            bad.publish("greenpipe/v1/factory-1/f1-main/reading", payload, qos=1).wait_for_publish(
                10)
        bad.loop_stop()
        bad.disconnect()
        production = {m.id for m in example_config.meters if m.kind == "production"}
        expected_total = sum(n for m, n in observed.count.items() if m not in production)
        assert set(observed.count) == {m.id for m in example_config.meters}

        reader = SqliteStore(db)
        try:
            wait_until(
                lambda: sum(m.readings for m in reader.stats().meters) >= expected_total
                and reader.stats().dead_letters >= 2,
                f"{expected_total} readings and 2 dead letters in the store", 120,
            )
        finally:
            reader.close()
    finally:
        observer.loop_stop()
        observer.disconnect()
        out = signal_and_collect(collector, signal.SIGTERM)
    assert collector.returncode == 0, out
    assert "Traceback" not in out

    store = SqliteStore(db, Catalog.of(example_config.meters, example_config.sites))
    try:
        stats = {m.meter: m for m in store.stats().meters}
        dead = store.read_dead_letters()
        now = datetime.now(UTC)
        made = store.read_production(now - timedelta(days=30), now + timedelta(days=2),
                                     timedelta(days=40))
    finally:
        store.close()
    # Production goes to its own table: every published output message is stored once.
    assert dict(zip(made["meter"], made["records"], strict=True)) == {
        m: observed.count[m] for m in production}
    for meter in example_config.meters:
        if meter.id in production:
            continue
        s = stats[meter.id]
        assert s.readings == observed.count[meter.id], meter.id
        if meter.id in observed.first_register:
            delta = observed.last_register[meter.id] - observed.first_register[meter.id]
            assert abs(s.energy_kwh - delta) < 1e-6, (meter.id, s.energy_kwh, delta)
            assert delta > 0
    # Two shown in this test, exactly: nothing valid was dead-lettered.
    assert len(dead) == 2
    assert {d.payload for d in dead} == set(BAD_PAYLOADS)
    assert all(d.reason for d in dead)


def test_pipeline_on_mosquitto(mosquitto: BrokerProcess, tmp_path: Path,
                               example_config: Config) -> None:
    _pipeline(mosquitto, tmp_path, example_config)


def test_pipeline_on_embedded_amqtt(amqtt_broker: BrokerProcess, tmp_path: Path,
                                    example_config: Config) -> None:
    _pipeline(amqtt_broker, tmp_path, example_config)


def test_demo_runs_the_pipeline_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    demo = _run_cli(
        "demo", "--config", str(EXAMPLE_CONFIG), "--store", f"sqlite:///{db}",
        "--backfill-days", "1", "--speed", "60", "--no-forecast",
        "--dashboard-port", "0",
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    cfg = load_config(EXAMPLE_CONFIG, env={})
    meters = {m.id for m in cfg.meters if m.kind != "production"}
    production = {m.id for m in cfg.meters if m.kind == "production"}
    try:
        def all_meters_have_a_day() -> bool:
            if not db.exists():
                return False
            store = SqliteStore(db)
            try:
                stats = store.stats().meters
                now = datetime.now(UTC)
                made = store.read_production(now - timedelta(days=3), now + timedelta(days=3),
                                             timedelta(days=6))
            finally:
                store.close()
            return ({m.meter for m in stats if m.readings >= 48} == meters
                    and set(made.loc[made["records"] >= 48, "meter"]) == production)
        wait_until(all_meters_have_a_day, "a day of readings for every meter", 180)
    finally:
        out = signal_and_collect(demo, signal.SIGINT, timeout_s=90)
    assert demo.returncode == 0, out
    assert "embedded amqtt" in out
    assert "dashboard  http://127.0.0.1:" in out
    assert "stopped cleanly" in out
    assert "Traceback" not in out

    # A restarted demo continues the stored registers: no counter reset on any meter.
    store = SqliteStore(db)
    try:
        before = {m: r.ts for m, r in store.latest().items()}
    finally:
        store.close()
    demo = _run_cli(
        "demo", "--config", str(EXAMPLE_CONFIG), "--store", f"sqlite:///{db}",
        "--backfill-days", "1", "--speed", "60", "--no-forecast", "--no-dashboard",
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        def every_meter_went_on() -> bool:
            store = SqliteStore(db)
            try:
                latest = store.latest()
            finally:
                store.close()
            return all(latest[m].ts > ts for m, ts in before.items())
        wait_until(every_meter_went_on, "new readings of every meter after the restart", 180)
    finally:
        out = signal_and_collect(demo, signal.SIGINT, timeout_s=90)
    assert demo.returncode == 0, out
    with closing(sqlite3.connect(db)) as conn:
        resets = conn.execute("SELECT meter_id, COUNT(*) FROM readings WHERE quality LIKE "
                              "'%counter_reset%' GROUP BY meter_id").fetchall()
    assert resets == []


def test_second_demo_run_only_backfills_the_gap(tmp_path: Path, example_config: Config) -> None:
    cfg = example_config
    db = tmp_path / "resume.db"
    from dataclasses import replace

    cfg = replace(cfg, store=replace(cfg.store, url=f"sqlite:///{db}"))
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert resume_backfill_days(cfg, 400, now) == 400  # empty store: the full history
    store = SqliteStore(db)
    store.write([Reading("f1-main", "factory-1", now - timedelta(days=3), register_kwh=5.0)])
    store.close()
    days = resume_backfill_days(cfg, 400, now)
    # Three days since the newest reading, less one 30-minute interval of clearance.
    assert days == pytest.approx(3 - 1800 / 86400, abs=1 / 86400)
