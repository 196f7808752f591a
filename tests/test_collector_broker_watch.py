"""What the collector sees of its broker at start-up and while running (collector.broker_watch)."""

from __future__ import annotations

import logging
import time

import pytest

from collector.broker_watch import MOSQUITTO_DROPPED, MOSQUITTO_VERSION, BrokerWatch


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_missing_session_warns_only_when_one_was_expected(
        caplog: pytest.LogCaptureFixture) -> None:
    BrokerWatch("c", had_data=False).on_connect(1, False)  # first run ever: expected
    BrokerWatch("c", had_data=True).on_connect(1, True)    # session kept
    assert _warnings(caplog) == []
    BrokerWatch("c", had_data=True).on_connect(1, False)
    BrokerWatch("c", had_data=False).on_connect(2, False)  # lost on a reconnect
    warned = _warnings(caplog)
    assert len(warned) == 2
    assert all("persistence true" in w and "max_queued_messages 0" in w for w in warned)


def test_drop_counter_warns_at_start_and_on_every_increase(
        caplog: pytest.LogCaptureFixture) -> None:
    watch = BrokerWatch("c", had_data=False)
    watch.on_message(MOSQUITTO_DROPPED, b"0")
    watch.on_message(MOSQUITTO_DROPPED, b"0")
    assert _warnings(caplog) == [] and watch.dropped == 0
    watch.on_message(MOSQUITTO_DROPPED, b"760")
    watch.on_message(MOSQUITTO_DROPPED, b"760")
    watch.on_message(MOSQUITTO_DROPPED, b"not a number")
    assert watch.dropped == 760
    (warned,) = _warnings(caplog)
    assert "760 MORE" in warned and "max_queued_messages" in warned
    caplog.clear()
    restarted = BrokerWatch("c", had_data=False)
    restarted.on_message(MOSQUITTO_DROPPED, b"5")
    (warned,) = _warnings(caplog)
    assert warned.startswith("BROKER DROPPED 5 MESSAGES since it started")


def test_version_is_logged_with_what_the_broker_needs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    watch = BrokerWatch("c", had_data=False)
    watch.on_message(MOSQUITTO_VERSION, b"mosquitto version 2.0.11")
    watch.on_message("$SYS/brokers/emqx@node1/version", b"5.8.0")
    assert watch.version == "mosquitto version 2.0.11"
    assert "mosquitto version 2.0.11" in caplog.text and "max_queued_messages 0" in caplog.text


def test_refused_or_silent_sys_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    BrokerWatch("c", had_data=False).on_suback(False)
    assert "refused the $SYS subscription" in _warnings(caplog)[0]
    caplog.clear()
    silent = BrokerWatch("c", had_data=False, sys_wait_s=0.05)
    silent.on_suback(True)
    heard = BrokerWatch("c", had_data=False, sys_wait_s=0.05)
    heard.on_message(MOSQUITTO_DROPPED, b"0")
    heard.on_suback(True)
    time.sleep(0.3)
    (warned,) = _warnings(caplog)
    assert "published no $SYS status" in warned
    silent.close()
    heard.close()
