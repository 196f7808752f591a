"""Sites (拠点): live power, then one view at a time in tabs: energy by day and month, CO2,
baseline vs actual, meter breakdown, PV vs use, energy intensity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.i18n import (
    axis_format,
    fmt_date,
    fmt_month,
    fmt_number,
    kind_label,
    sector_label,
    t,
)
from greenpipe.fiscal import fy_label

c = ui.ctx()
lang = c.lang
st.title(t("nav.sites", lang))
sites = data.visible_sites(c)  # only the sites the user's organisation may read
if not sites or not data.has_data(c):
    ui.empty("empty.store", lang)
    st.stop()

site_id = st.selectbox(t("si.pick", lang), list(sites), key="site",
                       format_func=lambda s: f"{sites[s].name} ({s})")
site = sites[site_id]
st.caption(t("si.sector", lang, sector=sector_label(site.sector.value, lang)))
meters = [m for m in c.cfg.meters if m.site == site_id]
meter_colours = charts.series_colours([m.id for m in meters])
for m in meters:
    if m.kind.value == "pv":
        meter_colours[m.id] = charts.KIND_COLOURS["pv"]
zone = ZoneInfo(c.tz)


@st.fragment(run_every=max(1, c.cfg.dashboard.refresh_s))
def live_power() -> None:
    """Power of the site's meters over the last 24 h; reruns on its own timer."""
    lc = ui.ctx()
    frame = data.read(lc, lc.as_of - timedelta(hours=24), lc.as_of, timedelta(minutes=5),
                      group_by="meter", sites=[site_id])
    frame = frame[frame["power_kw"].notna()]
    st.subheader(t("si.live", lang))
    if frame.empty:
        ui.empty("empty.period", lang)
        return
    frame = summaries.local_series(frame, lc.tz)
    ui.chart(charts.lines(frame, "local", "power_kw", "meter",
                          x_title=t("col.time_jst", lang), y_title=t("col.power_kw", lang),
                          colours=meter_colours, x_format=axis_format(lang, "time"),
                          x_range=[(lc.as_of - timedelta(hours=24)).astimezone(zone),
                                   lc.as_of.astimezone(zone)]), "si_live")


live_power()

# The views of a site, one tab each; only the open tab's charts are built and sent. (A
# comment, not a docstring: Streamlit's magic would show a bare string on the page.)
VIEWS = ("by_day", "by_month", "co2", "baseline", "breakdown", "pv", "intensity")


@st.fragment
def views() -> None:
    """The site's views as tabs; switching tabs reruns this fragment alone.

    Six charts and a table on one page took about 2 s to switch to in a loaded browser
    (issue 15, docs/BENCHMARKS.md): the charts are drawn one by one. Lazy tabs
    (``on_change="rerun"``) run and draw only the open view: a page switch draws two
    charts (live power, energy by day), a tab switch one.
    """
    today = c.as_of.astimezone(zone).date()
    first_month = date(today.year - 1, today.month, 1)
    start = datetime.combine(first_month, datetime.min.time(), zone).astimezone(UTC)
    days = data.meter_days(c, start, c.as_of, sites=[site_id])
    if days.empty:
        ui.empty("empty.period", lang)
        return
    use = days[days["kind"] != "pv"]
    recent = use[use["day"] > today - timedelta(days=60)]
    draw: dict[str, Callable[[], None]] = {
        "by_day": lambda: _by_day(recent), "by_month": lambda: _by_month(use),
        "co2": lambda: _co2(recent), "baseline": lambda: _baseline(use),
        "breakdown": lambda: _breakdown(days), "pv": lambda: _pv(days, recent, today),
        "intensity": _intensity}
    tabs = st.tabs([t(f"si.tab.{v}", lang) for v in VIEWS], key="si_view", on_change="rerun")
    for view, tab in zip(VIEWS, tabs, strict=True):
        with tab:
            if tab.open:  # hidden tabs are neither computed nor sent
                draw[view]()


def _by_day(recent: pd.DataFrame) -> None:
    st.subheader(t("si.by_day", lang))
    ui.chart(charts.stacked_bars(recent, "day", "energy_kwh", "meter",
                                 x_title=t("col.day", lang), y_title=t("col.energy_kwh", lang),
                                 colours=meter_colours, x_format=axis_format(lang, "day")),
             "si_by_day")


def _by_month(use: pd.DataFrame) -> None:
    st.subheader(t("si.by_month", lang))
    months = summaries.monthly(use, "meter")
    months["label"] = [fmt_month(m, lang, short=True) for m in months["month"]]
    months["energy_mwh"] = months["energy_kwh"] / 1000.0
    ui.chart(charts.stacked_bars(months, "label", "energy_mwh", "meter",
                                 x_title=t("col.month", lang), y_title=t("col.energy_mwh", lang),
                                 colours=meter_colours), "si_by_month")


def _baseline(use: pd.DataFrame) -> None:
    st.subheader(t("si.baseline", lang))
    results = [r for r in data.savings(c) if r.site_id == site_id]
    series = data.baseline_points(c, [m.id for m in meters])
    if not series:
        ui.empty("empty.forecast", lang)
    for i, ((meter_id, measure_id), part) in enumerate(summaries.baseline_frames(series, c.tz)):
        record = next((r for r in results if (r.meter_id, r.measure_id)
                       == (meter_id, measure_id)), None)
        level = round((record.interval_level if record else 0.9) * 100)
        st.markdown(f"**{meter_id} · {measure_id or t('si.null_test', lang)}**")
        rep_start = part["day_start"].iloc[0]
        before = use[(use["meter"] == meter_id) & (use["bucket"] < rep_start)
                     & (use["bucket"] >= rep_start - pd.Timedelta(days=30))]
        ui.chart(charts.baseline_series(
            part["day"], part["observed_kwh"], part["predicted_kwh"],
            part["predicted_kwh_lower"], part["predicted_kwh_upper"],
            names={"band": t("col.baseline_band", lang, level=level),
                   "baseline": t("col.baseline", lang), "savings": t("col.savings", lang),
                   "excess": t("col.excess", lang), "actual": t("col.actual", lang),
                   "context": t("col.baseline_period", lang)},
            x_title=t("col.day", lang), y_title=t("col.energy_per_day_kwh", lang),
            x_format=axis_format(lang, "day"),
            context=(before["day"], before["energy_kwh"])), f"si_baseline_{i}")
        if record is not None:
            st.caption(t("si.totals", lang,
                         start=fmt_date(record.reporting_start.astimezone(zone).date(), lang),
                         end=fmt_date(record.reporting_end.astimezone(zone).date(), lang),
                         actual=fmt_number(record.reporting_observed_kwh / 1000, lang, 1),
                         baseline=fmt_number(record.reporting_predicted_kwh / 1000, lang, 1),
                         savings=fmt_number(record.savings_kwh / 1000, lang, 1),
                         level=level,
                         lower=fmt_number(record.savings_kwh_lower / 1000, lang, 1),
                         upper=fmt_number(record.savings_kwh_upper / 1000, lang, 1)))


def _co2(recent: pd.DataFrame) -> None:
    st.subheader(t("si.co2", lang))
    co2 = recent.groupby("day", as_index=False)["co2_kg"].sum()
    co2["co2_t"] = co2["co2_kg"] / 1000.0
    ui.chart(charts.stacked_bars(co2.assign(series=site.sector.value), "day", "co2_t", "series",
                                 x_title=t("col.day", lang), y_title=t("col.co2_t", lang),
                                 colours=charts.SECTOR_COLOURS,
                                 labels={site.sector.value: sector_label(site.sector.value,
                                                                         lang)},
                                 x_format=axis_format(lang, "day")), "si_co2")


def _breakdown(days: pd.DataFrame) -> None:
    st.subheader(t("si.breakdown", lang))
    fy_start, _ = data.fiscal_ytd(c)
    fytd = days[days["bucket"] >= pd.Timestamp(fy_start)]
    table = fytd.groupby(["meter", "kind"], as_index=False).agg(
        energy_kwh=("energy_kwh", "sum"), co2_kg=("co2_kg", "sum"))
    consumption = table.loc[table["kind"] != "pv", "energy_kwh"].sum()
    table["share"] = [e / consumption * 100.0 if k != "pv" and consumption else None
                      for e, k in zip(table["energy_kwh"], table["kind"], strict=True)]
    table = table.sort_values("energy_kwh", ascending=False)
    ui.table(pd.DataFrame({
        t("col.meter", lang): table["meter"],
        t("col.kind", lang): [kind_label(k, lang) for k in table["kind"]],
        t("col.energy_mwh", lang): (table["energy_kwh"] / 1000.0).round(1),
        t("col.share", lang): table["share"].astype("float64").round(1),
        t("col.co2_t", lang): (table["co2_kg"] / 1000.0).round(2),
    }), "si_breakdown", numbers=(t("col.energy_mwh", lang), t("col.co2_t", lang)))


def _pv(days: pd.DataFrame, recent: pd.DataFrame, today: date) -> None:
    st.subheader(t("si.pv", lang))
    pv_days = days[(days["kind"] == "pv") & (days["day"] > today - timedelta(days=60))]
    if pv_days.empty:
        ui.empty("empty.pv", lang)
        return
    both = pd.concat([
        pv_days.groupby("day", as_index=False)["energy_kwh"].sum().assign(series="pv"),
        recent.groupby("day", as_index=False)["energy_kwh"].sum().assign(series="use"),
    ])
    ui.chart(charts.lines(both, "day", "energy_kwh", "series",
                          x_title=t("col.day", lang), y_title=t("col.energy_kwh", lang),
                          colours={"pv": charts.KIND_COLOURS["pv"], "use": "#4C78A8"},
                          labels={"pv": t("col.generation", lang),
                                  "use": t("col.consumption", lang)},
                          x_format=axis_format(lang, "day")), "si_pv")


def _intensity() -> None:
    st.subheader(t("si.intensity", lang))
    site_reports = data.reports(c, c.fy, site=site_id).sites
    if not site_reports:
        ui.empty("rp.no_sites", lang)
        return
    srep = site_reports[0]
    ui.chart(charts.intensity_trend(
        [fy_label(y, lang) for y in sorted(srep.years)],
        [srep.years[y].intensity for y in sorted(srep.years)],
        [srep.years[y].partial for y in sorted(srep.years)],
        names={"actual": t("rp.actual", lang), "target": t("rp.target_line", lang),
               "partial": t("rp.partial_point", lang)},
        y_title=t("rp.intensity_axis", lang, unit=srep.intensity_unit)), "si_intensity")
    for w in srep.warnings:
        if w.code in ("report.production_missing", "report.partial_year"):
            st.caption(f"{w.code}: {w.message}")


views()
