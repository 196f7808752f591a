"""End-to-end into InfluxDB: simulator -> Mosquitto (production config) -> collector -> influxd.

Separate processes, real servers: Debian's mosquitto runs deploy/mosquitto/* (password
file and ACL, so the simulator and the collector log in as their own users), and the
collector writes to the real influxd 1.6.7 through InfluxStore. An independent subscriber
records what was published, so each meter's stored count and energy are checked exactly:
stored interval energies add up to the published register delta.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenpipe.config import load_config
from greenpipe.stores import Catalog
from greenpipe.stores.influx import InfluxStore
from greenpipe.stores.influx_admin import init
from tests._deploy_mosquitto import EXAMPLE_PASSWORDS, DeployMosquitto, start_deploy_mosquitto
from tests.conftest import (
    EXAMPLE_CONFIG,
    InfluxProcess,
    signal_and_collect,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def deploy_broker(tmp_path: Path) -> Iterator[DeployMosquitto]:
    """deploy/mosquitto/* running on Debian's mosquitto."""
    broker = start_deploy_mosquitto(tmp_path / "mosquitto")
    yield broker
    stop_process(broker.process)


def _env(user: str) -> dict[str, str]:
    return {**os.environ, "GREENPIPE_BROKER_USERNAME": user,
            "GREENPIPE_BROKER_PASSWORD": EXAMPLE_PASSWORDS[user]}


def _client(user: str, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311)
    client.username_pw_set(user, EXAMPLE_PASSWORDS[user])
    return client


def test_simulator_to_collector_to_influxdb_exact_totals(
    deploy_broker: DeployMosquitto, influxdb: InfluxProcess, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLE_CONFIG, env={})
    prefix = cfg.broker.topic_prefix
    url = influxdb.store_url(f"pipeline_{uuid.uuid4().hex[:8]}")
    admin = InfluxStore(url)
    init(admin)
    admin.close()
    broker_arg = f"{deploy_broker.host}:{deploy_broker.port}"

    counts: dict[str, int] = defaultdict(int)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    lock = threading.Lock()
    subscribed = threading.Event()

    bad_payloads = {b"not json", b'{"ts": "2025-01-01T00:00:00", "register_kwh": 1}'}

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload in bad_payloads:
            return  # published below on purpose; the collector must dead-letter them
        meter = msg.topic.split("/")[-2]
        body = json.loads(msg.payload)
        # A batch upload (backfill) counts each of its readings.
        bodies = body if msg.topic.endswith("/readings") else [body]
        with lock:
            for body in bodies:
                counts[meter] += 1
                if "register_kwh" in body:
                    first.setdefault(meter, body["register_kwh"])
                    last[meter] = body["register_kwh"]

    observer = _client("collector", "test-observer")
    observer.on_message = on_message
    observer.on_subscribe = lambda *a: subscribed.set()
    observer.connect(deploy_broker.host, deploy_broker.port)
    observer.subscribe([(f"{prefix}/+/+/reading", 1), (f"{prefix}/+/+/readings", 1)])
    observer.loop_start()
    assert subscribed.wait(10)

    ready = tmp_path / "collector.ready"
    collector = subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "collect", "--config", str(EXAMPLE_CONFIG),
         "--broker", broker_arg, "--store", url, "--ready-file", str(ready)],
        env=_env("collector"), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=tmp_path,  # the collector's spool (var/...) goes to the test's directory
    )
    try:
        wait_until(ready.exists, "the collector to subscribe", 60)
        sim = subprocess.run(
            [sys.executable, "-m", "greenpipe", "simulate", "--config", str(EXAMPLE_CONFIG),
             "--broker", broker_arg, "--seed", "11", "--backfill-days", "2", "--no-live",
             "--no-progress"],
            env=_env("simulator"), capture_output=True, text=True, timeout=300,
        )
        assert sim.returncode == 0, sim.stderr
        bad = _client("simulator", "test-bad")
        bad.connect(deploy_broker.host, deploy_broker.port)
        bad.loop_start()
        for payload in sorted(bad_payloads):
            bad.publish(f"{prefix}/factory-1/f1-main/reading", payload,
                        qos=1).wait_for_publish(10)
        bad.loop_stop()
        bad.disconnect()
        production = {m.id for m in cfg.meters if m.kind == "production"}
        expected = sum(n for m, n in counts.items() if m not in production)
        assert set(counts) == {m.id for m in cfg.meters}

        reader = InfluxStore(url)
        try:
            made_total = sum(counts[m] for m in production)
            far = datetime.now(UTC) + timedelta(days=1)

            def all_stored() -> bool:
                stats = reader.stats()
                made = reader.read_production(far - timedelta(days=400), far,
                                              timedelta(days=400))
                return (sum(m.readings for m in stats.meters) >= expected
                        and stats.dead_letters >= 2
                        and int(made["records"].sum()) >= made_total)
            wait_until(all_stored, f"{expected} readings, {made_total} production records "
                       "and 2 dead letters in InfluxDB", 120)
        finally:
            reader.close()
    finally:
        observer.loop_stop()
        observer.disconnect()
        out = signal_and_collect(collector, signal.SIGTERM)
    assert collector.returncode == 0, out
    assert "Traceback" not in out

    store = InfluxStore(url, Catalog.of(cfg.meters, cfg.sites))
    try:
        stats = {m.meter: m for m in store.stats().meters}
        dead = store.read_dead_letters()
        span_start = min(m.first_ts for m in stats.values() if m.first_ts) - timedelta(hours=1)
        span_end = datetime.now(UTC) + timedelta(days=1)
        per_meter = store.read(span_start, span_end, span_end - span_start)
        by_sector = store.read(span_start, span_end, span_end - span_start, group_by="sector")
        made = store.read_production(span_start, span_end, span_end - span_start)
    finally:
        store.close()
    # Production goes to its own measurement: every published output message stored once.
    # (One bucket as wide as the span can still straddle InfluxDB's epoch-aligned bucket
    # edges, so sum each meter's buckets.)
    assert made.groupby("meter")["records"].sum().to_dict() == {
        m: counts[m] for m in production}
    for meter in cfg.meters:
        if meter.id in production:
            continue
        s = stats[meter.id]
        assert s.readings == counts[meter.id], meter.id
        if meter.id in first:
            delta = last[meter.id] - first[meter.id]
            assert delta > 0
            assert s.energy_kwh == pytest.approx(delta, abs=1e-6), meter.id
    # The aggregated read agrees with the per-meter totals, in the database's arithmetic.
    totals = per_meter.groupby("meter")["energy_kwh"].sum().fillna(0.0)
    for meter_id, s in stats.items():
        assert totals.get(meter_id, 0.0) == pytest.approx(s.energy_kwh, abs=1e-6)
    assert by_sector["readings"].sum() == expected
    assert len(dead) == 2 and {d.payload for d in dead} == bad_payloads
    assert all(d.reason for d in dead)
