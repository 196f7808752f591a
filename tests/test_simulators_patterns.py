"""Waste patterns of the simulator: exact effects on hand-built slot contexts, switchable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest
from numpy.testing import assert_allclose

from greenpipe.config import WastePattern, load_config
from simulators.fleet import Fleet
from simulators.patterns import EV_NIGHT_NOMINAL_H, apply, measure_multiplier
from simulators.profiles import HOLIDAY, SATURDAY, SUNDAY, WORKDAY, SlotContext

TZ = "Asia/Tokyo"
JST_MIDNIGHT_0901 = datetime(2026, 8, 31, 15, tzinfo=UTC).timestamp()


def _ctx(days: list[int], hours: list[float], day_offset: list[float],
         temp: float = 15.0) -> SlotContext:
    n = len(hours)
    t = np.asarray([JST_MIDNIGHT_0901 + d * 86400 + h * 3600
                    for d, h in zip(day_offset, hours, strict=True)])
    codes = np.asarray(days, dtype=np.int64)
    return SlotContext(t_epoch_s=t, local_hour=np.asarray(hours, dtype=float),
                       local_days=np.zeros(n), day_code=codes, prev_day_code=codes,
                       office_closed=np.isin(codes, [SATURDAY, SUNDAY, HOLIDAY]),
                       new_years_day=np.zeros(n, bool), temp_air_c=np.full(n, temp),
                       clearness=np.ones(n), pv_fraction=np.zeros(n))


def test_weekend_base_load_adds_power_on_days_off_from_its_start() -> None:
    p = WastePattern("weekend_base_load", "m", start=date(2026, 9, 2), extra_kw=40.0)
    ctx = _ctx([SUNDAY, SUNDAY, HOLIDAY, WORKDAY, SATURDAY], [3.0] * 5, [0, 5, 6, 7, 8])
    out = apply(p, np.full(5, 10.0), ctx, 100.0, TZ)
    # Day 0 (1 Sep) is before the start; days off after it get +40 kW; others nothing.
    assert_allclose(out, [10.0, 50.0, 50.0, 10.0, 10.0])


def test_shift_start_spike_fills_its_half_hour_on_workdays() -> None:
    p = WastePattern("shift_start_spike", "m", extra_kw=600.0, at_h=6.5)
    ctx = _ctx([WORKDAY] * 4 + [SUNDAY], [6.25, 6.5, 7.0, 7.25, 6.5], [0] * 5)
    assert_allclose(apply(p, np.zeros(5), ctx, 100.0, TZ), [0, 600, 600, 0, 0])


def test_hvac_drift_runs_later_each_week() -> None:
    p = WastePattern("hvac_schedule_drift", "m", start=date(2026, 9, 1), extra_kw=150.0,
                     hours_per_week=3.5)
    # Two weeks and a day in, the HVAC runs 3.5 h/wk × 15.1 d / 7 d = 7.55 h past 19:00:
    # until about 02:33 of the next day.
    ctx = _ctx([WORKDAY] * 4, [19.5, 23.5, 2.5, 3.0], [14, 14, 15, 15])
    assert_allclose(apply(p, np.zeros(4), ctx, 100.0, TZ), [150, 150, 150, 0])


def test_pv_soiling_builds_up_and_a_cleaning_resets_it() -> None:
    p = WastePattern("pv_soiling", "m", start=date(2026, 9, 1), cleaned=date(2026, 9, 21),
                     pct_per_day=0.5)
    ctx = _ctx([WORKDAY] * 3, [12.0] * 3, [10, 20, 30])
    # 10.5 d of soiling at 0.5 %/d; just after the cleaning 0.5 d; 10.5 d after it again.
    assert_allclose(apply(p, np.full(3, 100.0), ctx, 100.0, TZ), [94.75, 99.75, 94.75])


def test_evening_charging_delivers_the_night_at_full_power_from_18h() -> None:
    p = WastePattern("evening_charging", "m", at_h=18.0)
    hours = [17.5, 18.0, 23.0, 23.25, 23.5]
    ctx = _ctx([WORKDAY] * 5, hours, [0] * 5)
    out = apply(p, np.zeros(5), ctx, 900.0, TZ)
    # Block of 5.525 h on a workday at 15 °C (no climate uplift): 18:00 to 23:31:30.
    assert pytest.approx(5.525) == EV_NIGHT_NOMINAL_H
    assert_allclose(out, [0.0, 900.0, 900.0, 900.0, 900.0])


def test_measure_underdelivery_scales_the_declared_change() -> None:
    pats = (WastePattern("measure_underdelivery", measure="led", delivered_pct=25.0),)
    assert measure_multiplier(-8.0, pats, "led") == pytest.approx(0.98)
    assert measure_multiplier(-8.0, pats, "other") == pytest.approx(0.92)
    off = (replace(pats[0], enabled=False),)
    assert measure_multiplier(-8.0, off, "led") == pytest.approx(0.92)


def test_patterns_are_switchable_and_touch_only_their_meter() -> None:
    cfg = load_config("config/example.toml", env={})
    clean = replace(cfg, waste_patterns=tuple(replace(p, enabled=False)
                                              for p in cfg.waste_patterns))
    t = np.arange(int(datetime(2026, 11, 22, tzinfo=UTC).timestamp()),
                  int(datetime(2026, 11, 23, tzinfo=UTC).timestamp()), 300)
    a, b = Fleet(cfg, 42).power_kw(t), Fleet(clean, 42).power_kw(t)
    ids = [m.meter.id for m in Fleet(cfg, 42).energy_meters]
    changed = {ids[i] for i in range(len(ids)) if not np.allclose(a[i], b[i])}
    # 22 Nov 2026 (UTC day, mostly a Sunday in JST): the weekend load, evening charging,
    # soiling and the LED retrofit's under-delivery (every day) show; the office's HVAC
    # overrun (office days only) and the shift spike (workdays) do not.
    assert changed == {"f3-main", "pv-1", "bus-depot-chargers", "f2-main"}
    assert_allclose(Fleet(clean, 42).power_kw(t), b)  # deterministic for a seed
