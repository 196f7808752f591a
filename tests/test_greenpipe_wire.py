"""Tests for greenpipe.wire (topics and payload encoding) and the Reading invariants."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from greenpipe import wire
from greenpipe.model import Reading, require_utc

JST = timezone(timedelta(hours=9))


def test_topics_round_trip() -> None:
    topic = wire.reading_topic("greenpipe/v1", "factory-1", "f1-main")
    assert topic == "greenpipe/v1/factory-1/f1-main/reading"
    assert wire.parse_reading_topic("greenpipe/v1", topic) == ("factory-1", "f1-main")
    assert wire.status_topic("p", "s", "m") == "p/s/m/status"
    assert wire.reading_subscription("p/q") == "p/q/+/+/reading"
    for bad in ("greenpipe/v1/s/m/status", "greenpipe/v1/s/reading", "other/v1/s/m/reading",
                "greenpipe/v1//m/reading", "greenpipe/v1/s/m/reading/x"):
        assert wire.parse_reading_topic("greenpipe/v1", bad) is None


def test_encode_reading_keeps_offset_and_rounds_to_one_wh() -> None:
    ts = datetime(2025, 4, 1, 9, 0, tzinfo=JST)
    body = json.loads(wire.encode_reading(ts, 1234.56789, power_kw=12.3456, seq=7))
    assert body == {"ts": "2025-04-01T09:00:00+09:00", "register_kwh": 1234.568,
                    "power_kw": 12.346, "seq": 7}
    with pytest.raises(ValueError):
        wire.encode_reading(ts, math.nan)


def test_weather_readings_carry_seq_too() -> None:
    """Issue 14: every simulated meter numbers its messages, so loss is countable."""
    ts = datetime(2025, 4, 1, tzinfo=UTC)
    assert json.loads(wire.encode_weather(ts, 3.0, seq=7))["seq"] == 7


def test_encode_weather_and_interval() -> None:
    ts = datetime(2025, 1, 1, tzinfo=UTC)
    assert json.loads(wire.encode_weather(ts, 3.14159)) == {
        "ts": "2025-01-01T00:00:00+00:00", "temp_air_c": 3.14}
    assert json.loads(wire.encode_interval(ts, 0.5)) == {
        "ts": "2025-01-01T00:00:00+00:00", "energy_kwh": 0.5}


def test_epoch_ms_refuses_naive() -> None:
    assert wire.epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000
    with pytest.raises(ValueError, match="no UTC offset"):
        wire.epoch_ms(datetime(2025, 1, 1))


def test_reading_requires_utc_and_finite_values() -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        Reading("m", "s", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        Reading("m", "s", datetime(2025, 1, 1, tzinfo=JST))
    with pytest.raises(ValueError, match="finite"):
        Reading("m", "s", datetime(2025, 1, 1, tzinfo=UTC), energy_kwh=math.inf)
    assert require_utc(datetime(2025, 1, 1, 9, tzinfo=JST)) == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no UTC offset"):
        require_utc(datetime(2025, 1, 1))
