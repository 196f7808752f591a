"""Waste patterns the simulator injects into meters (``[[waste_patterns]]`` in the config).

Each pattern is a pure function of the meter's clean power and its ``SlotContext``, so it is
deterministic given the fleet's seed and can be switched on and off (``enabled``) without
changing any other meter. They give the finder (``findings``) real problems to find:

- ``weekend_base_load``: ``extra_kw`` left running all day on Sundays and public holidays
  (compressors and lighting left on), from ``start``.
- ``hvac_schedule_drift``: on office days the HVAC (``extra_kw``) runs on after 19:00 for a
  period that grows by ``hours_per_week`` each week since ``start`` (at most to 08:00).
- ``shift_start_spike``: ``extra_kw`` in the half-hour from ``at_h`` on workdays (every
  machine started at once at the shift change), from ``start``.
- ``pv_soiling``: the array loses ``pct_per_day`` of its yield per day since ``start``;
  a cleaning on ``cleaned`` resets it, after which soiling builds up again.
- ``evening_charging``: from ``start`` the depot's chargers all start at ``at_h`` at full
  power (``nominal_kw``) until the night's energy is in, instead of the overnight ramp.
- ``measure_underdelivery`` (applied by the fleet): the measure delivers ``delivered_pct``
  of its declared change.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from greenpipe.config import WastePattern
from simulators.profiles import HOLIDAY, SUNDAY, WORKDAY, SlotContext

FloatArray = NDArray[np.float64]

EV_NIGHT_NOMINAL_H = 0.85 * 6.5
"""Energy of the ev_depot profile's overnight charge, in hours at nominal power (0.85 of
nominal over a 2 h ramp up, 4.5 h plateau and 2 h ramp down). [h]"""


def _from(day: date | None, tz: str) -> float:
    """Epoch seconds of local midnight starting ``day`` (−inf for None). [s]"""
    if day is None:
        return -np.inf
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).timestamp()


def apply(pattern: WastePattern, power_kw: FloatArray, ctx: SlotContext, nominal_kw: float,
          tz: str) -> FloatArray:
    """Return a meter's power with ``pattern`` injected (``power_kw`` is not modified). [kW]"""
    t = ctx.t_epoch_s
    on = t >= _from(pattern.start, tz)
    h = ctx.local_hour
    kind = pattern.kind
    if kind == "weekend_base_load":
        off_day = (ctx.day_code == SUNDAY) | (ctx.day_code == HOLIDAY)
        return power_kw + np.where(on & off_day, pattern.extra_kw, 0.0)
    if kind == "hvac_schedule_drift":
        weeks = np.clip((t - _from(pattern.start, tz)) / (7 * 86400.0), 0.0, None)
        overrun_h = np.minimum(pattern.hours_per_week * weeks, 13.0)
        # The overrun of the evening that began the local day before runs past midnight.
        since_19 = (h - 19.0) % 24.0
        evening_open = np.where(h >= 19.0, ~ctx.office_closed, _prev_open(ctx))
        running = on & evening_open & (since_19 < overrun_h)
        return power_kw + np.where(running, pattern.extra_kw, 0.0)
    if kind == "shift_start_spike":
        in_slot = (h >= pattern.at_h) & (h <= pattern.at_h + 0.5)
        return power_kw + np.where(on & in_slot & (ctx.day_code == WORKDAY),
                                   pattern.extra_kw, 0.0)
    if kind == "pv_soiling":
        start = _from(pattern.start, tz)
        reset = np.where(t >= _from(pattern.cleaned, tz), _from(pattern.cleaned, tz), start)
        days = np.clip((t - reset) / 86400.0, 0.0, None)
        loss = np.where(on, np.minimum(pattern.pct_per_day / 100.0 * days, 0.6), 0.0)
        return power_kw * (1.0 - loss)
    if kind == "evening_charging":
        return _evening_charging(power_kw, ctx, nominal_kw, pattern.at_h, on)
    return power_kw  # measure_underdelivery acts on the measure, not on the power


def _prev_open(ctx: SlotContext) -> NDArray[np.bool_]:
    """Whether the office was open on the previous local day (approximated from its code)."""
    return np.asarray(ctx.prev_day_code == WORKDAY)


def _evening_charging(power_kw: FloatArray, ctx: SlotContext, nominal_kw: float, at_h: float,
                      on: NDArray[np.bool_]) -> FloatArray:
    """Replace the overnight ramp of ``ev_depot`` by a full-power block from ``at_h``."""
    h = ctx.local_hour
    evening = h >= 12.0
    service_code = np.where(evening, ctx.day_code, ctx.prev_day_code)
    service = np.select([service_code == WORKDAY, service_code == 1], [1.0, 0.75], 0.6)
    since_noon = (h - 12.0) % 24.0
    night = np.clip((since_noon - 9.0) / 2.0, 0.0, 1.0) * np.clip((17.5 - since_noon) / 2.0,
                                                                   0.0, 1.0)
    heat = np.clip(12.0 - ctx.temp_air_c, 0.0, None)
    cool = np.clip(ctx.temp_air_c - 25.0, 0.0, None)
    climate = 1.0 + 0.02 * heat + 0.01 * cool
    old_night_kw = nominal_kw * 0.85 * night * service * climate
    block_h = EV_NIGHT_NOMINAL_H * service * climate
    start_since_noon = at_h - 12.0
    block = (since_noon >= start_since_noon) & (since_noon < start_since_noon + block_h)
    new = np.clip(power_kw - old_night_kw, 0.0, None) + np.where(block, nominal_kw, 0.0)
    return np.where(on, new, power_kw)


def measure_multiplier(change_pct: float, patterns: tuple[WastePattern, ...],
                       measure_id: str) -> float:
    """Return the power multiplier of a measure, scaled by any enabled under-delivery."""
    delivered = 100.0
    for p in patterns:
        if p.enabled and p.kind == "measure_underdelivery" and p.measure == measure_id:
            delivered = p.delivered_pct
    return 1.0 + change_pct / 100.0 * delivered / 100.0
