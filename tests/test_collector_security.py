"""The Mosquitto ACL example in docs/security.md, run in a real Mosquitto with passwords.

A meter may publish its own reading topic and nothing else; the collector logs in with a
password from the environment, receives exactly the authorised reading, and its log never
shows the password.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.service import Collector
from greenpipe.config import load_config
from greenpipe.mqtt import BrokerUnavailableError, connect_and_start, make_client
from greenpipe.net import free_loopback_port
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic
from tests.conftest import REPO, _find_mosquitto, stop_process, wait_for_port, wait_until

pytestmark = pytest.mark.integration

PASSWORDS = {"collector": "s3cret-collector-pw", "f1-main": "s3cret-meter-pw"}


def acl_from_docs() -> str:
    text = (REPO / "docs" / "security.md").read_text()
    section = text.split("## Mosquitto ACL", 1)[1]
    return re.search(r"```\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def _start_broker(tmp_path: Path, conf: str) -> tuple[int, subprocess.Popen[bytes]]:
    """Start Mosquitto on a free loopback port with ``conf`` after its listener line."""
    port = free_loopback_port()
    (tmp_path / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\n{conf}" + ("user root\n" if os.geteuid() == 0 else ""))
    broker = subprocess.Popen([_find_mosquitto(), "-c", str(tmp_path / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, broker)
    except BaseException:
        stop_process(broker)
        raise
    return port, broker


def start_collector(tmp_path: Path, port: int, db: Path, log_path: Path,
                    env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run ``greenpipe collect`` (example city, user ``collector``) until it has subscribed."""
    ready = tmp_path / "ready"
    full = {k: v for k, v in os.environ.items() if k != "GREENPIPE_BROKER_PASSWORD"}
    full.update(GREENPIPE_CONFIG=str(REPO / "config" / "example.toml"),
                GREENPIPE_BROKER_USERNAME="collector",
                GREENPIPE_COLLECTOR_FLUSH_INTERVAL_S="0.1", **env)
    with open(log_path, "wb") as log:
        collector = subprocess.Popen(
            [sys.executable, "-m", "greenpipe", "-v", "collect", "--broker",
             f"127.0.0.1:{port}", "--store", f"sqlite:///{db}", "--ready-file",
             str(ready)], env=full, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if collector.poll() is not None or time.monotonic() > deadline:
            stop_process(collector)
            raise AssertionError(log_path.read_text())
        time.sleep(0.05)
    return collector


def publish_own_and_forged(port: int, client_id: str, user: str, password: str,
                           own: tuple[str, str], forged: tuple[str, str]) -> tuple[int, int]:
    """Publish one reading as ``user`` under its own (site, meter) and one under another's.

    Returns the two PUBACK reason codes (MQTT 5): 0 accepted, 135 not authorized.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    reasons: dict[int, int] = {}
    client.on_publish = lambda c, u, mid, rc, props: reasons.__setitem__(mid, rc.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    a = client.publish(reading_topic("greenpipe/v1", *own), encode_reading(time_ts(0), 5.0),
                       qos=1)
    b = client.publish(reading_topic("greenpipe/v1", *forged),
                       encode_reading(time_ts(0), 7.0), qos=1)
    a.wait_for_publish(30)
    b.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()
    return reasons[a.mid], reasons[b.mid]


def test_meter_publishes_only_its_own_topic_and_secrets_stay_out_of_logs(
    tmp_path: Path,
) -> None:
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    (tmp_path / "acl").write_text(acl_from_docs())
    port, broker = _start_broker(
        tmp_path, f"allow_anonymous false\npassword_file {passwd}\nacl_file {tmp_path / 'acl'}\n")
    collector = None
    try:
        db, log_path = tmp_path / "store.db", tmp_path / "collector.log"
        collector = start_collector(tmp_path, port, db, log_path, {
            "GREENPIPE_BROKER_PASSWORD": PASSWORDS["collector"],
            "GREENPIPE_COLLECTOR_CLIENT_ID": "sec-collector"})

        assert publish_own_and_forged(
            port, "f1-main", "f1-main", PASSWORDS["f1-main"], ("factory-1", "f1-main"),
            ("factory-3", "f3-main")) == (0, 135)  # 135: Not authorized

        wait_until(lambda: db.exists() and _stored(db), "the collector to store a reading", 60)
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(60) == 0
        assert [m.meter for m in SqliteStore(db).stats().meters] == ["f1-main"]
        output = log_path.read_text()
        assert "collector stopped: received 1, written 1" in output
        assert all(pw not in output for pw in PASSWORDS.values())
    finally:
        if collector is not None:
            stop_process(collector)
        stop_process(broker)


def time_ts(i: int) -> datetime:
    return datetime(2026, 4, 1, tzinfo=UTC) + i * timedelta(minutes=30)


def _stored(db: Path) -> int:
    store = SqliteStore(db)
    try:
        return sum(m.readings for m in store.stats().meters)
    finally:
        store.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_collector_over_tls_with_a_client_certificate(tmp_path: Path) -> None:
    """Mosquitto requires a client certificate; the collector connects with the config's."""
    for name in ("ca", "server", "client"):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key",
                 cwd=tmp_path)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-days", "2", "-subj", "/CN=test-ca",
             "-out", "ca.crt", cwd=tmp_path)
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "collector")):
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out",
                 f"{name}.csr", cwd=tmp_path)
        extra = ["-extfile", "san.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra, cwd=tmp_path)
    port, broker = _start_broker(
        tmp_path, f"allow_anonymous true\ncafile {tmp_path}/ca.crt\n"
        f"certfile {tmp_path}/server.crt\nkeyfile {tmp_path}/server.key\n"
        "require_certificate true\n")
    try:
        base = load_config(REPO / "config" / "example.toml", env={})
        cfg = replace(base, broker=replace(
            base.broker, host="127.0.0.1", port=port, tls=True, ca_file=str(tmp_path / "ca.crt"),
            cert_file=str(tmp_path / "client.crt"), key_file=str(tmp_path / "client.key")),
            store=replace(base.store, url=f"sqlite:///{tmp_path}/store.db"),
            collector=replace(base.collector, client_id="tls-collector"))
        collector = Collector(cfg)
        try:
            collector.start()
            assert collector.wait_ready(30)
        finally:
            collector.stop()
        # Without the client certificate the broker refuses the TLS handshake.
        anonymous = replace(cfg.broker, cert_file=None, key_file=None)
        client = make_client(anonymous, "tls-anon")
        with pytest.raises(BrokerUnavailableError):
            connect_and_start(client, anonymous, timeout_s=3)
        client.loop_stop()
    finally:
        stop_process(broker)


def test_refused_password_names_the_password_file_and_does_not_promise_a_reconnect(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14: the error pointed only at GREENPIPE_BROKER_PASSWORD although the password
    came from broker.password_file, after a 'reconnecting with backoff' warning."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "collector", "right"], check=True)
    port, broker = _start_broker(tmp_path, f"allow_anonymous false\npassword_file {passwd}\n")
    try:
        secret = tmp_path / "broker_password"
        secret.write_text("wrong\n")
        base = load_config(REPO / "config" / "example.toml", env={})
        cfg = replace(base, broker=replace(
            base.broker, host="127.0.0.1", port=port, username="collector",
            password_file=str(secret), password="wrong"),
            store=replace(base.store, url=f"sqlite:///{tmp_path}/store.db"),
            collector=replace(base.collector, client_id="auth-collector"))
        caplog.set_level(logging.DEBUG)
        with pytest.raises(BrokerUnavailableError) as info:
            Collector(cfg).start()
        text = str(info.value)
        assert f"broker.password_file ({secret})" in text and "'collector'" in text
        assert "wrong" not in text  # never the password itself
        assert "reconnecting with backoff" not in caplog.text
    finally:
        stop_process(broker)
