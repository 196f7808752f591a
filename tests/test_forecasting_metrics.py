"""ASHRAE Guideline 14 metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from forecasting.metrics import ASHRAE_LIMITS, Metrics, compute, time_series_cv


def test_hand_computed_values() -> None:
    y = np.array([10.0, 12.0, 14.0, 16.0])
    yhat = np.array([11.0, 11.0, 15.0, 15.0])
    # residuals -1, 1, -1, 1; SSE 4; ybar 13; n - p = 3
    m = compute(y, yhat, n_params=1)
    assert_allclose(m.cvrmse, math.sqrt(4 / 3) / 13)
    assert_allclose(m.nmbe, 0.0, atol=1e-15)
    assert_allclose(m.r2, 1 - 4 / 20)  # SST = 9+1+1+9
    assert m.n == 4
    m0 = compute(y, yhat + 1.0, n_params=0)
    # residuals -2, 0, -2, 0: SSE 8, sum -4
    assert_allclose([m0.cvrmse, m0.nmbe], [math.sqrt(8 / 4) / 13, -4 / (4 * 13)])


def test_missing_values_are_skipped() -> None:
    m = compute([1.0, np.nan, 3.0, 5.0], [1.0, 2.0, np.nan, 5.0], n_params=0)
    assert m.n == 2
    assert m.cvrmse == 0.0


def test_guarded_divisions() -> None:
    zero_mean = compute([1.0, -1.0], [0.0, 0.0], n_params=0)
    assert math.isnan(zero_mean.cvrmse) and math.isnan(zero_mean.nmbe)
    constant = compute([2.0, 2.0, 2.0], [2.0, 2.0, 2.0])
    assert math.isnan(constant.r2) and constant.cvrmse == 0.0
    empty = compute([], [])
    assert empty.n == 0 and math.isnan(empty.cvrmse)
    assert not empty.passes_ashrae and not empty.passes_r2
    assert empty.as_dict()["cvrmse"] is None
    one = compute([5.0], [4.0], n_params=1)  # no degrees of freedom
    assert math.isnan(one.cvrmse)
    with pytest.raises(ValueError, match="granularity"):
        compute([1.0], [1.0], granularity="weekly")


@pytest.mark.parametrize(("gran", "cv", "nmbe", "ok"), [
    ("monthly", 0.15, 0.05, True),
    ("monthly", 0.151, 0.0, False),
    ("monthly", 0.10, -0.051, False),
    ("hourly", 0.30, -0.10, True),
    ("hourly", 0.31, 0.0, False),
    ("daily", 0.29, 0.09, True),
])
def test_ashrae_flags(gran: str, cv: float, nmbe: float, ok: bool) -> None:
    m = Metrics(cv, nmbe, 0.8, 100, gran)
    assert m.passes_ashrae is ok
    assert m.passes_r2
    assert not Metrics(cv, nmbe, 0.74, 100, gran).passes_r2
    assert ASHRAE_LIMITS["monthly"] == (0.15, 0.05)


def test_time_series_cv_expanding_window() -> None:
    frame = pd.DataFrame({"energy_kwh": np.arange(10, dtype=float)})
    seen: list[tuple[int, int]] = []

    def mean_model(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        seen.append((len(train), len(test)))
        return np.full(len(test), train["energy_kwh"].mean())

    m = time_series_cv(frame, mean_model, folds=2, horizon=2, min_train=4)
    assert seen == [(6, 2), (8, 2)]
    # fold 1: train mean 2.5 vs 6, 7; fold 2: train mean 3.5 vs 8, 9
    resid = np.array([3.5, 4.5, 4.5, 5.5])
    ybar = 7.5
    assert_allclose(m.cvrmse, math.sqrt((resid**2).sum() / 3) / ybar)
    assert_allclose(m.nmbe, resid.sum() / (3 * ybar))
    too_short = time_series_cv(frame, mean_model, folds=2, horizon=2, min_train=20)
    assert too_short.n == 0
