"""Shared fixtures: real brokers on free loopback ports, example config, temporary stores.

Servers are real processes (Mosquitto from Debian, the embedded amqtt broker). Each fixture
picks a free port on 127.0.0.1, never a fixed one, and fails loudly if the server binary is
missing: CI installs it (`make test` runs scripts/install-system-deps.sh).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greenpipe.config import Config, load_config
from greenpipe.net import free_loopback_port
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config" / "example.toml"


@dataclass(frozen=True)
class BrokerProcess:
    """A running MQTT broker started by a fixture."""

    host: str
    port: int
    process: subprocess.Popen[bytes]


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port, or fail the test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


def _find_mosquitto() -> str:
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists(
        "/usr/sbin/mosquitto") else None)
    if path is None:
        pytest.fail("mosquitto is not installed; run `make test` (installs it) or "
                    "`apt-get install mosquitto`")
    return path


def start_mosquitto(workdir: Path, port: int | None = None, *, stock_queues: bool = False,
                    sys_interval_s: int | None = None) -> BrokerProcess:
    """Start Mosquitto on a free loopback port with persistence in ``workdir``.

    ``stock_queues`` keeps Mosquitto's default queue limits (``max_queued_messages`` 1000,
    ``max_inflight_messages`` 20) instead of the unbounded ones greenpipe needs;
    ``sys_interval_s`` sets how often ``$SYS`` counters are published (default 10 s).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_loopback_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        # Keep root so Mosquitto can write its save file into pytest's root-owned tmp dir;
        # otherwise sessions are lost when a fault test restarts the broker.
        + ("user root\n" if os.geteuid() == 0 else "")
        + "persistence true\n"
        f"persistence_location {workdir}/\n"
        + ("" if stock_queues else "max_queued_messages 0\nmax_inflight_messages 0\n")
        + (f"sys_interval {sys_interval_s}\n" if sys_interval_s else "")
        + "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
    )
    log = open(workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([_find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log)
    wait_for_port(port, proc)
    return BrokerProcess("127.0.0.1", port, proc)


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 90.0) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def publish_qos1(broker: BrokerProcess, messages: list[tuple[str, bytes]],
                 protocol: int = mqtt.MQTTv311) -> None:
    """Publish at QoS 1 from a plain paho client and wait for every PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.time_ns()}",
                         protocol=protocol)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def signal_and_collect(proc: subprocess.Popen[str], sig: int, timeout_s: float = 60.0) -> str:
    """Send ``sig`` to a CLI process, wait for it (killing it after ``timeout_s``) and
    return its combined output."""
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Terminate a process and wait for it; kill it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A real Mosquitto broker on a free 127.0.0.1 port, stopped after the test."""
    broker = start_mosquitto(tmp_path / "mosquitto")
    yield broker
    stop_process(broker.process)


@pytest.fixture
def amqtt_broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """The embedded amqtt broker (`greenpipe broker`) on a free 127.0.0.1 port."""
    port = free_loopback_port()
    log = open(tmp_path / "amqtt.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "broker", "--port", str(port)],
        stdout=log, stderr=log,
    )
    wait_for_port(port, proc)
    yield BrokerProcess("127.0.0.1", port, proc)
    stop_process(proc)


@pytest.fixture(scope="session")
def example_config() -> Config:
    """The shipped example city configuration, with no environment overrides."""
    return load_config(EXAMPLE_CONFIG, env={})


def config_for_broker(cfg: Config, broker: BrokerProcess, store_url: str | None = None) -> Config:
    """Return ``cfg`` pointed at a fixture's broker (and optionally a store URL)."""
    cfg = replace(cfg, broker=replace(cfg.broker, host=broker.host, port=broker.port))
    if store_url is not None:
        cfg = replace(cfg, store=replace(cfg.store, url=store_url))
    return cfg


@pytest.fixture
def sqlite_store(tmp_path: Path, example_config: Config) -> Iterator[SqliteStore]:
    """An empty SqliteStore in a temporary directory, catalogued with the example city."""
    store = SqliteStore(tmp_path / "store.db",
                        Catalog.of(example_config.meters, example_config.sites))
    yield store
    store.close()


@dataclass(frozen=True)
class InfluxProcess:
    """A running InfluxDB 1.x server started by a fixture."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    version: str

    @property
    def http_url(self) -> str:
        """Base HTTP URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def store_url(self, database: str) -> str:
        """Return the greenpipe store URL of ``database`` on this server."""
        return f"influxdb://{self.host}:{self.port}/{database}"


def _find_influxd() -> str:
    path = shutil.which("influxd") or ("/usr/bin/influxd" if os.path.exists(
        "/usr/bin/influxd") else None)
    if path is None:
        pytest.fail("influxd is not installed; run `make test` (installs it) or "
                    "`apt-get install influxdb`")
    return path


def start_influxd(workdir: Path) -> InfluxProcess:
    """Start influxd 1.x on free loopback ports with its data in ``workdir``; wait for /ping."""
    import urllib.error
    import urllib.request

    workdir.mkdir(parents=True, exist_ok=True)
    http_port, rpc_port = free_loopback_port(), free_loopback_port()
    while rpc_port == http_port:
        rpc_port = free_loopback_port()
    conf = workdir / "influxd.conf"
    # influxd 1.x also binds the RPC (backup/restore) port, 8088 by default: move it too.
    conf.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{workdir}/meta"\n'
        f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n'
        "  query-log-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{http_port}"\n  log-enabled = false\n'
        "  max-row-limit = 0\n"
        "[monitor]\n  store-enabled = false\n"
        "[continuous_queries]\n  enabled = false\n"
    )
    log = open(workdir / "influxd.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([_find_influxd(), "-config", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"influxd exited with {proc.returncode}; see {workdir}/influxd.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ping", timeout=1) as resp:
                if resp.status == 204:
                    version = resp.headers.get("X-Influxdb-Version", "")
                    return InfluxProcess("127.0.0.1", http_port, proc, version)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    stop_process(proc)
    raise RuntimeError(f"influxd did not answer /ping on port {http_port} within 30 s")


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxProcess]:
    """A real influxd 1.x (Debian package) on free 127.0.0.1 ports, shared by the session.

    Tests isolate themselves by using their own database names.
    """
    server = start_influxd(tmp_path_factory.mktemp("influxd"))
    yield server
    stop_process(server.process)
