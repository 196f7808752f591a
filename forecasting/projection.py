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
  weather-normalised level, flagged ``projection.flat_trend``. Its intervals then hold
  weather, day-to-day variation and the level's estimation error, not structural change.

Future outdoor temperature is the climatology of the weather station's history
(``climatology``). Each posterior sample path, shifted by one draw of the fitted level's
uncertainty (N(0, m·σ/√n′), as in ``forecasting.savings``), gives one possible total:

    total = observed emissions so far in the year + Σ sampled days still to come

and the P10/P50/P90 are quantiles of those totals. A target is a straight line from the
base-year inventory to the target level (``trajectory_co2_t``); the gap is P50 minus the
line, and the probability of meeting it is the share of sample totals at or below it.

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
) -> tuple[dict[int, np.ndarray], dict[int, float], dict[str, object]]:
    """Return per fiscal year the sampled totals [t-CO2] and the observed part [t-CO2].

    ``history`` is a daily series whose ``energy_kwh`` column holds daily emissions in
    kg-CO2 (the model is unit-agnostic). Days of a year before ``as_of`` use observations
    where present and samples where missing; later days are sampled. ``steps`` names known
    interventions (measure id -> first instant in effect). Also returns model metadata,
    whose ``trend`` is ``linear`` or ``flat`` (see the module docstring).
    """
    tz = history.tz
    steps = steps or {}
    hist = _with_steps(history.frame[history.frame.index < pd.Timestamp(as_of)], steps)
    known_days = hist.index[hist["energy_kwh"].notna()]
    span = (known_days.max() - known_days.min()).days + 1 if len(known_days) else 0
    trend: Literal["flat", "linear"] = "linear" if span >= LINEAR_TREND_DAYS else "flat"
    # Changepoint prior 0.01 (Prophet's default is 0.05): a scope's emissions trend moves
    # slowly; with 0.05 a weather swing near the end of two years bent the trend flat.
    options = replace(options or BaselineOptions(), growth=trend,
                      changepoint_prior_scale=0.01)
    meta: dict[str, object] = {"method": f"prophet {trend} trend, daily emissions",
                               "trend": trend, "history_days": span,
                               "samples": options.uncertainty_samples,
                               "steps": {k: v.isoformat() for k, v in steps.items()}}
    years = sorted(set(years))
    observed_t = {}
    samples: dict[int, np.ndarray] = {}
    if not (hist["energy_kwh"].fillna(0) != 0).any():
        for fy in years:
            samples[fy] = np.zeros(options.uncertainty_samples)
            observed_t[fy] = 0.0
        meta["method"] = "all observed emissions are zero; projected as zero"
        return samples, observed_t, meta
    model = BaselineModel(options).fit(replace(history, frame=hist))
    meta.update({"fit_start": model.fit_start, "fit_end": model.fit_end,
                 "regressors": list(model.regressors), "yearly": model.yearly})
    clim = climatology(hist["temp_air_c"].dropna(), tz)
    rng = np.random.default_rng(options.seed)
    for fy in years:
        start, end = fiscal_year_bounds(fy, tz)
        days = pd.date_range(pd.Timestamp(start).tz_convert(tz), pd.Timestamp(end).tz_convert(tz),
                             freq="D", inclusive="left").tz_convert("UTC")
        obs = hist["energy_kwh"].reindex(days)
        known = obs.notna().to_numpy() & (days < pd.Timestamp(as_of))
        observed_t[fy] = float(obs[known].sum()) / 1000
        todo = days[~known]
        if len(todo) == 0:
            samples[fy] = np.full(options.uncertainty_samples, observed_t[fy])
            continue
        fut = _with_steps(_future_frame(todo, clim, tz), steps)
        past = todo < pd.Timestamp(as_of)
        if past.any():  # missing past days: use the measured temperature where known
            fut.loc[past, "temp_air_c"] = hist["temp_air_c"].reindex(todo[past]).fillna(
                fut.loc[past, "temp_air_c"]).to_numpy()
        ok, draws = model.sample(replace(history, frame=fut, warnings=()))
        # Daily emissions cannot be negative, whatever a falling trend says.
        totals = np.clip(draws, 0, None).sum(axis=0) / 1000
        if 0 < ok.sum() < len(ok):  # days without regressor inputs: scale by the days sampled
            totals *= len(ok) / ok.sum()
        # The fitted level's own uncertainty, which Prophet's MAP samples omit (the same
        # ASHRAE Guideline 14 n' term as in forecasting.savings): m·σ/√n′ per path. [t]
        level_sd_t = len(todo) * model.resid_sigma_kwh / np.sqrt(max(model.n_effective, 1.0))
        totals = totals + rng.normal(0.0, level_sd_t / 1000, totals.shape)
        samples[fy] = observed_t[fy] + np.clip(totals, 0, None)
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
