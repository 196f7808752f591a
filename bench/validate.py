"""Validation with known truth: synthetic meters with known savings, daily and hourly models.

Each ``MeterSpec`` builds two years of hourly energy (baseline year, reporting year) and
hourly outdoor temperature for a building in a given climate, calendar and schedule:

* climate: annual mean and amplitude of temperature (cold to hot; the southern hemisphere
  has its seasons flipped), a diurnal cycle and AR(1) day-to-day weather anomalies; the
  reporting year has its own weather (different anomalies), as real years do;
* load: a base by hour and day kind (office, retail seven days a week, two-shift plant,
  three-shift plant), heating below and/or cooling above balance points on the *hourly*
  temperature, weaker when the building is unoccupied;
* calendar: the public holidays of the meter's country (``holidays`` package) close the
  building like a Sunday;
* noise: hourly and day-level multiplicative noise; gaps: whole days of missing data;
* savings: the reporting year's load is the counterfactual times (1 − s), s from 0 to 30 %.

The truth over the intervals an estimate used is ``s / (1 − s) × observed``. Reported per
granularity: the bias of savings (Σ error ÷ Σ true savings, meters with s > 0), the spread
of the errors (standard deviation of error ÷ counterfactual use), and the share of meters
whose 90 % interval holds the true savings (coverage).

Run:

    .venv/bin/python bench/validate.py [--meters 50] [--granularity daily hourly]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forecasting.baseline import BaselineOptions, silence_stan
from forecasting.data import BaselineData
from forecasting.savings import run_savings
from greenpipe.plant_calendar import DayType, day_type

COUNTRY_ZONES = {"JP": "Asia/Tokyo", "US": "America/Chicago", "DE": "Europe/Berlin",
                 "GB": "Europe/London", "AU": "Australia/Sydney", "IN": "Asia/Kolkata",
                 "BR": "America/Sao_Paulo", "FR": "Europe/Paris"}
SOUTH = {"AU", "BR"}
SCHEDULES = ("office", "retail", "two_shift", "three_shift")
LOADS = ("heating", "cooling", "both")
START = pd.Timestamp("2023-04-01")
"""Local start of the baseline year (the reporting year follows)."""


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """One synthetic meter (all quantities in the units named)."""

    seed: int
    country: str
    mean_c: float
    """Annual mean outdoor temperature. [°C]"""
    amplitude_c: float
    """Half the summer-winter difference of daily mean temperature. [K]"""
    load: str
    schedule: str
    noise: float
    """Standard deviation of the hourly multiplicative noise (day noise is a third)."""
    gap_days: int
    savings: float
    """True fractional savings in the reporting year."""


def specs(n: int, seed: int = 0) -> list[MeterSpec]:
    """Return ``n`` meters spread over climates, loads, schedules, calendars, noise, savings."""
    rng = np.random.default_rng(seed)
    countries = list(COUNTRY_ZONES)
    out = []
    for i in range(n):
        load = LOADS[i % 3]
        # Heating-only buildings in cold climates, cooling-only in hot, both in between.
        mean = {"heating": rng.uniform(2, 14), "cooling": rng.uniform(18, 28),
                "both": rng.uniform(10, 20)}[load]
        out.append(MeterSpec(
            seed=seed * 1000 + i, country=countries[i % len(countries)], mean_c=float(mean),
            amplitude_c=float(rng.uniform(4, 12)), load=load,
            schedule=SCHEDULES[(i // 3) % len(SCHEDULES)],
            noise=float((0.02, 0.05, 0.10)[i % 3 if i % 2 else (i // 2) % 3]),
            gap_days=int(rng.integers(0, 15)), savings=float(0.30 * (i % 7) / 6)))
    return out


def _occupied(schedule: str, hour: np.ndarray, kind: np.ndarray) -> np.ndarray:
    work = kind == DayType.WORKDAY.value
    sat = kind == DayType.SATURDAY.value
    if schedule == "office":
        return work & (hour >= 8) & (hour < 19)
    if schedule == "retail":
        return (kind != DayType.HOLIDAY.value) & (hour >= 10) & (hour < 21)
    if schedule == "two_shift":
        return (work | sat) & (hour >= 6) & (hour < 22)
    return work | (sat & (hour < 14))


def make_meter(spec: MeterSpec, years: int = 2) -> tuple[pd.Series, pd.Series, str]:
    """Return (hourly energy [kWh] by interval start, hourly temperature [°C], time zone).

    ``years`` years from ``START``; savings apply from the second year on.
    """
    rng = np.random.default_rng(spec.seed)
    tz = COUNTRY_ZONES[spec.country]
    start = START.tz_localize(tz).tz_convert("UTC")
    end = (START + pd.DateOffset(years=years)).tz_localize(tz).tz_convert("UTC")
    hours = pd.date_range(start, end, freq="h", inclusive="left")
    local = hours.tz_convert(tz)
    days = local.normalize().tz_localize(None)
    uniq, inv = np.unique(days.to_numpy(), return_inverse=True)
    n_days = len(uniq)
    doy = pd.DatetimeIndex(uniq).day_of_year.to_numpy()
    phase = 200 if spec.country in SOUTH else 20
    anomaly = np.zeros(n_days)
    for d in range(1, n_days):  # AR(1) weather: persistent warm and cold spells
        anomaly[d] = 0.7 * anomaly[d - 1] + rng.normal(0, 2.2)
    daily_t = spec.mean_c - spec.amplitude_c * np.cos(2 * np.pi * (doy - phase) / 365.25)
    hour = local.hour.to_numpy()
    temp = (daily_t + anomaly)[inv] - 4.0 * np.cos(2 * np.pi * (hour - 3) / 24)
    kind = np.array([day_type(pd.Timestamp(d).date(), (), spec.country).value
                     for d in uniq], dtype=object)[inv]
    occ = _occupied(spec.schedule, hour, kind)
    base = np.where(occ, 100.0, 35.0)
    weight = np.where(occ, 1.0, 0.35)
    heat = 4.0 * np.maximum(15.0 - temp, 0) if spec.load in ("heating", "both") else 0.0
    cool = 6.0 * np.maximum(temp - 21.0, 0) if spec.load in ("cooling", "both") else 0.0
    load = base + weight * (heat + cool)
    day_noise = rng.normal(0, spec.noise / 3, n_days)[inv]
    energy = load * (1 + rng.normal(0, spec.noise, len(hours))) * (1 + day_noise)
    reporting = hours >= (START + pd.DateOffset(years=1)).tz_localize(tz).tz_convert("UTC")
    energy = np.where(reporting, energy * (1 - spec.savings), energy)
    if spec.gap_days:  # whole missing days, in both years
        missing = rng.choice(n_days, spec.gap_days, replace=False)
        energy = np.where(np.isin(inv, missing), np.nan, energy)
    return (pd.Series(energy, index=hours, name="energy_kwh"),
            pd.Series(temp, index=hours, name="temp_air_c"), tz)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One meter's estimate against the truth. [kWh]"""

    spec: MeterSpec
    granularity: str
    true_kwh: float
    estimate_kwh: float
    lower_kwh: float
    upper_kwh: float
    counterfactual_kwh: float
    seconds: float

    @property
    def covered(self) -> bool:
        """True when the interval holds the true savings."""
        return self.lower_kwh <= self.true_kwh <= self.upper_kwh


def evaluate(spec: MeterSpec, granularity: str, options: BaselineOptions | None = None
             ) -> Outcome:
    """Fit the baseline year, estimate the reporting year's savings, compare with the truth."""
    energy, temp, tz = make_meter(spec)
    full = BaselineData.from_series(energy, temp, granularity=granularity,  # type: ignore[arg-type]
                                    tz=tz, timestamp_marks="start", force=True)
    mid = (START + pd.DateOffset(years=1)).tz_localize(tz).tz_convert("UTC").to_pydatetime()
    t0 = time.perf_counter()
    base = full.slice(full.start, mid, purpose="baseline", force=True)
    rep = full.slice(mid, full.end, purpose="reporting", force=True)
    opts = options or BaselineOptions(country=spec.country, shutdowns=())
    res = run_savings(base, rep, opts, cv_folds=0)
    e = res.estimate
    true = spec.savings / (1 - spec.savings) * e.reporting_observed_kwh
    return Outcome(spec, granularity, true, e.savings_kwh, e.savings_kwh_lower,
                   e.savings_kwh_upper, e.reporting_observed_kwh + true,
                   time.perf_counter() - t0)


@dataclass(frozen=True, slots=True)
class Summary:
    """Accuracy over a set of meters."""

    granularity: str
    meters: int
    bias: float
    """Σ(estimate − truth) ÷ Σ truth over meters with savings > 0."""
    spread: float
    """Standard deviation of (estimate − truth) ÷ counterfactual use."""
    coverage: float
    """Share of meters whose interval holds the truth."""
    median_seconds: float


def summarise(outcomes: list[Outcome]) -> Summary:
    """Return bias, spread and coverage of ``outcomes`` (one granularity)."""
    pos = [o for o in outcomes if o.spec.savings > 0]
    err = sum(o.estimate_kwh - o.true_kwh for o in pos)
    bias = err / sum(o.true_kwh for o in pos) if pos else math.nan
    rel = np.array([(o.estimate_kwh - o.true_kwh) / o.counterfactual_kwh for o in outcomes])
    return Summary(outcomes[0].granularity, len(outcomes), float(bias),
                   float(rel.std(ddof=1)) if len(rel) > 1 else math.nan,
                   float(np.mean([o.covered for o in outcomes])),
                   float(np.median([o.seconds for o in outcomes])))


def main(argv: list[str] | None = None) -> int:
    """Run the validation and print Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=50)
    ap.add_argument("--granularity", nargs="+", default=["daily", "hourly"])
    ap.add_argument("--detail", action="store_true", help="print every meter")
    args = ap.parse_args(argv)
    silence_stan()
    meters = specs(args.meters)
    print(f"## validate: {len(meters)} synthetic meters with known savings\n")
    print("| model | meters | bias of savings | error spread (of use) | 90 % coverage "
          "| median s/meter |\n|---|---:|---:|---:|---:|---:|")
    rows = []
    for gran in args.granularity:
        outcomes = [evaluate(s, gran) for s in meters]
        rows.append(outcomes)
        s = summarise(outcomes)
        print(f"| {gran} | {s.meters} | {s.bias:+.1%} | {s.spread:.2%} | {s.coverage:.0%} "
              f"| {s.median_seconds:.2f} |", flush=True)
    if args.detail:
        print("\n| granularity | meter | true kWh | estimate kWh | interval | covered |\n"
              "|---|---|---:|---:|---|---|")
        for outcomes in rows:
            for o in outcomes:
                sp = o.spec
                print(f"| {o.granularity} | {sp.country} {sp.load} {sp.schedule} "
                      f"{sp.mean_c:.0f}°C noise {sp.noise:.0%} s={sp.savings:.0%} | "
                      f"{o.true_kwh:,.0f} | {o.estimate_kwh:,.0f} | {o.lower_kwh:,.0f} … "
                      f"{o.upper_kwh:,.0f} | {'yes' if o.covered else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
