"""Model-quality metrics (ASHRAE Guideline 14): CV(RMSE), NMBE, R², and time-series CV.

Definitions (ASHRAE Guideline 14-2014, with ``p`` model parameters, ``n`` intervals and
``ȳ`` the mean observed value)::

    CV(RMSE) = sqrt( Σ (y − ŷ)² / (n − p) ) / ȳ
    NMBE     = Σ (y − ŷ) / ((n − p) · ȳ)
    R²       = 1 − Σ (y − ŷ)² / Σ (y − ȳ)²

Fractions (0.15 = 15 %), not percent. Divisions are guarded: a metric whose denominator is
zero or not finite is NaN, never an exception or infinity.

Limits (``ASHRAE_LIMITS``): Guideline 14 gives calibration criteria for monthly data
(CV(RMSE) ≤ 15 %, |NMBE| ≤ 5 %) and hourly data (CV(RMSE) ≤ 30 %, |NMBE| ≤ 10 %). It states
no separate daily criterion, so daily models are held to the hourly limits (the looser
reading; documented in docs/forecasting.md). R² ≥ 0.75 is the commonly recommended minimum
and is reported as a flag of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

ASHRAE_LIMITS: dict[str, tuple[float, float]] = {
    "monthly": (0.15, 0.05),
    "daily": (0.30, 0.10),
    "hourly": (0.30, 0.10),
}
"""(max CV(RMSE), max |NMBE|) per granularity, as fractions."""
R2_MIN = 0.75


@dataclass(frozen=True, slots=True)
class Metrics:
    """Goodness of fit of predictions against observations (fractions, not percent)."""

    cvrmse: float
    nmbe: float
    r2: float
    n: int
    """Number of intervals with both an observation and a prediction."""
    granularity: str = "daily"

    @property
    def passes_cvrmse(self) -> bool:
        """True when CV(RMSE) is within the ASHRAE Guideline 14 limit for the granularity."""
        return bool(self.cvrmse <= ASHRAE_LIMITS[self.granularity][0])

    @property
    def passes_nmbe(self) -> bool:
        """True when |NMBE| is within the ASHRAE Guideline 14 limit for the granularity."""
        return bool(abs(self.nmbe) <= ASHRAE_LIMITS[self.granularity][1])

    @property
    def passes_r2(self) -> bool:
        """True when R² reaches the recommended minimum (0.75)."""
        return bool(self.r2 >= R2_MIN)

    @property
    def passes_ashrae(self) -> bool:
        """True when both CV(RMSE) and NMBE pass (NaN metrics fail)."""
        return self.passes_cvrmse and self.passes_nmbe

    def as_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with the metrics and the pass/fail flags."""
        return {"cvrmse": _json_float(self.cvrmse), "nmbe": _json_float(self.nmbe),
                "r2": _json_float(self.r2), "n": self.n, "granularity": self.granularity,
                "passes_ashrae": self.passes_ashrae, "passes_r2": self.passes_r2}


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _div(num: float, den: float) -> float:
    if den == 0 or not math.isfinite(den) or not math.isfinite(num):
        return math.nan
    return num / den


def compute(observed: np.ndarray | pd.Series, predicted: np.ndarray | pd.Series,
            n_params: int = 1, granularity: str = "daily") -> Metrics:
    """Return CV(RMSE), NMBE and R² over intervals where both values are known."""
    if granularity not in ASHRAE_LIMITS:
        raise ValueError(f"granularity {granularity!r}: use one of {', '.join(ASHRAE_LIMITS)}")
    y = np.asarray(observed, dtype="float64")
    yhat = np.asarray(predicted, dtype="float64")
    ok = np.isfinite(y) & np.isfinite(yhat)
    y, yhat = y[ok], yhat[ok]
    n = len(y)
    if n == 0:
        return Metrics(math.nan, math.nan, math.nan, 0, granularity)
    resid = y - yhat
    ybar = float(y.mean())
    dof = n - n_params
    rmse = math.sqrt(_div(float((resid**2).sum()), dof)) if dof > 0 else math.nan
    cvrmse = _div(rmse, ybar)
    nmbe = _div(float(resid.sum()), dof * ybar) if dof > 0 else math.nan
    ss_tot = float(((y - ybar) ** 2).sum())
    r2 = 1.0 - _div(float((resid**2).sum()), ss_tot) if ss_tot > 0 else math.nan
    return Metrics(cvrmse, nmbe, r2, n, granularity)


def time_series_cv(
    frame: pd.DataFrame,
    fit_predict: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray],
    folds: int = 3,
    horizon: int = 30,
    min_train: int = 90,
    granularity: str = "daily",
) -> Metrics:
    """Expanding-window cross-validation: out-of-sample metrics over ``folds`` test windows.

    The last ``folds × horizon`` rows are split into consecutive test windows; each is
    predicted by ``fit_predict(train, test)`` trained on all rows before it. Returns NaN
    metrics (n=0) when the frame is too short for ``min_train`` rows of training.
    """
    n = len(frame)
    observed: list[np.ndarray] = []
    predicted: list[np.ndarray] = []
    for k in range(folds, 0, -1):
        cut = n - k * horizon
        if cut < min_train:
            continue
        train, test = frame.iloc[:cut], frame.iloc[cut:cut + horizon]
        observed.append(test["energy_kwh"].to_numpy(dtype="float64"))
        predicted.append(np.asarray(fit_predict(train, test), dtype="float64"))
    if not observed:
        return Metrics(math.nan, math.nan, math.nan, 0, granularity)
    return compute(np.concatenate(observed), np.concatenate(predicted), granularity=granularity)
