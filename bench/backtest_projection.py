"""Backtest of the projection intervals: hold out the rest of a fiscal year, project it.

Synthetic scopes (``bench.validate`` meters without savings or gaps: climates, schedules
and calendars of eight countries, hourly noise, summed to daily totals) get three
fiscal years of data (FY2023-FY2025, from April). For every cut ``as_of`` on the first of
a month in FY2024, the history before the cut is projected with
``forecasting.projection.project`` for the current fiscal year (FY2024, 1-12 months to go)
and the next (FY2025, 13-24 months ahead), and the true fiscal-year totals are compared
with P10 and P90. Reported per horizon (months from the cut to the end of the fiscal
year): the share of outcomes inside P10-P90 (target about 80 %) and the median width of
the band relative to the true total.

Run:

    .venv/bin/python bench/backtest_projection.py [--scopes 12] [--cuts 1 3 5 7 9 11]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.validate import START, make_meter, specs
from forecasting.baseline import BaselineOptions, silence_stan
from forecasting.data import BaselineData
from forecasting.projection import project, sample_quantiles
from greenpipe.fiscal import fiscal_year_bounds


@dataclass(frozen=True, slots=True)
class Trial:
    """One projected fiscal year against its true total. [t]"""

    scope: int
    horizon_months: int
    """Months from the cut to the end of the projected fiscal year."""
    p10: float
    p90: float
    truth: float

    @property
    def covered(self) -> bool:
        """True when P10 ≤ truth ≤ P90."""
        return self.p10 <= self.truth <= self.p90


def scope_history(i: int) -> BaselineData:
    """Three years of one synthetic scope as daily totals (kWh, read as kg by ``project``)."""
    # No gaps: a projected year counts every day, so the true total must too.
    spec = replace(specs(max(i + 1, 1), seed=7)[i], savings=0.0, gap_days=0)
    energy, temp, tz = make_meter(spec, years=3)
    return BaselineData.from_series(energy, temp, granularity="daily", tz=tz,
                                    timestamp_marks="start", force=True)


def backtest(scopes: int, cut_months: list[int], samples: int = 300) -> list[Trial]:
    """Project every scope from every cut; returns one trial per projected fiscal year."""
    trials = []
    for i in range(scopes):
        data = scope_history(i)
        tz = data.tz
        totals = {}
        for fy in (2024, 2025):
            a, b = fiscal_year_bounds(fy, tz)
            sel = (data.frame.index >= pd.Timestamp(a)) & (data.frame.index < pd.Timestamp(b))
            totals[fy] = float(data.frame.loc[sel, "energy_kwh"].sum()) / 1000
        for k in cut_months:
            cut = (START + pd.DateOffset(years=1, months=k)).tz_localize(tz).tz_convert("UTC")
            samples_by_fy, _obs, _meta = project(
                data, cut.to_pydatetime(), (2024, 2025),
                BaselineOptions(uncertainty_samples=samples, shutdowns=()))
            for fy, horizon in ((2024, 12 - k), (2025, 24 - k)):
                p10, _p50, p90 = sample_quantiles(samples_by_fy[fy])
                trials.append(Trial(i, horizon, p10, p90, totals[fy]))
    return trials


def main(argv: list[str] | None = None) -> int:
    """Run the backtest and print a Markdown table by horizon."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scopes", type=int, default=12)
    ap.add_argument("--cuts", type=int, nargs="+", default=[1, 3, 5, 7, 9, 11],
                    help="cut after this many months of FY2024")
    args = ap.parse_args(argv)
    silence_stan()
    trials = backtest(args.scopes, args.cuts)
    df = pd.DataFrame({"horizon": [t.horizon_months for t in trials],
                       "covered": [t.covered for t in trials],
                       "width": [(t.p90 - t.p10) / t.truth for t in trials]})
    print(f"## projection backtest: {args.scopes} synthetic scopes, cuts after "
          f"{args.cuts} months of FY2024\n")
    print("| months to FY end | projections | P10-P90 coverage | median band width |\n"
          "|---:|---:|---:|---:|")
    for h, g in df.groupby("horizon"):
        print(f"| {h} | {len(g)} | {g['covered'].mean():.0%} | {g['width'].median():.2%} |")
    cur, nxt = df[df.horizon <= 12], df[df.horizon > 12]
    print(f"\ncurrent fiscal year: {cur['covered'].mean():.0%} of {len(cur)}; next fiscal "
          f"year: {nxt['covered'].mean():.0%} of {len(nxt)}")
    return 0 if len(np.unique(df.horizon)) else 1


if __name__ == "__main__":
    sys.exit(main())
