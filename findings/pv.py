"""``pv.underperformance``: PV yield below what the array gave on its own best days.

Rule (IEC 61724-1 performance ratio, computed against a clear sky because greenpipe has no
irradiance sensor): each day's yield is divided by the array's clear-sky plane-of-array
expectation, E_day / (P₀ × H_POA,clear / G_STC), with solar geometry, the simplified Solis
clear sky, the transposition to the array's plane and the Faiman cell temperature (for the
IEC 61724-1 temperature correction, when a weather meter gives the air temperature) from
``pvlib``. Clouds only lower that
ratio, so the clear-day index is its rolling upper quantile (P90 over ``window_days``). The
finding: the recent index is ``min_loss_pct`` or more below the best index since the last
step up (a cleaning or a repair). The shape names the likely cause: a steady decline is
soiling, an abrupt drop (a step fits the index with less than half the residual of a line)
a string or inverter fault, days of zero yield an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from findings.base import (
    SLOT,
    SLOT_H,
    DetectorResult,
    FindingWarning,
    MeterData,
    best_step,
    confidence_of,
    local_midnight_utc,
    make_finding,
    step_regression,
    sufficiency,
)
from greenpipe.model import MeterKind

CODE = "pv.underperformance"


@dataclass(frozen=True, slots=True)
class PvOptions:
    """Thresholds and the assumed array orientation of ``pv.underperformance``."""

    tilt_deg: float = 25.0
    azimuth_deg: float = 180.0
    """Array orientation (south = 180°) when the meter does not say. [deg]"""
    min_days: float = 28.0
    window_days: int = 15
    """Days of the rolling upper quantile that tracks clear-day performance. [d]"""
    quantile: float = 0.9
    min_loss_pct: float = 8.0
    """Smallest loss against the best clear-day index reported. [%]"""
    gamma_per_k: float = -0.004
    """Relative power change per kelvin of cell temperature (crystalline silicon). [1/K]"""
    pr_threshold: float = 0.75
    """IEC 61724 practice: an annual PR below about 0.75 is poor (reported as evidence)."""


def clear_sky_kwh_per_kwp(index: pd.DatetimeIndex, latitude_deg: float, longitude_deg: float,
                          tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """Clear-sky plane-of-array energy of each half-hour starting at ``index``, per kWp.

    pvlib solar position at the slot's middle, simplified Solis clear sky, isotropic
    transposition; G_STC = 1000 W/m². [kWh/kWp]
    """
    key = (int(index[0].value), len(index), latitude_deg, longitude_deg, tilt_deg, azimuth_deg)
    return _clear_sky(*key)


@lru_cache(maxsize=32)
def _clear_sky(start_ns: int, n: int, latitude_deg: float, longitude_deg: float,
               tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    import pvlib

    mid = pd.date_range(pd.Timestamp(start_ns, tz="UTC") + SLOT / 2, periods=n, freq=SLOT)
    loc = pvlib.location.Location(latitude_deg, longitude_deg, tz="UTC")
    sky = loc.get_clearsky(mid, model="simplified_solis")
    sun = loc.get_solarposition(mid)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"],
        sky["dhi"], model="isotropic")["poa_global"].fillna(0.0).clip(lower=0.0)
    out = poa.to_numpy() / 1000.0 * SLOT_H
    out.setflags(write=False)
    return out


def daily_index(data: MeterData, latitude_deg: float, longitude_deg: float,
                options: PvOptions | None = None) -> pd.DataFrame:
    """Per local day: yield [kWh], clear-sky expectation [kWh], ratio and clear-day index."""
    opt = options or PvOptions()
    kwp = float(data.meter.nominal_kw or data.meter.rated_max_power_kw or 0.0)
    f = data.frame
    clear = clear_sky_kwh_per_kwp(f.index, latitude_deg, longitude_deg, opt.tilt_deg,
                                  opt.azimuth_deg) * kwp
    temp = f["temp_air_c"].to_numpy()
    if np.isfinite(temp).any():
        import pvlib

        # IEC 61724-1 temperature-corrected expectation: cell temperature from pvlib's
        # Faiman model at the clear-sky irradiance, power coefficient gamma.
        poa_w_m2 = clear / kwp / SLOT_H * 1000.0 if kwp > 0 else clear * 0.0
        air = pd.Series(temp).interpolate(limit_direction="both").to_numpy()
        cell = pvlib.temperature.faiman(poa_w_m2, air, wind_speed=1.0)
        clear = clear * (1.0 + opt.gamma_per_k * (np.asarray(cell) - 25.0))
    g = pd.DataFrame({"energy_kwh": f["energy_kwh"].to_numpy(), "clear_kwh": clear,
                      "day": f["local_date"].to_numpy()}).groupby("day")
    days = pd.DataFrame({"energy_kwh": g["energy_kwh"].sum(min_count=40),
                         "clear_kwh": g["clear_kwh"].sum()})
    days["ratio"] = days["energy_kwh"] / days["clear_kwh"].where(days["clear_kwh"] > 0)
    days["index"] = days["ratio"].rolling(opt.window_days, center=True,
                                          min_periods=opt.window_days // 2).quantile(
        opt.quantile)
    return days


def _cleaning_before(clear: pd.Series, best_day: object, opt: PvOptions, k: int = 3,
                     days: int = 30) -> object | None:
    """The first clear day after the largest step up of the clear days' ratio in the
    ``days`` before ``best_day`` (a cleaning or repair that set the best level), or None.

    The centred quantile index reaches its best some days after such a step, and noise
    moves that day; the step itself dates the start of the decline more closely.
    """
    lo = pd.Timestamp(best_day) - pd.Timedelta(days=days)
    dates = pd.to_datetime(pd.Index(clear.index))
    vals = clear.to_numpy()
    best: tuple[float, object] | None = None
    for i in range(k, len(vals) - k + 1):
        if not lo <= dates[i] <= pd.Timestamp(best_day):
            continue
        before = vals[i - k:i].mean()
        jump = vals[i:i + k].mean() / before - 1.0 if before > 0 else 0.0
        if jump >= opt.min_loss_pct / 100.0 and (best is None or jump > best[0]):
            best = (jump, clear.index[i])
    return best[1] if best else None


def pv_underperformance(data: MeterData, latitude_deg: float, longitude_deg: float,
                        options: PvOptions | None = None) -> DetectorResult:
    """Find a PV array yielding well below its own best clear-day performance."""
    opt = options or PvOptions()
    if data.meter.kind != MeterKind.PV:
        return DetectorResult()
    if not (data.meter.nominal_kw or data.meter.rated_max_power_kw):
        return DetectorResult(warnings=(FindingWarning(
            "findings.no_pv_rating", CODE, data.meter.id,
            f"{data.meter.id}: set nominal_kw (the array's kWp) to judge its yield"),))
    warning = sufficiency(data, CODE, opt.min_days)
    if warning:
        return DetectorResult(warnings=(warning,))
    days = daily_index(data, latitude_deg, longitude_deg, opt).dropna(subset=["energy_kwh"])
    idx = days["index"].dropna()
    if len(idx) < opt.window_days:
        return DetectorResult()
    # Today's index over a full trailing window (the centred one thins out at the end).
    recent = float(days["ratio"].iloc[-opt.window_days:].quantile(opt.quantile))
    values = idx.to_numpy()
    best = float(values.max())
    # The decline starts after the last day the array was (within 0.5 %) at its best.
    best_pos = int(np.flatnonzero(values >= 0.995 * best)[-1])
    loss = 1.0 - recent / best if best > 0 else 0.0
    if loss < opt.min_loss_pct / 100.0 or len(idx) - best_pos < opt.window_days:
        return DetectorResult()
    seg = idx.iloc[best_pos:]
    x = np.arange(len(seg), dtype=float)
    slope, icpt = np.polyfit(x, seg.to_numpy(), 1)
    fit = icpt + slope * x
    ss_res = float(((seg.to_numpy() - fit) ** 2).sum())
    ss_tot = float(((seg.to_numpy() - seg.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    zero_days = int(((days["energy_kwh"] <= 0.01 * days["clear_kwh"])
                     & (days["clear_kwh"] > 0)).iloc[best_pos:].sum())
    # An abrupt drop fits a step far better than a line and the step holds most of the
    # decline (a line's best step holds about half); soiling fits a line as well. Judged
    # on the clear days' own ratios (at or above their rolling P75), which the quantile
    # index would smooth into a ramp.
    ratio = days["ratio"]
    clear = ratio[ratio >= ratio.rolling(opt.window_days, center=True, min_periods=5).quantile(
        0.75)]
    # From half a window before the index left its best: the centred quantile lags a step.
    first = idx.index[max(0, best_pos - opt.window_days // 2)]
    y = clear[clear.index >= first].to_numpy()
    empty = np.zeros((len(y), 0))
    k, drop, _ = best_step(y, empty, 3, 3) if len(y) >= 8 else (len(y), 0.0, 0.0)
    line = np.polyval(np.polyfit(np.arange(len(y)), y, 1), np.arange(len(y))) if len(
        y) >= 3 else y
    line_rss = float(((y - line) ** 2).sum())
    step_rss = step_regression(y, empty, k)[2] if k < len(y) else line_rss
    if zero_days >= 2:
        cause = "outage"
    elif slope < 0 and (step_rss > 0.5 * line_rss or -drop < 0.6 * (best - recent)):
        cause = "soiling"
        if r2 >= 0.6:
            # A clean linear decline: the fitted line's end is today's loss (the quantile
            # of the last window lags it).
            recent = float(fit[-1])
            loss = 1.0 - recent / best
    else:
        cause = "fault"
    # Annual yield of the array at its best index, scaled by a year of clear sky.
    window = days.iloc[best_pos:]
    unsoiled = float((window["energy_kwh"] * best / window["index"].where(
        window["index"] > 0)).sum())
    year_index = pd.date_range(data.as_of - pd.Timedelta(days=365), periods=365 * 48, freq=SLOT)
    kwp = float(data.meter.nominal_kw or data.meter.rated_max_power_kw or 0.0)
    year_clear = float(clear_sky_kwh_per_kwp(year_index, latitude_deg, longitude_deg,
                                             opt.tilt_deg, opt.azimuth_deg).sum()) * kwp
    window_clear = float(window["clear_kwh"].sum())
    annual_yield = unsoiled / window_clear * year_clear if window_clear > 0 else 0.0
    annual_kwh = loss * annual_yield
    f = data.frame
    price = float(f.loc[f["workday"] & (f["local_hour"] >= 9) & (f["local_hour"] < 16),
                        "price_jpy_per_kwh"].mean()) if len(f) else 0.0
    resid = seg.to_numpy() - fit
    noise = float(np.std(resid, ddof=1)) if len(resid) > 2 else float("nan")
    z = (best - recent) / noise if noise > 0 else float("inf")
    start_day = _cleaning_before(clear, idx.index[best_pos], opt) or idx.index[best_pos]
    proposals = {
        "soiling": ("パネルの汚れによる発電低下です。洗浄を計画してください。",
                    "The gradual decline points to soiling: schedule a panel cleaning."),
        "fault": ("急な発電低下です。ストリング・パワコンを点検してください。",
                  "The abrupt drop points to a string or inverter fault: inspect them."),
        "outage": ("発電ゼロの日があります。パワコン停止・遮断器を確認してください。",
                   "Days without yield: check for a tripped inverter or breaker."),
    }
    ja, en = proposals[cause]
    finding = make_finding(
        CODE, data, local_midnight_utc(start_day, data.site.timezone), annual_kwh,
        annual_kwh * price, confidence_of(z, persistent=len(seg) >= 14),
        f"{start_day}以降、晴天日の発電性能が{loss:.0%}低下しています。{ja}",
        f"Since {start_day} clear-day performance has fallen {loss:.0%}. {en}",
        {"since": str(start_day), "cause": cause, "loss_pct": loss * 100.0,
         "best_index": best, "recent_index": recent, "pr_threshold": opt.pr_threshold,
         "below_pr_threshold": recent < opt.pr_threshold, "slope_per_day": float(slope),
         "r2": r2, "zero_days": zero_days, "annual_yield_kwh": annual_yield,
         "kwp": kwp})
    return DetectorResult(findings=(finding,))
