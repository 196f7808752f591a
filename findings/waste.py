"""``waste.off_hours_base_load``: power left running when the site is not operating.

Off-hours are taken from the site's plant calendar (``greenpipe.plant_calendar``): whole
Sundays and public holidays ("days off"), and the small hours 00:00-05:00 of workdays
("nights"). Plant shutdowns and Saturdays (often a partial shift) are left out of both.

Rule (after OpenEIS / PNNL-LBNL load-shape diagnostics, which give no universal threshold
for the non-operating to operating ratio, so the floor comes from the site itself): for each
off-hours class, take the mean power of each qualifying day and fit a segmented regression
mean ~ a + b·HDD + c·CDD + d·1[day ≥ change day] (heating and cooling degrees of the day's
outdoor temperature, so a cold snap is not waste), choosing the change day with the least
residual sum of squares. The excess is d: the weather-normalised rise of off-hours power
over the site's own earlier level, plus the gap down to the configured target
(``target_ratio`` of the operating-hours mean) when one is set. A finding needs an excess of
at least ``min_excess_pct`` of the operating mean and at least ``min_z`` standard errors.
The P5/P95 daily load ratio is reported as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from findings.base import (
    DetectorResult,
    MeterData,
    best_step,
    confidence_of,
    degree_days,
    local_midnight_utc,
    make_finding,
    sufficiency,
)
from greenpipe.model import MeterKind
from greenpipe.plant_calendar import DayType

CODE = "waste.off_hours_base_load"
KINDS = (MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.HEAT)


@dataclass(frozen=True, slots=True)
class OffHoursOptions:
    """Thresholds of ``waste.off_hours_base_load``."""

    min_days: float = 28.0
    """Shortest window judged. [d]"""
    night_start_h: float = 0.0
    night_end_h: float = 5.0
    """Local hours of a workday night counted as off-hours. [h]"""
    operating_start_h: float = 9.0
    operating_end_h: float = 17.0
    """Local hours of a workday counted as operating, for the operating mean. [h]"""
    min_excess_pct: float = 10.0
    """Smallest excess reported, as a share of the operating-hours mean. [%]"""
    min_z: float = 3.0
    """Smallest excess reported, in standard errors of the fitted step. [-]"""
    min_after_days: int = 2
    """Fewest days off after the change day (nights need a working week: 5)."""
    target_ratio: float | None = None
    """Optional configured floor: off-hours power as a share of operating power. [-]"""


def _class_days(data: MeterData, opt: OffHoursOptions
                ) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Mean power [kW] of each qualifying local day and the class's slot mask, per class."""
    f = data.frame
    days_off = f["day_type"].isin([DayType.SUNDAY.value, DayType.HOLIDAY.value])
    nights = f["workday"] & (f["local_hour"] >= opt.night_start_h) & (
        f["local_hour"] < opt.night_end_h)
    out = {}
    for name, mask in (("days_off", days_off), ("nights", nights)):
        g = f.loc[mask].groupby("local_date")["demand_kw"]
        need = 0.9 * g.size()
        means = g.mean()[g.count() >= need]
        out[name] = (means.sort_index(), mask)
    return out


def off_hours_base_load(data: MeterData, options: OffHoursOptions | None = None
                        ) -> DetectorResult:
    """Find power left on at night and on days off, above the site's own earlier level."""
    opt = options or OffHoursOptions()
    if data.meter.kind not in KINDS:
        return DetectorResult()
    warning = sufficiency(data, CODE, opt.min_days)
    if warning:
        return DetectorResult(warnings=(warning,))
    f = data.frame
    operating = f.loc[f["workday"] & (f["local_hour"] >= opt.operating_start_h)
                      & (f["local_hour"] < opt.operating_end_h), "demand_kw"]
    operating_kw = float(operating.mean()) if operating.notna().any() else float("nan")
    if not np.isfinite(operating_kw) or operating_kw <= 0:
        return DetectorResult()
    per_day = f.groupby("local_date")["demand_kw"]
    p95 = per_day.quantile(0.95)
    load_ratio = float((per_day.quantile(0.05) / p95.where(p95 > 0)).mean())
    year_days = pd.Series(f["day_type"].to_numpy(), index=f["local_date"]).groupby(level=0).first()
    parts = []
    for name, (days, mask) in _class_days(data, opt).items():
        if len(days) < 6:
            continue
        values = days.to_numpy()
        x = degree_days(f, days.index, mask, y=values)
        min_after = opt.min_after_days if name == "days_off" else max(opt.min_after_days, 5)
        k, excess_kw, se = best_step(values, x, 3, min_after)
        if k >= len(values):
            continue
        before, after = values[:k], values[k:]
        floor_kw = float(np.mean(before))
        if opt.target_ratio is not None and opt.target_ratio * operating_kw < floor_kw:
            excess_kw += floor_kw - opt.target_ratio * operating_kw
            floor_kw = opt.target_ratio * operating_kw
        z = excess_kw / se if se > 0 else float("inf")
        if excess_kw < opt.min_excess_pct / 100.0 * operating_kw or z < opt.min_z:
            continue
        # Hours per year in this class, from the window's own calendar scaled to 365 days.
        share = (year_days.isin([DayType.SUNDAY.value, DayType.HOLIDAY.value]).mean()
                 if name == "days_off" else (year_days == DayType.WORKDAY.value).mean())
        hours = float(share) * 365.0 * (24.0 if name == "days_off"
                                         else opt.night_end_h - opt.night_start_h)
        mask_price = f.loc[f["local_date"].isin(days.index), "price_jpy_per_kwh"]
        price = float(mask_price.mean()) if len(mask_price) else 0.0
        parts.append((name, days.index[k], excess_kw, floor_kw, float(np.mean(after)),
                      hours, price, z, len(after)))
    if not parts:
        return DetectorResult()
    annual_kwh = sum(p[2] * p[5] for p in parts)
    cost = sum(p[2] * p[5] * p[6] for p in parts)
    start_day = min(p[1] for p in parts)
    main = max(parts, key=lambda p: p[2] * p[5])
    persistent = main[8] >= (3 if main[0] == "days_off" else 10)
    evidence: dict[str, object] = {
        "operating_kw": operating_kw, "p5_p95_daily_load_ratio": load_ratio,
        "since": str(start_day),
    }
    for name, day, excess, floor, level, hours, _, z, n in parts:
        evidence.update({f"{name}_excess_kw": excess, f"{name}_floor_kw": floor,
                         f"{name}_level_kw": level, f"{name}_hours_per_year": hours,
                         f"{name}_since": str(day), f"{name}_z": z, f"{name}_days_after": n})
    excess_total = sum(p[2] for p in parts)
    finding = make_finding(
        CODE, data, local_midnight_utc(start_day, data.site.timezone), annual_kwh, cost,
        confidence_of(main[7], persistent),
        f"休日・夜間に約{excess_total:,.0f} kWの負荷が止まっていません({start_day}以降)。"
        "コンプレッサー・照明・空調の停止手順とタイマーを見直してください。",
        f"About {excess_total:,.0f} kW keeps running at night and on days off (since "
        f"{start_day}). Review the shutdown checklist and timers for compressors, lighting "
        "and HVAC.",
        evidence)
    return DetectorResult(findings=(finding,))


