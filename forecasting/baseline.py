"""The baseline (counterfactual) model: Prophet with calendar and weather terms.

IPMVP Option C (whole facility): a model of energy use fitted on a baseline period and
used to predict what the reporting period would have used without the measure.

Terms, as the data allows:

* seasonality: weekly on regular days (a holiday or shutdown replaces the weekday pattern
  instead of adding to it: a plant closed for Obon is closed whatever the weekday), as
  Fourier terms for daily models and as six weekday levels constant over the local day for
  hourly ones (``_DOW``: a smooth series over 168 hours cannot step at midnight); daily
  for hourly models, with separate shapes for working and non-working days; yearly when
  the data can identify it: 12 months without weather terms, 24 months with them (over a
  single year the annual Fourier terms and the degree terms describe the same cycle, and
  Prophet itself warns the split is under-identified; ASHRAE Guideline 14 regression
  baselines explain the annual cycle by weather);
* events: public holidays of ``options.country`` (Japan by default) and the plant shutdowns
  in ``options.shutdowns`` (``greenpipe.plant_calendar``),
  one ``public_holiday`` and one ``shutdown`` effect (a one-year baseline sees each named
  holiday once, so per-holiday effects would be fitted to single days);
* trend: ``flat`` for savings baselines (IPMVP: the counterfactual holds baseline conditions,
  it does not extrapolate drift) and ``linear`` for projections, where the trend is the point;
* regressors: heating and cooling degrees from outdoor temperature,
  ``hdd = max(0, hdd_base_c − T)`` and ``cdd = max(0, T − cdd_base_c)`` [K] on the interval's
  mean temperature, plus the same degrees on working days only (``hdd_workday``,
  ``cdd_workday``): buildings heat and cool mainly when occupied, so the weather response
  differs by occupancy mode, as in ASHRAE Guideline 14 change-point models and LBNL's
  time-of-week-and-temperature model (on the simulated city this cut the office's daily
  CV(RMSE) from 8.2 % to 5.5 % and the city-hall gas meter's from 27 % to 6.3 %), an
  optional production volume, and known step changes: every ``step_*`` column of the
  data (0 before an intervention, 1 from it on, e.g. a declared efficiency measure inside
  a projection's history) becomes a regressor.

Prophet works in local wall-clock time (``ds`` is local and naive) so that weekdays and
holidays fall on local dates. Prophet fits by MAP; its "posterior" samples (``uncertainty
samples``) draw the observation noise and future trend changes, not parameter uncertainty.

cmdstanpy logs every optimisation at INFO through handlers it installs itself; setting its
level is undone by those handlers, so ``silence_stan()`` disables the logger and drops them.
No network access happens anywhere here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecasting.balance import MIN_HOURS, day_degrees, select_balance_points
from forecasting.data import BaselineData
from greenpipe.config import ShutdownPeriod
from greenpipe.errors import DataSufficiencyError, GreenpipeError
from greenpipe.plant_calendar import (
    DEFAULT_COUNTRY,
    DEFAULT_SHUTDOWNS,
    DayType,
    country_for_zone,
    day_type,
)

MODEL_FORMAT = "greenpipe.baseline/1"
_DAILY_ORDER = 11
"""Fourier order of the daily shapes: 11 of the 12 an hourly day can carry, so shift
start and end steps are followed without much ringing."""
_CONDITIONS = ("workday", "offday", "regular")
"""Boolean columns that switch conditional seasonalities on and off."""
_WEATHER_TERMS = ("hdd", "cdd", "hdd_workday", "cdd_workday")
_DOW = tuple(f"dow_{k}" for k in range(1, 7))
"""Weekday indicators of hourly models (Tuesday..Sunday on regular days; Monday is 0)."""


@contextlib.contextmanager
def _prophet_quiet() -> Iterator[None]:
    """Hide pandas' deprecation warnings about Prophet's own calls (not ours to fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet\.")
        yield


class _FileData:
    """Hand Prophet's Stan data to cmdstan as a file written by orjson.

    cmdstanpy (via stanio) walks every element of the data in Python and encodes it with
    the standard ``json`` module; for an hourly year (X is 8,760 rows × ~60 columns) that
    took about 1.5 s of a 1.8 s fit, while cmdstan itself optimised in 0.15 s. cmdstanpy
    accepts a path instead of a dict, so the data is serialised once by orjson (C, about
    50x faster) and the path is passed on; everything else goes to the wrapped model.
    """

    def __init__(self, model: Any) -> None:
        self._model = model

    def optimize(self, data: dict[str, Any], **kwargs: Any) -> Any:
        import os
        import tempfile

        import orjson

        fd, path = tempfile.mkstemp(suffix=".json", prefix="greenpipe-stan-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))
            return self._model.optimize(data=path, **kwargs)
        finally:
            os.unlink(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def silence_stan() -> None:
    """Disable cmdstanpy's logger (and Prophet's INFO chatter) for the whole process."""
    for name in ("cmdstanpy", "prophet", "prophet.models", "prophet.plot"):
        lg = logging.getLogger(name)
        if name == "cmdstanpy":
            lg.disabled = True  # its own handlers ignore setLevel, so switch it off
            for h in list(lg.handlers):
                lg.removeHandler(h)
            lg.addHandler(logging.NullHandler())
            lg.propagate = False
        else:
            # Prophet warns about optimiser fallbacks and seasonality choices that greenpipe
            # makes explicitly; its errors still surface as exceptions.
            lg.setLevel(logging.ERROR)


@dataclass(frozen=True, slots=True)
class BaselineOptions:
    """Model settings; defaults mirror ``[forecasting]`` in the config."""

    hdd_base_c: float = 18.0
    """Heating degree base. [°C]"""
    cdd_base_c: float = 22.0
    """Cooling degree base. [°C]"""
    interval_level: float = 0.9
    uncertainty_samples: int = 300
    shutdown_handling: Literal["holidays", "exclude", "ignore"] = "holidays"
    shutdowns: tuple[ShutdownPeriod, ...] = DEFAULT_SHUTDOWNS
    seed: int = 0
    balance_point_search: bool = True
    """Choose hdd/cdd bases from the baseline data (``forecasting.balance``); else fixed."""
    growth: Literal["flat", "linear"] = "flat"
    """``flat`` for M&V baselines, ``linear`` for projections."""
    changepoint_prior_scale: float = 0.01
    """Small: an M&V baseline should explain energy by calendar and weather, not drift."""
    events_until_year: int = 2051
    """Unused since events follow the predicted days; kept so stored models still load."""
    country: str = DEFAULT_COUNTRY
    """ISO 3166 code of the public-holiday calendar (``holidays`` package)."""

    @classmethod
    def from_config(cls, cfg: Any) -> BaselineOptions:
        """Build from a ``greenpipe.config.Config``."""
        f = cfg.forecasting
        return cls(hdd_base_c=f.hdd_base_c, cdd_base_c=f.cdd_base_c,
                   interval_level=f.interval_level, uncertainty_samples=f.uncertainty_samples,
                   shutdown_handling=f.shutdown_handling,
                   shutdowns=tuple(cfg.shutdowns) or DEFAULT_SHUTDOWNS, seed=f.seed,
                   balance_point_search=f.balance_point_search,
                   country=country_for_zone(cfg.city.timezone))


def degree_terms(temp_air_c: pd.Series | np.ndarray, hdd_base_c: float, cdd_base_c: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return (heating, cooling) degrees per interval: max(0, base − T), max(0, T − base). [K]"""
    t = np.asarray(temp_air_c, dtype="float64")
    return np.maximum(hdd_base_c - t, 0.0), np.maximum(t - cdd_base_c, 0.0)


def _events(days: Iterable[date], shutdowns: tuple[ShutdownPeriod, ...], handling: str,
            country: str = DEFAULT_COUNTRY) -> pd.DataFrame:
    rows = []
    for d in days:
        dt = day_type(d, shutdowns if handling != "ignore" else (), country)
        if dt == DayType.SHUTDOWN and handling == "holidays":
            rows.append({"holiday": "shutdown", "ds": pd.Timestamp(d)})
        elif dt == DayType.HOLIDAY:
            rows.append({"holiday": "public_holiday", "ds": pd.Timestamp(d)})
    return pd.DataFrame(rows, columns=["holiday", "ds"])


def _long_run_factor(resid: np.ndarray, lags: int) -> float:
    """Return the residuals' long-run variance over their variance (≥ 1).

    Bartlett-kernel (Newey-West) estimate Σ_{|k|≤L} (1 − |k|/(L + 1))·γ_k / γ_0 with
    L = ``lags``; the variance of a sum of m ≫ L residuals is m·σ²·factor. Written out
    (a few lines of numpy) rather than importing statsmodels for one function.
    """
    e = np.asarray(resid, dtype="float64")
    e = e[np.isfinite(e)] - np.nanmean(e)
    n = len(e)
    if n < 3:
        return 1.0
    g0 = float(e @ e) / n
    if g0 <= 0:
        return 1.0
    total = g0
    for k in range(1, min(lags, n - 1) + 1):
        total += 2 * (1 - k / (lags + 1)) * float(e[k:] @ e[:-k]) / n
    return max(1.0, total / g0)


def _bandwidth(n: int) -> int:
    """Bartlett-kernel lags for ``n`` residuals: ⌊0.75·n^(1/3)⌋, at least 1.

    The rule of thumb of Stock and Watson (Introduction to Econometrics, §15.4) for the
    Newey-West estimator, the n^(1/3) rate of Andrews (1991) for the Bartlett kernel: five
    lags for a year of days. It replaced a fixed 14 days, too many for a 90-day baseline;
    on ``bench/validate.py`` the two give the same coverage.
    """
    return max(1, int(0.75 * max(n, 1) ** (1 / 3)))


@dataclass
class BaselineModel:
    """A Prophet baseline of one series: ``fit(data) -> self``, ``predict(data) -> frame``."""

    options: BaselineOptions = field(default_factory=BaselineOptions)
    granularity: str = "daily"
    tz: str = "Asia/Tokyo"
    regressors: tuple[str, ...] = ()
    yearly: bool = False
    fit_start: str = ""
    fit_end: str = ""
    n_fit: int = 0
    resid_sigma_kwh: float = 0.0
    """Standard deviation of the in-sample residuals. [kWh]"""
    resid_rho: float = 0.0
    """Lag-1 autocorrelation of the in-sample residuals."""
    n_effective: float = 0.0
    """Effective number of independent baseline intervals, n(1 − ρ)/(1 + ρ) (ASHRAE G14)."""
    resid_lr_factor: float = 1.0
    """Long-run variance of the residuals over their variance (``_long_run_factor``).

    Per hour for hourly models, from their daily sums (see ``_residual_stats``)."""
    degree_hours: bool = False
    """Daily degree terms from hourly temperatures (``forecasting.balance.day_degrees``)."""
    _prophet: Any = None
    _design_pinv: Any = None
    """Pseudo-inverse of the baseline design's XᵀX (in-process only, not serialised)."""

    # ------------------------------------------------------------ frames

    def _frame(self, data: BaselineData) -> pd.DataFrame:
        """Prophet input: local naive ``ds``, ``y`` and regressor columns."""
        f = data.frame
        local = f.index.tz_convert(data.tz).tz_localize(None)
        days = local.normalize()
        hours = self._hour_matrix(data, days) if self.degree_hours else None
        hdd = day_degrees(f["temp_air_c"].to_numpy(), hours, self.options.hdd_base_c, "heating")
        cdd = day_degrees(f["temp_air_c"].to_numpy(), hours, self.options.cdd_base_c, "cooling")
        # Classify each distinct local day once (hourly frames repeat every day 24 times).
        uniq, inverse = np.unique(days.to_numpy(), return_inverse=True)
        shutdowns = self.options.shutdowns if self.options.shutdown_handling != "ignore" else ()
        kinds = np.array([day_type(d.date(), shutdowns, self.options.country).value
                          for d in pd.DatetimeIndex(uniq)], dtype=object)[inverse]
        workday = kinds == DayType.WORKDAY.value
        cols: dict[str, Any] = {"ds": local, "y": f["energy_kwh"].to_numpy(), "hdd": hdd,
                                "cdd": cdd}
        for col in f.columns:
            if col == "production" or col.startswith("step_"):
                cols[col] = f[col].to_numpy(dtype="float64")
        regular = (kinds != DayType.HOLIDAY.value) & (kinds != DayType.SHUTDOWN.value)
        weekday = days.day_of_week.to_numpy()
        for k in range(1, 7):
            cols[f"dow_{k}"] = ((weekday == k) & regular).astype("float64")
        cols.update({
            "workday": workday, "offday": ~workday,
            "regular": regular,
            "hdd_workday": hdd * workday, "cdd_workday": cdd * workday,
            "_shutdown": kinds == DayType.SHUTDOWN.value,
        })
        return pd.DataFrame(cols)

    @staticmethod
    def _hour_matrix(data: BaselineData, days: pd.DatetimeIndex) -> np.ndarray | None:
        """Hourly temperatures of each row's local day (rows × 25 slots, NaN-padded). [°C]

        A daily series carries them in ``temp_hourly_c``; an hourly series is its own.
        """
        t = data.temp_hourly_c if data.granularity == "daily" else data.frame["temp_air_c"]
        if t is None or t.empty:
            return None
        local = pd.DatetimeIndex(t.index).tz_convert(data.tz)
        day = local.tz_localize(None).normalize()
        slot = pd.Series(0, index=day).groupby(level=0).cumcount().to_numpy()
        keep = slot < 25  # a DST change gives a 23- or 25-hour day
        table = pd.DataFrame({"day": day[keep], "slot": slot[keep],
                              "t": t.to_numpy(dtype="float64")[keep]})
        wide = table.pivot_table(index="day", columns="slot", values="t", aggfunc="first")
        wide = wide.reindex(columns=range(25))
        return wide.reindex(pd.DatetimeIndex(days)).to_numpy(dtype="float64")

    # ------------------------------------------------------------ fit / predict

    def fit(self, data: BaselineData, *, uncertainty: bool = True) -> BaselineModel:
        """Fit on the baseline data; returns self. Raises DataSufficiencyError if nothing fits.

        ``uncertainty=False`` skips the residual statistics and the design matrix that
        intervals need (a point-prediction fit, e.g. a cross-validation fold).
        """
        from prophet import Prophet

        silence_stan()
        self.granularity, self.tz = data.granularity, data.tz
        self.degree_hours = False
        if data.granularity == "daily" and data.temp_hourly_c is not None:
            days = data.frame.index.tz_convert(data.tz).tz_localize(None).normalize()
            hours = self._hour_matrix(data, days)
            known = np.isfinite(hours).sum(axis=1) >= MIN_HOURS if hours is not None else []
            self.degree_hours = bool(len(known) and np.mean(known) >= 0.8)
        if self.options.balance_point_search and data.frame["temp_air_c"].notna().any():
            hb, cb = self._balance_points(data)
            self.options = replace(self.options, hdd_base_c=hb, cdd_base_c=cb)
        df = self._frame(data)
        usable = df["y"].notna()
        regs: list[str] = []
        if data.frame["temp_air_c"].notna().any():
            usable &= data.frame["temp_air_c"].notna().to_numpy()
            # A degree term that never moves in the baseline cannot be estimated.
            regs += [r for r in _WEATHER_TERMS if df.loc[usable, r].std() > 1e-9]
        if "production" in df:
            usable &= df["production"].notna()
            regs.append("production")
        # A step that never changes inside the fit cannot be estimated.
        regs += [c for c in df.columns
                 if c.startswith("step_") and df.loc[usable, c].nunique() > 1]
        if self.options.shutdown_handling == "exclude":
            usable &= ~df["_shutdown"]
        fit_df = df[usable]
        n_days = (fit_df["ds"].max() - fit_df["ds"].min()).days + 1 if len(fit_df) else 0
        if len(fit_df) < 14:
            raise DataSufficiencyError(
                f"only {len(fit_df)} usable intervals in the baseline of "
                f"{data.scope or 'the series (no scope given)'}; "
                "a baseline needs at least 14 with energy and temperature"
            )
        self.yearly = n_days >= (730 if {"hdd", "cdd"} & set(regs) else 365)
        hourly = data.granularity == "hourly"
        events = self._events_for(fit_df["ds"])
        m = Prophet(
            growth=self.options.growth,
            yearly_seasonality=10 if self.yearly else False,
            weekly_seasonality=False,
            daily_seasonality=False,
            holidays=events if len(events) else None,
            interval_width=self.options.interval_level,
            uncertainty_samples=self.options.uncertainty_samples,
            changepoint_prior_scale=self.options.changepoint_prior_scale,
        )
        if hourly:
            # One level per weekday, constant over the local day (Tuesday..Sunday against
            # Monday, regular days only). A period-7 Fourier series of order 3 is exact on
            # 7 daily points but smooth over 168 hours: it cannot step at midnight, and on
            # the validation meters it left the days next to the weekend ±50–240 kWh/day
            # off, a weekly pattern in the residuals that the savings variance then counted
            # as persistence (LBNL's time-of-week-and-temperature model uses such
            # indicators for the same reason).
            regs += [c for c in _DOW if fit_df[c].std() > 1e-9]
        else:
            m.add_seasonality("weekly_regular", period=7, fourier_order=3,
                              condition_name="regular")
        if hourly:
            m.add_seasonality("daily_workday", period=1, fourier_order=_DAILY_ORDER,
                              condition_name="workday")
            m.add_seasonality("daily_offday", period=1, fourier_order=_DAILY_ORDER,
                              condition_name="offday")
        for r in regs:
            m.add_regressor(r)
        self.regressors = tuple(regs)
        backend = m.stan_backend
        if backend is not None and hasattr(backend, "model"):
            backend.model = _FileData(backend.model)
        try:
            with _prophet_quiet():
                m.fit(fit_df[["ds", "y", *regs, *_CONDITIONS]])
        finally:
            if backend is not None and isinstance(getattr(backend, "model", None), _FileData):
                backend.model = backend.model._model
        self._prophet = m
        if uncertainty:
            self._residual_stats(m, fit_df)
            x = self._design(m, fit_df)
            self._design_pinv = np.linalg.pinv(x.T @ x)
        # ds is naive local time (Prophet's form); store it with its UTC offset.
        self.fit_start, self.fit_end = (
            pd.Timestamp(fit_df["ds"].agg(f)).tz_localize(
                self.tz, ambiguous=True, nonexistent="shift_forward").isoformat()
            for f in ("min", "max"))
        self.n_fit = len(fit_df)
        return self

    def _events_for(self, ds: pd.Series) -> pd.DataFrame:
        """Holiday/shutdown events on the local days of ``ds`` only.

        Prophet builds its holiday features with a Python loop over every event row, so
        events spanning decades (as projections once generated up to 2050) cost more than
        the fit itself; events outside the frame's days contribute nothing.
        """
        days = pd.DatetimeIndex(ds).normalize().unique()
        return _events(days.date, self.options.shutdowns, self.options.shutdown_handling,
                       self.options.country)

    @contextlib.contextmanager
    def _events_of(self, m: Any, ds: pd.Series) -> Iterator[None]:
        """Give the fitted Prophet model the events of ``ds``'s days for one prediction."""
        saved = m.holidays
        if m.train_holiday_names is not None:
            events = self._events_for(ds)
            # A fitted event absent from these days still needs its (all-zero) column;
            # Prophet's own padding gives it a NaN date, which its feature loop rejects.
            absent = [h for h in m.train_holiday_names if h not in set(events["holiday"])]
            pad = pd.DataFrame({"holiday": absent, "ds": pd.Timestamp("1970-01-01")})
            m.holidays = pd.concat([events, pad], ignore_index=True) if absent else events
        try:
            yield
        finally:
            m.holidays = saved

    def _balance_points(self, data: BaselineData) -> tuple[float, float]:
        """Search the degree bases on local days of the baseline (hourly data summed)."""
        f = data.frame
        local_day = f.index.tz_convert(data.tz).date
        days = pd.DataFrame({"day": local_day, "y": f["energy_kwh"].to_numpy(),
                             "t": f["temp_air_c"].to_numpy()})
        g = days.groupby("day")
        daily = pd.DataFrame({"y": g["y"].sum(min_count=1), "t": g["t"].mean(),
                              "n": g["y"].count(), "size": g.size()})
        daily.loc[daily["n"] < daily["size"], "y"] = np.nan  # incomplete days
        shutdowns = self.options.shutdowns if self.options.shutdown_handling != "ignore" else ()
        types = [day_type(d, shutdowns, self.options.country) for d in daily.index]
        # An hourly model's degree terms are hourly (the mean over a day of its hourly
        # degrees is its daily sum / 24), so its bases are chosen on degree-hours too:
        # bases fitted to the daily mean temperature absorb the diurnal swing (a higher
        # heating base), and applied hour by hour they then misplace the weather response.
        hours = (self._hour_matrix(data, pd.DatetimeIndex(pd.to_datetime(daily.index)))
                 if self.degree_hours or data.granularity == "hourly" else None)
        return select_balance_points(
            daily["y"].to_numpy(), daily["t"].to_numpy(), [t.value for t in types],
            np.array([t == DayType.WORKDAY for t in types]), hourly_c=hours)

    def _design(self, m: Any, df: pd.DataFrame) -> np.ndarray:
        """Prophet's design matrix of ``df``'s rows: a constant and every feature column."""
        with _prophet_quiet(), self._events_of(m, df["ds"]):
            frame = m.setup_dataframe(df[["ds", *self.regressors, *_CONDITIONS]].copy())
            features = m.make_all_seasonality_features(frame)[0]
        return np.column_stack([np.ones(len(frame)), features.to_numpy(dtype="float64")])

    def sum_variance(self, data: BaselineData, rows: np.ndarray | None = None) -> float:
        """Variance of the estimation error of Σ predicted over ``data``'s rows. [kWh²]

        The OLS prediction variance of a sum, σ²_LR·aᵀ(XᵀX)⁺a, with X the baseline's design
        matrix (constant, weather, calendar and seasonal columns), a the sum of the
        predicted rows' design vectors and σ²_LR the residuals' long-run variance
        (``resid_lr_factor``·σ²; it generalises ASHRAE Guideline 14's (1 + ρ)/(1 − ρ) to
        residuals that stay correlated for weeks, as a weather response that is not quite
        linear leaves them).
        With only a constant it is the Guideline's level term m²σ²/n′; the other columns
        add the uncertainty of the weather and calendar coefficients, which grows as the
        reporting period's weather departs from the baseline's. ``rows`` (a mask of
        ``data.frame``) restricts the sum. A model loaded from JSON lacks X and gives the
        level term.
        """
        m = self._require_fitted()
        df, ok = self._future(data)
        sel = ok if rows is None else ok & np.asarray(rows, dtype=bool)
        var = self.resid_sigma_kwh ** 2 * self.resid_lr_factor
        k = int(sel.sum())
        if self._design_pinv is None or k == 0:
            return k * k * self.resid_sigma_kwh ** 2 / max(self.n_effective, 1.0)
        a = self._design(m, df.loc[sel]).sum(axis=0)
        return float(var * max(a @ self._design_pinv @ a, 0.0))

    def _residual_stats(self, m: Any, fit_df: pd.DataFrame) -> None:
        samples, m.uncertainty_samples = m.uncertainty_samples, 0
        try:
            with _prophet_quiet(), self._events_of(m, fit_df["ds"]):
                yhat = m.predict(fit_df[["ds", *self.regressors, *_CONDITIONS]])["yhat"]
        finally:
            m.uncertainty_samples = samples
        resid = fit_df["y"].to_numpy() - yhat.to_numpy()
        n = len(resid)
        self.resid_sigma_kwh = float(resid.std(ddof=1)) if n > 1 else 0.0
        rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if n > 2 else 0.0
        self.resid_rho = rho if np.isfinite(rho) else 0.0
        r = min(max(self.resid_rho, 0.0), 0.95)
        self.n_effective = max(1.0, n * (1 - r) / (1 + r))
        if self.granularity == "hourly" and n > 1 and self.resid_sigma_kwh > 0:
            # Hourly residuals repeat a day's shape error hour after hour: their long-run
            # variance is that of the daily sums per hour (batch means, one day a batch),
            # with the days' own serial correlation on top (Bartlett kernel over days).
            by_day = pd.Series(resid).groupby(fit_df["ds"].dt.normalize().to_numpy())
            sums, hours = by_day.sum(), float(by_day.size().mean())
            daily_lr = float(sums.var(ddof=1)) * _long_run_factor(
                sums.to_numpy(), _bandwidth(len(sums)))
            self.resid_lr_factor = max(1.0, daily_lr / hours / self.resid_sigma_kwh ** 2)
        else:
            self.resid_lr_factor = _long_run_factor(resid, _bandwidth(n))

    def _require_fitted(self) -> Any:
        if self._prophet is None:
            raise GreenpipeError("the baseline model is not fitted; call fit(data) first")
        return self._prophet

    def _future(self, data: BaselineData) -> tuple[pd.DataFrame, np.ndarray]:
        df = self._frame(data)
        ok = np.ones(len(df), dtype=bool)
        for r in self.regressors:
            ok &= df[r].notna().to_numpy()
        return df, ok

    def predict(self, data: BaselineData, *, intervals: bool = True) -> pd.DataFrame:
        """Predict ``data``'s intervals: columns observed, predicted, predicted_lower/upper [kWh].

        Indexed like ``data.frame``; intervals without the regressors' inputs get NaN.
        ``intervals=False`` skips Prophet's posterior sampling (the bounds stay NaN) when
        only the point prediction is needed.
        """
        m = self._require_fitted()
        df, ok = self._future(data)
        out = pd.DataFrame(index=data.frame.index)
        out["observed"] = data.frame["energy_kwh"].to_numpy()
        for c in ("predicted", "predicted_lower", "predicted_upper"):
            out[c] = np.nan
        if ok.any():
            np.random.seed(self.options.seed)
            saved = m.uncertainty_samples
            if not intervals:
                m.uncertainty_samples = 0
            try:
                with _prophet_quiet(), self._events_of(m, df.loc[ok, "ds"]):
                    fc = m.predict(df.loc[ok, ["ds", *self.regressors, *_CONDITIONS]])
            finally:
                m.uncertainty_samples = saved
            out.loc[ok, "predicted"] = fc["yhat"].to_numpy()
            if "yhat_lower" in fc:  # absent when uncertainty_samples is 0
                out.loc[ok, "predicted_lower"] = fc["yhat_lower"].to_numpy()
                out.loc[ok, "predicted_upper"] = fc["yhat_upper"].to_numpy()
        return out

    def regressor_coefficients(self) -> dict[str, float]:
        """Return each regressor's additive effect per unit (e.g. kWh per K of ``hdd``)."""
        m = self._require_fitted()
        if not self.regressors:
            return {}
        from prophet.utilities import regressor_coefficients

        table = regressor_coefficients(m)
        return {str(r): float(c) for r, c in zip(table["regressor"], table["coef"], strict=True)}

    def regressor_matrix(self, data: BaselineData) -> tuple[np.ndarray, np.ndarray]:
        """Return (mask of predictable rows, their regressor values rows × regressors)."""
        df, ok = self._future(data)
        return ok, df.loc[ok, list(self.regressors)].to_numpy(dtype="float64")

    def sample(self, data: BaselineData, n: int | None = None, seed: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Return (mask of predictable rows, posterior predictive samples rows × samples). [kWh]

        ``n`` and ``seed`` default to the options' ``uncertainty_samples`` and ``seed``.
        """
        m = self._require_fitted()
        n = self.options.uncertainty_samples if n is None else n
        df, ok = self._future(data)
        if not ok.any():
            return ok, np.empty((0, n))
        np.random.seed(self.options.seed if seed is None else seed)
        # Prophet reads the path count from the fitted object, so set it for this call only.
        saved, m.uncertainty_samples = m.uncertainty_samples, n
        try:
            with _prophet_quiet(), self._events_of(m, df.loc[ok, "ds"]):
                draws = m.predictive_samples(df.loc[ok, ["ds", *self.regressors, *_CONDITIONS]])
        finally:
            m.uncertainty_samples = saved
        return ok, np.asarray(draws["yhat"], dtype="float64")

    # ------------------------------------------------------------ JSON

    def to_json(self) -> str:
        """Serialise the fitted model (Prophet's model_to_json plus our settings)."""
        from prophet.serialize import model_to_json

        m = self._require_fitted()
        opts = {k: getattr(self.options, k) for k in self.options.__dataclass_fields__}
        opts["shutdowns"] = [[s.name, s.start, s.end] for s in self.options.shutdowns]
        return json.dumps({
            "format": MODEL_FORMAT, "granularity": self.granularity, "tz": self.tz,
            "regressors": list(self.regressors), "yearly": self.yearly,
            "fit_start": self.fit_start, "fit_end": self.fit_end, "n_fit": self.n_fit,
            "resid_sigma_kwh": self.resid_sigma_kwh, "resid_rho": self.resid_rho,
            "n_effective": self.n_effective, "degree_hours": self.degree_hours,
            "resid_lr_factor": self.resid_lr_factor,
            "options": opts, "prophet": model_to_json(m),
        })

    @classmethod
    def from_json(cls, text: str) -> BaselineModel:
        """Load a model written by ``to_json``; raises GreenpipeError for other input."""
        from prophet.serialize import model_from_json

        silence_stan()
        try:
            doc = json.loads(text)
            if doc.get("format") != MODEL_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {MODEL_FORMAT}")
            opts = dict(doc["options"])
            opts["shutdowns"] = tuple(ShutdownPeriod(*s) for s in opts["shutdowns"])
            model = cls(options=BaselineOptions(**opts), granularity=doc["granularity"],
                        tz=doc["tz"], regressors=tuple(doc["regressors"]),
                        yearly=bool(doc["yearly"]), fit_start=doc["fit_start"],
                        fit_end=doc["fit_end"], n_fit=int(doc["n_fit"]),
                        resid_sigma_kwh=float(doc["resid_sigma_kwh"]),
                        resid_rho=float(doc["resid_rho"]),
                        n_effective=float(doc["n_effective"]),
                        degree_hours=bool(doc.get("degree_hours", False)),
                        resid_lr_factor=float(doc.get("resid_lr_factor", 1.0)))
            with _prophet_quiet():
                model._prophet = model_from_json(doc["prophet"])
        except (ValueError, KeyError, TypeError) as exc:
            raise GreenpipeError(f"not a greenpipe baseline model JSON ({exc})") from None
        return model
