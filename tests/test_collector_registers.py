"""Tests for collector.registers: cumulative registers -> interval energy, per meter."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from collector.codes import QualityCode, RejectCode
from collector.decoders import Sample
from collector.registers import RegisterTracker
from greenpipe.errors import PayloadError
from greenpipe.model import QualityFlag, Reading
from greenpipe.stores.sqlite import SqliteStore

T0 = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)


def reg(i: int, register_kwh: float, meter: str = "f1-main", site: str = "factory-1",
        power_kw: float | None = None) -> Sample:
    return Sample(meter_id=meter, site_id=site, ts=T0 + i * STEP, register_kwh=register_kwh,
                  power_kw=power_kw)


def test_first_reading_has_unknown_energy_and_is_flagged() -> None:
    tracker = RegisterTracker()
    reading = tracker.convert(reg(0, 1000.0, power_kw=5.0))
    assert reading == Reading(meter_id="f1-main", site_id="factory-1", ts=T0, energy_kwh=None,
                              register_kwh=1000.0, power_kw=5.0,
                              quality=frozenset({QualityFlag.FIRST_READING.value}))
    assert tracker.last_register("f1-main") == (T0, 1000.0)


def test_normal_deltas_are_hand_computed_and_sum_to_register_delta() -> None:
    tracker = RegisterTracker()
    registers = [1000.0, 1000.125, 1001.25, 1001.25, 1100.003]
    readings = [tracker.convert(reg(i, r)) for i, r in enumerate(registers)]
    energies = [r.energy_kwh for r in readings if r is not None]
    assert energies == [None, 0.125, 1.125, 0.0, 98.753]
    assert all(r is not None and r.quality == frozenset() for r in readings[1:])
    assert math.fsum(e for e in energies if e is not None) == 100.003


def test_long_random_walk_sums_exactly_to_register_delta() -> None:
    rng = random.Random(20250401)
    tracker = RegisterTracker()
    register = 9_876_543.21
    first = register
    total = []
    for i in range(2000):
        reading = tracker.convert(reg(i, register))
        assert reading is not None
        if reading.energy_kwh is not None:
            total.append(reading.energy_kwh)
        register = round(register + rng.uniform(0.0, 2500.0), 3)
    last = reading.register_kwh
    assert last is not None
    # The register delta as the meter reported it (3 decimals), not float(last) - float(first).
    assert abs(math.fsum(total) - round(last - first, 3)) < 1e-9


def test_counter_reset_gives_no_energy_and_no_spike() -> None:
    tracker = RegisterTracker()
    out = [tracker.convert(reg(i, r)) for i, r in enumerate([500.0, 510.0, 3.0, 4.5])]
    assert [r.energy_kwh for r in out if r is not None] == [None, 10.0, None, 1.5]
    assert out[2] is not None
    assert out[2].quality == frozenset({QualityFlag.COUNTER_RESET.value})
    assert out[2].register_kwh == 3.0
    assert out[3] is not None and out[3].quality == frozenset()


def test_exact_duplicate_is_idempotent() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(0, 100.0))
    tracker.convert(reg(1, 101.5))
    assert tracker.convert(reg(1, 101.5)) is None  # redelivery of the newest
    assert tracker.convert(reg(0, 100.0)) is None  # redelivery of an older one still held
    nxt = tracker.convert(reg(2, 103.0))
    assert nxt is not None and nxt.energy_kwh == 1.5  # counted once, from 101.5


def test_duplicate_with_different_register_is_a_conflict() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(0, 100.0))
    with pytest.raises(PayloadError) as info:
        tracker.convert(reg(0, 100.5))
    assert info.value.code == RejectCode.DUPLICATE_CONFLICT
    assert str(info.value) == (
        "meter f1-main already reported register 100.0 kWh at 2025-04-01T00:00:00+00:00; "
        "this message says 100.5 kWh for the same instant, so it was not stored "
        "(the first value stands)"
    )
    assert tracker.last_register("f1-main") == (T0, 100.0)


def test_late_reading_resplits_the_interval_and_rewrites_the_next_one() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(0, 100.0))
    tracker.convert(reg(2, 110.0))
    late = Sample(meter_id="f1-main", site_id="factory-1", ts=T0 + STEP, register_kwh=105.5)
    out = tracker.resolve(late)
    assert out == [
        Reading(meter_id="f1-main", site_id="factory-1", ts=T0 + STEP, energy_kwh=5.5,
                register_kwh=105.5, quality=frozenset({QualityCode.LATE.value})),
        Reading(meter_id="f1-main", site_id="factory-1", ts=T0 + 2 * STEP, energy_kwh=4.5,
                register_kwh=110.0),
    ]
    # The store keeps the last write per instant: 5.5 + 4.5 is the original 10 kWh.
    assert tracker.resolve(late) == []  # its redelivery is a duplicate now
    nxt = tracker.convert(reg(3, 111.0))
    assert nxt is not None and nxt.energy_kwh == 1.0
    assert tracker.last_register("f1-main") == (T0 + 3 * STEP, 111.0)


def test_late_reading_that_does_not_fit_is_refused_and_leaves_state_alone() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(0, 100.0))
    tracker.convert(reg(2, 110.0))
    late = Sample(meter_id="f1-main", site_id="factory-1", ts=T0 + STEP, register_kwh=120.0)
    with pytest.raises(PayloadError) as info:
        tracker.convert(late)
    assert info.value.code == RejectCode.OUT_OF_ORDER
    assert str(info.value) == (
        "late reading of meter f1-main at 2025-04-01T00:30:00+00:00 (120.0 kWh) does not fit "
        "between its neighbours (100.0 kWh at 2025-04-01T00:00:00+00:00, 110.0 kWh at "
        "2025-04-01T01:00:00+00:00); it was not stored"
    )
    nxt = tracker.convert(reg(3, 111.0))
    assert nxt is not None and nxt.energy_kwh == 1.0


def test_history_is_bounded() -> None:
    tracker = RegisterTracker(history=2)
    for i in range(4):
        tracker.convert(reg(i, 100.0 + i))
    assert tracker.convert(reg(2, 102.0)) is None  # still held
    with pytest.raises(PayloadError) as info:
        tracker.convert(reg(1, 101.0))  # forgotten: indistinguishable from a late reading
    assert info.value.code == RejectCode.OUT_OF_ORDER
    with pytest.raises(ValueError):
        RegisterTracker(history=0)


def test_meters_are_independent() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(0, 100.0))
    other = tracker.convert(reg(1, 5.0, meter="f3-main", site="factory-3"))
    assert other is not None and other.energy_kwh is None
    assert other.quality == frozenset({QualityFlag.FIRST_READING.value})
    nxt = tracker.convert(reg(1, 102.0))
    assert nxt is not None and nxt.energy_kwh == 2.0


def test_interval_form_and_weather_pass_through_without_touching_register_state() -> None:
    tracker = RegisterTracker()
    interval = Sample(meter_id="bus-depot-chargers", site_id="bus-depot", ts=T0,
                      energy_kwh=12.5, power_kw=25.0)
    assert tracker.convert(interval) == Reading(
        meter_id="bus-depot-chargers", site_id="bus-depot", ts=T0, energy_kwh=12.5,
        power_kw=25.0, quality=frozenset({QualityFlag.INTERVAL_FORM.value}))
    # An earlier interval reading is still valid energy: intervals do not depend on order.
    earlier = Sample(meter_id="bus-depot-chargers", site_id="bus-depot", ts=T0 - STEP,
                     energy_kwh=3.0)
    assert tracker.convert(earlier) is not None
    weather = Sample(meter_id="weather-hitachi", site_id="city-hall", ts=T0, temp_air_c=7.5)
    assert tracker.convert(weather) == Reading(
        meter_id="weather-hitachi", site_id="city-hall", ts=T0, temp_air_c=7.5)
    assert tracker.last_register("bus-depot-chargers") is None
    assert tracker.last_register("weather-hitachi") is None


def test_restart_continues_from_seeded_latest() -> None:
    latest = {
        "f1-main": Reading(meter_id="f1-main", site_id="factory-1", ts=T0 + 10 * STEP,
                           energy_kwh=4.0, register_kwh=1234.5),
        # Interval-form and weather readings carry no register: nothing to continue from.
        "bus-depot-chargers": Reading(meter_id="bus-depot-chargers", site_id="bus-depot",
                                      ts=T0, energy_kwh=1.0),
    }
    tracker = RegisterTracker(latest)
    nxt = tracker.convert(reg(11, 1240.0))
    assert nxt is not None and nxt.energy_kwh == 5.5 and nxt.quality == frozenset()
    assert tracker.convert(reg(10, 1234.5)) is None  # redelivery of the stored reading
    with pytest.raises(PayloadError) as info:
        tracker.convert(reg(9, 1230.0))
    assert info.value.code == RejectCode.OUT_OF_ORDER
    assert tracker.last_register("bus-depot-chargers") is None


def test_restart_seeded_from_a_real_store(sqlite_store: SqliteStore) -> None:
    first = RegisterTracker()
    readings = [first.convert(reg(i, r)) for i, r in enumerate([10.0, 12.25, 15.5])]
    sqlite_store.write([r for r in readings if r is not None])

    restarted = RegisterTracker(sqlite_store.latest())
    assert restarted.last_register("f1-main") == (T0 + 2 * STEP, 15.5)
    nxt = restarted.convert(reg(3, 16.0))
    assert nxt is not None and nxt.energy_kwh == 0.5
    assert QualityFlag.FIRST_READING.value not in nxt.quality
    sqlite_store.write([nxt])
    (stats,) = sqlite_store.stats().meters
    assert stats.readings == 4
    assert stats.energy_kwh == 16.0 - 10.0


def test_reading_earlier_than_the_first_becomes_the_first() -> None:
    tracker = RegisterTracker()
    tracker.convert(reg(1, 100.5))
    tracker.convert(reg(2, 101.0))
    out = tracker.resolve(reg(0, 100.0))
    assert [(r.ts, r.energy_kwh, r.quality) for r in out] == [
        (T0, None, frozenset({QualityFlag.FIRST_READING.value, QualityCode.LATE.value})),
        (T0 + STEP, 0.5, frozenset()),
    ]
    with pytest.raises(PayloadError) as info:  # earlier but with a higher register: refused
        tracker.resolve(reg(-1, 150.0))
    assert info.value.code == RejectCode.OUT_OF_ORDER
