"""Load profiles: the shape of each simulated meter's power over local time, as a fraction of
the meter's ``nominal_kw``.

Each profile is a pure function of a ``SlotContext`` (local clock, working-day calendar,
outdoor temperature, PV irradiance) evaluated at a vector of instants. The fleet scales the
shape by ``nominal_kw``, adds the per-meter noise the profile asks for, and applies declared
efficiency measures. Calendars: factories follow ``greenpipe.plant_calendar`` (weekends,
Japanese public holidays, configured shutdowns); offices and city hall also close
29 December - 3 January, the statutory holidays of Japanese government offices
(行政機関の休日に関する法律, Act No. 91 of 1988) that most private offices follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenpipe.plant_calendar import DayType

FloatArray = NDArray[np.float64]

DAY_CODES: dict[DayType, int] = {
    DayType.WORKDAY: 0,
    DayType.SATURDAY: 1,
    DayType.SUNDAY: 2,
    DayType.HOLIDAY: 3,
    DayType.SHUTDOWN: 4,
}
WORKDAY, SATURDAY, SUNDAY, HOLIDAY, SHUTDOWN = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class SlotContext:
    """Everything a profile may depend on, at ``n`` instants (arrays of length n)."""

    t_epoch_s: FloatArray
    """The instants, seconds since the Unix epoch (UTC). [s]"""
    local_hour: FloatArray
    """Hour of the local day at the site, 0 <= h < 24. [h]"""
    local_days: FloatArray
    """Local time as days since 1970-01-01 00:00 local (fraction = time of day). [d]"""
    day_code: NDArray[np.int64]
    """Plant-calendar day type of the local date (WORKDAY ... SHUTDOWN codes above)."""
    prev_day_code: NDArray[np.int64]
    """Day type of the previous local date (night shifts and night charging belong to it)."""
    office_closed: NDArray[np.bool_]
    """Offices closed: weekend, public holiday or 29 Dec - 3 Jan."""
    new_years_day: NDArray[np.bool_]
    """1 January, the one day Japanese shopping centres close."""
    temp_air_c: FloatArray
    """Outdoor air temperature (``simulators.weather.temp_air_c``). [°C]"""
    clearness: FloatArray
    """Clearness of the local day, 1 for a clear sky. [-]"""
    pv_fraction: FloatArray
    """PV output of an unshaded array under the day's clouds, per kWp. [-]"""


@dataclass(frozen=True, slots=True)
class Profile:
    """A named load shape plus the noise a meter following it shows."""

    name: str
    shape: Callable[[SlotContext], FloatArray]
    day_sd: float
    """Relative spread of a meter's day-to-day level (production volume, occupancy). [-]"""
    hour_sd: float
    """Relative spread of smooth hour-scale wiggles. [-]"""
    white_sd: float
    """Relative spread of independent 5-minute noise. [-]"""
    cloud_driven: bool = False
    """Scale the hour-scale noise with cloudiness (passing clouds over a PV array)."""


def window(hour: FloatArray, start_h: float, end_h: float, ramp_h: float) -> FloatArray:
    """Return 1 between start and end hour, 0 outside, with linear ramps of ``ramp_h``. [-]

    ``end_h`` may exceed 24 (or be below ``start_h``) for windows that run past midnight.
    """
    if end_h <= start_h:
        end_h += 24.0

    def _one(h: FloatArray) -> FloatArray:
        up = np.clip((h - start_h) / ramp_h + 0.5, 0.0, 1.0)
        down = np.clip((end_h - h) / ramp_h + 0.5, 0.0, 1.0)
        return up * down

    return np.maximum(_one(hour), _one(hour + 24.0))


def _cooling(ctx: SlotContext, base_c: float) -> FloatArray:
    return np.clip(ctx.temp_air_c - base_c, 0.0, None)


def _heating(ctx: SlotContext, base_c: float) -> FloatArray:
    return np.clip(base_c - ctx.temp_air_c, 0.0, None)


def continuous_process(ctx: SlotContext) -> FloatArray:
    """Round-the-clock process plant: flat load, partial maintenance outage in shutdowns."""
    d = ctx.day_code
    level = np.select([d == SHUTDOWN, (d == SUNDAY) | (d == HOLIDAY)], [0.60, 0.82], 0.88)
    day_staff = np.where(d == WORKDAY, 0.05 * window(ctx.local_hour, 8.0, 17.5, 1.0), 0.0)
    return level + day_staff + 0.004 * _cooling(ctx, 20.0)


def process_gas(ctx: SlotContext) -> FloatArray:
    """Process heat (boilers, furnaces): steady, higher when cold, banked during shutdowns."""
    d = ctx.day_code
    level = np.select([d == SHUTDOWN, (d == SUNDAY) | (d == HOLIDAY)], [0.30, 0.66], 0.72)
    return level + 0.012 * _heating(ctx, 16.0)


def two_shift(ctx: SlotContext) -> FloatArray:
    """Assembly plant, two shifts 06:00-23:00 on workdays, one reduced shift on Saturdays."""
    h, d = ctx.local_hour, ctx.day_code
    breaks = 1.0 - 0.3 * window(h, 11.75, 12.5, 0.25) - 0.3 * window(h, 19.5, 20.25, 0.25)
    weekday_run = 0.78 * window(h, 6.0, 23.0, 0.5) * breaks
    saturday_run = 0.35 * window(h, 8.0, 17.0, 0.5) * breaks
    run = np.select([d == WORKDAY, d == SATURDAY], [weekday_run, saturday_run], 0.0)
    base = np.where(d == SHUTDOWN, 0.10, 0.14)
    hvac = (0.004 * _cooling(ctx, 24.0) + 0.003 * _heating(ctx, 12.0)) * (run > 0.05)
    return base + run + hvac


def sme_workshop(ctx: SlotContext) -> FloatArray:
    """Small machine shop: one day shift with a lunch break, Saturday mornings."""
    h, d = ctx.local_hour, ctx.day_code
    lunch = 1.0 - 0.6 * window(h, 12.0, 13.0, 0.2)
    weekday_run = 0.80 * window(h, 8.0, 17.0, 0.5) * lunch
    saturday_run = 0.45 * window(h, 8.0, 12.0, 0.5)
    run = np.select([d == WORKDAY, d == SATURDAY], [weekday_run, saturday_run], 0.0)
    hvac = (0.005 * _cooling(ctx, 25.0) + 0.004 * _heating(ctx, 10.0)) * (run > 0.05)
    return np.where(d == SHUTDOWN, 0.06, 0.08) + run + hvac


def _office_like(
    ctx: SlotContext, open_h: float, close_h: float, plug: float, cool: float, heat: float
) -> FloatArray:
    h = ctx.local_hour
    is_open = ~ctx.office_closed
    occupied = np.where(is_open, window(h, open_h, close_h, 1.0), 0.0)
    # HVAC starts an hour early to bring the building to set-point (pre-conditioning).
    conditioning = np.where(is_open, window(h, open_h - 1.0, close_h, 0.5), 0.0)
    hvac = (cool * _cooling(ctx, 22.0) + heat * _heating(ctx, 16.0)) * conditioning
    saturday_staff = np.where(ctx.day_code == SATURDAY, 0.05 * window(h, 9.0, 17.0, 1.0), 0.0)
    return plug * occupied + hvac + saturday_staff


def office(ctx: SlotContext) -> FloatArray:
    """Office building: IT base load, lighting and plugs 08:00-19:00, heat-pump HVAC."""
    return 0.22 + _office_like(ctx, 8.0, 19.0, plug=0.33, cool=0.030, heat=0.022)


def city_hall(ctx: SlotContext) -> FloatArray:
    """City hall: 08:30-17:15 counter hours plus evening overtime, heat-pump HVAC."""
    h = ctx.local_hour
    overtime = np.where(ctx.office_closed, 0.0, 0.10 * window(h, 17.25, 20.0, 1.0))
    return 0.20 + overtime + _office_like(ctx, 8.5, 17.25, plug=0.35, cool=0.028, heat=0.020)


def retail(ctx: SlotContext) -> FloatArray:
    """Shopping centre: open 10:00-21:00 every day but New Year's Day; refrigeration 24 h."""
    h = ctx.local_hour
    is_open = ~ctx.new_years_day
    trading = np.where(is_open, window(h, 10.0, 21.0, 0.5), 0.0)
    prep = np.where(is_open, window(h, 8.5, 10.0, 0.5), 0.0)
    busy = np.where(ctx.office_closed, 1.12, 1.0)  # weekends and holidays draw more shoppers
    refrigeration = 0.28 * (1.0 + 0.01 * (ctx.temp_air_c - 15.0))
    hvac = (0.025 * _cooling(ctx, 20.0) + 0.015 * _heating(ctx, 14.0)) * np.maximum(trading, prep)
    return refrigeration + 0.35 * trading * busy + 0.10 * prep + hvac


def office_heating_gas(ctx: SlotContext) -> FloatArray:
    """Gas boiler heating an office: driven by heating degrees below 18 °C, night set-back."""
    h = ctx.local_hour
    is_open = ~ctx.office_closed
    schedule = np.where(is_open, window(h, 6.5, 18.0, 0.5), 0.0)
    boost = np.where(is_open, window(h, 6.5, 8.5, 0.5), 0.0)  # morning warm-up
    heat_demand = np.clip(_heating(ctx, 18.0) / 18.0, 0.0, 1.2)
    hot_water = 0.03 + 0.04 * schedule
    return hot_water + 0.85 * heat_demand * (0.25 + 0.75 * schedule + 0.3 * boost)


def pv(ctx: SlotContext) -> FloatArray:
    """PV array: clear-sky irradiance on the array times the day's clearness (per kWp)."""
    return ctx.pv_fraction


def ev_depot(ctx: SlotContext) -> FloatArray:
    """EV-bus depot: buses return 21:00-23:00 and charge overnight (CC-CV taper before 05:30)."""
    h = ctx.local_hour
    # Charging after midnight belongs to the service day that ended the evening before.
    service_code = np.where(h < 12.0, ctx.prev_day_code, ctx.day_code)
    service = np.select(
        [service_code == WORKDAY, service_code == SATURDAY], [1.0, 0.75], 0.6
    )
    since_noon = (h - 12.0) % 24.0
    night = np.clip((since_noon - 9.0) / 2.0, 0.0, 1.0) * np.clip((17.5 - since_noon) / 2.0,
                                                                   0.0, 1.0)
    top_up = 0.12 * window(h, 11.0, 14.0, 0.5)
    # Cabin heating and air conditioning drain the batteries, so cold nights charge more.
    climate = 1.0 + 0.02 * _heating(ctx, 12.0) + 0.01 * _cooling(ctx, 25.0)
    return 0.01 + (0.85 * night + top_up) * service * climate


def weather(ctx: SlotContext) -> FloatArray:
    """The weather station: no energy; it publishes ``temp_air_c``."""
    return np.zeros_like(ctx.t_epoch_s)


WEATHER_PROFILE = "weather"

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("continuous_process", continuous_process, 0.02, 0.015, 0.01),
        Profile("process_gas", process_gas, 0.03, 0.02, 0.01),
        Profile("two_shift", two_shift, 0.05, 0.03, 0.02),
        Profile("sme_workshop", sme_workshop, 0.08, 0.05, 0.03),
        Profile("office", office, 0.04, 0.03, 0.015),
        Profile("retail", retail, 0.04, 0.03, 0.015),
        Profile("city_hall", city_hall, 0.04, 0.03, 0.015),
        Profile("office_heating_gas", office_heating_gas, 0.05, 0.04, 0.02),
        Profile("pv", pv, 0.0, 0.25, 0.02, cloud_driven=True),
        Profile("ev_depot", ev_depot, 0.06, 0.04, 0.03),
        Profile(WEATHER_PROFILE, weather, 0.0, 0.0, 0.0),
    )
}
"""Every profile a ``[[meters]] profile`` may name."""
