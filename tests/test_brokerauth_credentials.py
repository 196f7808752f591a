"""``greenpipe broker credentials``: per-site users, mosquitto_passwd hashes, the ACL, and a
real Mosquitto that loads the generated files."""

from __future__ import annotations

import signal
import stat
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from brokerauth.credentials import acl_text, gateway_user, write_mosquitto
from greenpipe.app.cli import main
from greenpipe.config import load_config
from greenpipe.stores.sqlite import SqliteStore
from tests.conftest import EXAMPLE_CONFIG, stop_process, wait_until
from tests.test_collector_security import (
    _start_broker,
    _stored,
    publish_own_and_forged,
    start_collector,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_acl_lets_each_gateway_write_only_its_site() -> None:
    cfg = load_config(EXAMPLE_CONFIG, env={})
    text = acl_text(cfg)
    assert "user gw-factory-1\ntopic write greenpipe/v1/factory-1/#\n" in text
    assert "user collector\ntopic read greenpipe/v1/#\n" in text
    assert text.count("\nuser ") == 1 + len(cfg.sites)
    assert "simulator" not in text
    assert "user simulator\ntopic write greenpipe/v1/#" in acl_text(cfg, simulator=True)


def test_files_are_private_passwords_kept_and_never_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "creds"
    assert main(["broker", "credentials", "--config", str(EXAMPLE_CONFIG),
                 "--format", "mosquitto", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    cfg = load_config(EXAMPLE_CONFIG, env={})
    users = ["collector", *(gateway_user(s.id) for s in cfg.sites)]
    passwords = {u: (out / "passwords" / u).read_text().strip() for u in users}
    assert len(set(passwords.values())) == len(users)
    assert all(len(p) >= 32 for p in passwords.values())
    for path in (out / "passwd", out / "acl", *(out / "passwords").iterdir()):
        assert _mode(path) == 0o600, path
    assert _mode(out) == 0o700 and _mode(out / "passwords") == 0o700
    hashed = dict(line.split(":", 1) for line in (out / "passwd").read_text().splitlines())
    assert sorted(hashed) == sorted(users)
    assert all(h.startswith("$7$") for h in hashed.values())  # mosquitto_passwd's PBKDF2
    for pw in passwords.values():
        assert pw not in printed.out + printed.err
        assert pw not in (out / "passwd").read_text()
    assert "9 new passwords, 0 kept" in printed.out
    # A second run keeps every password (gateways already have theirs).
    again = write_mosquitto(cfg, out)
    assert again.created == ()
    assert {u: (out / "passwords" / u).read_text().strip() for u in users} == passwords


@pytest.mark.integration
def test_real_mosquitto_confines_each_gateway_to_its_site(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE_CONFIG, env={})
    made = write_mosquitto(cfg, tmp_path / "creds")
    port, broker = _start_broker(
        tmp_path, f"allow_anonymous false\npassword_file {made.passwd}\n"
                  f"acl_file {made.acl}\n")
    collector = None
    try:
        db, log_path = tmp_path / "store.db", tmp_path / "collector.log"
        collector = start_collector(tmp_path, port, db, log_path, {
            "GREENPIPE_BROKER_PASSWORD_FILE": str(made.password_dir / "collector"),
            "GREENPIPE_COLLECTOR_CLIENT_ID": "cred-collector"})

        assert publish_own_and_forged(
            port, "gw-f1", "gw-factory-1",
            (made.password_dir / "gw-factory-1").read_text().strip(),
            ("factory-1", "f1-main"), ("factory-2", "f2-main")) == (0, 135)  # Not authorized

        # A wrong password is refused: CONNACK 135 Not authorized (Mosquitto 2 does not say
        # which part was wrong; other brokers send 134 Bad user name or password).
        intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder",
                               protocol=mqtt.MQTTv5)
        intruder.username_pw_set("gw-factory-2", "guessed-password")
        refused: list[int] = []
        intruder.on_connect = lambda c, u, f, rc, props: refused.append(rc.value)
        intruder.connect("127.0.0.1", port)
        intruder.loop_start()
        deadline = time.monotonic() + 30
        while not refused and time.monotonic() < deadline:
            time.sleep(0.05)
        intruder.loop_stop()
        assert len(refused) == 1 and refused[0] in (134, 135)

        wait_until(lambda: db.exists() and _stored(db), "the collector to store a reading", 60)
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(60) == 0
        store = SqliteStore(db)
        try:
            assert [(m.meter, m.readings) for m in store.stats().meters] == [("f1-main", 1)]
        finally:
            store.close()
        output = log_path.read_text()
        assert "collector stopped: received 1, written 1" in output
        for pw_file in made.password_dir.iterdir():
            assert pw_file.read_text().strip() not in output
    finally:
        if collector is not None:
            stop_process(collector)
        stop_process(broker)


@pytest.mark.parametrize(("argv", "port"), [(["broker"], 0), (["broker", "--port", "1884"], 1884),
                                            (["broker", "run", "--port", "1885"], 1885)])
def test_broker_alone_or_run_still_starts_the_embedded_broker(argv: list[str], port: int) -> None:
    from greenpipe.app.cli import _cmd_broker, build_parser

    args = build_parser().parse_args(argv)
    assert args.func is _cmd_broker and args.port == port
