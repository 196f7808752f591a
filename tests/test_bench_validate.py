"""The validation suite with known truth (the full run is ``bench/validate.py``)."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from bench.validate import evaluate, make_meter, specs, summarise
from forecasting.balance import day_degrees
from forecasting.baseline import BaselineModel, BaselineOptions, _long_run_factor
from forecasting.data import BaselineData


def test_day_degrees_integrate_hours_and_fall_back_to_the_daily_mean() -> None:
    full = np.array([[10.0] * 12 + [20.0] * 12 + [np.nan]])
    part = np.array([[12.0] * 10 + [np.nan] * 15])
    hours = np.vstack([full, part])
    # Day 1: 12 h at 5 K below a 15 °C base, mean 15 °C (0 K by the daily mean); day 2
    # has 10 h only and uses its daily mean of 12 °C.
    assert_allclose(day_degrees(np.array([15.0, 12.0]), hours, 15.0, "heating"), [2.5, 3.0])
    assert_allclose(day_degrees(np.array([15.0, 12.0]), hours, 15.0, "cooling"), [2.5, 0.0])
    assert_allclose(day_degrees(np.array([15.0, 12.0]), None, 14.0, "cooling"), [1.0, 0.0])


def test_long_run_factor_hand_computed() -> None:
    # [1, 1, −1, −1] × 2: γ0 = 1, γ1 = (1 − 1 + 1 − 1 + 1 − 1 + 1)/8 = 1/8;
    # Bartlett with L = 1: 1 + 2·(1/2)·(1/8) = 1.125.
    assert_allclose(_long_run_factor(np.array([1.0, 1, -1, -1] * 2), 1), 1.125)
    # Alternating residuals have a long-run variance below σ²: floored at 1.
    assert _long_run_factor(np.array([1.0, -1.0] * 10), 3) == 1.0


def test_synthetic_meters_cover_the_brief() -> None:
    meters = specs(50)
    assert {m.load for m in meters} == {"heating", "cooling", "both"}
    assert {m.schedule for m in meters} >= {"office", "retail", "two_shift", "three_shift"}
    assert len({m.country for m in meters}) >= 6
    assert min(m.savings for m in meters) == 0.0 and max(m.savings for m in meters) == 0.3
    assert min(m.mean_c for m in meters) < 5 and max(m.mean_c for m in meters) > 25
    energy, temp, tz = make_meter(meters[1])
    assert tz == "America/Chicago" and len(energy) == len(temp)
    gaps = meters[1].gap_days
    assert 23 * gaps <= energy.isna().sum() <= 25 * gaps


def test_daily_savings_are_unbiased_on_known_truth() -> None:
    outcomes = [evaluate(s, "daily") for s in specs(8)]
    summary = summarise(outcomes)
    assert abs(summary.bias) <= 0.03
    assert summary.spread < 0.01  # errors under 1 % of the counterfactual use
    assert summary.coverage >= 0.6


def test_hourly_model_leaves_no_weekday_pattern_on_a_two_shift_plant() -> None:
    """A plant that works Saturdays: the hourly model's days sum right on every weekday
    (a smooth weekly Fourier series left Mondays ~8 % over and Sundays ~8 % under)."""
    spec = specs(8)[6]
    assert spec.schedule == "two_shift"
    energy, temp, tz = make_meter(spec, years=1)
    data = BaselineData.from_series(energy, temp, granularity="hourly", tz=tz,
                                    timestamp_marks="start", force=True)
    model = BaselineModel(BaselineOptions(country=spec.country, shutdowns=(),
                                          uncertainty_samples=0)).fit(data)
    out = model.predict(data, intervals=False)
    local = out.index.tz_convert(tz).tz_localize(None).normalize()
    days = out.groupby(local)[["observed", "predicted"]].sum(min_count=24).dropna()
    resid = (days["observed"] - days["predicted"]).groupby(days.index.day_of_week).mean()
    assert (resid.abs() < 0.01 * days["observed"].mean()).all()
