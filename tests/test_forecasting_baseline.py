"""The Prophet baseline: terms, predictions, JSON round-trip, and a quiet cmdstanpy."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from forecasting.baseline import BaselineModel, BaselineOptions, degree_terms, silence_stan
from forecasting.data import BaselineData
from greenpipe.errors import DataSufficiencyError, GreenpipeError
from greenpipe.plant_calendar import DayType, day_type
from tests.forecasting_synthetic import daily_meter, jst


@pytest.fixture(scope="module")
def fitted() -> tuple[BaselineModel, BaselineData]:
    energy, temp, _ = daily_meter(date(2024, 4, 1), 365 + 60, noise=0.01, seed=3)
    full = BaselineData.from_series(energy, temp)
    base = full.slice(jst(2024, 4, 1), jst(2025, 4, 1), purpose="baseline")
    model = BaselineModel(BaselineOptions(uncertainty_samples=100)).fit(base)
    return model, full


def test_degree_terms_hand_computed() -> None:
    hdd, cdd = degree_terms(np.array([5.0, 18.0, 20.0, 30.0]), 18.0, 22.0)
    assert_allclose(hdd, [13.0, 0.0, 0.0, 0.0])
    assert_allclose(cdd, [0.0, 0.0, 0.0, 8.0])


def test_fit_and_predict(fitted: tuple[BaselineModel, BaselineData]) -> None:
    model, full = fitted
    assert model.regressors == ("hdd", "cdd", "hdd_workday", "cdd_workday")
    # The balance-point search finds the generator's bases.
    assert (model.options.hdd_base_c, model.options.cdd_base_c) == (18.0, 22.0)
    assert not model.yearly  # one year with weather terms: the annual cycle is the weather's
    assert model.n_fit == 365
    rep = full.slice(jst(2025, 4, 1), jst(2025, 5, 31))
    out = model.predict(rep)
    assert list(out.columns) == ["observed", "predicted", "predicted_lower", "predicted_upper"]
    assert out.index.equals(rep.frame.index)
    assert (out["predicted_lower"] <= out["predicted"]).all()
    assert (out["predicted"] <= out["predicted_upper"]).all()
    # No step in this meter: predictions track observations within a few percent.
    assert abs(out["predicted"].sum() / out["observed"].sum() - 1) < 0.02
    # The learned degree coefficients are the generator's 25 and 40 kWh/K on every day,
    # with (almost) nothing extra on working days.
    from prophet.utilities import regressor_coefficients

    coef = regressor_coefficients(model._prophet).set_index("regressor")["coef"]
    assert_allclose(coef[["hdd", "cdd"]].to_numpy(), [25.0, 40.0], rtol=0.05)
    assert_allclose(coef[["hdd_workday", "cdd_workday"]].to_numpy(), [0.0, 0.0], atol=2.0)


def test_json_round_trip(fitted: tuple[BaselineModel, BaselineData]) -> None:
    model, full = fitted
    rep = full.slice(jst(2025, 4, 1), jst(2025, 5, 31))
    text = model.to_json()
    doc = json.loads(text)
    assert doc["format"] == "greenpipe.baseline/1"
    again = BaselineModel.from_json(text)
    assert again.regressors == model.regressors and again.options == model.options
    assert again.n_effective == model.n_effective
    assert_allclose(again.predict(rep)["predicted"], model.predict(rep)["predicted"])
    _ok1, s1 = model.sample(rep)
    _ok2, s2 = again.sample(rep)
    assert_allclose(s1, s2)  # seeded sampling
    with pytest.raises(GreenpipeError, match="not a greenpipe baseline model JSON"):
        BaselineModel.from_json('{"format": "other"}')
    with pytest.raises(GreenpipeError, match="not fitted"):
        BaselineModel().predict(rep)


def test_too_little_usable_data() -> None:
    energy, temp, _ = daily_meter(date(2024, 4, 1), 100)
    data = BaselineData.from_series(energy, temp)
    holed = BaselineData(frame=data.frame.assign(energy_kwh=np.nan).iloc[:], granularity="daily")
    with pytest.raises(DataSufficiencyError, match="usable intervals"):
        BaselineModel().fit(holed)
    # Issue 14: the message read "... the baseline of ; ...": name the scope, or say none.
    with pytest.raises(DataSufficiencyError, match=r"the baseline of site:office; "):
        BaselineModel().fit(replace(holed, scope="site:office"))
    with pytest.raises(DataSufficiencyError, match=r"the baseline of the series \(no scope"):
        BaselineModel().fit(holed)


def test_cmdstanpy_is_silenced(capfd: pytest.CaptureFixture[str],
                               caplog: pytest.LogCaptureFixture) -> None:
    silence_stan()
    lg = logging.getLogger("cmdstanpy")
    assert lg.disabled
    energy, temp, _ = daily_meter(date(2024, 4, 1), 120, seed=5)
    data = BaselineData.from_series(energy, temp)
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    BaselineModel(BaselineOptions(uncertainty_samples=50)).fit(data)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert not [r for r in caplog.records if r.name.startswith("cmdstanpy")]


def test_hourly_model_has_daily_shapes() -> None:
    idx = pd.date_range("2025-04-01T01:00+09:00", periods=24 * 45, freq="h").tz_convert("UTC")
    local = idx.tz_convert("Asia/Tokyo") - pd.Timedelta(hours=1)
    workday = np.array([day_type(d) == DayType.WORKDAY for d in local.date])
    rng = np.random.default_rng(1)
    energy = np.where(workday & (local.hour >= 8) & (local.hour < 18), 100.0, 20.0)
    energy = energy * (1 + rng.normal(0, 0.01, len(idx)))
    temp = pd.Series(15.0 + rng.normal(0, 1, len(idx)), index=idx)
    data = BaselineData.from_series(pd.Series(energy, index=idx), temp, granularity="hourly",
                                    force=True)
    model = BaselineModel(BaselineOptions(uncertainty_samples=50)).fit(data)
    out = model.predict(data)
    hours = (out.index.tz_convert("Asia/Tokyo")).hour
    days = pd.Series(out.index.tz_convert("Asia/Tokyo").date, index=out.index)
    work = np.array([day_type(d) == DayType.WORKDAY for d in days])
    office = work & (hours >= 10) & (hours < 16)
    night = (hours >= 0) & (hours < 6)
    # Workday office hours at 100 kWh, nights and days off at 20 kWh.
    assert_allclose(out.loc[office, "predicted"].mean(), 100.0, rtol=0.03)
    assert_allclose(out.loc[night, "predicted"].mean(), 20.0, rtol=0.1)
    assert_allclose(out.loc[~work & (hours >= 10) & (hours < 16), "predicted"].mean(), 20.0,
                    rtol=0.1)


def test_hourly_long_run_factor_counts_day_level_noise() -> None:
    # Hourly noise a and a day-level shock b shared by the day's 24 hours (a = b = 2 kWh):
    # σ² = a² + b² per hour, Var(daily sum) = 24a² + 24²b², so the long-run variance per
    # hour over σ² is (a² + 24b²)/(a² + b²) = 12.5.
    rng = np.random.default_rng(5)
    days = 120
    hours = pd.date_range("2025-01-01", periods=days * 24, freq="h", tz="UTC")
    energy = 50.0 + rng.normal(0, 2.0, len(hours)) + np.repeat(rng.normal(0, 2.0, days), 24)
    data = BaselineData.from_series(pd.Series(energy, index=hours), granularity="hourly",
                                    timestamp_marks="start", force=True, tz="UTC")
    model = BaselineModel(BaselineOptions(uncertainty_samples=0, shutdowns=())).fit(data)
    assert model.resid_lr_factor == pytest.approx(12.5, rel=0.25)


def test_hourly_weekday_levels_step_at_midnight() -> None:
    """Each weekday's level is constant over its local day (a smooth weekly Fourier series
    over 168 hours smeared the weekend into Monday and Friday)."""
    levels = np.array([60.0, 50.0, 50.0, 50.0, 70.0, 40.0, 30.0])  # Monday..Sunday [kWh]
    idx = pd.date_range("2025-03-03", periods=24 * 56, freq="h", tz="UTC")  # 8 weeks
    rng = np.random.default_rng(2)
    energy = levels[idx.day_of_week] * (1 + rng.normal(0, 0.01, len(idx)))
    temp = pd.Series(12.0 + rng.normal(0, 1, len(idx)), index=idx)
    data = BaselineData.from_series(pd.Series(energy, index=idx), temp, granularity="hourly",
                                    tz="UTC", timestamp_marks="start", force=True)
    model = BaselineModel(BaselineOptions(uncertainty_samples=0, shutdowns=(),
                                          country="US")).fit(data)
    assert {f"dow_{k}" for k in range(1, 7)} <= set(model.regressors)
    out = model.predict(data, intervals=False)
    by_day = out.groupby(out.index.normalize())[["observed", "predicted"]].sum()
    by_weekday = by_day.groupby(by_day.index.day_of_week).mean()
    assert_allclose(by_weekday["predicted"].to_numpy(), 24 * levels, rtol=0.01)


def test_hourly_balance_points_are_chosen_on_degree_hours() -> None:
    """An hourly model applies its bases hour by hour, so it chooses them hour by hour:
    heating 4 kWh per K-hour below 15 °C under a ±6 K daily swing is found at 15 °C
    (on daily mean temperatures the swing makes a warmer base fit better)."""
    idx = pd.date_range("2025-01-06", periods=24 * 70, freq="h", tz="UTC")
    day = np.arange(len(idx)) // 24
    temp_c = 4.0 + 16.0 * day / day.max() + 6.0 * np.sin(2 * np.pi * (idx.hour - 9) / 24)
    energy = 50.0 + 4.0 * np.maximum(15.0 - temp_c, 0.0)
    data = BaselineData.from_series(pd.Series(energy, index=idx), pd.Series(temp_c, index=idx),
                                    granularity="hourly", tz="UTC", timestamp_marks="start",
                                    force=True)
    model = BaselineModel(BaselineOptions(uncertainty_samples=0, shutdowns=(), country="US"))
    assert model._balance_points(data)[0] == 15.0
