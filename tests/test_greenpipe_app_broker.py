"""The embedded broker folds amqtt's late-PUBACK noise into a summary (greenpipe/app/broker.py)."""

from __future__ import annotations

import logging

import pytest

from greenpipe.app.broker import LateAckSummary


def _record(name: str, level: int, msg: str, exc: BaseException | None = None
            ) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None,
                             (type(exc), exc, None) if exc else None)


def test_late_acks_are_counted_and_summarised_not_printed(
        caplog: pytest.LogCaptureFixture) -> None:
    f = LateAckSummary(every_s=3600.0)
    handler = "amqtt.mqtt.protocol.handler"
    with caplog.at_level(logging.WARNING, logger="greenpipe.app.broker"):
        assert not f.filter(_record(handler, logging.WARNING,
                                    "Timeout waiting for PUBACK for packet ID 7"))
        assert not f.filter(_record(handler, logging.WARNING,
                                    "Timeout waiting for PUBACK for packet ID 8"))
        assert not f.filter(_record("amqtt.broker", logging.ERROR,
                                    "Task failed and will be skipped",
                                    TimeoutError("Timeout waiting for PUBACK for packet ID 8")))
        assert not f.filter(_record(handler, logging.WARNING,
                                    "Received PUBACK for unknown pending message Id: '7'"))
    assert f.late == 2
    # One summary line (the first late ack), none per message, within the interval.
    summaries = [r.getMessage() for r in caplog.records]
    assert len(summaries) == 1 and "1 QoS 1 deliveries" in summaries[0]
    assert "Mosquitto in production" in summaries[0]


def test_other_broker_messages_pass() -> None:
    f = LateAckSummary()
    assert f.filter(_record("amqtt.broker", logging.ERROR, "listener failed",
                            OSError("address in use")))
    assert f.filter(_record("amqtt.mqtt.protocol.handler", logging.WARNING,
                            "Client disconnected"))
    assert f.late == 0
