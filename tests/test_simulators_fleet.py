"""The fleet: measures, determinism, exact integration, registers and profile validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from greenpipe.config import Config, Measure
from greenpipe.errors import ConfigError
from simulators.fleet import KNOT_S, Fleet, validate_meters

JST = timezone(timedelta(hours=9))
T0 = int(datetime(2025, 9, 20, tzinfo=JST).timestamp())
HALF_HOUR = 1800


def _ends(start: int, n: int, step: int = HALF_HOUR) -> list[int]:
    return [start + k * step for k in range(1, n + 1)]


def _row(fleet: Fleet, meter_id: str) -> int:
    return [m.meter.id for m in fleet.energy_meters].index(meter_id)


def test_measure_cuts_energy_by_exactly_change_pct_from_its_start_day(
        example_config: Config) -> None:
    measure = Measure(id="led", meter="f2-main", start=date(2025, 10, 1), change_pct=-8.0)
    with_measure = replace(example_config, measures=(measure,))
    without = replace(example_config, measures=())
    ends = _ends(T0, 20 * 48)  # 2025-09-20 00:00 .. 2025-10-10 00:00 JST
    e_with = Fleet(with_measure, 42).integrate(T0, np.asarray(ends))[0]
    e_without = Fleet(without, 42).integrate(T0, np.asarray(ends))[0]
    row = _row(Fleet(without, 42), "f2-main")
    start_s = datetime(2025, 10, 1, tzinfo=JST).timestamp()
    ends_a = np.asarray(ends)
    after = ends_a - HALF_HOUR >= start_s  # intervals entirely on or after the start day
    before = ends_a <= start_s - KNOT_S  # intervals whose knots are all before it
    assert after.sum() == 9 * 48  # 2025-10-01 .. 2025-10-09
    assert_allclose(e_with[row, after], 0.92 * e_without[row, after], rtol=1e-12)
    assert_array_equal(e_with[row, before], e_without[row, before])
    others = np.arange(e_with.shape[0]) != row
    assert_array_equal(e_with[others], e_without[others])


def test_example_measures_apply_from_local_midnight(example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    without = Fleet(replace(example_config, measures=()), 42)
    row = _row(fleet, "office-1-main")
    midnight = int(datetime(2026, 10, 15, tzinfo=JST).timestamp())
    t = np.asarray([midnight - KNOT_S, midnight], dtype=np.int64)
    assert_allclose(fleet.power_kw(t)[row] / without.power_kw(t)[row], [1.0, 0.88])


def test_same_seed_same_messages_different_seed_different(example_config: Config) -> None:
    def messages(seed: int) -> list[tuple[str, bytes]]:
        fleet = Fleet(example_config, seed)
        out = fleet.messages(fleet.start(T0), 0)
        for i, step in enumerate(fleet.advance(_ends(T0, 96)), start=1):
            out += fleet.messages(step, i)
        return out

    first = messages(42)
    assert first == messages(42)
    other = messages(43)
    assert [t for t, _ in other] == [t for t, _ in first]
    # Production is 0 for every seed while a plant is idle, so compare energy messages.
    pairs = [(a, b) for (t, a), (_, b) in zip(first, other, strict=True)
             if not t.split("/")[-2].endswith("-output")]
    differing = sum(a != b for a, b in pairs)
    assert differing > 0.9 * len(pairs)


def test_a_slot_has_the_same_values_whatever_the_run_started(example_config: Config) -> None:
    early = Fleet(example_config, 42)
    early.start(T0)
    early_steps = early.advance(_ends(T0, 96))
    late_start = T0 + 30 * HALF_HOUR
    late = Fleet(example_config, 42)
    late.start(late_start)
    late_steps = [s for batch in (_ends(late_start, 10), _ends(late_start + 10 * HALF_HOUR, 56))
                  for s in late.advance(batch)]
    for a, b in zip(early_steps[30:], late_steps, strict=True):
        assert a.t_epoch_s == b.t_epoch_s
        assert_array_equal(a.power_kw, b.power_kw)
        assert_array_equal(a.energy_kwh, b.energy_kwh)
        assert a.temp_air_c == b.temp_air_c


def test_backfill_interval_energy_equals_the_sum_of_live_intervals(
        example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    whole, p_whole = fleet.integrate(T0, np.asarray([T0 + HALF_HOUR]))
    minutes, p_minutes = fleet.integrate(T0, np.asarray(_ends(T0, 30, 60)))
    assert_allclose(whole[:, 0], minutes.sum(axis=1), rtol=1e-12)
    assert_array_equal(p_whole[:, 0], p_minutes[:, -1])


def test_energy_is_the_trapezoid_integral_of_the_knots(example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    knots = np.arange(T0, T0 + HALF_HOUR + 1, KNOT_S, dtype=np.int64)
    p = fleet.power_kw(knots)
    expected = ((p[:, :-1] + p[:, 1:]) / 2 * (KNOT_S / 3600)).sum(axis=1)
    assert_allclose(fleet.integrate(T0, np.asarray([T0 + HALF_HOUR]))[0][:, 0], expected,
                    rtol=1e-12)
    # off-grid ends interpolate linearly between knots
    mid = fleet.integrate(T0 - KNOT_S, np.asarray([T0 + 150]))[1][:, 0]
    assert_allclose(mid, (p[:, 0] + p[:, 1]) / 2, rtol=1e-12)


def test_registers_accumulate_exactly_and_rounded_deltas_telescope(
        example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    first = fleet.start(T0)
    assert_array_equal(first.register_kwh, fleet.initial_register_kwh)
    assert_array_equal(np.round(fleet.initial_register_kwh, 3), fleet.initial_register_kwh)
    steps = fleet.advance(_ends(T0, 96))
    registers = np.column_stack([first.register_kwh] + [s.register_kwh for s in steps])
    energies = np.column_stack([s.energy_kwh for s in steps])
    assert np.all(energies >= 0)
    # float64 at a 1e7 kWh register resolves ~1e-9 kWh per addition
    assert_allclose(registers[:, -1] - registers[:, 0], energies.sum(axis=1), atol=1e-6)
    published_wh = np.round(registers * 1000).astype(np.int64)
    assert np.all(np.diff(published_wh, axis=1) >= 0)
    assert_array_equal(np.diff(published_wh, axis=1).sum(axis=1),
                       published_wh[:, -1] - published_wh[:, 0])


def test_initial_registers_are_seeded(example_config: Config) -> None:
    a, b = Fleet(example_config, 1), Fleet(example_config, 2)
    assert_array_equal(a.initial_register_kwh, Fleet(example_config, 1).initial_register_kwh)
    assert not np.array_equal(a.initial_register_kwh, b.initial_register_kwh)
    assert np.all(a.initial_register_kwh > 0)


def test_weather_meter_publishes_the_model_temperature(example_config: Config) -> None:
    from simulators.weather import temp_air_c

    fleet = Fleet(example_config, 42)
    step = fleet.start(T0)
    _topic, payload = next(
        (t, p) for t, p in fleet.messages(step, 0) if t.endswith("/weather-hitachi/reading"))
    expected = round(temp_air_c(datetime.fromtimestamp(T0, UTC), 42), 2)
    assert payload == (b'{"ts":"2025-09-19T15:00:00+00:00","temp_air_c":'
                       + repr(expected).encode() + b',"seq":0}')


def _with_meter(cfg: Config, index: int, **changes: object) -> Config:
    meters = list(cfg.meters)
    meters[index] = replace(meters[index], **changes)
    return replace(cfg, meters=tuple(meters))


def test_unknown_profile_names_the_key_and_the_known_profiles(example_config: Config) -> None:
    cfg = _with_meter(example_config, 2, profile="three_shift")
    with pytest.raises(ConfigError) as err:
        validate_meters(cfg)
    assert err.value.key == "meters[2].profile"
    assert err.value.value == "three_shift"
    assert "two_shift" in err.value.fix and "ev_depot" in err.value.fix


def test_weather_profile_only_on_weather_meters(example_config: Config) -> None:
    with pytest.raises(ConfigError, match=r"meters\[0\].profile"):
        validate_meters(_with_meter(example_config, 0, profile="weather"))
    with pytest.raises(ConfigError, match=r"meters\[1\].nominal_kw"):
        validate_meters(_with_meter(example_config, 1, nominal_kw=None))


def test_meters_without_profile_are_not_simulated(example_config: Config) -> None:
    cfg = _with_meter(example_config, 0, profile=None)
    assert "f1-main" not in {m.meter.id for m in validate_meters(cfg)}
    with pytest.raises(ConfigError, match="no meter has a simulator profile"):
        validate_meters(replace(cfg, meters=cfg.meters[:1]))


def test_start_continues_stored_registers_plus_the_energy_of_the_gap(
        example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    f1, f2 = _row(fleet, "f1-main"), _row(fleet, "f2-main")
    start = T0 + 4 * 3600
    step = fleet.start(start, {"f1-main": (start, 1234.5), "f2-main": (T0, 99.0),
                               "f3-main": (start + 60, 7.0)})  # newer than start: ignored
    gap = Fleet(example_config, 42).integrate(T0, np.asarray([start]))[0][f2, 0]
    assert step.register_kwh[f1] == 1234.5
    assert_allclose(step.register_kwh[f2], round(99.0 + gap, 3), atol=1e-9)
    f3 = _row(fleet, "f3-main")
    assert step.register_kwh[f3] == fleet.initial_register_kwh[f3]
    # The next interval adds to the continued register as usual.
    (nxt,) = fleet.advance([start + 1800])
    assert_allclose(nxt.register_kwh[f1] - 1234.5, nxt.energy_kwh[f1], atol=1e-9)
