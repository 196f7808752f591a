"""Overview (概要): are we on track? Big numbers first, then sectors, then top emitters."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.i18n import axis_format, fmt_date, fmt_number, fmt_pct, sector_label, t
from greenpipe import access
from greenpipe.fiscal import fiscal_year_bounds, fiscal_year_fraction, fy_label

c = ui.ctx()
lang = c.lang
st.title(t("ov.header", lang, city=c.cfg.city.name, fy=fy_label(c.fy, lang)))
if not data.has_data(c):
    ui.empty("empty.store", lang)
    st.stop()


def _frames(lc: data.Ctx) -> tuple[pd.DataFrame, pd.DataFrame | None, summaries.Progress]:
    """This FY to date, last FY's same span (None when the store does not cover it)."""
    start, end = data.fiscal_ytd(lc)
    prev_start, prev_end = data.fiscal_ytd(lc, lc.fy - 1)
    now = data.sector_days(lc, start, end)
    # Compare with last FY only when the store covers all of last year's same span; a
    # partial year would show a fake jump.
    before = (data.sector_days(lc, prev_start, prev_end)
              if _since(lc) <= prev_start + timedelta(days=1) else None)
    # A company sees its own sites plus the unsuppressed merged totals, not the whole city:
    # comparing that with the city's target path would mislead, so it is not compared.
    target = (None if lc.scope.restricted
              else summaries.nearest_target(lc.cfg.targets, "city", None, lc.fy))
    budget = (None if target is None else
              summaries.path_to_date_t(target, lc.fy, fiscal_year_fraction(lc.as_of, lc.tz)))
    return now, before, summaries.progress(now, before, budget)


def _since(lc: data.Ctx) -> datetime:
    return min(m.first_ts for m in data.stats(lc).meters if m.first_ts is not None)


@st.fragment(run_every=c.cfg.dashboard.refresh_s)
def headline() -> None:
    """The big numbers and their deltas; reruns on its own timer for the wall screen."""
    lc = ui.ctx()
    _, before, p = _frames(lc)
    measured = [r for r in data.savings(lc) if r.measure_id and r.avoided_co2_kg is not None]
    measures_t = sum(r.avoided_co2_kg or 0.0 for r in measured) / 1000.0
    col = st.columns(4)
    yoy = None if p.co2_prev_t is None else summaries.change_pct(p.co2_t, p.co2_prev_t)
    col[0].metric(t("ov.fytd_co2", lang), f"{fmt_number(p.co2_t, lang, 1)} t",
                  delta=None if yoy is None else f"{fmt_pct(yoy, lang, signed=True)} "
                  f"{t('ov.vs_last_year', lang)}", delta_color="inverse")
    vs_path = None if p.budget_t is None else summaries.change_pct(p.co2_t, p.budget_t)
    col[1].metric(t("ov.vs_target", lang),
                  "–" if p.budget_t is None else f"{fmt_number(p.budget_t, lang, 1)} t",
                  delta=None if vs_path is None else fmt_pct(vs_path, lang, signed=True),
                  delta_color="inverse")
    col[2].metric(t("ov.fytd_energy", lang), f"{fmt_number(p.energy_mwh, lang, 1)} MWh")
    col[3].metric(t("ov.avoided", lang), f"{fmt_number(p.pv_avoided_t + measures_t, lang, 1)} t",
                  help=t("ov.avoided_help", lang, pv_t=fmt_number(p.pv_avoided_t, lang, 1),
                         pv_mwh=fmt_number(p.pv_mwh, lang, 1),
                         measures_t=fmt_number(measures_t, lang, 1), n=len(measured)))

    forecast = (None if lc.scope.restricted
                else data.forecast_for(data.forecasts(lc), "city", None, lc.fy))
    col = st.columns(4)
    if forecast is None:
        col[0].metric(t("ov.projected", lang), "–")
        col[1].metric(t("ov.probability", lang), "–")
    else:
        gap = (summaries.change_pct(forecast.co2_t_p50, forecast.trajectory_co2_t)
               if forecast.trajectory_co2_t else None)
        col[0].metric(
            t("ov.projected", lang), f"{fmt_number(forecast.co2_t_p50, lang, 0)} t",
            delta=None if gap is None else
            f"{fmt_pct(gap, lang, signed=True)} {t('ov.vs_path', lang)}",
            delta_color="inverse",
            help=t("ov.band", lang, p10=fmt_number(forecast.co2_t_p10, lang, 0),
                   p90=fmt_number(forecast.co2_t_p90, lang, 0),
                   path=fmt_number(forecast.trajectory_co2_t, lang, 0)))
        col[1].metric(t("ov.probability", lang),
                      fmt_pct(None if forecast.probability_meeting is None
                              else forecast.probability_meeting * 100, lang, 0))
    health = data.meter_health(lc)
    offline = int((health["status"] != summaries.ONLINE).sum())
    findings = int(((health["quality"] != "") | (health["gaps_h"] > 0)).sum())
    col[2].metric(t("ov.offline", lang), fmt_number(offline, lang))
    col[3].metric(t("ov.findings", lang), fmt_number(findings, lang),
                  help=f"{t('ov.dead_letters', lang)}: "
                       f"{fmt_number(data.stats(lc).dead_letters, lang)}")
    if forecast is None and not lc.scope.restricted:  # a company is not shown the city's
        ui.empty("empty.forecast", lang)
    if before is None:
        since = _since(lc).astimezone(ZoneInfo(lc.tz)).date()
        st.caption(t("ov.no_history", lang, since=fmt_date(since, lang)))


headline()

# ---- cumulative CO2 against the target path, and sectors (refresh with the page)
now, before, _ = _frames(c)
use = now[now["kind"] != "pv"]
prev_use = before[before["kind"] != "pv"] if before is not None else use.iloc[0:0]
fy = c.fy
zone = ZoneInfo(c.tz)
fy_start, fy_end = fiscal_year_bounds(fy, c.tz)
fy_days = (fy_start.astimezone(zone).date(), (fy_end.astimezone(zone) - timedelta(days=1)).date())
fraction = fiscal_year_fraction(c.as_of, c.tz)
left, right = st.columns([3, 2])
with left:
    st.subheader(t("ov.cumulative", lang))
    daily = use.groupby("day", as_index=False)["co2_kg"].sum()
    prev = prev_use.groupby("day", as_index=False)["co2_kg"].sum()
    actual_name = f"{t('col.actual', lang)} {fy_label(fy, lang)}"
    prev_name = fy_label(fy - 1, lang)
    frames = []  # drawing order: target path, last FY, this FY on top
    colours = {actual_name: "#2F3E46", prev_name: "#9D9D9D"}
    target = (None if c.scope.restricted
              else summaries.nearest_target(c.cfg.targets, "city", None, fy))
    if target is not None:
        target_name = f"{t('col.target', lang)} ({target.name or target.target_fy})"
        colours[target_name] = "#C0392B"
        frames.append(pd.DataFrame({"series": target_name, "x": list(fy_days),
                                    "y": [0.0, summaries.path_to_date_t(target, fy, 1.0)]}))
    if not prev.empty:
        # Last FY's days moved one year on, so both years share the April–March axis.
        frames.append(prev.assign(series=prev_name,
                                  x=[d.replace(year=d.year + 1) if (d.month, d.day) != (2, 29)
                                     else d + timedelta(days=1) for d in prev["day"]],
                                  y=prev["co2_kg"].cumsum() / 1000.0))
    frames.append(daily.assign(series=actual_name, x=daily["day"],
                               y=daily["co2_kg"].cumsum() / 1000.0))
    option = charts.lines(pd.concat(frames, ignore_index=True), "x", "y", "series",
                          x_title=t("col.day", lang), y_title=t("col.co2_t", lang),
                          colours=colours, x_format=axis_format(lang, "day"),
                          dashes={n: "dashed" for n in colours
                                  if n not in (actual_name, prev_name)},
                          widths={actual_name: 3.5})
    forecast = (None if c.scope.restricted
                else data.forecast_for(data.forecasts(c), "city", None, fy))
    if forecast is not None:
        charts.add_projection(option, fy_days[1], forecast.co2_t_p10, forecast.co2_t_p50,
                              forecast.co2_t_p90, name=t("ov.projected", lang) + " (P10–P90)")
    ui.chart(option, "ov_cumulative")
with right:
    st.subheader(t("ov.sector_progress", lang))
    # Group as the targets do: public sites count in commercial (業務その他部門).
    this_fy = use.groupby(use["sector"].map(summaries.sector_for_target))["co2_kg"].sum() / 1e3
    last_fy = prev_use.groupby(prev_use["sector"].map(summaries.sector_for_target))[
        "co2_kg"].sum() / 1e3
    sectors = [s for s in charts.SECTOR_COLOURS if s in set(this_fy.index)]
    budgets = []
    for s in sectors:
        sector_target = (None if c.scope.restricted
                         else summaries.nearest_target(c.cfg.targets, "sector", s, fy))
        budgets.append(None if sector_target is None else
                       summaries.path_to_date_t(sector_target, fy, fraction))
    ui.chart(charts.progress_bars(
        [sector_label(s, lang) for s in sectors],
        [charts.SECTOR_COLOURS[s] for s in sectors],
        [float(this_fy.get(s, 0.0)) for s in sectors],
        [float(last_fy.get(s, 0.0)) for s in sectors] if before is not None else None,
        budgets,
        names={"this": fy_label(fy, lang), "last": fy_label(fy - 1, lang),
               "target": t("ov.vs_target", lang)},
        x_title=t("col.sector", lang), y_title=t("col.co2_t", lang)), "ov_sectors")
    ui.suppression_note(c, now)
    if c.scope.restricted:
        st.caption(t("ov.partial_view", lang))

# ---- top emitting sites
st.subheader(t("ov.top_sites", lang))
totals = data.site_totals(c, *data.fiscal_ytd(c))
totals = totals[(totals["kind"] != "pv") & (totals["site"] != access.OTHERS)]
by_site = totals.groupby("site")["co2_kg"].sum().sort_values(ascending=False).head(8) / 1000.0
sites = c.cfg.sites_by_id()
ui.chart(charts.horizontal_bars(
    [sites[s].name if s in sites else s for s in by_site.index], list(by_site.values),
    [charts.SECTOR_COLOURS[sites[s].sector.value if s in sites else "unknown"]
     for s in by_site.index], x_title=t("col.co2_t", lang)), "ov_top_sites")

# ---- the top problems and proposals (`greenpipe findings run`), and the total at stake
open_findings = sorted((f for f in data.findings(c) if f.status in ("new", "acknowledged")),
                       key=lambda f: (-f.annual_cost_jpy, f.id))
if open_findings:
    st.subheader(t("fd.top3", lang))
    col = st.columns(2)
    col[0].metric(t("fd.total_cost", lang),
                  f"¥{fmt_number(sum(f.annual_cost_jpy for f in open_findings), lang)}")
    col[1].metric(t("fd.total_co2", lang),
                  f"{fmt_number(sum(f.annual_co2_t for f in open_findings), lang, 1)} t")
    for f in open_findings[:3]:
        site_name = sites[f.site].name if f.site in sites else f.site
        st.markdown(f"**{t('code.' + f.code, lang)} — {site_name}** · "
                    f"¥{fmt_number(f.annual_cost_jpy, lang)} · "
                    f"{fmt_number(f.annual_co2_t, lang, 1)} t-CO₂  \n"
                    + (f.proposal_ja if lang == "ja" else f.proposal_en))
    st.caption(t("fd.more", lang))
