"""Synthetic meters with known truth for the forecasting tests (not a test module)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from greenpipe.plant_calendar import DayType, day_type

LEVEL_BY_DAYTYPE = {DayType.WORKDAY: 1000.0, DayType.SATURDAY: 650.0, DayType.SUNDAY: 500.0,
                    DayType.HOLIDAY: 500.0, DayType.SHUTDOWN: 300.0}
"""Daily base energy by day type. [kWh]"""


def daily_meter(start: date, days: int, *, step_day: date | None = None,
                step_pct: float = -10.0, seed: int = 7, noise: float = 0.03,
                temp_air_c: np.ndarray | None = None
                ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return (energy_kwh by reading end, temp_air_c by instant, counterfactual_kwh by day).

    Energy is one reading per local (JST) day stamped at the end of the day; temperature
    is one reading per day at local noon. Energy = day-type level + 25·HDD + 40·CDD (bases
    18/22 °C), times multiplicative noise, times (1 + step) from ``step_day`` on. Pass
    ``temp_air_c`` (one value per day) so several meters share one weather station.
    """
    rng = np.random.default_rng(seed)
    local_days = pd.date_range(pd.Timestamp(start), periods=days, freq="D")
    doy = local_days.day_of_year.to_numpy()
    temp = 15.0 - 10.0 * np.cos(2 * np.pi * (doy - 20) / 365.25) + rng.normal(0, 2.0, days)
    if temp_air_c is not None:
        temp = np.asarray(temp_air_c, dtype="float64")
    base = np.array([LEVEL_BY_DAYTYPE[day_type(d.date())] for d in local_days])
    counterfactual = (base + 25.0 * np.maximum(18.0 - temp, 0) + 40.0 * np.maximum(temp - 22.0, 0))
    counterfactual *= 1 + rng.normal(0, noise, days)
    factor = np.ones(days)
    if step_day is not None:
        factor[local_days.date >= step_day] = 1 + step_pct / 100
    actual = counterfactual * factor
    ends = (local_days + pd.Timedelta(days=1)).tz_localize("Asia/Tokyo").tz_convert(UTC)
    noons = (local_days + pd.Timedelta(hours=12)).tz_localize("Asia/Tokyo").tz_convert(UTC)
    starts = local_days.tz_localize("Asia/Tokyo").tz_convert(UTC)
    return (pd.Series(actual, index=ends, name="energy_kwh"),
            pd.Series(temp, index=noons, name="temp_air_c"),
            pd.Series(counterfactual, index=starts, name="counterfactual_kwh"))


def jst(y: int, m: int, d: int) -> datetime:
    """Return local midnight in Asia/Tokyo as an aware UTC datetime."""
    return pd.Timestamp(y, m, d).tz_localize("Asia/Tokyo").tz_convert(UTC).to_pydatetime()
