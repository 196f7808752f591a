"""Offline meters and collector stalls from store statistics, against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from numpy.testing import assert_allclose

from alerts.detect import (
    check_events,
    collector_stalled,
    last_write,
    meter_interval_s,
    offline_event,
    offline_meters,
)
from alerts.events import AlertKind, Severity
from greenpipe.stores.base import MeterStats

T0 = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)


def _stats(meter: str, readings: int, first: datetime | None, last: datetime | None,
           site: str = "factory-1") -> MeterStats:
    return MeterStats(meter=meter, site=site, readings=readings, first_ts=first, last_ts=last,
                      energy_kwh=0.0)


def test_interval_is_span_over_intervals_or_the_default() -> None:
    # 49 readings over 24 h: 48 intervals of 1800 s.
    assert_allclose(meter_interval_s(_stats("m", 49, T0, T0 + timedelta(hours=24)), 900),
                    1800.0)
    # 11 readings over 10 min: 60 s.
    assert_allclose(meter_interval_s(_stats("m", 11, T0, T0 + timedelta(minutes=10)), 900),
                    60.0)
    assert meter_interval_s(_stats("m", 1, T0, T0), 900) == 900.0
    assert meter_interval_s(_stats("m", 0, None, None), 900) == 900.0


def test_meter_offline_after_factor_times_its_own_interval() -> None:
    half_hourly = _stats("slow", 49, T0, T0 + timedelta(hours=24))       # 1800 s
    minutely = _stats("fast", 11, T0 + timedelta(hours=23, minutes=50),
                      T0 + timedelta(hours=24))                          # 60 s
    now = T0 + timedelta(hours=24, minutes=10)  # both silent for 600 s
    out = offline_meters([half_hourly, minutely], now, offline_factor=3,
                         default_interval_s=1800)
    # 600 s > 3 × 60 s for the minutely meter; 600 s < 3 × 1800 s for the half-hourly one.
    assert [s.meter for s in out] == ["fast"]
    assert_allclose([out[0].interval_s, out[0].threshold_s, out[0].silent_s or 0.0],
                    [60.0, 180.0, 600.0])
    # Exactly at the threshold is still online; one second past it is offline.
    at = T0 + timedelta(hours=24, seconds=5400)
    assert offline_meters([half_hourly], at, offline_factor=3, default_interval_s=1) == []
    assert [s.meter for s in offline_meters([half_hourly], at + timedelta(seconds=1),
                                            offline_factor=3, default_interval_s=1)] == ["slow"]


def test_configured_meter_never_seen_is_reported() -> None:
    seen = _stats("a", 49, T0, T0 + timedelta(hours=24))
    out = offline_meters([seen], T0 + timedelta(hours=24, minutes=1), offline_factor=3,
                         default_interval_s=1800, expected={"a": "factory-1", "b": "office"})
    assert [(s.meter, s.site, s.last_ts, s.silent_s) for s in out] == [
        ("b", "office", None, None)]
    event = offline_event(out[0], T0)
    assert event.key == "meter_offline:b:never"
    assert "b" in event.title_en and "never" in event.title_en.lower()


def test_stall_uses_newest_reading_or_dead_letter() -> None:
    meters = [_stats("a", 10, T0, T0 + timedelta(hours=1)),
              _stats("b", 10, T0, T0 + timedelta(hours=2))]
    assert last_write(meters, []) == T0 + timedelta(hours=2)
    assert last_write(meters, [T0 + timedelta(hours=3)]) == T0 + timedelta(hours=3)
    assert last_write([], []) is None
    last = T0 + timedelta(hours=2)
    assert not collector_stalled(last, last + timedelta(seconds=3600), 3600)
    assert collector_stalled(last, last + timedelta(seconds=3601), 3600)
    assert not collector_stalled(None, last, 3600)


def test_check_events_folds_offline_meters_into_one_stall() -> None:
    meters = [_stats("a", 49, T0, T0 + timedelta(hours=24)),
              _stats("b", 49, T0, T0 + timedelta(hours=24), site="office")]
    now = T0 + timedelta(hours=26)  # 2 h of silence everywhere: stall after 1 h
    events = check_events(meters, [], now, offline_factor=3, default_interval_s=1800,
                          stall_after_s=3600, tz="Asia/Tokyo")
    [stall] = events
    assert stall.kind == AlertKind.COLLECTOR_STALL
    assert stall.severity == Severity.CRITICAL
    assert stall.key == "collector_stall:2025-06-02T00:00:00+00:00"
    assert_allclose([stall.numbers["silent_s"], stall.numbers["silent_meters"]], [7200.0, 2.0])
    assert "2025-06-02T09:00+09:00" in stall.body_ja  # shown in local time
    assert "2.0 h" in stall.body_en and "2.0 時間" in stall.body_ja


def test_check_events_lists_offline_meters_while_the_collector_writes() -> None:
    meters = [_stats("a", 49, T0, T0 + timedelta(hours=24)),                 # silent 2 h
              _stats("b", 49, T0 + timedelta(hours=2), T0 + timedelta(hours=26))]  # fresh
    now = T0 + timedelta(hours=26)
    [ev] = check_events(meters, [], now, offline_factor=3, default_interval_s=1800,
                        stall_after_s=3600)
    assert ev.kind == AlertKind.METER_OFFLINE and ev.meter == "a"
    assert ev.key == "meter_offline:a:2025-06-02T00:00:00+00:00"
    assert "2.0 h" in ev.body_en and "30 min" in ev.body_en
    assert_allclose(ev.numbers["threshold_s"], 5400.0)


def test_empty_store_gives_no_alert() -> None:
    assert check_events([], [], T0, offline_factor=3, default_interval_s=1800,
                        stall_after_s=3600, expected={"a": "factory-1"}) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        offline_meters([], datetime(2025, 6, 1), offline_factor=3, default_interval_s=60)
