"""Simulated production: follows the driver's shifts and shutdowns, not its efficiency measures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from numpy.testing import assert_allclose

from greenpipe.config import Config
from greenpipe.errors import ConfigError
from simulators.fleet import Fleet
from simulators.production import IDLE_SHARE, output

JST = ZoneInfo("Asia/Tokyo")


def _day(fleet: Fleet, day: datetime, meter: str) -> float:
    start = int(day.timestamp())
    fleet.start(start)
    ends = [start + 1800 * k for k in range(1, 49)]
    steps = fleet.advance(ends)
    row = [m.meter.id for m in fleet.production_meters].index(meter)
    return float(sum(s.production[row] for s in steps))


def test_output_formula_by_hand() -> None:
    # 1 h at 75 % of 1,000 kW, rate 10/h: (0.75 - 0.25) / 0.75 x 10 = 6.667.
    assert_allclose(output(np.asarray([750.0]), 1000.0, 1.0, 1.0, 10.0, 1.0),
                    [(0.75 - IDLE_SHARE) / (1 - IDLE_SHARE) * 10.0])
    # An 8 % efficiency measure lowers energy, not output.
    assert_allclose(output(np.asarray([690.0]), 1000.0, 1.0, 0.92, 10.0, 1.0),
                    output(np.asarray([750.0]), 1000.0, 1.0, 1.0, 10.0, 1.0))
    assert output(np.asarray([100.0]), 1000.0, 1.0, 1.0, 10.0, 1.0)[0] == 0.0


def test_production_follows_shifts_and_shutdowns(example_config: Config) -> None:
    fleet = Fleet(example_config, 42)
    workday = _day(fleet, datetime(2025, 10, 7, tzinfo=JST), "f2-output")  # a Tuesday
    sunday = _day(fleet, datetime(2025, 10, 5, tzinfo=JST), "f2-output")
    obon = _day(fleet, datetime(2025, 8, 14, tzinfo=JST), "f2-output")
    assert workday > 0.3 * 80 * 16  # two shifts at up to 80 units/h
    assert sunday < 0.2 * workday and obon < 0.2 * workday
    # The continuous plant produces every day.
    assert _day(fleet, datetime(2025, 10, 5, tzinfo=JST), "f1-output") > 0.5 * 12 * 24


def test_measure_does_not_cut_output_and_messages_carry_quantity(
        example_config: Config) -> None:
    day = datetime(2026, 11, 10, tzinfo=JST)  # after the f2 LED retrofit (-8 %)
    with_measure = _day(Fleet(example_config, 42), day, "f2-output")
    without = _day(Fleet(replace(example_config, measures=()), 42), day, "f2-output")
    assert with_measure == pytest.approx(without, rel=1e-9)
    fleet = Fleet(example_config, 7)
    start = int(day.timestamp())
    fleet.start(start)
    (step,) = fleet.advance([start + 12 * 3600])
    msgs = dict(fleet.messages(step, 3))
    body = json.loads(msgs["greenpipe/v1/factory-2/f2-output/reading"])
    assert set(body) == {"ts", "quantity", "seq"} and body["quantity"] > 0


def test_injected_waste_does_not_raise_output(example_config: Config) -> None:
    """Waste is energy, not product: f3's weekend base load and f2's shift-start spike
    (both on in the example city) leave the output of their plants unchanged."""
    clean = replace(example_config, waste_patterns=())
    sunday = datetime(2026, 11, 8, tzinfo=JST)  # after f3's weekend base load starts
    tuesday = datetime(2026, 11, 10, tzinfo=JST)  # after f2's shift-start spike starts
    for day, meter, driver in ((sunday, "f3-output", "f3-main"),
                               (tuesday, "f2-output", "f2-main")):
        wasteful, plain = Fleet(example_config, 42), Fleet(clean, 42)
        start = int(day.timestamp())
        ends = np.asarray([start + 1800 * k for k in range(1, 49)])
        row = [m.meter.id for m in plain.energy_meters].index(driver)
        # The waste really is there: the driver uses more energy that day ...
        assert (wasteful.integrate(start, ends)[0][row].sum()
                > 1.01 * plain.integrate(start, ends)[0][row].sum())
        # ... and the plant makes exactly as much as without it.
        assert _day(wasteful, day, meter) == pytest.approx(_day(plain, day, meter), rel=1e-12)


def test_production_meter_needs_a_driver(example_config: Config) -> None:
    meters = tuple(m for m in example_config.meters if m.id != "f3-main")
    with pytest.raises(ConfigError, match="no simulated electricity meter"):
        Fleet(replace(example_config, meters=meters,
                      measures=()), 42)
    _ = timedelta
