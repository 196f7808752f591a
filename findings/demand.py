"""Demand detectors: the 30-minute peaks that set the basic charge.

Japanese high-voltage contracts bill a basic charge on the contract power, the highest
30-minute demand (average kW over a fixed half-hour, デマンド) of the current and the previous
11 months, so one spike sets the charge for a year. ``demand.peak`` finds the peak that sets
it and how far it stands above the load around it; ``ev.peak_charging`` finds depot
charging that peaks in the evening when the same energy could be spread over the night.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from findings.base import (
    SLOT_H,
    SLOTS_PER_DAY,
    DetectorResult,
    MeterData,
    local_midnight_utc,
    make_finding,
    sufficiency,
)
from greenpipe.finding import Confidence
from greenpipe.model import MeterKind

PEAK_CODE = "demand.peak"
EV_CODE = "ev.peak_charging"


@dataclass(frozen=True, slots=True)
class PeakOptions:
    """Thresholds of ``demand.peak``."""

    min_days: float = 7.0
    neighbour_slots: int = 2
    """Half-hours each side whose mean is the load around the peak."""
    min_excess_pct: float = 8.0
    """Smallest excess over the surrounding load reported, as a share of the peak. [%]"""
    high_excess_pct: float = 15.0
    """Excess (recurring on 3+ days) that makes the finding high confidence. [%]"""
    months: int = 12
    """The contract power is the highest demand of this many months (current + 11)."""


def _first_persistent(flags: np.ndarray) -> int:
    """Index where the maximal-suffix-sum of (flag − ½) begins: where a habit starts."""
    suffix = np.cumsum((flags.astype(float) - 0.5)[::-1])[::-1]
    return int(np.argmax(suffix))


def _around(demand: np.ndarray, i: int, n: int) -> float:
    """The higher of the mean of the ``n`` slots before and after slot ``i``. [kW]"""
    before = demand[max(0, i - n):i]
    after = demand[i + 1:i + 1 + n]
    means = [float(np.nanmean(x)) for x in (before, after) if len(x) and np.isfinite(x).any()]
    return max(means) if means else float("nan")


def demand_peak(data: MeterData, options: PeakOptions | None = None) -> DetectorResult:
    """Find the 30-minute peak that sets the contract power and its avoidable part."""
    opt = options or PeakOptions()
    if data.meter.kind not in (MeterKind.ELECTRICITY,):
        return DetectorResult()
    warning = sufficiency(data, PEAK_CODE, opt.min_days)
    if warning:
        return DetectorResult(warnings=(warning,))
    f = data.frame.iloc[-opt.months * 31 * SLOTS_PER_DAY:]
    demand = f["demand_kw"].to_numpy()
    if not np.isfinite(demand).any():
        return DetectorResult()
    i = int(np.nanargmax(demand))
    peak_kw = float(demand[i])
    around_kw = _around(demand, i, opt.neighbour_slots)
    excess_kw = peak_kw - around_kw
    if not np.isfinite(excess_kw) or excess_kw < opt.min_excess_pct / 100.0 * peak_kw:
        return DetectorResult()
    # Does the spike recur at the same local half-hour? Judge every day of that day type.
    slot_hour = float(f["local_hour"].iloc[i])
    same_slot = np.flatnonzero((f["local_hour"].to_numpy() == slot_hour)
                               & (f["workday"].to_numpy() == bool(f["workday"].iloc[i])))
    spikes = np.asarray([demand[j] - _around(demand, int(j), opt.neighbour_slots)
                         > 0.5 * excess_kw for j in same_slot])
    k = _first_persistent(spikes) if spikes.size else 0
    recurring = int(spikes[k:].sum()) if spikes.size else 1
    first_day = f["local_date"].iloc[same_slot[k]] if spikes.size else f["local_date"].iloc[i]
    months = f.groupby(pd.Index([pd.Timestamp(d).to_period("M") for d in f["local_date"]]))
    monthly_max = months["demand_kw"].max()
    typical_kw = float(monthly_max.drop(monthly_max.idxmax()).median()) if len(
        monthly_max) > 1 else float("nan")
    rate = data.tariff.demand_jpy_per_kw_month
    cost = excess_kw * rate * 12.0
    pct = excess_kw / peak_kw * 100.0
    confidence = (Confidence.HIGH if pct >= opt.high_excess_pct and recurring >= 3
                  else Confidence.MEDIUM if recurring >= 2 else Confidence.LOW)
    at = f.index[i].tz_convert(data.site.timezone)
    hhmm = f"{int(slot_hour):02d}:{round(slot_hour % 1 * 60):02d}"
    finding = make_finding(
        PEAK_CODE, data, local_midnight_utc(first_day, data.site.timezone), 0.0, cost,
        confidence,
        f"{at:%Y-%m-%d %H:%M}のデマンド {peak_kw:,.0f} kW が契約電力を決めています。前後より "
        f"{excess_kw:,.0f} kW 高く、{hhmm}に繰り返し発生しています。設備の起動をずらせば"
        f"年間約{cost:,.0f}円の基本料金を下げられます。",
        f"The 30-minute demand of {peak_kw:,.0f} kW at {at:%Y-%m-%d %H:%M} sets the contract "
        f"power. It stands {excess_kw:,.0f} kW above the load around it and recurs at "
        f"{hhmm}. Staggering start-ups would cut the basic charge by about ¥{cost:,.0f} a year.",
        {"peak_kw": peak_kw, "peak_at": at.isoformat(), "around_kw": around_kw,
         "excess_kw": excess_kw, "typical_monthly_peak_kw": typical_kw,
         "recurring_days": recurring, "slot_local": hhmm, "since": str(first_day),
         "demand_jpy_per_kw_month": rate})
    return DetectorResult(findings=(finding,))


@dataclass(frozen=True, slots=True)
class EvOptions:
    """Thresholds of ``ev.peak_charging``."""

    min_days: float = 7.0
    evening_start_h: float = 17.0
    evening_end_h: float = 22.0
    """Local hours of the evening peak (the grid's and most sites' peak). [h]"""
    night_start_h: float = 22.0
    night_end_h: float = 6.0
    """Night hours the same energy could be spread over. [h]"""
    recent_nights: int = 14
    min_share: float = 0.5
    """Share of recent nights that must peak in the evening."""
    min_saving_pct: float = 5.0
    """Smallest demand saving reported, as a share of the evening peak. [%]"""


def ev_peak_charging(data: MeterData, options: EvOptions | None = None) -> DetectorResult:
    """Find depot charging that peaks in the evening instead of spreading over the night."""
    opt = options or EvOptions()
    if data.meter.kind != MeterKind.EV_CHARGING:
        return DetectorResult()
    warning = sufficiency(data, EV_CODE, opt.min_days)
    if warning:
        return DetectorResult(warnings=(warning,))
    f = data.frame
    # A charging night runs 15:00 to 09:00 next day (the midday top-up is not part of it).
    local = f.index.tz_convert(data.site.timezone) - timedelta(hours=15)
    night_of = pd.Index(local.date)
    in_night = np.asarray(local.hour < 18)
    g = f.loc[in_night].groupby(night_of[in_night])
    energy = g["energy_kwh"].sum(min_count=32)
    peak = g["demand_kw"].max()
    peak_hour = g.apply(lambda x: float(x["local_hour"].iloc[int(np.nanargmax(
        x["demand_kw"].to_numpy()))]) if x["demand_kw"].notna().any() else np.nan)
    h_all = f["local_hour"]
    in_evening = in_night & np.asarray((h_all >= opt.evening_start_h)
                                       & (h_all < opt.evening_end_h))
    evening_max = f.loc[in_evening].groupby(night_of[in_evening])["demand_kw"].max()
    nights = pd.DataFrame({"energy_kwh": energy, "peak_kw": peak, "peak_hour": peak_hour,
                           "evening_kw": evening_max.reindex(peak.index)}).dropna()
    if len(nights) < 3:
        return DetectorResult()
    night_h = (opt.night_end_h - opt.night_start_h) % 24.0
    # An evening night reaches (within 5 %) its peak in the evening window.
    evening = (nights["evening_kw"] >= 0.95 * nights["peak_kw"]).to_numpy()
    recent = evening[-opt.recent_nights:]
    if recent.mean() < opt.min_share:
        return DetectorResult()
    k = _first_persistent(evening)
    since = nights.iloc[k:]
    since_evening = since[evening[k:]]
    saving = since_evening["peak_kw"] - since_evening["energy_kwh"] / night_h
    saving_kw = float(saving.median())
    peak_kw = float(since_evening["peak_kw"].median())
    if saving_kw < opt.min_saving_pct / 100.0 * peak_kw:
        return DetectorResult()
    h = f["local_hour"]
    eve = (h >= opt.evening_start_h) & (h < opt.evening_end_h)
    night = (h >= opt.night_start_h) | (h < opt.night_end_h)
    price_gap = float(f.loc[eve, "price_jpy_per_kwh"].mean() - f.loc[night,
                                                                      "price_jpy_per_kwh"].mean())
    eve_kwh_per_night = float(f.loc[eve, "energy_kwh"].sum() / max(len(nights), 1))
    share = float(evening[k:].mean())
    cost = (saving_kw * data.tariff.demand_jpy_per_kw_month * 12.0
            + max(price_gap, 0.0) * eve_kwh_per_night * 365.0 * share)
    day = nights.index[k]
    z = saving_kw / max(float(saving.std(ddof=1)) if len(saving) > 1 else 0.0, 1e-9) * np.sqrt(
        len(saving))
    confidence = (Confidence.HIGH if len(since_evening) >= 7 and z >= 6 else
                  Confidence.MEDIUM if len(since_evening) >= 3 else Confidence.LOW)
    finding = make_finding(
        EV_CODE, data, local_midnight_utc(day, data.site.timezone), 0.0, cost, confidence,
        f"{day}以降、充電が夕方に集中しピーク {peak_kw:,.0f} kW になっています。"
        f"{opt.night_start_h:.0f}時〜{opt.night_end_h:.0f}時に分散すれば約{saving_kw:,.0f} kW"
        "下げられます(充電器のスケジュール設定)。",
        f"Since {day} charging bunches in the evening at {peak_kw:,.0f} kW. Spreading it over "
        f"{opt.night_start_h:02.0f}:00-{opt.night_end_h:02.0f}:00 with charger schedules would "
        f"cut about {saving_kw:,.0f} kW of demand.",
        {"since": str(day), "evening_peak_kw": peak_kw, "saving_kw": saving_kw,
         "night_energy_kwh": float(since["energy_kwh"].median()), "night_hours": night_h,
         "evening_share_of_nights": share, "price_gap_jpy_per_kwh": price_gap,
         "co2_note": "no hourly emission factors configured; t-CO2 of the shift not estimated",
         "slot_h": SLOT_H})
    return DetectorResult(findings=(finding,))
