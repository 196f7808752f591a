"""Balance points of the degree terms, chosen from the data (variable-base degree days).

A building or process starts heating below some outdoor temperature and cooling above
another; those balance points differ by site (an office with internal gains heats from
about 16 °C, a workshop from 10-12 °C). Fixed bases bias the weather response, and the bias
does not average out over a short reporting period in spring or autumn. Following the
change-point models of ASHRAE Guideline 14 and PRISM's variable-base degree days,
``select_balance_points`` fits a small least-squares model for every pair of bases on a grid
and keeps the pair with the least squared error:

    daily energy ~ day-type levels + hdd + cdd + hdd·workday + cdd·workday

on local days (hourly data is summed to days first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HDD_GRID_C: tuple[float, ...] = tuple(float(x) for x in range(8, 21))
"""Heating balance points tried. [°C]"""
CDD_GRID_C: tuple[float, ...] = tuple(float(x) for x in range(16, 29))
"""Cooling balance points tried. [°C]"""


def select_balance_points(
    energy: np.ndarray,
    temp_air_c: np.ndarray,
    day_types: Sequence[str],
    workday: np.ndarray,
    hdd_grid_c: Sequence[float] = HDD_GRID_C,
    cdd_grid_c: Sequence[float] = CDD_GRID_C,
    hourly_c: np.ndarray | None = None,
) -> tuple[float, float]:
    """Return the (heating, cooling) balance points [°C] with the least squared error.

    Inputs are per local day: energy [kWh], mean temperature [°C], day type names and a
    working-day flag. Rows with NaN are ignored; pairs with cooling below heating are
    skipped. ``hourly_c`` (days × hour slots, NaN-padded) switches the degree terms to
    degree-hours (``day_degrees``). With fewer than 30 usable days the first grid values
    that bracket 18/22 °C cannot be told apart, so (18, 22) is returned.
    """
    y = np.asarray(energy, dtype="float64")
    t = np.asarray(temp_air_c, dtype="float64")
    ok = np.isfinite(y) & np.isfinite(t)
    if ok.sum() < 30:
        return 18.0, 22.0
    y, t = y[ok], t[ok]
    hours = None if hourly_c is None else np.asarray(hourly_c, dtype="float64")[ok]
    work = np.asarray(workday, dtype="float64")[ok]
    types = np.asarray(day_types)[ok]
    levels = np.column_stack([(types == k).astype("float64") for k in np.unique(types)])
    best = (np.inf, 18.0, 22.0)
    for hb in hdd_grid_c:
        hdd = day_degrees(t, hours, hb, "heating")
        for cb in cdd_grid_c:
            if cb < hb:
                continue
            cdd = day_degrees(t, hours, cb, "cooling")
            x = np.column_stack([levels, hdd, cdd, hdd * work, cdd * work])
            _coef, _res, _rank, _sv = np.linalg.lstsq(x, y, rcond=None)
            sse = float(((y - x @ _coef) ** 2).sum())
            if sse < best[0] - 1e-9 * abs(best[0] if np.isfinite(best[0]) else 0):
                best = (sse, hb, cb)
    return best[1], best[2]


MIN_HOURS = 20
"""Hours of temperature a day needs for degree-hours; fewer use the daily mean."""


def day_degrees(temp_air_c: np.ndarray, hourly_c: np.ndarray | None, base_c: float,
                kind: str) -> np.ndarray:
    """Return heating or cooling degrees per day [K]: mean degree-hours where known.

    A building heats and cools by the hour: a day averaging 20 °C with afternoons at 26 °C
    needs cooling that max(0, 20 − 22) misses. The degrees of a day are therefore the mean
    over its hours of max(0, base − T) (heating) or max(0, T − base) (cooling) when at
    least ``MIN_HOURS`` hourly temperatures are known (the ASHRAE Handbook's and CIBSE
    TM41's integration of hourly data), else those of the daily mean ``temp_air_c``.
    """
    t = np.asarray(temp_air_c, dtype="float64")
    sign = 1.0 if kind == "heating" else -1.0
    daily = np.maximum(sign * (base_c - t), 0.0)
    if hourly_c is None:
        return daily
    h = np.asarray(hourly_c, dtype="float64")
    n = np.isfinite(h).sum(axis=1)
    deg = np.where(np.isfinite(h), np.maximum(sign * (base_c - h), 0.0), 0.0).sum(axis=1)
    return np.where(n >= MIN_HOURS, deg / np.maximum(n, 1), daily)
