"""Forecast (予測): projections per sector, model quality per site, savings per measure."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.i18n import fmt_date, fmt_number, fmt_pct, sector_label, t
from forecasting.metrics import ASHRAE_LIMITS
from greenpipe.fiscal import fy_label
from greenpipe.results import SavingsRecord

c = ui.ctx()
lang = c.lang
st.title(t("nav.forecast", lang))
records = data.forecasts(c)
savings = data.savings(c)
sites = c.cfg.sites_by_id()
zone = ZoneInfo(c.tz)


def _scope_label(scope: str, scope_id: str) -> str:
    if scope == "city":
        return t("sector.city", lang)
    if scope == "sector":
        return sector_label(scope_id, lang)
    return sites[scope_id].name if scope_id in sites else scope_id


def _scope_colour(scope: str, scope_id: str) -> str:
    if scope == "sector":
        return charts.SECTOR_COLOURS.get(scope_id, charts.SECTOR_COLOURS["unknown"])
    if scope == "site" and scope_id in sites:
        return charts.SECTOR_COLOURS[sites[scope_id].sector.value]
    return charts.SECTOR_COLOURS["city"]


def _limits(granularity: str) -> str:
    limits = ASHRAE_LIMITS.get(granularity)
    if limits is None:
        return "–"
    return f"≤ {limits[0] * 100:.0f}% / ±{limits[1] * 100:.0f}%"


def _verdict(r: SavingsRecord) -> str:
    """pass / fail against ASHRAE Guideline 14, or "–" with the reason when no model was fitted."""
    if _pct(r.cvrmse, 1) is None or _pct(r.nmbe, 2) is None:
        codes = ", ".join(w for w in r.warnings if w.startswith("data.")) or "data.no_data"
        return t("fc.no_verdict", lang, codes=codes)
    return t("fc.pass", lang) if r.passes_ashrae else t("fc.fail", lang)


def _pct(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value * 100, digits)


# ---- projections
st.subheader(t("fc.projection", lang))
_order = list(charts.SECTOR_COLOURS)
scopes = sorted(dict.fromkeys((r.scope, r.scope_id) for r in records
                              if r.scope in ("city", "sector")),
                key=lambda s: (s[0] != "city", _order.index(s[1]) if s[1] in _order else 99))
rows = [r for r in (data.forecast_for(records, s, i, c.fy) for s, i in scopes) if r]
if not rows:
    ui.empty("empty.forecast", lang)
else:
    labels = [_scope_label(r.scope, r.scope_id) for r in rows]
    ui.chart(charts.range_points(
        labels, [r.co2_t_p50 for r in rows], [r.co2_t_p10 for r in rows],
        [r.co2_t_p90 for r in rows], [_scope_colour(r.scope, r.scope_id) for r in rows],
        name=t("fc.p50_band", lang, fy=fy_label(c.fy, lang)), x_title=t("col.sector", lang),
        y_title=t("col.co2_t", lang), observed=[r.observed_co2_t for r in rows],
        observed_name=t("fc.observed", lang), marks=[r.trajectory_co2_t for r in rows],
        marks_name=t("fc.path", lang)), "fc_projection")
    ui.table(pd.DataFrame({
        t("col.sector", lang): labels,
        t("fc.p50", lang): [fmt_number(r.co2_t_p50, lang) for r in rows],
        "P10–P90 [t]": [f"{fmt_number(r.co2_t_p10, lang)}–{fmt_number(r.co2_t_p90, lang)}"
                        if math.isfinite(r.co2_t_p10) else "–" for r in rows],
        t("fc.path", lang): [fmt_number(r.trajectory_co2_t, lang) for r in rows],
        t("fc.gap", lang): [fmt_number(r.gap_co2_t, lang) for r in rows],
        t("ov.probability", lang): [fmt_pct(None if r.probability_meeting is None
                                            else r.probability_meeting * 100, lang, 0)
                                    for r in rows],
        t("col.target_fy", lang): [fy_label(r.target_fy, lang) if r.target_fy else "–"
                                   for r in rows],
        t("fc.warnings", lang): [", ".join(r.warnings) for r in rows],
    }), "fc_projection_table")

# ---- the configured targets and the straight-line path each scope must follow
st.subheader(t("fc.targets", lang))
if not c.cfg.targets:
    ui.empty("empty.targets", lang)
else:
    ui.table(pd.DataFrame({
        t("col.sector", lang): [_scope_label(tg.scope, tg.id) for tg in c.cfg.targets],
        t("col.target", lang): [tg.name or f"-{tg.reduction_pct:g}%" for tg in c.cfg.targets],
        t("col.base_fy", lang): [fy_label(tg.base_fy, lang) for tg in c.cfg.targets],
        t("col.base_t", lang): [fmt_number(tg.base_co2_t, lang) for tg in c.cfg.targets],
        t("col.target_fy", lang): [fy_label(tg.target_fy, lang) for tg in c.cfg.targets],
        t("col.allowed_t", lang, fy=fy_label(c.fy, lang)): [
            fmt_number(summaries.straight_line_target_t(tg.base_co2_t, tg.base_fy,
                                                        tg.target_fy, tg.reduction_pct, c.fy),
                       lang) for tg in c.cfg.targets],
    }), "fc_targets")

# ---- model quality (ASHRAE Guideline 14: CV(RMSE) and NMBE limits by resolution)
st.subheader(t("fc.quality", lang))
if not savings:
    ui.empty("empty.forecast", lang)
else:
    quality = pd.DataFrame({
        t("col.site", lang): [sites[r.site_id].name if r.site_id in sites else r.site_id
                              for r in savings],
        t("col.meter", lang): [r.meter_id for r in savings],
        # Text cells: a model that could not be fitted shows "–", never a raw None.
        t("col.cvrmse", lang): [fmt_number(_pct(r.cvrmse, 1), lang, 1) for r in savings],
        t("col.nmbe", lang): [fmt_number(_pct(r.nmbe, 2), lang, 2) for r in savings],
        t("fc.granularity", lang): [r.granularity for r in savings],
        t("fc.limits", lang): [_limits(r.granularity) for r in savings],
        t("col.result", lang): [_verdict(r) for r in savings],
    })
    ui.table(quality, "fc_quality")

# ---- savings per measure
st.subheader(t("fc.savings", lang))
measured = [r for r in savings if r.measure_id]
if not measured:
    ui.empty("empty.forecast", lang)
else:
    by_id = {m.id: m for m in c.cfg.measures}
    names = [by_id[r.measure_id].description or r.measure_id if r.measure_id in by_id
             else r.measure_id for r in measured]
    colours = [charts.SECTOR_COLOURS[sites[r.site_id].sector.value] if r.site_id in sites
               else charts.SECTOR_COLOURS["unknown"] for r in measured]
    ui.chart(charts.range_points(
        [r.measure_id for r in measured], [r.savings_kwh / 1000 for r in measured],
        [r.savings_kwh_lower / 1000 for r in measured],
        [r.savings_kwh_upper / 1000 for r in measured], colours,
        name=t("col.savings", lang), x_title=t("col.measure", lang),
        y_title=t("col.savings_mwh", lang)), "fc_savings")
    ui.table(pd.DataFrame({
        t("col.measure", lang): names,
        t("col.meter", lang): [r.meter_id for r in measured],
        t("fc.period", lang): [f"{fmt_date(r.reporting_start.astimezone(zone).date(), lang)} – "
                               f"{fmt_date(r.reporting_end.astimezone(zone).date(), lang)}"
                               for r in measured],
        t("col.savings_kwh", lang): [fmt_number(r.savings_kwh, lang) for r in measured],
        t("fc.interval", lang, pct=f"{measured[0].interval_level * 100:.0f}"): [
            f"{fmt_number(r.savings_kwh_lower, lang)} – {fmt_number(r.savings_kwh_upper, lang)}"
            for r in measured],
        t("fc.savings_pct", lang): [fmt_pct(r.savings_kwh / r.reporting_predicted_kwh * 100
                                            if r.reporting_predicted_kwh else None, lang)
                                    for r in measured],
        t("col.co2_t", lang): [fmt_number(None if r.avoided_co2_kg is None
                                          else r.avoided_co2_kg / 1000, lang, 1)
                               for r in measured],
    }), "fc_savings_table")
