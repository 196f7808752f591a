"""Data-quality rules of the collector, with hand-computed values.

Register rules live in collector.registers (pure); the future-timestamp rule and the
quality counters in collector.pipeline, tested here against a real SqliteStore.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from collector.codes import QualityCode, RejectCode
from collector.decoders import DecodeContext, Sample
from collector.pipeline import Inbound, Pipeline, default_routes
from collector.registers import RegisterTracker
from greenpipe.config import Config
from greenpipe.model import QualityFlag
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic

T0 = datetime(2026, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
RATED = {"f1-main": 600.0}
"""600 kW rated: at most 300 kWh per 30-minute interval."""


def reg(i: float, register_kwh: float, power_kw: float | None = None) -> Sample:
    return Sample(meter_id="f1-main", site_id="factory-1", ts=T0 + i * STEP,
                  register_kwh=register_kwh, power_kw=power_kw)


def energies(tracker: RegisterTracker, registers: list[float]) -> list[tuple[float | None,
                                                                               frozenset[str]]]:
    out = []
    for i, r in enumerate(registers):
        reading = tracker.convert(reg(i, r))
        assert reading is not None
        out.append((reading.energy_kwh, reading.quality))
    return out


def test_rollover_counts_across_the_wrap_and_a_reset_does_not() -> None:
    tracker = RegisterTracker(rated_max_kw=RATED)
    got = energies(tracker, [99_900.0, 99_990.5, 12.25, 20.0])
    assert got[2] == (21.75, frozenset({QualityCode.ROLLOVER.value}))  # 100000-99990.5+12.25
    assert got[3] == (7.75, frozenset())
    # 510 is not near a power of ten: a meter replacement, energy unknown, no spike.
    reset = energies(RegisterTracker(rated_max_kw=RATED), [500.0, 510.0, 3.0, 4.5])
    assert reset[2] == (None, frozenset({QualityFlag.COUNTER_RESET.value}))
    assert reset[3] == (1.5, frozenset())


def test_huge_register_going_backwards_is_a_reset_not_an_overflow() -> None:
    got = energies(RegisterTracker(), [1.5e308, 1.0])
    assert got[1] == (None, frozenset({QualityFlag.COUNTER_RESET.value}))


def test_rollover_that_would_be_a_spike_is_a_reset() -> None:
    # 99,000 -> 9,000 would be 10,000 kWh in 30 min (20 MW) on a 600 kW meter.
    got = energies(RegisterTracker(rated_max_kw=RATED), [99_000.0, 9_000.0])
    assert got[1] == (None, frozenset({QualityFlag.COUNTER_RESET.value}))


def test_glitch_spike_is_kept_out_and_the_total_stays_exact() -> None:
    tracker = RegisterTracker(rated_max_kw=RATED)
    got = energies(tracker, [1000.0, 1100.0, 9_999_999.0, 1250.0, 1300.0])
    assert got[2] == (None, frozenset({QualityCode.SPIKE.value}))
    # The next good reading spans two intervals (250 kWh in 1 h is 250 kW: plausible).
    assert got[3] == (150.0, frozenset())
    assert got[4] == (50.0, frozenset())
    total = math.fsum(e for e, _ in got if e is not None)
    assert total == 1300.0 - 1000.0


def test_a_real_jump_becomes_the_new_baseline_after_one_spike() -> None:
    tracker = RegisterTracker(rated_max_kw=RATED)
    got = energies(tracker, [1000.0, 1100.0, 50_000.0, 50_120.0, 50_200.0])
    assert got[2] == (None, frozenset({QualityCode.SPIKE.value}))
    assert got[3] == (120.0, frozenset())  # continues plausibly from the jump
    assert got[4] == (80.0, frozenset())
    assert tracker.last_register("f1-main") == (T0 + 4 * STEP, 50_200.0)


def test_power_above_rating_is_dropped_and_flagged() -> None:
    tracker = RegisterTracker(rated_max_kw=RATED)
    tracker.convert(reg(0, 10.0, power_kw=20.0))
    reading = tracker.convert(reg(1, 20.0, power_kw=6000.0))
    assert reading is not None
    assert (reading.energy_kwh, reading.power_kw, reading.quality) == (
        10.0, None, frozenset({QualityCode.SPIKE.value}))


def test_gap_is_flagged_and_its_energy_is_exact() -> None:
    tracker = RegisterTracker(rated_max_kw=RATED, gap_after=timedelta(hours=1))
    tracker.convert(reg(0, 10.0))
    assert tracker.convert(reg(2, 30.0)).quality == frozenset()  # type: ignore[union-attr]
    after_gap = tracker.convert(reg(7, 80.0))  # 2.5 h later
    assert after_gap is not None
    assert (after_gap.energy_kwh, after_gap.quality) == (50.0, frozenset({QualityCode.GAP.value}))


def _pipeline(cfg: Config, store: SqliteStore) -> Pipeline:
    tracker = RegisterTracker(store.latest(), rated_max_kw={m.id: m.rated_max_power_kw
                                                            for m in cfg.meters})
    return Pipeline(store, DecodeContext.from_config(cfg), tracker, default_routes(cfg),
                    batch_size=100, future_tolerance=timedelta(minutes=5))


def test_future_timestamp_is_a_dead_letter_with_both_instants(
    example_config: Config, sqlite_store: SqliteStore,
) -> None:
    p = _pipeline(example_config, sqlite_store)
    topic = reading_topic("greenpipe/v1", "factory-1", "f1-main")
    received = T0 + 10 * STEP
    ok = Inbound(topic, encode_reading(received + timedelta(minutes=5), 1.0), received)
    ahead = Inbound(topic, encode_reading(received + timedelta(minutes=5, seconds=1), 2.0),
                    received)
    p.handle(ok)
    p.handle(ahead)
    p.flush()
    (letter,) = sqlite_store.read_dead_letters()
    assert letter.code == RejectCode.FUTURE_TIMESTAMP.value == "quality.future_timestamp"
    assert letter.reason == (
        "reading of meter f1-main at 2026-04-01T05:05:01+00:00 is more than 300 s after it "
        "was received (2026-04-01T05:00:00+00:00); fix the meter's clock (NTP)")
    report = p.report(2)
    assert (report.written, report.rejected) == (1, {"quality.future_timestamp": 1})


def test_quality_counters_count_flags_of_written_readings(
    example_config: Config, sqlite_store: SqliteStore,
) -> None:
    p = _pipeline(example_config, sqlite_store)
    topic = reading_topic("greenpipe/v1", "factory-3", "f3-main")  # rated 300 kW
    registers = [100.0, 150.0, 10_000.0, 180.0, 5.0, 7.5]
    for i, r in enumerate(registers):
        p.handle(Inbound(topic, encode_reading(T0 + i * STEP, r), T0 + 10 * STEP))
    p.handle(Inbound(topic, encode_reading(T0 + 5 * STEP, 7.5), T0 + 10 * STEP))  # duplicate
    p.flush()
    report = p.report(7)
    assert report.quality == {"quality.counter_reset": 1, "quality.first_reading": 1,
                              "quality.spike": 1}
    assert (report.written, report.duplicates, report.dead_letters) == (6, 1, 0)
    (stats,) = sqlite_store.stats().meters
    # 50 + (spike: unknown) + 30 (180-150 over 1 h) + (reset: unknown) + 2.5
    assert stats.energy_kwh == 82.5
