"""The residents' progress page's data: city and sector figures only, never a site.

``public_progress`` reads through ``dashboard.data`` with the full scope (it needs every
site to total the city) and returns a ``PublicProgress`` holding numbers, dates and sector
codes and nothing else, so the page cannot show a company or site name even by mistake.
A sector bar is shown only where at least ``access.MIN_OTHER_SITES`` sites of at least two
organisations contribute, the rule companies get (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from dashboard import data, summaries
from greenpipe import access
from greenpipe.fiscal import fiscal_year_bounds, fiscal_year_fraction


@dataclass(frozen=True, slots=True)
class SectorBar:
    """One sector's emissions this FY to date, and what its target path allows."""

    sector: str
    co2_t: float
    """FY-to-date emissions of the sector's consuming meters. [t-CO2]"""
    budget_t: float | None
    """The sector target's straight-line allowance to date (None: no target). [t-CO2]"""


@dataclass(frozen=True, slots=True)
class PublicProgress:
    """Everything the public page shows: city totals, the city path, sector bars."""

    fy: int
    co2_t: float
    """City emissions, FY to date. [t-CO2]"""
    budget_t: float | None
    """What the city target's straight-line path allows so far. [t-CO2]"""
    target_fy: int | None
    reduction_pct: float | None
    """The nearest city target's reduction from its base year. [%]"""
    path_fy_t: float | None
    """The path's allowance for the whole fiscal year. [t-CO2]"""
    cumulative: tuple[tuple[date, float], ...]
    """Local day and cumulative city emissions since 1 April. [t-CO2]"""
    fy_first_day: date
    fy_last_day: date
    pv_mwh: float
    """PV generation, FY to date. [MWh]"""
    pv_avoided_t: float
    """PV generation × grid factor. [t-CO2]"""
    measures_avoided_t: float
    """Verified avoided emissions of the declared measures (newest forecast run). [t-CO2]"""
    sectors: tuple[SectorBar, ...]
    suppressed: tuple[str, ...]
    """Target sectors not shown because too few sites or organisations contribute."""


def sector_bars(use: pd.DataFrame, owners: Mapping[str, str], budgets: Mapping[str, float | None],
                min_sites: int = access.MIN_OTHER_SITES) -> tuple[list[SectorBar], list[str]]:
    """Per target sector (public counts as commercial): emissions, or suppressed.

    ``use`` is a ``data.meter_days`` frame of consuming meters (``site``, ``sector``,
    ``co2_kg``). A sector is suppressed when fewer than ``min_sites`` sites, or sites of
    only one organisation (``owners``), contribute.
    """
    grouped = use.assign(target=use["sector"].map(summaries.sector_for_target))
    bars, suppressed = [], []
    for sector, part in grouped.groupby("target", sort=True):
        sites = set(part.loc[part["energy_kwh"].fillna(0) > 0, "site"])
        if len(sites) < min_sites or len({owners.get(s, s) for s in sites}) < 2:
            suppressed.append(str(sector))
            continue
        bars.append(SectorBar(str(sector), float(part["co2_kg"].sum()) / 1000.0,
                              budgets.get(str(sector))))
    return bars, suppressed


def public_progress(ctx: data.Ctx) -> PublicProgress:
    """Compute the public page's figures for the fiscal year containing ``ctx.as_of``."""
    full = replace(ctx, scope=access.FULL)  # aggregated to city and sector level below
    start, end = data.fiscal_ytd(full)
    now = data.meter_days(full, start, end)
    use = now[now["kind"] != "pv"]
    fraction = fiscal_year_fraction(ctx.as_of, ctx.tz)
    target = summaries.nearest_target(ctx.cfg.targets, "city", None, ctx.fy)
    headline = summaries.progress(now, None, None if target is None else
                                  summaries.path_to_date_t(target, ctx.fy, fraction))
    daily = use.groupby("day")["co2_kg"].sum().sort_index().cumsum() / 1000.0
    zone = ZoneInfo(ctx.tz)
    fy_start, fy_end = fiscal_year_bounds(ctx.fy, ctx.tz)
    budgets = {}
    for sector in {summaries.sector_for_target(s.sector.value) for s in ctx.cfg.sites}:
        tg = summaries.nearest_target(ctx.cfg.targets, "sector", sector, ctx.fy)
        budgets[sector] = None if tg is None else summaries.path_to_date_t(tg, ctx.fy, fraction)
    bars, suppressed = sector_bars(use, access.site_owners(ctx.cfg), budgets)
    measured = [r for r in data.savings(full) if r.measure_id and r.avoided_co2_kg is not None]
    return PublicProgress(
        fy=ctx.fy, co2_t=headline.co2_t, budget_t=headline.budget_t,
        target_fy=None if target is None else target.target_fy,
        reduction_pct=None if target is None else target.reduction_pct,
        path_fy_t=None if target is None else summaries.path_to_date_t(target, ctx.fy, 1.0),
        cumulative=tuple((d, float(v)) for d, v in daily.items()),
        fy_first_day=fy_start.astimezone(zone).date(),
        fy_last_day=(fy_end.astimezone(zone) - timedelta(days=1)).date(),
        pv_mwh=headline.pv_mwh, pv_avoided_t=headline.pv_avoided_t,
        measures_avoided_t=sum(r.avoided_co2_kg or 0.0 for r in measured) / 1000.0,
        sectors=tuple(bars), suppressed=tuple(suppressed))
