"""Drift detectors: consumption creeping above what it was or should be.

``drift.baseline_cusum`` reads the daily baseline-vs-actual points that ``greenpipe
forecast run`` stores (``BaselinePoint``: observed, Prophet weather-normalised prediction and
its interval), so it costs no model fit. ``drift.change_point`` dates a step in daily
energy with ``ruptures`` (PELT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from findings.base import (
    DetectorResult,
    FindingWarning,
    MeterData,
    confidence_of,
    degree_days,
    local_midnight_utc,
    make_finding,
    step_regression,
    sufficiency,
)
from greenpipe.model import MeterKind
from greenpipe.results import BaselinePoint

CUSUM_CODE = "drift.baseline_cusum"
CHANGE_POINT_CODE = "drift.change_point"
KINDS = (MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.HEAT, MeterKind.EV_CHARGING)


@dataclass(frozen=True, slots=True)
class CusumOptions:
    """Thresholds of ``drift.baseline_cusum`` (in units of the daily residual's σ)."""

    k_sigma: float = 0.5
    """Reference value (allowance) k = 0.5σ: detects a shift of about 1σ (Montgomery)."""
    h_sigma: float = 5.0
    """Decision interval h = 5σ: in-control average run length of about 900 days."""
    start_tolerance_sigma: float = 0.0
    """How far above the cumulative sum's minimum the start estimate may sit (0: the
    minimum itself, Page's estimate; more: earlier starts). [σ]"""
    reference_days: int = 14
    """After a declared measure: first reporting days whose median residual is the
    in-control level μ₀ (absorbs the measure's saving, so the chart watches for drift after
    it). A null test (no measure) uses μ₀ = 0. [d]"""
    min_days: int = 21
    """Fewest baseline points judged. [d]"""
    interval_level: float = 0.9
    """Central probability of the stored band (``[forecasting] interval_level``)."""


def cusum_path(points: Sequence[BaselinePoint], options: CusumOptions | None = None
               ) -> pd.DataFrame:
    """Tabular upper CUSUM of standardised daily residuals (ISO 50006 / Montgomery).

    Returns one row per day (``day_start`` index) with ``residual_kwh`` (observed −
    predicted), ``sigma_kwh`` (from the band: width / 2z), ``x`` (residual / σ) and
    ``s_upper`` with S⁺ₜ = max(0, S⁺ₜ₋₁ + xₜ − μ₀ − k); ``mu0`` is in ``attrs``.
    """
    opt = options or CusumOptions()
    pts = sorted(points, key=lambda p: p.day_start)
    z = NormalDist().inv_cdf(0.5 + opt.interval_level / 2.0)
    frame = pd.DataFrame({
        "residual_kwh": [p.observed_kwh - p.predicted_kwh for p in pts],
        "sigma_kwh": [(p.predicted_kwh_upper - p.predicted_kwh_lower) / (2.0 * z) for p in pts],
    }, index=pd.DatetimeIndex([p.day_start for p in pts], name="day_start"))
    frame = frame[np.isfinite(frame["residual_kwh"]) & (frame["sigma_kwh"] > 0)]
    frame["x"] = frame["residual_kwh"] / frame["sigma_kwh"]
    # A null test's baseline is unbiased, so the in-control level is 0 (ISO 50006); after a
    # declared measure it is the level of the first reference days (the measure's saving).
    measure = any(p.measure_id for p in pts)
    mu0 = float(frame["x"].iloc[:opt.reference_days].median()) if measure and len(
        frame) else 0.0
    s = 0.0
    path = []
    for x in frame["x"].to_numpy():
        s = max(0.0, s + x - mu0 - opt.k_sigma)
        path.append(s)
    frame["s_upper"] = path
    frame.attrs["mu0"] = mu0
    return frame


def baseline_cusum(data: MeterData, points: Sequence[BaselinePoint],
                   options: CusumOptions | None = None) -> DetectorResult:
    """Find consumption that has run above the weather-normalised baseline since a date.

    Alarm when S+ exceeds h; the start is Page's estimate (the minimum of the cumulative sum
    of standardised residuals before the alarm); the excess is the residual energy above
    mu0 since then.
    """
    opt = options or CusumOptions()
    if data.meter.kind not in KINDS:
        return DetectorResult()
    if not points:
        return DetectorResult(warnings=(FindingWarning(
            "findings.no_baseline", CUSUM_CODE, data.meter.id,
            f"{data.meter.id}: no stored baseline points; run `greenpipe forecast run` "
            "before `greenpipe findings run`"),))
    frame = cusum_path(points, opt)
    if len(frame) < opt.min_days:
        return DetectorResult(warnings=(FindingWarning(
            "findings.too_few_days", CUSUM_CODE, data.meter.id,
            f"{data.meter.id}: {len(frame)} baseline days, CUSUM needs {opt.min_days}"),))
    s = frame["s_upper"].to_numpy()
    alarms = np.flatnonzero(s > opt.h_sigma)
    if not alarms.size:
        return DetectorResult()
    alarm = int(alarms[0])
    mu0 = float(frame.attrs["mu0"])
    # The drift began after the lowest point of the cumulative sum of (x - mu0 - k/2) up to
    # the alarm (Page's change-point estimate), taking the earliest day within
    # ``start_tolerance_sigma`` of that minimum: unlike S+'s last zero, days without the
    # drift (an office's weekends) then do not pull the estimate late.
    plain = np.concatenate([[0.0], np.cumsum(
        frame["x"].to_numpy()[:alarm + 1] - mu0 - opt.k_sigma / 2.0)])
    start = int(np.flatnonzero(plain <= plain.min() + opt.start_tolerance_sigma)[0])
    since = frame.iloc[start:]
    excess = since["residual_kwh"] - mu0 * since["sigma_kwh"]
    excess_kwh = float(excess.sum())
    n = len(since)
    if excess_kwh <= 0:
        return DetectorResult()
    z = float((since["x"] - mu0).mean() * np.sqrt(n))
    annual_kwh = excess_kwh / n * 365.0
    price = float(data.frame["price_jpy_per_kwh"].mean()) if len(data.frame) else 0.0
    start_ts = since.index[0].to_pydatetime()
    day = start_ts.astimezone(pd.Timestamp(0, tz=data.site.timezone).tzinfo).date()
    finding = make_finding(
        CUSUM_CODE, data, start_ts, annual_kwh, annual_kwh * price,
        confidence_of(z, persistent=s[-1] > opt.h_sigma / 2.0),
        f"{day}以降、気象補正ベースラインを上回る消費が続いています(超過 {excess_kwh:,.0f} kWh)。"
        "空調・照明の運転スケジュールと設定値を点検してください。",
        f"Since {day} consumption has run above the weather-normalised baseline "
        f"({excess_kwh:,.0f} kWh excess). Check HVAC and lighting schedules and set-points.",
        {"since": str(day), "alarm_day": str(frame.index[alarm].date()),
         "excess_kwh_since_start": excess_kwh, "days_since_start": n, "mu0_sigma": mu0,
         "k_sigma": opt.k_sigma, "h_sigma": opt.h_sigma, "s_upper_end": float(s[-1]),
         "z": z})
    return DetectorResult(findings=(finding,))


@dataclass(frozen=True, slots=True)
class ChangePointOptions:
    """Thresholds of ``drift.change_point``."""

    min_days: float = 42.0
    """Shortest window judged. [d]"""
    min_size_days: int = 7
    """Shortest segment PELT may cut (one week, so weekly rhythm cannot pose as a step)."""
    penalty_factor: float = 3.0
    """PELT penalty = factor × σ² × ln(n), σ from the median absolute first difference."""
    min_step_pct: float = 5.0
    """Smallest upward step reported, as a share of the mean daily energy. [%]"""
    min_z: float = 4.0


def _design(daily: pd.DataFrame, data: MeterData) -> np.ndarray:
    """Day-type dummies (the weekly rhythm) and heating/cooling degrees of each day."""
    types = pd.get_dummies(daily["day_type"]).to_numpy(dtype=float)[:, 1:]
    return np.column_stack([types, degree_days(data.frame, daily.index,
                                               y=daily["energy_kwh"].to_numpy(), base=types)])


def change_point(data: MeterData, options: ChangePointOptions | None = None) -> DetectorResult:
    """Find an upward step in daily energy, dated by ruptures' PELT (Killick et al. 2012).

    PELT runs on the residual of daily energy after a regression on day type and heating /
    cooling degrees (so neither weekends nor the heating season pose as steps); the step at
    the last breakpoint is then estimated jointly with those regressors.
    """
    import ruptures

    opt = options or ChangePointOptions()
    if data.meter.kind not in KINDS:
        return DetectorResult()
    warning = sufficiency(data, CHANGE_POINT_CODE, opt.min_days)
    if warning:
        return DetectorResult(warnings=(warning,))
    daily = data.daily().dropna(subset=["energy_kwh"])
    n = len(daily)
    if n < 2 * opt.min_size_days + 1:
        return DetectorResult()
    y = daily["energy_kwh"].to_numpy()
    x = _design(daily, data)
    full = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(full, y, rcond=None)
    signal = y - full @ coef
    sigma = float(np.median(np.abs(np.diff(signal)))) / (0.6745 * np.sqrt(2.0))
    if sigma <= 0:
        return DetectorResult()
    algo = ruptures.Pelt(model="l2", min_size=opt.min_size_days, jump=1).fit(signal)
    breaks = algo.predict(pen=opt.penalty_factor * sigma**2 * np.log(n))
    cuts = [0, *breaks]
    if len(cuts) < 3:
        return DetectorResult()
    b1 = cuts[-2]
    step, se, _ = step_regression(y, x, b1)
    before, after = signal[:b1], signal[b1:]
    mean_daily = float(daily["energy_kwh"].mean())
    z = step / se if se > 0 else float("inf")
    if step < opt.min_step_pct / 100.0 * mean_daily or z < opt.min_z:
        return DetectorResult()
    day = daily.index[b1]
    annual_kwh = step * 365.0
    price = float(data.frame["price_jpy_per_kwh"].mean())
    finding = make_finding(
        CHANGE_POINT_CODE, data, local_midnight_utc(day, data.site.timezone), annual_kwh,
        annual_kwh * price, confidence_of(z, persistent=len(after) >= 14),
        f"{day}に1日あたりの消費が約{step:,.0f} kWh ({step / mean_daily:.0%}) 増えました。"
        "その日に何が変わったか(設備追加・設定変更・故障)を確認してください。",
        f"Daily consumption stepped up by about {step:,.0f} kWh ({step / mean_daily:.0%}) "
        f"on {day}. Find out what changed that day (new equipment, settings, a fault).",
        {"since": str(day), "step_kwh_per_day": step, "mean_daily_kwh": mean_daily,
         "segment_before_days": len(before), "segment_after_days": len(after), "z": float(z),
         "sigma_kwh": sigma, "method": "ruptures.Pelt(model='l2')"})
    return DetectorResult(findings=(finding,))
