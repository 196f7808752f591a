"""Tests for collector.spool: the durable SQLite spool in front of the store.

The unit tests put a real SqliteStore behind a wrapper that fails on demand (a store that
is down); the integration test stops a real influxd for 30 s under steady MQTT ingest.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.spool import Spool, SpoolFullError, SpoolingStore
from greenpipe.config import Config
from greenpipe.errors import StoreError
from greenpipe.model import DeadLetter, Reading, SequenceState
from greenpipe.stores import Catalog
from greenpipe.stores.influx import InfluxStore
from greenpipe.stores.influx_admin import init
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
from tests.conftest import REPO, BrokerProcess, _find_influxd, start_influxd, stop_process

T0 = datetime(2026, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)


def reading(i: int, meter: str = "f1-main", site: str = "factory-1") -> Reading:
    return Reading(meter_id=meter, site_id=site, ts=T0 + i * STEP,
                   energy_kwh=None if i == 0 else 0.5, register_kwh=100.0 + 0.5 * i,
                   power_kw=1.25, quality=frozenset({"quality.first_reading"}) if i == 0
                   else frozenset())


class FlakyStore:
    """A real SqliteStore that raises a retryable StoreError while ``down`` is set."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.down = False
        self.retry_after_s: float | None = None
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            exc = StoreError("store is down (test)", retryable=True)
            exc.retry_after_s = self.retry_after_s  # type: ignore[attr-defined]
            raise exc

    def write(self, readings: Sequence[Reading]) -> int:
        self._check()
        return self.inner.write(readings)

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._check()
        self.inner.write_dead_letters(letters)

    def write_sequence_states(self, states: Sequence[SequenceState]) -> None:
        self._check()
        self.inner.write_sequence_states(states)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stored_rows(store: SqliteStore) -> list[tuple[str, datetime, float | None]]:
    rows = store._query("SELECT meter_id, ts_ms, register_kwh FROM readings ORDER BY ts_ms")
    return [(m, T0 + timedelta(milliseconds=ts - round(T0.timestamp() * 1000)), r)
            for m, ts, r in rows]


def test_spools_while_down_and_replays_in_order_after_restart(
    sqlite_store: SqliteStore, tmp_path: Path,
) -> None:
    flaky = FlakyStore(sqlite_store)
    clock = Clock()
    spool_file = tmp_path / "spool.db"
    store = SpoolingStore(flaky, Spool(spool_file, 100), batch_size=3, clock=clock)
    store.write([reading(0), reading(1)])
    assert len(stored_rows(sqlite_store)) == 2  # written through

    flaky.down = True
    letter = DeadLetter(received_at=T0, topic="t", payload=b"\xff", code="payload.not_utf8",
                        reason="why")
    assert store.write([reading(2), reading(3)]) == 2  # spooled: counts as durable
    store.write_dead_letters([letter])
    store.write([reading(4)])
    assert store.spool.depth == 4
    # latest() merges: the spooled register is newer than the stored one.
    assert store.latest()["f1-main"].register_kwh == 102.0
    assert store.spool.holds("f1-main", T0 + 3 * STEP)
    assert not store.spool.holds("f1-main", T0 + 9 * STEP)

    # A restart while the store is still down: the spool file keeps everything.
    store.spool.close()
    store = SpoolingStore(flaky, Spool(spool_file, 100), batch_size=3, clock=clock)
    assert store.spool.depth == 4
    flaky.down = False
    clock.now += 10
    assert store.replay() == 4
    assert store.spool.depth == 0
    assert [r for _, _, r in stored_rows(sqlite_store)] == [100.0, 100.5, 101.0, 101.5, 102.0]
    (got,) = sqlite_store.read_dead_letters()
    assert (got.payload, got.code, got.reason) == (b"\xff", "payload.not_utf8", "why")
    back = sqlite_store.latest()["f1-main"]
    assert (back.ts, back.energy_kwh, back.power_kw, back.quality) == (
        T0 + 4 * STEP, 0.5, 1.25, frozenset())
    store.close()


def test_new_writes_queue_behind_the_backlog_and_retry_after_is_honoured(
    sqlite_store: SqliteStore, tmp_path: Path,
) -> None:
    flaky = FlakyStore(sqlite_store)
    clock = Clock()
    store = SpoolingStore(flaky, Spool(tmp_path / "s.db", 100), batch_size=10, clock=clock)
    flaky.down, flaky.retry_after_s = True, 30.0
    store.write([reading(0)])
    calls = flaky.calls
    flaky.down = False
    clock.now += 29.0  # the server asked for 30 s: no attempt yet, the write is spooled
    store.write([reading(1)])
    assert (flaky.calls, store.spool.depth) == (calls, 2)
    clock.now += 1.0
    store.write([reading(2)])  # replays the backlog first, then writes through
    assert store.spool.depth == 0
    assert [r for _, _, r in stored_rows(sqlite_store)] == [100.0, 100.5, 101.0]
    store.close()


def test_full_spool_refuses_retryably_and_warns_near_full(
    sqlite_store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = FlakyStore(sqlite_store)
    flaky.down = True
    store = SpoolingStore(flaky, Spool(tmp_path / "s.db", 5), batch_size=10, clock=Clock())
    with caplog.at_level(logging.WARNING, logger="collector.spool"):
        store.write([reading(i) for i in range(3)])
        assert "SPOOL NEARLY FULL" not in caplog.text
        store.write([reading(3)])  # 4 of 5 = 80 %
        assert "SPOOL NEARLY FULL" in caplog.text and "4 of 5 rows" in caplog.text
    with pytest.raises(SpoolFullError, match=r"is full \(4 of 5 rows\)") as info:
        store.write([reading(4), reading(5)])
    assert info.value.retryable
    assert store.spool.depth == 4  # nothing partial
    store.close()


def test_rows_for_another_store_are_never_replayed_elsewhere(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10, store="influxdb://a:8086/one")
    spool.append([reading(0)])
    spool.close()
    with pytest.raises(StoreError, match=r"holds 1 rows for store 'influxdb://a:8086/one', "
                       r"not 'influxdb://b:8086/two'; point store\.url back"):
        Spool(tmp_path / "s.db", 10, store="influxdb://b:8086/two")
    again = Spool(tmp_path / "s.db", 10, store="influxdb://a:8086/one")
    (seq, _), = again.peek(5)
    again.delete_through(seq)
    again.close()
    Spool(tmp_path / "s.db", 10, store="influxdb://b:8086/two").close()  # empty: reusable


def test_unusable_spool_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=r"cannot open the collector spool .*fix "
                       r"collector\.spool_path") as info:
        Spool(blocker / "spool.db", 10)
    assert not info.value.retryable


# ---------------------------------------------------------------- real influxd outage


def _restart_influxd(workdir: Path) -> subprocess.Popen[bytes]:
    """Start influxd again with the same config (same ports, same data)."""
    log = open(workdir / "influxd.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([_find_influxd(), "-config", str(workdir / "influxd.conf")],
                            stdout=log, stderr=log)
    return proc


def _wait_ping(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=1) as resp:
                if resp.status == 204:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail("influxd did not come back")


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


METERS = (("factory-1", "f1-main", 1000.0), ("factory-3", "f3-main", 20.0),
          ("pv-plant", "pv-1", 0.0))


@pytest.mark.integration
def test_influxdb_down_for_30_s_during_steady_ingest_loses_nothing(
    mosquitto: BrokerProcess, tmp_path: Path, example_config: Config,
) -> None:
    influx = start_influxd(tmp_path / "influxd")
    proc = None
    try:
        url = influx.store_url("outage")
        catalog = Catalog.of(example_config.meters, example_config.sites)
        admin = InfluxStore(url, catalog)
        init(admin)
        proc, log_path = _collector(mosquitto, tmp_path, url, "collector",
                                    f"test-outage-{time.time_ns()}",
                                    {"GREENPIPE_COLLECTOR_SUMMARY_INTERVAL_S": "5"})

        # Steady ingest: one reading per meter every 50 ms, from a background publisher.
        published = [0]
        stop = threading.Event()
        registers = {m: [s] for _, m, s in METERS}

        def publisher() -> None:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="outage-pub")
            client.connect(mosquitto.host, mosquitto.port)
            client.loop_start()
            i = 0
            try:
                while not stop.is_set():
                    for site, meter, _ in METERS:
                        if i:
                            registers[meter].append(registers[meter][-1] + 0.25 * (1 + i % 5))
                        client.publish(reading_topic("greenpipe/v1", site, meter),
                                       encode_reading(T0 + i * STEP, registers[meter][-1]),
                                       qos=1).wait_for_publish(30)
                    i += 1
                    published[0] = i
                    time.sleep(0.05)
            finally:
                client.disconnect()
                client.loop_stop()

        thread = threading.Thread(target=publisher)
        thread.start()
        rss: list[int] = []
        try:
            time.sleep(3)
            rss_before = _rss_kb(proc.pid)
            stop_process(influx.process)  # InfluxDB down
            for _ in range(30):
                time.sleep(1)
                rss.append(_rss_kb(proc.pid))
                assert proc.poll() is None
            restarted = _restart_influxd(tmp_path / "influxd")
            influx = type(influx)(influx.host, influx.port, restarted, influx.version)
            _wait_ping(influx.http_url, restarted)
            time.sleep(3)
        finally:
            stop.set()
            thread.join(60)
        per_meter = published[0]
        deadline = time.monotonic() + 90
        while True:
            counts = {m.meter: m.readings for m in admin.stats().meters}
            if counts == {m: per_meter for _, m, _ in METERS}:
                break
            assert time.monotonic() < deadline, (counts, per_meter, log_path.read_text()[-3000:])
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-3000:]
        output = log_path.read_text()
        assert "spooling to" in output and "spool drained" in output
        stats = {m.meter: m for m in admin.stats().meters}
        for _, meter, _ in METERS:
            regs = registers[meter]
            assert stats[meter].readings == per_meter == len(regs)
            assert math.isclose(stats[meter].energy_kwh, regs[-1] - regs[0], abs_tol=1e-6)
            assert admin.latest()[meter].register_kwh == regs[-1]
        assert admin.stats().dead_letters == 0
        print(f"\noutage test: {per_meter * len(METERS)} readings, collector RSS before "
              f"{rss_before / 1024:.1f} MiB, max during the 30 s outage {max(rss) / 1024:.1f} "
              "MiB")
        # Bounded memory: readings go to disk, not RAM (a generous ceiling, not a timing).
        assert max(rss) - rss_before < 64 * 1024
    finally:
        if proc is not None:
            stop_process(proc)
        stop_process(influx.process)


def test_sequence_states_wait_in_the_spool_while_the_store_is_down(tmp_path: Path) -> None:
    """Upstream-loss counts are never lost with the store down, nor rolled back after."""
    inner = SqliteStore(tmp_path / "store.db")
    flaky, clock = FlakyStore(inner), Clock()
    spool_file = tmp_path / "spool.db"
    store = SpoolingStore(flaky, Spool(spool_file, 100), batch_size=3, clock=clock)
    old = SequenceState("f1-main", "factory-1", 10, T0, T0, messages=11)
    store.write_sequence_states([old])
    flaky.down = True
    new = replace(old, high_seq=20, messages=21, lost=3, holes=((12, 14),))
    store.write_sequence_states([new])
    assert inner.read_sequence_states() == {"f1-main": old}
    store.spool.close()
    # A restart while the store is still down: the spool's newer state wins.
    store = SpoolingStore(flaky, Spool(spool_file, 100), batch_size=3, clock=clock)
    assert store.read_sequence_states() == {"f1-main": new}
    flaky.down = False
    clock.now += 60
    store.replay()
    assert inner.read_sequence_states() == {"f1-main": new}
    assert store.spool.states() == {}
    store.close()


def _collector(mosquitto: BrokerProcess, tmp_path: Path, url: str, name: str,
               client_id: str, extra_env: dict[str, str] | None = None
               ) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``greenpipe collect`` with a spool in ``tmp_path``; wait until it subscribed."""
    env = dict(os.environ)
    env.update({
        "GREENPIPE_CONFIG": str(REPO / "config" / "example.toml"),
        "GREENPIPE_COLLECTOR_CLIENT_ID": client_id,
        "GREENPIPE_COLLECTOR_SPOOL_PATH": str(tmp_path / "spool.db"),
        "GREENPIPE_COLLECTOR_FLUSH_INTERVAL_S": "0.2",
        "GREENPIPE_STORE_TIMEOUT_S": "2",
        **(extra_env or {}),
    })
    ready, log_path = tmp_path / f"{name}.ready", tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "greenpipe", "collect", "--broker",
             f"{mosquitto.host}:{mosquitto.port}", "--store", url, "--ready-file",
             str(ready)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    return proc, log_path


def _publish(mosquitto: BrokerProcess, first: int, registers: dict[str, list[float]],
             n: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}")
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        for i in range(first, first + n):
            for site, meter, _ in METERS:
                if i:
                    registers[meter].append(registers[meter][-1] + 0.5 * (1 + i % 3))
                client.publish(reading_topic("greenpipe/v1", site, meter),
                               encode_reading(T0 + i * STEP, registers[meter][-1]),
                               qos=1).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.integration
def test_collector_starts_without_the_store_and_totals_stay_exact(
    mosquitto: BrokerProcess, tmp_path: Path, example_config: Config,
) -> None:
    influx = start_influxd(tmp_path / "influxd")
    proc = None
    client_id = f"test-nostore-{time.time_ns()}"
    try:
        url = influx.store_url("nostore")
        admin = InfluxStore(url, Catalog.of(example_config.meters, example_config.sites))
        init(admin)
        registers = {m: [s] for _, m, s in METERS}
        # A first run with the store up: the spool file keeps the register state.
        proc, log_path = _collector(mosquitto, tmp_path, url, "first", client_id)
        _publish(mosquitto, 0, registers, 5)
        deadline = time.monotonic() + 60
        while sum(m.readings for m in admin.stats().meters) < 5 * len(METERS):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        # Power cut: InfluxDB comes back after the collector.
        stop_process(influx.process)
        proc, log_path = _collector(mosquitto, tmp_path, url, "second", client_id)
        _publish(mosquitto, 5, registers, 10)
        time.sleep(2)
        assert proc.poll() is None, log_path.read_text()[-3000:]
        restarted = _restart_influxd(tmp_path / "influxd")
        influx = type(influx)(influx.host, influx.port, restarted, influx.version)
        _wait_ping(influx.http_url, restarted)
        deadline = time.monotonic() + 90
        while sum(m.readings for m in admin.stats().meters) < 15 * len(METERS):
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()[-3000:]
        output = log_path.read_text()
        assert "store unavailable at start" in output and "continuing the registers" in output
        stats = {m.meter: m for m in admin.stats().meters}
        for _, meter, _ in METERS:
            regs = registers[meter]
            assert stats[meter].readings == 15 == len(regs)
            # Exact: the interval across the restart is counted once, from the kept register.
            assert math.isclose(stats[meter].energy_kwh, regs[-1] - regs[0], abs_tol=1e-6)
        latest = admin.latest()
        assert all("quality.first_reading" not in latest[m].quality for _, m, _ in METERS)
        assert admin.stats().dead_letters == 0
    finally:
        if proc is not None:
            stop_process(proc)
        stop_process(influx.process)
