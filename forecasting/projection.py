"""Goal projections: emissions per fiscal year with P10/P50/P90, target path, gap, probability.

For each scope (site, sector, city) the daily emissions [kg-CO2] observed so far are
modelled with the same Prophet structure as the baselines (calendar, holidays, weather),
plus one step regressor per declared efficiency measure in the scope's history, so the
projection starts from the post-measure level. The trend:

* with at least two years of history (``LINEAR_TREND_DAYS``), Prophet's ``linear`` trend
  with its changepoints carries the observed change forward, and its sampled future
  changepoints widen the intervals with the horizon;
* with less, a trend cannot be told apart from the annual cycle and from the measures (a
  14-month history with two October measures extrapolated linearly reaches zero emissions
  long before 2030), so the projection is business-as-usual: a ``flat`` trend at today's
  weather-normalised level, flagged ``projection.flat_trend``. Structural change then
  enters only through the level random walk below (``level_drift_pct_per_year``).

Each sampled total is

    total = observed emissions so far in the year + (1 + W_k) · Σ sampled days still to come

and the P10/P50/P90 are quantiles of those totals. The sampled days carry four sources of
uncertainty, each of which a daily model left to itself understates:

* **Weather year.** Future outdoor temperature is the climatology of the weather
  station's history (``climatology``) plus a block-bootstrapped sequence of the history's
  daily anomalies from it (``block_bootstrap``, ``WEATHER_BLOCK_DAYS``-day blocks, the
  moving-block bootstrap of Künsch 1989), so each group of posterior paths
  (``WEATHER_GROUPS`` groups splitting ``uncertainty_samples``) sees a different weather
  year with realistic multi-week cold and warm spells.
* **Autocorrelated daily deviations.** Prophet draws independent daily noise, whose sum
  over m days grows as σ√m; the model's daily residuals are autocorrelated (production
  swings, spells the weather terms miss), so each path gets an extra normal term that
  brings the noise total up to the variance of a sum of m AR(1) terms with the residuals'
  lag-1 autocorrelation ρ (``ar1_sum_variance_factor``): σ²[m + 2Σ_k (m − k)ρ^k]. The AR(1)
  model and lag-1 ρ (clipped to 0–0.95) are those of ASHRAE Guideline 14's n′ = n(1 − ρ)/(1 + ρ).
* **The fitted level.** Prophet's MAP samples omit the level's own estimation error; each
  path is shifted by N(0, m·σ/√n′) (the ASHRAE Guideline 14 term of ``forecasting.savings``).
* **Level drift (flat trend only).** A business-as-usual level does not stay put for
  years: production, occupancy and fleets change. W is a random walk of the relative
  level that starts at ``as_of`` and moves by N(0, d·√(1/12)) each month, d =
  ``level_drift_pct_per_year`` (``[forecasting]``, default 3 %/yr, 0 disables); a year's
  sampled days are scaled by 1 + the mean of W over them. The current fiscal year's
  remaining months therefore drift too (a level cannot be known to ±0.1 % four months
  ahead), a year k ahead has a relative standard deviation of about d·√k. The default
  is of the order of the year-on-year changes of Japan's national energy-related CO2
  inventory (a few percent) and is meant to be replaced by the spread of the city's own
  inventory once known. With a linear trend, Prophet's sampled future changepoints play
  this role and W = 0.

A target is a straight line from the base-year inventory to the target level
(``trajectory_co2_t``); the gap is P50 minus the line, and the probability of meeting it is
the share of sample totals at or below it.

Sector scopes follow the Japanese inventory: the commercial sector (業務その他部門) also
covers ``public`` sites (``sites_for``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from forecasting.baseline import BaselineModel, BaselineOptions
from forecasting.data import BaselineData
from greenpipe.fiscal import fiscal_year, fiscal_year_bounds

QUANTILES = (0.1, 0.5, 0.9)
LINEAR_TREND_DAYS = 730
"""History needed before a projection extrapolates a linear trend. [d]"""
WEATHER_BLOCK_DAYS = 14
"""Length of the blocks of daily temperature anomalies resampled per weather year. [d]"""
WEATHER_GROUPS = 20
"""Number of weather years (groups of posterior paths) per projected fiscal year."""
LEVEL_DRIFT_PCT_PER_YEAR = 3.0
"""Default yearly standard deviation of a flat projection's level random walk. [%]"""
RHO_MAX = 0.95
"""Upper clip of the residuals' lag-1 autocorrelation (as in ``BaselineModel.n_effective``)."""
SECTOR_MEMBERS = {"commercial": ("commercial", "public")}
"""Inventory sector -> site sectors it covers (others cover only themselves)."""


def trajectory_co2_t(base_fy: int, base_co2_t: float, target_fy: int, reduction_pct: float,
                     fy: int) -> float:
    """Return the linear target path at fiscal year ``fy``. [t-CO2]

    The path runs from ``base_co2_t`` in ``base_fy`` to ``base_co2_t × (1 − reduction)`` in
    ``target_fy``; before the base year it is the base value, after the target year the
    target level.
    """
    target = base_co2_t * (1 - reduction_pct / 100)
    if fy <= base_fy:
        return base_co2_t
    if fy >= target_fy:
        return target
    return base_co2_t + (target - base_co2_t) * (fy - base_fy) / (target_fy - base_fy)


def probability_at_or_below(samples: np.ndarray | Sequence[float], threshold: float) -> float:
    """Return the share of samples ≤ ``threshold`` (NaN samples ignored; NaN if none left)."""
    s = np.asarray(samples, dtype="float64")
    s = s[np.isfinite(s)]
    return float((s <= threshold).mean()) if len(s) else math.nan


def sample_quantiles(samples: np.ndarray | Sequence[float]) -> tuple[float, float, float]:
    """Return (P10, P50, P90) of the samples (linear interpolation between order statistics)."""
    s = np.asarray(samples, dtype="float64")
    s = s[np.isfinite(s)]
    if not len(s):
        return (math.nan, math.nan, math.nan)
    q = np.quantile(s, QUANTILES)
    return (float(q[0]), float(q[1]), float(q[2]))


def sites_for(scope: str, scope_id: str, sites: Iterable[object]) -> list[str]:
    """Return the ids of the sites a ``city``/``sector``/``site`` scope covers."""
    out = []
    for s in sites:
        sector = str(getattr(s, "sector", ""))
        if (scope == "city" or (scope == "site" and s.id == scope_id)  # type: ignore[attr-defined]
                or (scope == "sector" and sector in SECTOR_MEMBERS.get(scope_id, (scope_id,)))):
            out.append(s.id)  # type: ignore[attr-defined]
    return out


def climatology(temp_air_c: pd.Series, tz: str = "Asia/Tokyo", window_days: int = 15
                ) -> pd.Series:
    """Return mean temperature by local day of year (1–366), smoothed circularly. [°C]

    ``temp_air_c`` is indexed by aware timestamps; days of year never observed take the
    smoothed neighbours' value (or the overall mean if there is too little history).
    """
    t = temp_air_c.dropna()
    if t.empty:
        return pd.Series(np.nan, index=pd.RangeIndex(1, 367))
    doy = pd.DatetimeIndex(t.index).tz_convert(tz).day_of_year
    by_day = pd.Series(t.to_numpy(), index=doy).groupby(level=0).mean().reindex(range(1, 367))
    if window_days > 0:
        values = by_day.to_numpy()
        ext = np.concatenate([values[-window_days:], values, values[:window_days]])
        smooth = pd.Series(ext).rolling(2 * window_days + 1, center=True, min_periods=1).mean()
        by_day = pd.Series(smooth.to_numpy()[window_days:-window_days], index=range(1, 367))
    return by_day.fillna(float(t.mean()))


def harmonic_climatology(temp_air_c: pd.Series, tz: str = "Asia/Tokyo", harmonics: int = 2
                         ) -> pd.Series:
    """Return a smooth seasonal cycle by local day of year (1–366): mean + annual harmonics.

    Least squares of the daily temperatures on 1, cos(2πkd/365.25), sin(2πkd/365.25),
    k = 1..``harmonics``. Unlike day-of-year means smoothed over a month (``climatology``),
    it leaves a single year's warm or cold months in the anomalies, so the weather-year
    bootstrap can resample them: with about a year of history the smoothed means *are* that
    year, and the current year's band missed monthly weather swings
    (``bench/backtest_projection.py``). [°C]
    """
    t = temp_air_c.dropna()
    days = pd.RangeIndex(1, 367)
    if t.empty:
        return pd.Series(np.nan, index=days)
    doy = pd.DatetimeIndex(t.index).tz_convert(tz).day_of_year.to_numpy(dtype="float64")

    def design(d: np.ndarray) -> np.ndarray:
        cols = [np.ones_like(d)]
        for k in range(1, harmonics + 1):
            w = 2 * np.pi * k * d / 365.25
            cols += [np.cos(w), np.sin(w)]
        return np.column_stack(cols)

    span = len(np.unique(doy))
    x = design(doy) if span >= 180 else design(doy)[:, :1]  # a cycle needs half a year
    coef = np.linalg.lstsq(x, t.to_numpy(dtype="float64"), rcond=None)[0]
    full = design(days.to_numpy(dtype="float64"))[:, :x.shape[1]]
    return pd.Series(full @ coef, index=days)


def temperature_anomalies(temp_air_c: pd.Series, clim: pd.Series, tz: str = "Asia/Tokyo"
                          ) -> np.ndarray:
    """Return daily temperature minus its climatology, in time order (NaN where unknown). [K]"""
    if temp_air_c.empty:
        return np.zeros(0)
    doy = pd.DatetimeIndex(temp_air_c.index).tz_convert(tz).day_of_year
    return temp_air_c.to_numpy(dtype="float64") - clim.reindex(doy).to_numpy(dtype="float64")


def block_bootstrap(series: np.ndarray, length: int, block_days: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Return ``length`` values made of consecutive ``block_days`` runs of ``series``.

    Each block starts at a uniformly drawn offset (moving-block bootstrap), so the
    resampled sequence keeps the series' autocorrelation within a block. NaN values and an
    empty series give 0 (no anomaly).
    """
    values = np.nan_to_num(np.asarray(series, dtype="float64"), nan=0.0)
    if length <= 0:
        return np.zeros(0)
    if not len(values):
        return np.zeros(length)
    b = max(1, min(block_days, len(values)))
    starts = rng.integers(0, len(values) - b + 1, -(-length // b))
    return values[(starts[:, None] + np.arange(b)).ravel()[:length]]


def ar1_sum_variance_factor(m: int, rho: float) -> float:
    """Return Var(sum of m AR(1) terms) / (m·σ²) for lag-1 autocorrelation ``rho``.

    Var(Σ x_t) = σ²[m + 2 Σ_{k=1}^{m−1} (m − k) ρ^k]; 1 for ρ = 0, → (1 + ρ)/(1 − ρ) for
    large m.
    """
    if m <= 1 or rho == 0:
        return 1.0
    k = np.arange(1, m, dtype="float64")
    return float(1 + 2 * np.sum((m - k) * rho ** k) / m)


@dataclass(frozen=True, slots=True)
class ProjectionTarget:
    """A target to compare a scope's projection with (from ``[[targets]]``)."""

    base_fy: int
    base_co2_t: float
    target_fy: int
    reduction_pct: float


@dataclass(frozen=True, slots=True)
class YearProjection:
    """One scope's projected emissions in one fiscal year, against one target (or none)."""

    fiscal_year: int
    co2_t_p10: float
    co2_t_p50: float
    co2_t_p90: float
    observed_co2_t: float
    target: ProjectionTarget | None = None
    trajectory_co2_t: float | None = None
    gap_co2_t: float | None = None
    probability_meeting: float | None = None


def _future_frame(days_utc: pd.DatetimeIndex, clim: pd.Series, tz: str) -> pd.DataFrame:
    doy = days_utc.tz_convert(tz).day_of_year
    return pd.DataFrame({"energy_kwh": np.nan, "temp_air_c": clim.reindex(doy).to_numpy()},
                        index=days_utc)


def _with_steps(frame: pd.DataFrame, steps: dict[str, datetime]) -> pd.DataFrame:
    frame = frame.copy()
    for name, start in steps.items():
        frame[f"step_{name}"] = (frame.index >= pd.Timestamp(start)).astype("float64")
    return frame


def project(
    history: BaselineData,
    as_of: datetime,
    years: Iterable[int],
    options: BaselineOptions | None = None,
    steps: dict[str, datetime] | None = None,
    *,
    level_drift_pct_per_year: float = LEVEL_DRIFT_PCT_PER_YEAR,
    weather_block_days: int = WEATHER_BLOCK_DAYS,
) -> tuple[dict[int, np.ndarray], dict[int, float], dict[str, object]]:
    """Return per fiscal year the sampled totals [t-CO2] and the observed part [t-CO2].

    ``history`` is a daily series whose ``energy_kwh`` column holds daily emissions in
    kg-CO2 (the model is unit-agnostic). Days of a year before ``as_of`` use observations
    where present and samples where missing; later days are sampled. ``steps`` names known
    interventions (measure id -> first instant in effect). ``level_drift_pct_per_year``
    is the yearly standard deviation of a flat projection's level random walk [%] and
    ``weather_block_days`` the block length of the weather-year bootstrap [d] (see the
    module docstring). Also returns model metadata, whose ``trend`` is ``linear`` or
    ``flat``.
    """
    if not (math.isfinite(level_drift_pct_per_year) and level_drift_pct_per_year >= 0):
        raise ValueError(f"level_drift_pct_per_year must be 0 or more, got "
                         f"{level_drift_pct_per_year!r}")
    tz = history.tz
    steps = steps or {}
    # Future weather is sampled as daily means, so the model uses daily-mean degrees too
    # (hourly temperatures of the history would leak into, and freeze, the future days).
    history = replace(history, temp_hourly_c=None)
    hist = _with_steps(history.frame[history.frame.index < pd.Timestamp(as_of)], steps)
    known_days = hist.index[hist["energy_kwh"].notna()]
    span = (known_days.max() - known_days.min()).days + 1 if len(known_days) else 0
    trend: Literal["flat", "linear"] = "linear" if span >= LINEAR_TREND_DAYS else "flat"
    # Changepoint prior 0.01 (Prophet's default is 0.05): a scope's emissions trend moves
    # slowly; with 0.05 a weather swing near the end of two years bent the trend flat.
    options = replace(options or BaselineOptions(), growth=trend,
                      changepoint_prior_scale=0.01)
    drift = level_drift_pct_per_year / 100 if trend == "flat" else 0.0
    n_samples = options.uncertainty_samples
    meta: dict[str, object] = {"method": f"prophet {trend} trend, daily emissions",
                               "trend": trend, "history_days": span,
                               "samples": n_samples,
                               "level_drift_pct_per_year": drift * 100,
                               "steps": {k: v.isoformat() for k, v in steps.items()}}
    years = sorted(set(years))
    observed_t = {}
    samples: dict[int, np.ndarray] = {}
    if not (hist["energy_kwh"].fillna(0) != 0).any():
        for fy in years:
            samples[fy] = np.zeros(n_samples)
            observed_t[fy] = 0.0
        meta["method"] = "all observed emissions are zero; projected as zero"
        return samples, observed_t, meta
    model = BaselineModel(options).fit(replace(history, frame=hist))
    temps = hist["temp_air_c"].dropna()
    clim = harmonic_climatology(temps, tz)
    anomalies = temperature_anomalies(hist["temp_air_c"], clim, tz)
    rho = min(max(model.resid_rho, 0.0), RHO_MAX)
    coefs = model.regressor_coefficients()
    groups = np.array_split(np.arange(n_samples), min(WEATHER_GROUPS, n_samples))
    meta.update({"fit_start": model.fit_start, "fit_end": model.fit_end,
                 "regressors": list(model.regressors), "yearly": model.yearly,
                 "weather": f"climatology + {weather_block_days}-day block bootstrap of "
                            f"{int(np.isfinite(anomalies).sum())} daily anomalies",
                 "weather_years": len(groups), "resid_rho": rho})
    rng = np.random.default_rng(options.seed)
    current_fy = fiscal_year(as_of, tz)
    # One monthly level random walk per path from as_of, shared by all years.
    horizon = max([fy - current_fy for fy in years] + [0])
    walk = np.cumsum(rng.normal(0.0, drift / math.sqrt(12), (12 * (horizon + 2), n_samples)),
                     axis=0)
    for fy in years:
        start, end = fiscal_year_bounds(fy, tz)
        days = pd.date_range(pd.Timestamp(start).tz_convert(tz), pd.Timestamp(end).tz_convert(tz),
                             freq="D", inclusive="left").tz_convert("UTC")
        obs = hist["energy_kwh"].reindex(days)
        known = obs.notna().to_numpy() & (days < pd.Timestamp(as_of))
        observed_t[fy] = float(obs[known].sum()) / 1000
        todo = days[~known]
        if len(todo) == 0:
            samples[fy] = np.full(n_samples, observed_t[fy])
            continue
        fut = _with_steps(_future_frame(todo, clim, tz), steps)
        past = np.asarray(todo < pd.Timestamp(as_of))
        if past.any():  # missing past days: use the measured temperature where known
            fut.loc[past, "temp_air_c"] = hist["temp_air_c"].reindex(todo[past]).fillna(
                fut.loc[past, "temp_air_c"]).to_numpy()
        # The model is additive and linear in its regressors, so a weather year changes
        # every path by Σ coef_r·(x_r(weather) − x_r(climatology)): sample the paths once
        # on climatology and shift each group's paths instead of re-predicting 20 times.
        base_data = replace(history, frame=fut, warnings=())
        ok, base_draws = model.sample(base_data, n=n_samples, seed=options.seed)
        _ok0, x0 = model.regressor_matrix(base_data)
        coef = np.array([coefs.get(r, 0.0) for r in model.regressors])
        totals = np.empty(n_samples)
        for cols in groups:
            frame = fut.copy()
            frame.loc[~past, "temp_air_c"] += block_bootstrap(
                anomalies, int((~past).sum()), weather_block_days, rng)
            ok_g, xg = model.regressor_matrix(replace(history, frame=frame, warnings=()))
            shift = (xg - x0) @ coef if np.array_equal(ok_g, ok) else 0.0
            draws = base_draws[:, cols] + np.reshape(shift, (-1, 1))
            # Daily emissions cannot be negative, whatever a falling trend says.
            group_kg = np.clip(draws, 0, None).sum(axis=0)
            if 0 < ok.sum() < len(ok):  # days without regressor inputs: scale by days sampled
                group_kg *= len(ok) / ok.sum()
            totals[cols] = group_kg
        m = len(todo)
        sigma = model.resid_sigma_kwh
        # Top the independent daily noise up to the variance of an AR(1) sum (see above).
        extra_sd = sigma * math.sqrt(m * (ar1_sum_variance_factor(m, rho) - 1))
        # The fitted level's own uncertainty, which Prophet's MAP samples omit (the same
        # ASHRAE Guideline 14 n' term as in forecasting.savings): m·σ/√n′ per path. [kg]
        level_sd = m * sigma / np.sqrt(max(model.n_effective, 1.0))
        totals = totals + rng.normal(0.0, extra_sd, n_samples) \
            + rng.normal(0.0, level_sd, n_samples)
        ahead = np.asarray((todo[~past] - pd.Timestamp(as_of)).days) // 30.44
        if drift > 0 and len(ahead):
            months = np.clip(ahead.astype(int), 0, len(walk) - 1)
            totals = totals * (1 + walk[months].mean(axis=0))
        samples[fy] = observed_t[fy] + np.clip(totals, 0, None) / 1000
    return samples, observed_t, meta


def summarise(fy: int, totals: np.ndarray, observed_co2_t: float,
              target: ProjectionTarget | None) -> YearProjection:
    """Turn sampled totals into quantiles and, with a target, trajectory, gap and probability."""
    p10, p50, p90 = sample_quantiles(totals)
    if target is None:
        return YearProjection(fy, p10, p50, p90, observed_co2_t)
    path = trajectory_co2_t(target.base_fy, target.base_co2_t, target.target_fy,
                            target.reduction_pct, fy)
    return YearProjection(fy, p10, p50, p90, observed_co2_t, target, path, p50 - path,
                          probability_at_or_below(totals, path))


def projection_years(as_of: datetime, targets: Iterable[ProjectionTarget], tz: str
                     ) -> list[int]:
    """Return the current fiscal year and every target year still ahead."""
    current = fiscal_year(as_of, tz)
    return sorted({current, *(t.target_fy for t in targets if t.target_fy >= current)})


def meta_json(meta: dict[str, object]) -> str:
    """Serialise model metadata for a record's ``model`` field."""
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)
