"""Outdoor weather for the demo city (Hitachi, Ibaraki): air temperature and daily cloudiness.

One model feeds both the weather-station meter and the HVAC and PV profiles, so the
temperature a meter's load responds to is exactly the temperature the weather station
reports. Everything is a pure function of (time, seed).

Climate: mean plus two annual harmonics fitted to approximate JMA monthly normals for
Hitachi (January about 3.6 °C, August about 25 °C), a diurnal cycle with its minimum near
sunrise and its maximum mid-afternoon, and smooth day-to-day "weather" anomalies. Japan
keeps no daylight-saving time, so local time is UTC+9 throughout.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simulators.noise import base_key, key64, smooth_normal, uniform

JST_OFFSET_S = 9 * 3600
"""Japan Standard Time, UTC+9, with no daylight-saving time. [s]"""
_EPOCH_DAY_2000 = 10957  # days from 1970-01-01 to 2000-01-01
_YEAR_D = 365.2422

# Annual mean and harmonics of daily mean temperature (fitted to Hitachi monthly normals). [°C]
_T_MEAN_C = 14.05
_T_HARMONICS = (-8.793, -5.313, -0.879, 0.406)  # cos w, sin w, cos 2w, sin 2w
_DIURNAL_MIN_H = 5.5
_DIURNAL_MAX_H = 14.5

# Probability that a day is overcast, by month (Pacific-side Kanto: sunny dry winters,
# the tsuyu rainy season in June-July, autumn rains in September).
_P_OVERCAST = (0.15, 0.18, 0.28, 0.30, 0.30, 0.50, 0.45, 0.30, 0.45, 0.35, 0.25, 0.15)
_P_PARTLY = 0.30

_STREAM_CLOUD = key64("weather.clearness")
_STREAM_SYNOPTIC = key64("weather.temp.synoptic")
_STREAM_DAILY = key64("weather.temp.daily")
_STREAM_HOURLY = key64("weather.temp.hourly")


def _as_epoch_s(ts: datetime) -> float:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no UTC offset; pass an aware datetime")
    return ts.timestamp()


def year_angle(t_epoch_s: ArrayLike) -> NDArray[np.float64]:
    """Return the angle of the year (0 at 1 January 00:00 JST, 2π a tropical year later). [rad]"""
    days = (np.asarray(t_epoch_s, dtype=np.float64) + JST_OFFSET_S) / 86400.0
    return 2.0 * np.pi * (((days - _EPOCH_DAY_2000) / _YEAR_D) % 1.0)


def local_day_jst(t_epoch_s: ArrayLike) -> NDArray[np.int64]:
    """Return the JST calendar day as days since 1970-01-01."""
    t = np.asarray(t_epoch_s, dtype=np.float64)
    return np.floor((t + JST_OFFSET_S) / 86400.0).astype(np.int64)


def clearness_by_day(day: ArrayLike, seed: int) -> NDArray[np.float64]:
    """Return each JST day's clearness (1 clear sky, about 0.15 overcast), seasonal and seeded.

    ``day`` counts days since 1970-01-01 (see ``local_day_jst``). [-]
    """
    d = np.asarray(day, dtype=np.int64)
    base = base_key(seed, _STREAM_CLOUD)
    u = uniform(base, d * 2)
    u2 = uniform(base, d * 2 + 1)
    month = np.floor(year_angle(d * 86400 + 43200 - JST_OFFSET_S) / (2 * np.pi) * 12)
    p_over = np.asarray(_P_OVERCAST)[np.clip(month.astype(np.int64), 0, 11)]
    overcast = 0.12 + 0.23 * u2
    partly = 0.45 + 0.35 * u2
    clear = 0.88 + 0.12 * u2
    return np.where(u < p_over, overcast, np.where(u < p_over + _P_PARTLY, partly, clear))


def _smooth_clearness(t_epoch_s: NDArray[np.float64], seed: int) -> NDArray[np.float64]:
    """Clearness eased linearly between local noons, so temperature has no midnight step."""
    x = (t_epoch_s + JST_OFFSET_S) / 86400.0 - 0.5
    d = np.floor(x)
    w = x - d
    di = d.astype(np.int64)
    return (1 - w) * clearness_by_day(di, seed) + w * clearness_by_day(di + 1, seed)


def _diurnal_shape(hour: NDArray[np.float64]) -> NDArray[np.float64]:
    """-1 at the daily minimum (dawn), +1 at the maximum (mid-afternoon), smooth in between."""
    rise = _DIURNAL_MAX_H - _DIURNAL_MIN_H
    fall = 24.0 - rise
    warming = -np.cos(np.pi * (hour - _DIURNAL_MIN_H) / rise)
    since_max = (hour - _DIURNAL_MAX_H) % 24.0
    cooling = np.cos(np.pi * since_max / fall)
    in_rise = (hour >= _DIURNAL_MIN_H) & (hour <= _DIURNAL_MAX_H)
    return np.where(in_rise, warming, cooling)


def temp_air_c_at(t_epoch_s: ArrayLike, seed: int) -> NDArray[np.float64]:
    """Return Hitachi outdoor air temperature at epoch seconds (vectorised ``temp_air_c``). [°C]"""
    t = np.atleast_1d(np.asarray(t_epoch_s, dtype=np.float64))
    w = year_angle(t)
    c1, s1, c2, s2 = _T_HARMONICS
    seasonal = _T_MEAN_C + c1 * np.cos(w) + s1 * np.sin(w) + c2 * np.cos(2 * w) + s2 * np.sin(2 * w)
    # Half the diurnal range: about 4.4 °C in winter, 2.8 °C in summer; clear days swing more.
    half_range = (3.6 + 0.8 * np.cos(w)) * (0.55 + 0.55 * _smooth_clearness(t, seed))
    hour = ((t + JST_OFFSET_S) % 86400.0) / 3600.0
    days = (t + JST_OFFSET_S) / 86400.0
    anomaly = (
        2.0 * smooth_normal(base_key(seed, _STREAM_SYNOPTIC), days, 3.0)
        + 1.2 * smooth_normal(base_key(seed, _STREAM_DAILY), days, 1.0)
        + 0.3 * smooth_normal(base_key(seed, _STREAM_HOURLY), t / 3600.0, 1.0)
    )
    return seasonal + half_range * _diurnal_shape(hour) + anomaly


def temp_air_c(ts: datetime, seed: int) -> float:
    """Return Hitachi outdoor air temperature at an aware timestamp for a seed. [°C]"""
    return float(temp_air_c_at(_as_epoch_s(ts), seed)[0])
