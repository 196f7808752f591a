"""Build the statutory reports from the Store and the config (the orchestration layer).

``build_reports(cfg, store, fy, company=None, site=None)`` reads energy per meter and local
month (the stores' monthly rollups) and production per site for the fiscal years
``fy − 4 … fy`` (the 5-year intensity window) and returns a ``ReportSet``: one
``SiteReport`` per reported site, one ``CompanyReport`` per company (a site that belongs to
no declared company is its own company, id ``site:<id>``), the totals and the named
warnings. Nothing is scaled: a fiscal year with fewer than 12
months of data is reported as it is and marked partial.

Warning codes (stable): ``report.production_missing``, ``report.unknown_unit``,
``report.mixed_units``, ``report.partial_year``, ``report.short_history``,
``report.no_energy_meters``, ``energy_act.factor_unknown``,
``ghg.retailer_without_factors``, ``report.class_c_not_assessed``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

from greenpipe.config import Config, SiteReporting
from greenpipe.emissions import FactorTable, load_factors
from greenpipe.energy_factors import ConversionFactor, ConversionTable, load_conversions
from greenpipe.errors import GreenpipeError
from greenpipe.fiscal import fiscal_year_bounds
from greenpipe.model import MeterKind
from reports import energy_act as ea
from reports.ghg import Co2Figure, co2_t, source_of_kind

HISTORY_YEARS = 5
"""The Energy Conservation Act judges intensity over 5 fiscal years."""


@dataclass(frozen=True, slots=True)
class ReportWarning:
    """A named finding shown in the report and on the page (never a traceback)."""

    code: str
    scope: str
    """``site:<id>``, ``company:<id>`` or ``report``."""
    message: str


@dataclass
class SiteYear:
    """One site in one fiscal year."""

    fy: int
    months_with_data: int
    energy_kwh: dict[str, float] = field(default_factory=dict)
    """Metered energy per energy type. [kWh]"""
    energy_gj_by_type: dict[str, float | None] = field(default_factory=dict)
    """Per energy type; None when no factor applies. [GJ]"""
    production: float | None = None
    """Production in the year, in ``SiteReport.intensity_unit``'s numerator unit."""
    intensity: float | None = None
    """Intensity numerator GJ ÷ denominator. [GJ/unit]"""

    @property
    def partial(self) -> bool:
        """True with fewer than 12 months holding data."""
        return self.months_with_data < 12

    @property
    def energy_gj(self) -> float:
        """Sum of the converted energy types (types without a factor are left out). [GJ]"""
        return sum(v for v in self.energy_gj_by_type.values() if v is not None)


@dataclass
class SiteReport:
    """Energy Conservation Act and SHK figures of one site for the report year."""

    site_id: str
    name: str
    company_id: str
    fy: int
    reporting: SiteReporting
    intensity_unit: str
    years: dict[int, SiteYear]
    monthly: list[dict[str, Any]]
    energy_gj: float
    crude_oil_kl: float
    intensity: float | None
    yoy_change_pct: float | None
    intensity_5y_avg_change_pct: float | None
    avg_years: int
    energy_class: str | None
    meets_target: bool | None
    nonfossil_share_pct: float | None
    nonfossil_gj: dict[str, float]
    co2: list[Co2Figure]
    co2_basic_t: float
    co2_adjusted_t: float
    warnings: list[ReportWarning]

    @property
    def partial(self) -> bool:
        """True when the report year has fewer than 12 months of data."""
        return self.years[self.fy].partial


@dataclass
class CompanyReport:
    """The company-wide 1,500 kL threshold test (weights not applied)."""

    company_id: str
    name: str
    site_ids: list[str]
    crude_oil_kl: float
    threshold_kl: float
    specified: bool
    """True when the company's crude-oil kL reaches the threshold."""
    partial: bool


@dataclass
class ReportSet:
    """Everything ``greenpipe report`` writes: sites, companies, totals, factors, warnings."""

    fy: int
    sites: list[SiteReport]
    companies: list[CompanyReport]
    factors: dict[str, dict[str, Any]]
    warnings: list[ReportWarning]
    tz: str

    def total(self) -> dict[str, Any]:
        """Return the totals over the reported sites (intensity only with one unit)."""
        units = {s.intensity_unit for s in self.sites}
        gj = sum(s.energy_gj for s in self.sites)
        cur = [s.years[self.fy] for s in self.sites]
        intensity = None
        if len(units) == 1 and cur and all(y.intensity is not None and y.production
                                           for y in cur):
            # Sum of numerators over sum of denominators, not a mean of ratios.
            intensity = (sum(float(y.intensity or 0.0) * float(y.production or 0.0) for y in cur)
                         / sum(float(y.production or 0.0) for y in cur))
        return {"energy_gj": gj, "crude_oil_kl": sum(s.crude_oil_kl for s in self.sites),
                "intensity": intensity,
                "intensity_unit": next(iter(units)) if len(units) == 1 else None,
                "intensity_5y_avg_change_pct": None, "class": None,
                "co2_basic_t": sum(s.co2_basic_t for s in self.sites),
                "co2_adjusted_t": sum(s.co2_adjusted_t for s in self.sites),
                "partial": any(s.partial for s in self.sites)}


def _company_of(cfg: Config) -> dict[str, tuple[str, str]]:
    out = {}
    for c in cfg.companies:
        for sid in c.sites:
            out[sid] = (c.id, c.name or c.id)
    return out


def _select_sites(cfg: Config, company: str | None, site: str | None) -> list[str]:
    sites = [s.id for s in cfg.sites]
    if site is not None:
        if site not in sites:
            raise GreenpipeError(f"--site {site!r}: no such site; known sites: "
                                 f"{', '.join(sites)}")
        return [site]
    if company is not None:
        comp = next((c for c in cfg.companies if c.id == company), None)
        if comp is None:
            known = ", ".join(c.id for c in cfg.companies) or "(none declared)"
            raise GreenpipeError(f"--company {company!r}: no such company; known: {known}. "
                                 "Declare it under [[companies]]")
        return list(comp.sites)
    return sites


def _factor_meta(factors: dict[str, dict[str, Any]], key: str, f: ConversionFactor) -> None:
    factors[key] = {"value": f.value, "unit": f.unit, "first_fy": f.fiscal_year,
                    "verified": f.verified, "source": f.source}


def build_reports(cfg: Config, store: Any, fy: int, *, company: str | None = None,
                  site: str | None = None, conversions: ConversionTable | None = None,
                  emission_table: FactorTable | None = None, rollups: bool = True) -> ReportSet:
    """Read the store and build the reports of fiscal year ``fy`` (see module docstring).

    Energy is read per meter and local month (``Store.read_monthly``: the monthly rollups);
    ``rollups=False`` reads per meter and day from the raw read path instead (the same
    figures, up to float rounding, in a zone without DST; kept for comparison and the
    benchmark).
    """
    conv = conversions or load_conversions()
    table = emission_table or load_factors(overrides=cfg.emission_factors)
    tz = cfg.city.timezone
    site_ids = _select_sites(cfg, company, site)
    sites_by_id = cfg.sites_by_id()
    reporting = {r.site: r for r in cfg.site_reporting}
    companies = _company_of(cfg)
    start, _ = fiscal_year_bounds(fy - HISTORY_YEARS + 1, tz)
    _, end = fiscal_year_bounds(fy, tz)
    # Day buckets aligned to local midnight of the first FY start (exact for zones without
    # DST such as Asia/Tokyo; with DST a day bucket is off by the DST hour for part of the year).
    offset = timedelta(seconds=start.timestamp() % 86400)
    # Every site: no site filter (on InfluxDB a 200-way OR of tags costs more than the
    # points it selects); rows of meters the config lacks are left out per site below.
    wanted = None if rollups and set(site_ids) == set(sites_by_id) else site_ids
    if rollups:
        # Per meter and local month: every figure below is a sum over months, and a month
        # holds data exactly when one of its days does (docs/storage.md, read_monthly).
        energy = store.read_monthly(start, end, tz=tz, group_by="meter", sites=wanted)
    else:
        energy = store.read(start, end, timedelta(days=1), group_by="meter", sites=site_ids,
                            offset=offset)
    production = store.read_production(start, end, timedelta(days=1), sites=wanted,
                                       offset=offset)
    energy_by_site = _by_site(energy, {m.id: m.site for m in cfg.meters}, tz)
    production_by_site = _by_site(production, production["site"], tz)
    factors: dict[str, dict[str, Any]] = {}
    warnings: list[ReportWarning] = []
    thresholds = {t.id: t.value for t in conv.thresholds}
    for t in conv.thresholds:
        factors[f"threshold.{t.id}"] = {"value": t.value, "unit": t.unit,
                                        "verified": t.verified, "source": t.source}
    reports = []
    for sid in site_ids:
        rep = _site_report(cfg, sid, sites_by_id[sid].name, reporting.get(sid, SiteReporting(sid)),
                           companies.get(sid, (f"site:{sid}", sites_by_id[sid].name))[0], fy,
                           energy_by_site, production_by_site, conv, table, thresholds,
                           factors, tz)
        if rep is None:
            warnings.append(ReportWarning(
                "report.no_energy_meters", f"site:{sid}",
                f"site {sid} has no energy meters counted by the Act (only weather, production "
                "or exported PV); it is left out of the report"))
            continue
        reports.append(rep)
        warnings += rep.warnings
    comp_reports = _company_reports(cfg, reports, companies, conv, fy, thresholds)
    return ReportSet(fy=fy, sites=reports, companies=comp_reports, factors=factors,
                     warnings=warnings, tz=tz)


def _local_months(buckets: pd.Series, tz: str) -> pd.DataFrame:
    """Fiscal year and local month (``YYYY-MM``) of day-bucket labels (local midnights).

    Computed once per distinct label (a city's frame repeats each month per meter)."""
    uniq = pd.Series(pd.unique(buckets))
    local = pd.to_datetime(uniq).dt.tz_convert(tz)
    fy = dict(zip(uniq, local.dt.year.where(local.dt.month >= 4, local.dt.year - 1),
                  strict=True))
    month = dict(zip(uniq, local.dt.strftime("%Y-%m"), strict=True))
    return pd.DataFrame({"fy": buckets.map(fy).to_numpy(),
                         "month": buckets.map(month).to_numpy()}, index=buckets.index)


def _by_site(frame: pd.DataFrame, site_of: pd.Series | dict[str, str], tz: str
             ) -> dict[str, pd.DataFrame]:
    """``frame`` with ``fy`` and ``month`` added, split per site (``site_of`` maps the
    ``meter`` column to sites, or is the frame's ``site`` column), so each site's report
    reads its own rows instead of filtering the city's."""
    if frame.empty:
        return {}
    frame = frame.copy()
    frame[["fy", "month"]] = _local_months(frame["bucket"], tz)
    sites = frame["meter"].map(site_of) if isinstance(site_of, dict) else site_of
    return {str(sid): part for sid, part in frame.groupby(sites, sort=False)}


_EMPTY_PRODUCTION = pd.DataFrame({c: pd.Series(dtype="object") for c in (
    "meter", "site", "bucket", "quantity", "records", "fy", "month")})


def _site_report(cfg: Config, sid: str, name: str, rep: SiteReporting, company_id: str, fy: int,
                 energy: dict[str, pd.DataFrame], production: dict[str, pd.DataFrame],
                 conv: ConversionTable,
                 table: FactorTable, thresholds: dict[str, float],
                 factors: dict[str, dict[str, Any]], tz: str) -> SiteReport | None:
    warnings: list[ReportWarning] = []
    scope = f"site:{sid}"
    meters = [m for m in cfg.meters if m.site == sid]
    kinds = {m.id: m.kind.value for m in meters}
    energy_meters = {mid: k for mid, k in kinds.items() if k in ea.KIND_TO_TYPE
                     and not (k == "pv" and rep.pv_exported)}
    if not energy_meters:
        return None
    mine = energy.get(sid)
    if mine is None:
        mine = pd.DataFrame({c: pd.Series(dtype="object") for c in (
            "meter", "bucket", "energy_kwh", "fy", "month")})
    frame = mine[mine["meter"].isin(list(energy_meters))].copy()
    frame["type"] = frame["meter"].map(lambda m: ea.KIND_TO_TYPE[energy_meters[m]])
    frame["kind"] = frame["meter"].map(energy_meters)
    # Production: the site's configured production meters; stored ones the config lacks
    # have no known unit.
    prod_meters = {m.id: m.unit for m in meters if m.kind == MeterKind.PRODUCTION}
    pframe = production.get(sid, _EMPTY_PRODUCTION).copy()
    unknown = sorted(set(pframe["meter"]) - set(prod_meters))
    if unknown:
        warnings.append(ReportWarning(
            "report.unknown_unit", scope,
            f"stored production of meter(s) {', '.join(unknown)} has no configured unit; "
            "declare them as [[meters]] kind = \"production\" with a unit. Left out"))
        pframe = pframe[pframe["meter"].isin(list(prod_meters))]
    units = sorted(set(prod_meters.values()))
    if rep.intensity_denominator == "floor_area":
        intensity_unit = "GJ/m2"
    elif len(units) > 1:
        warnings.append(ReportWarning(
            "report.mixed_units", scope,
            f"production meters of {sid} use different units ({', '.join(units)}); they "
            "cannot be added, so intensity is not computed. Use one unit per site"))
        intensity_unit = "GJ/?"
        pframe = pframe.iloc[0:0]
    else:
        intensity_unit = f"GJ/{units[0]}" if units else "GJ/?"
    years: dict[int, SiteYear] = {}
    for y in range(fy - HISTORY_YEARS + 1, fy + 1):
        fr = frame[frame["fy"] == y]
        sy = SiteYear(fy=y, months_with_data=int(fr["month"].nunique()))
        for etype in ea.ENERGY_TYPES:
            sel = fr[fr["type"] == etype]
            if sel.empty and etype not in set(frame["type"]):
                continue
            kwh = float(sel["energy_kwh"].sum())
            g = ea.energy_gj(etype, kwh, y, conv)
            sy.energy_kwh[etype] = kwh
            sy.energy_gj_by_type[etype] = g.gj
            if g.factor is not None and y == fy:
                _factor_meta(factors, f"energy_act.{g.factor.id}@FY{y}", g.factor)
            if g.gj is None and y == fy and kwh > 0 and etype != "pv_self_consumption":
                warnings.append(ReportWarning(
                    "energy_act.factor_unknown", scope,
                    f"{etype} of {sid} ({kwh:,.0f} kWh in FY{y}) has no verified conversion "
                    "factor in greenpipe/data/energy_factors.toml; it is left out of GJ/kL"))
            elif g.gj is None and y == fy and kwh > 0:
                warnings.append(ReportWarning(
                    "energy_act.factor_unknown", scope,
                    f"own PV of {sid} is not energy under the Act before FY2023; "
                    f"{kwh:,.0f} kWh left out"))
        pr = pframe[pframe["fy"] == y] if not pframe.empty else pframe
        num = ea.intensity_numerator_gj(sy.energy_gj, 0.0, conv, y)
        if rep.intensity_denominator == "floor_area":
            area = float(rep.floor_area_m2 or 0.0)  # validated > 0 in config
            sy.production = area
            sy.intensity = num / area if sy.months_with_data else None
        elif not pr.empty and float(pr["quantity"].sum()) > 0 and sy.months_with_data:
            sy.production = float(pr["quantity"].sum())
            sy.intensity = num / sy.production
        years[y] = sy
    cur = years[fy]
    if cur.months_with_data == 0:
        warnings.append(ReportWarning("report.partial_year", scope,
                                      f"{sid} has no energy data in FY{fy}"))
    elif cur.partial:
        warnings.append(ReportWarning(
            "report.partial_year", scope,
            f"FY{fy} of {sid} holds {cur.months_with_data} of 12 months of data; figures are "
            "for those months only (partial, not scaled up)"))
    if rep.intensity_denominator == "production" and cur.intensity is None:
        why = ("no production meter is configured" if not prod_meters
               else "no production is stored for FY" + str(fy))
        warnings.append(ReportWarning(
            "report.production_missing", scope,
            f"intensity of {sid} needs production but {why}; add a [[meters]] kind = "
            "\"production\" and publish or import it (greenpipe import production), or set "
            "intensity_denominator = \"floor_area\" for an office"))
    # History: the longest run of consecutive COMPLETE years with an intensity, ending at
    # fy. A partial year's intensity covers other months than a full one, so it never
    # enters a change, an average or a class.
    def complete(y: int) -> float | None:
        return None if years[y].partial else years[y].intensity

    hist: list[float | None] = []
    for y in range(fy, fy - HISTORY_YEARS, -1):
        if complete(y) is None:
            break
        hist.insert(0, complete(y))
    avg = ea.avg_change_pct(hist)
    yoys = [ea.yoy_change_pct(complete(y), complete(y - 1))
            for y in range(fy - HISTORY_YEARS + 2, fy + 1)]
    if 2 <= len(hist) < HISTORY_YEARS:
        warnings.append(ReportWarning(
            "report.short_history", scope,
            f"the average intensity change of {sid} covers {len(hist)} complete fiscal "
            f"years, not {HISTORY_YEARS}; the class is indicative"))
    elif len(hist) < 2 and cur.intensity is not None:
        warnings.append(ReportWarning(
            "report.short_history", scope,
            f"{sid} has {len(hist)} complete fiscal year(s) of intensity up to FY{fy}; the "
            "change and the class need at least 2 (partial years never count)"))
    klass = ea.energy_class(avg, yoys, thresholds)
    if klass == "B":
        warnings.append(ReportWarning(
            "report.class_c_not_assessed", scope,
            "class C is a subset of B decided by METI on compliance with the judgement "
            "criteria, which meter data cannot assess"))
    # Non-fossil share (2023 revision): own PV x1.2; purchased electricity's menu share.
    pv_gj = cur.energy_gj_by_type.get("pv_self_consumption") or 0.0
    purchased_gj = cur.energy_gj_by_type.get("electricity_purchased") or 0.0
    frac = ea.purchased_nonfossil_fraction(rep.nonfossil_certificate_pct, conv, fy)
    purchased_nf = purchased_gj * frac if frac is not None else 0.0
    share = ea.nonfossil_share_pct(cur.energy_gj, pv_gj, purchased_nf, conv, fy)
    for fid in ("nonfossil_grid_share", "nonfossil_electricity_share_weight",
                "nonfossil_fuel_intensity_weight", "crude_oil_kl_per_gj"):
        f = conv.lookup(fid, fy)
        if f is not None:
            _factor_meta(factors, f"energy_act.{fid}@FY{fy}", f)
    co2 = _co2(cfg, sid, rep, fy, frame[frame["fy"] == fy], table, factors, warnings, scope)
    monthly = _monthly(frame[frame["fy"] == fy], pframe[pframe["fy"] == fy] if not pframe.empty
                       else pframe, rep, conv, fy)
    return SiteReport(
        site_id=sid, name=name, company_id=company_id, fy=fy, reporting=rep,
        intensity_unit=intensity_unit, years=years, monthly=monthly,
        energy_gj=cur.energy_gj, crude_oil_kl=ea.crude_oil_kl(cur.energy_gj, conv, fy),
        intensity=cur.intensity,
        yoy_change_pct=ea.yoy_change_pct(complete(fy), complete(fy - 1)),
        intensity_5y_avg_change_pct=avg, avg_years=len(hist), energy_class=klass,
        meets_target=None if avg is None else avg <= -thresholds["intensity_target_pct_per_year"],
        nonfossil_share_pct=share,
        nonfossil_gj={"pv_self_consumption": pv_gj, "purchased_nonfossil": purchased_nf},
        co2=co2, co2_basic_t=sum(c.co2_t for c in co2 if c.basis == "basic"),
        co2_adjusted_t=sum(c.co2_t for c in co2 if c.basis == "adjusted"),
        warnings=warnings)


def _co2(cfg: Config, sid: str, rep: SiteReporting, fy: int, frame: pd.DataFrame,
         table: FactorTable, factors: dict[str, dict[str, Any]], warnings: list[ReportWarning],
         scope: str) -> list[Co2Figure]:
    region = cfg.sites_by_id()[sid].grid_region
    by_source: dict[str, float] = defaultdict(float)
    for kind, kwh in frame.groupby("kind")["energy_kwh"].sum().items():
        src = source_of_kind(str(kind))
        if src is not None:
            by_source[src] += float(kwh)
    out = []
    for src, kwh in sorted(by_source.items()):
        for basis in ("basic", "adjusted"):
            fig = co2_t(src, kwh, fy, basis, table, retailer=rep.retailer, menu=rep.menu,
                        grid_region=region)
            out.append(fig)
            label = (f"{rep.retailer}/{rep.menu or '-'}" if fig.retailer_specific
                     and src == "electricity" else region)
            factors[f"ghg.{src}.{label}.{basis}@FY{fig.factor_fy}"] = {
                "value": fig.ef_kg_per_kwh, "unit": "kg-CO2/kWh", "first_fy": fig.factor_fy,
                "source": fig.factor_source}
            if src == "electricity" and not fig.retailer_specific and basis == "basic":
                who = (f"retailer {rep.retailer!r} menu {rep.menu!r} has no factors in the "
                       "factor file" if rep.retailer
                       else "no retailer is declared (site_reporting.retailer)")
                warnings.append(ReportWarning(
                    "ghg.retailer_without_factors", scope,
                    f"{sid}: {who}; the national default "
                    f"{fig.ef_kg_per_kwh} kg-CO2/kWh (FY{fig.factor_fy}) is used. Add the "
                    "retailer's published factors with [[emission_factors]] retailer/menu"))
    return out


def _monthly(frame: pd.DataFrame, pframe: pd.DataFrame, rep: SiteReporting,
             conv: ConversionTable, fy: int) -> list[dict[str, Any]]:
    out = []
    for month, fr in frame.groupby("month"):
        gj = 0.0
        for etype, sel in fr.groupby("type"):
            g = ea.energy_gj(str(etype), float(sel["energy_kwh"].sum()), fy, conv)
            gj += g.gj or 0.0
        if rep.intensity_denominator == "floor_area":
            denom = rep.floor_area_m2
        else:
            p = pframe[pframe["month"] == month]["quantity"].sum() if not pframe.empty else 0.0
            denom = float(p) if p > 0 else None
        out.append({"month": str(month), "energy_gj": gj, "denominator": denom,
                    "intensity": gj / denom if denom else None})
    return out


def _company_reports(cfg: Config, reports: list[SiteReport], companies: dict[str, tuple[str, str]],
                     conv: ConversionTable, fy: int, thresholds: dict[str, float]
                     ) -> list[CompanyReport]:
    by_company: dict[str, list[SiteReport]] = defaultdict(list)
    for r in reports:
        by_company[r.company_id].append(r)
    limit = thresholds["specified_business_operator_kl"]
    names = {c.id: c.name or c.id for c in cfg.companies}
    out = []
    for cid, reps in by_company.items():
        # Threshold test: unweighted energy (no x0.8 / x1.2), every reported site of the company.
        kl = sum(r.crude_oil_kl for r in reps)
        out.append(CompanyReport(company_id=cid, name=names.get(cid, reps[0].name),
                                 site_ids=[r.site_id for r in reps], crude_oil_kl=kl,
                                 threshold_kl=limit, specified=kl >= limit,
                                 partial=any(r.partial for r in reps)))
    return out
