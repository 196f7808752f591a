"""``measure.underdelivering``: a declared measure whose verified saving falls short.

The verified saving is the IPMVP Option C result that ``greenpipe forecast run`` stores
(``SavingsRecord``: baseline prediction minus actual over the reporting period, with its
interval). The declared saving is the measure's ``change_pct`` of the baseline prediction.
A finding when the verified saving is below ``min_share`` of the declared one, or when its
interval includes zero (the saving is not demonstrated, per IPMVP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from findings.base import DetectorResult, FindingWarning, MeterData, confidence_of, make_finding
from greenpipe.results import SavingsRecord

CODE = "measure.underdelivering"


@dataclass(frozen=True, slots=True)
class MeasureOptions:
    """Thresholds of ``measure.underdelivering``."""

    min_share: float = 0.5
    """Verified saving below this share of the declared one is a finding. [-]"""
    min_days: float = 14.0
    """Shortest reporting period judged. [d]"""


def measure_underdelivering(data: MeterData, savings: SavingsRecord, declared_change_pct: float,
                            options: MeasureOptions | None = None) -> DetectorResult:
    """Compare a measure's verified saving with its declared one."""
    opt = options or MeasureOptions()
    days = (savings.reporting_end - savings.reporting_start).total_seconds() / 86400.0
    if not math.isfinite(savings.savings_kwh) or days < opt.min_days:
        return DetectorResult(warnings=(FindingWarning(
            "findings.no_verified_saving", CODE, data.meter.id,
            f"{data.meter.id}: measure {savings.measure_id!r} has no verified saving over "
            f"{opt.min_days:.0f}+ days yet (warnings: {', '.join(savings.warnings) or '-'})"),))
    declared_kwh = -declared_change_pct / 100.0 * savings.reporting_predicted_kwh
    if declared_kwh <= 0:
        return DetectorResult()
    verified = savings.savings_kwh
    ratio = verified / declared_kwh
    zero_in_interval = savings.savings_kwh_lower <= 0.0
    if ratio >= opt.min_share and not zero_in_interval:
        return DetectorResult()
    shortfall = declared_kwh - verified
    annual_kwh = shortfall / days * 365.0
    zq = NormalDist().inv_cdf(0.5 + savings.interval_level / 2.0)
    sigma = (savings.savings_kwh_upper - savings.savings_kwh_lower) / (2.0 * zq)
    z = shortfall / sigma if sigma > 0 else float("inf")
    price = float(data.frame["price_jpy_per_kwh"].mean()) if len(data.frame) else 0.0
    finding = make_finding(
        CODE, data, savings.reporting_start, annual_kwh, annual_kwh * price,
        confidence_of(z, persistent=days >= 28),
        f"対策「{savings.measure_id}」の検証済み削減量は {verified:,.0f} kWh で、申告 "
        f"{declared_kwh:,.0f} kWh の{ratio:.0%}です。設定・運用が意図通りか確認してください。",
        f"Measure {savings.measure_id!r} verifiably saved {verified:,.0f} kWh, {ratio:.0%} of "
        f"the {declared_kwh:,.0f} kWh declared. Check that it is set up and operated as "
        "intended.",
        {"measure": savings.measure_id, "declared_change_pct": declared_change_pct,
         "declared_kwh": declared_kwh, "verified_kwh": verified,
         "verified_kwh_lower": savings.savings_kwh_lower,
         "verified_kwh_upper": savings.savings_kwh_upper, "delivered_share": ratio,
         "reporting_days": days, "since": savings.reporting_start.isoformat()},
        key=savings.measure_id)
    return DetectorResult(findings=(finding,))
