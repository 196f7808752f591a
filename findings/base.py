"""What every detector shares: its input (``MeterData``), its output (``DetectorResult``),
data-sufficiency warnings with stable codes, and the pricing of a finding.

A detector is a pure function ``detect(data, options) -> DetectorResult``. ``MeterData``
holds one meter's fixed half-hour series (the 30-minute demand periods of Japanese
metering) over the look-back window, already enriched with local time, the site's plant
calendar and the tariff's energy price, so detectors compute and never read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from greenpipe.config import ShutdownPeriod
from greenpipe.finding import Confidence, Finding, finding_id
from greenpipe.model import Meter, MeterKind, Site
from greenpipe.plant_calendar import DEFAULT_SHUTDOWNS, DayType, day_type
from greenpipe.tariff import Tariff

SLOT = timedelta(minutes=30)
"""The fixed demand period of Japanese 30-minute metering (デマンド時限)."""
SLOT_H = 0.5
SLOTS_PER_DAY = 48


@dataclass(frozen=True, slots=True)
class FindingWarning:
    """A detector could not judge a meter; ``code`` is stable, e.g. ``findings.too_few_days``."""

    code: str
    detector: str
    meter: str
    message: str


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """What one detector found on one meter: findings, or warnings saying why not."""

    findings: tuple[Finding, ...] = ()
    warnings: tuple[FindingWarning, ...] = ()


@dataclass(frozen=True)
class MeterData:
    """One meter's half-hour series over the look-back window, with its context.

    ``frame`` is indexed by the start of each fixed half-hour (aware UTC, every slot of the
    window present) with columns ``energy_kwh`` (NaN where no reading), ``demand_kw``
    (energy / 0.5 h), ``local_hour`` [h], ``local_date`` (date), ``day_type``
    (``DayType`` value), ``workday`` (bool) and ``price_jpy_per_kwh`` [¥/kWh].
    """

    meter: Meter
    site: Site
    frame: pd.DataFrame
    as_of: datetime
    ef_kg_per_kwh: float
    """Emission factor of the meter's energy. [kg-CO2/kWh]"""
    tariff: Tariff = field(default_factory=Tariff)

    @property
    def days(self) -> float:
        """Length of the window. [d]"""
        return len(self.frame) / SLOTS_PER_DAY

    @property
    def coverage(self) -> float:
        """Share of the window's half-hours that hold a reading. [-]"""
        return float(self.frame["energy_kwh"].notna().mean()) if len(self.frame) else 0.0

    def daily(self) -> pd.DataFrame:
        """Energy per local day [kWh] (NaN for a day missing a slot), with the day type."""
        g = self.frame.groupby("local_date", sort=True)
        return pd.DataFrame({
            "energy_kwh": g["energy_kwh"].sum(min_count=SLOTS_PER_DAY - 2)
            * (SLOTS_PER_DAY / g["energy_kwh"].count().clip(lower=1)),
            "day_type": g["day_type"].first(),
            "slots": g["energy_kwh"].count(),
        })


def meter_frame(series: pd.Series, start: datetime, end: datetime, timezone: str,
                shutdowns: Iterable[ShutdownPeriod] = DEFAULT_SHUTDOWNS,
                tariff: Tariff | None = None, kind: MeterKind = MeterKind.ELECTRICITY,
                temp_air_c: pd.Series | None = None) -> pd.DataFrame:
    """Build a ``MeterData.frame`` from half-hour energies [kWh] indexed by slot start (UTC).

    Slots of ``[start, end)`` missing from ``series`` become NaN, never zero.
    ``temp_air_c`` (outdoor temperature by slot start [°C]) adds a ``temp_air_c`` column,
    NaN where unknown, for weather normalisation.
    """
    index = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=SLOT, inclusive="left",
                          tz="UTC")
    energy = series.reindex(index).astype("float64")
    local = index.tz_convert(timezone)
    dates = pd.Index(local.date)
    periods = tuple(shutdowns)
    types = {d: day_type(d, periods).value for d in pd.unique(dates)}
    day_types = np.asarray([types[d] for d in dates], dtype=object)
    hour = np.asarray(local.hour + local.minute / 60.0, dtype=np.float64)
    workday = day_types == DayType.WORKDAY.value
    t = tariff or Tariff()
    if kind in (MeterKind.GAS, MeterKind.HEAT):
        price = np.full(len(index), t.gas_jpy_per_kwh)
    else:
        price = t.electricity_price(hour, workday)
    return pd.DataFrame({
        "energy_kwh": energy.to_numpy(),
        "demand_kw": energy.to_numpy() / SLOT_H,
        "local_hour": hour,
        "local_date": np.asarray(dates),
        "day_type": day_types,
        "workday": workday,
        "price_jpy_per_kwh": price,
        "temp_air_c": (temp_air_c.reindex(index).astype("float64").to_numpy()
                       if temp_air_c is not None else np.full(len(index), np.nan)),
    }, index=index)


HDD_BASE_C = 18.0
CDD_BASE_C = 22.0
"""Degree-day bases of the weather normalisation (daily mean temperature). [°C]"""


HDD_BASES_C = (10.0, 12.0, 14.0, 16.0, 18.0)
"""Heating balance points tried by ``degree_days`` when given the load (variable base). [°C]"""


def degree_days(frame: pd.DataFrame, dates: pd.Index, mask: pd.Series | None = None,
                y: np.ndarray | None = None, base: np.ndarray | None = None) -> np.ndarray:
    """Heating and cooling degrees of each local date (columns HDD, CDD) [K].

    The temperature is the mean over the day's slots selected by ``mask`` (default: all),
    so night-time load is normalised with night-time temperature. Given the load ``y`` (and
    optional other regressors ``base``), the heating balance point is the one of
    ``HDD_BASES_C`` whose least-squares fit leaves the smallest residual (variable-base
    degree days, as ASHRAE's inverse models do); otherwise ``HDD_BASE_C``. Only columns
    that vary over ``dates`` are returned (none without a weather meter), so a regression
    on them is never singular.
    """
    rows = frame if mask is None else frame.loc[mask]
    temp = rows.groupby("local_date")["temp_air_c"].mean().reindex(dates)
    if temp.isna().all():
        return np.zeros((len(dates), 0))
    t = temp.interpolate(limit_direction="both").to_numpy()

    def columns(hdd_base: float) -> np.ndarray:
        cols = [c for c in (np.clip(hdd_base - t, 0, None), np.clip(t - CDD_BASE_C, 0, None))
                if np.ptp(c) > 0.5]
        return np.column_stack(cols) if cols else np.zeros((len(dates), 0))

    if y is None:
        return columns(HDD_BASE_C)
    other = np.ones((len(dates), 1)) if base is None else np.column_stack(
        [np.ones(len(dates)), base])
    best: tuple[float, np.ndarray] | None = None
    for b in HDD_BASES_C:
        x = columns(b)
        design = np.column_stack([other, x])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        rss = float(((y - design @ coef) ** 2).sum())
        if best is None or rss < best[0]:
            best = (rss, x)
    assert best is not None
    return best[1]


def step_regression(y: np.ndarray, x: np.ndarray, k: int) -> tuple[float, float, float]:
    """Least squares y = a + X·b + d·1[i ≥ k]; returns (d, standard error of d, RSS).

    The weather columns ``x`` absorb heating and cooling load, so ``d`` is the
    weather-normalised step (a segmented regression, as in IPMVP's non-routine events).
    Day-to-day load is autocorrelated (production runs, weather spells), so the standard
    error is inflated by sqrt((1 + ρ) / (1 − ρ)) for the residuals' lag-1 autocorrelation
    ρ > 0: the effective-sample-size correction of ASHRAE Guideline 14.
    """
    n = len(y)
    step = (np.arange(n) >= k).astype(float)
    design = np.column_stack([np.ones(n), x, step]) if x.size else np.column_stack(
        [np.ones(n), step])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    rss = float(resid @ resid)
    dof = max(n - design.shape[1], 1)
    try:
        cov = np.linalg.inv(design.T @ design) * rss / dof
        se = float(np.sqrt(max(cov[-1, -1], 0.0)))
    except np.linalg.LinAlgError:
        se = float("inf")
    if n > 3 and rss > 0:
        rho = float(resid[1:] @ resid[:-1]) / rss
        if 0 < rho < 0.99:
            se *= float(np.sqrt((1 + rho) / (1 - rho)))
    return float(coef[-1]), se, rss


def best_step(y: np.ndarray, x: np.ndarray, min_before: int, min_after: int
              ) -> tuple[int, float, float]:
    """The step position with the least residual sum of squares; (k, step, se)."""
    best: tuple[float, int, float, float] | None = None
    for k in range(min_before, len(y) - min_after + 1):
        d, se, rss = step_regression(y, x, k)
        if best is None or rss < best[0]:
            best = (rss, k, d, se)
    if best is None:
        return len(y), 0.0, float("inf")
    return best[1], best[2], best[3]


def sufficiency(data: MeterData, detector: str, min_days: float,
                min_coverage: float = 0.8) -> FindingWarning | None:
    """Return a warning when the window is too short or too sparse for ``detector``."""
    if data.days < min_days:
        return FindingWarning("findings.too_few_days", detector, data.meter.id,
                              f"{data.meter.id}: {data.days:.0f} days of data, {detector} "
                              f"needs {min_days:.0f}; let more history accumulate")
    if data.coverage < min_coverage:
        return FindingWarning("findings.low_coverage", detector, data.meter.id,
                              f"{data.meter.id}: {data.coverage:.0%} of half-hours hold data, "
                              f"{detector} needs {min_coverage:.0%}; check the meter's feed")
    return None


def confidence_of(z: float, persistent: bool = True) -> Confidence:
    """Confidence from the evidence's signal-to-noise ratio ``z`` and its persistence.

    High: z >= 6 and persistent; medium: z >= 3.5; low otherwise (reported, not alerted).
    """
    if not math.isfinite(z):
        return Confidence.LOW
    if z >= 6.0 and persistent:
        return Confidence.HIGH
    if z >= 3.5:
        return Confidence.MEDIUM
    return Confidence.LOW


def make_finding(code: str, data: MeterData, start: datetime, annual_kwh: float,
                 annual_cost_jpy: float, confidence: Confidence, proposal_ja: str,
                 proposal_en: str, evidence: dict[str, object], key: str = "") -> Finding:
    """Build a finding of ``data``'s meter; t-CO2 from the meter's emission factor."""
    co2_t = annual_kwh * data.ef_kg_per_kwh / 1000.0
    return Finding(
        id=finding_id(code, data.meter.id, key), code=code, site=data.site.id,
        meter=data.meter.id, start=start, end=data.as_of,
        annual_kwh=round(float(annual_kwh), 1), annual_co2_t=round(float(co2_t), 3),
        annual_cost_jpy=round(float(annual_cost_jpy)), confidence=confidence.value,
        proposal_ja=proposal_ja, proposal_en=proposal_en,
        evidence={k: (round(v, 3) if isinstance(v, float) else v) for k, v in evidence.items()},
        key=key,
    )


def local_midnight_utc(day: object, timezone: str) -> datetime:
    """Aware UTC instant of local midnight starting ``day`` (a ``datetime.date``)."""
    return pd.Timestamp(day).tz_localize(timezone).tz_convert("UTC").to_pydatetime()
