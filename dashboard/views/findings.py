"""課題と提案 / Findings: the problems the finder found, ranked by t-CO2 or yen, with their
evidence and the proposed measure; operators acknowledge, resolve or dismiss them here."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, data, findings_charts, ui
from dashboard.i18n import fmt_date, fmt_datetime, fmt_number, sector_label, t
from greenpipe.finding import Finding, FindingStatus
from greenpipe.model import MeterKind
from greenpipe.plant_calendar import DEFAULT_SHUTDOWNS

c = ui.ctx()
lang = c.lang
st.title(t("fd.title", lang))
if not data.has_data(c):
    ui.empty("empty.store", lang)
    st.stop()
found = data.findings(c)
if not found:
    ui.empty("fd.empty", lang)
    st.stop()

sites = c.cfg.sites_by_id()
meters = c.cfg.meters_by_id()
LABELS = {k: t(f"fd.{k}", lang) for k in (
    "power_kw", "floor", "level", "start", "cusum", "threshold", "daily_kwh", "demand_kw",
    "peak", "around", "pv_ratio", "pv_index", "energy_kwh")}


def _sector(f: Finding) -> str:
    return sites[f.site].sector.value if f.site in sites else "unknown"


def _title(f: Finding) -> str:
    site = sites[f.site].name if f.site in sites else f.site
    return f"{t('code.' + f.code, lang)} — {site} / {f.meter}"


# ---- filters
cols = st.columns(4)
rank_by = cols[0].radio(t("fd.rank_by", lang), ("co2", "cost"), horizontal=True,
                        format_func=lambda k: t(f"fd.by_{k}", lang), key="fd_rank")
site_ids = sorted({f.site for f in found})
chosen_sites = cols[1].multiselect(t("fd.site", lang), site_ids, default=site_ids,
                                   format_func=lambda s: sites[s].name if s in sites else s,
                                   key="fd_sites")
sector_ids = sorted({_sector(f) for f in found})
chosen_sectors = cols[2].multiselect(t("fd.sector", lang), sector_ids, default=sector_ids,
                                     format_func=lambda s: sector_label(s, lang),
                                     key="fd_sectors")
statuses = [s.value for s in FindingStatus]
chosen_status = cols[3].multiselect(t("fd.status", lang), statuses,
                                    default=[FindingStatus.NEW.value,
                                             FindingStatus.ACKNOWLEDGED.value],
                                    format_func=lambda s: t(f"status.{s}", lang),
                                    key="fd_status")
shown = [f for f in found if f.site in chosen_sites and _sector(f) in chosen_sectors
         and f.status in chosen_status]
key = (lambda f: f.annual_co2_t) if rank_by == "co2" else (lambda f: f.annual_cost_jpy)
shown.sort(key=lambda f: (-key(f), -f.annual_cost_jpy, f.id))

m = st.columns(4)
m[0].metric(t("fd.total_cost", lang),
            f"¥{fmt_number(sum(f.annual_cost_jpy for f in shown), lang)}")
m[1].metric(t("fd.total_co2", lang), f"{fmt_number(sum(f.annual_co2_t for f in shown), lang, 1)} t")
m[2].metric(t("fd.total_kwh", lang),
            f"{fmt_number(sum(f.annual_kwh for f in shown) / 1000, lang, 1)} MWh")
m[3].metric(t("fd.count", lang), fmt_number(len(shown), lang))
if not shown:
    ui.empty("fd.none_match", lang)
    st.stop()

st.subheader(t("fd.ranking", lang))
top = shown[:12]
ui.chart(charts.horizontal_bars(
    [f"{t('code.' + f.code, lang)} · {f.meter}" for f in top], [key(f) for f in top],
    [charts.SECTOR_COLOURS.get(_sector(f), "#9D9D9D") for f in top],
    x_title=t(f"fd.by_{rank_by}", lang)), "fd_ranking")


# ---- one panel per finding: proposal, evidence chart, status buttons


def _local(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(bucket=frame["bucket"].dt.tz_convert(c.tz))


def _evidence(f: Finding) -> None:
    ev = f.evidence
    since = pd.Timestamp(f.start).tz_convert(c.tz)
    chart_key = f"fd_ev_{f.id}"
    if f.code == "waste.off_hours_base_load":
        name = max(("days_off", "nights"), key=lambda n: float(ev.get(f"{n}_excess_kw") or 0))
        frame = data.read(c, max(f.start - timedelta(days=21), f.end - timedelta(days=56)),
                          f.end, timedelta(hours=1), meters=[f.meter])
        if frame.empty:
            ui.empty("fd.no_chart", lang)
            return
        frame = _local(frame).assign(power_kw=frame["energy_kwh"].to_numpy())  # kWh/h = kW
        ui.chart(findings_charts.off_hours(frame, since, float(ev[f"{name}_floor_kw"]),
                                           float(ev[f"{name}_level_kw"]), LABELS), chart_key)
    elif f.code == "drift.baseline_cusum":
        from findings.drift import CusumOptions, cusum_path

        points = data.baseline_points(c, [f.meter])
        if not points:
            ui.empty("fd.no_chart", lang)
            return
        path = cusum_path(points, CusumOptions())
        path.index = path.index.tz_convert(c.tz)
        ui.chart(findings_charts.cusum(path, float(ev.get("h_sigma", 5.0)), since, LABELS),
                 chart_key)
    elif f.code == "drift.change_point":
        days = data.read(c, f.end - timedelta(days=120), f.end, timedelta(days=1),
                         meters=[f.meter], offset=c.day_offset)
        ui.chart(findings_charts.daily_step(_local(days), since, LABELS), chart_key)
    elif f.code in ("demand.peak", "ev.peak_charging"):
        at = pd.Timestamp(str(ev.get("peak_at") or f.end.isoformat())).tz_convert(c.tz)
        day0 = at.normalize().tz_convert("UTC").to_pydatetime()
        if f.code == "ev.peak_charging":
            day0 = f.end - timedelta(days=3)
        frame = data.read(c, day0, day0 + timedelta(days=1 if f.code == "demand.peak" else 3),
                          timedelta(minutes=30), meters=[f.meter])
        if frame.empty:
            ui.empty("fd.no_chart", lang)
            return
        frame = _local(frame).assign(demand_kw=frame["energy_kwh"].to_numpy() * 2.0)
        peak_kw = float(ev.get("peak_kw") or ev.get("evening_peak_kw") or 0.0)
        if f.code == "ev.peak_charging":
            at = frame.loc[frame["demand_kw"].idxmax(), "bucket"]
            peak_kw = float(frame["demand_kw"].max())
        around = float(ev.get("around_kw") or (peak_kw - float(ev.get("saving_kw") or 0.0)))
        ui.chart(findings_charts.peak_day(frame, at, peak_kw, around, LABELS), chart_key)
    elif f.code == "pv.underperformance":
        from findings.base import SLOT, MeterData, meter_frame
        from findings.pv import daily_index

        end = pd.Timestamp(f.end).floor(SLOT).to_pydatetime()
        start = end - timedelta(days=120)
        raw = data.read(c, start, end, SLOT, meters=[f.meter])
        if raw.empty or f.meter not in meters:
            ui.empty("fd.no_chart", lang)
            return
        weather = [m.id for m in c.cfg.meters if m.kind == MeterKind.WEATHER]
        wx = data.read(c, start, end, SLOT, meters=weather[:1]) if weather else None
        temp = None if wx is None or wx.empty else pd.Series(
            wx["temp_air_c"].to_numpy(), index=pd.DatetimeIndex(wx["bucket"]))
        site = sites[meters[f.meter].site]
        frame = meter_frame(pd.Series(raw["energy_kwh"].to_numpy(),
                                      index=pd.DatetimeIndex(raw["bucket"])),
                            start, end, site.timezone, tuple(c.cfg.shutdowns) or DEFAULT_SHUTDOWNS,
                            c.cfg.tariff, MeterKind.PV, temp)
        days = daily_index(MeterData(meters[f.meter], site, frame, end, 0.0),
                           c.cfg.simulator.latitude_deg, c.cfg.simulator.longitude_deg
                           ).reset_index(names="day")
        ui.chart(findings_charts.pv_ratio(days, since.date(), LABELS), chart_key)
    elif f.code == "measure.underdelivering":
        ui.chart(findings_charts.declared_vs_verified(
            [t("fd.declared", lang), t("fd.verified", lang)],
            [float(ev.get("declared_kwh") or 0.0), float(ev.get("verified_kwh") or 0.0)],
            LABELS), chart_key)
    with st.container():
        st.caption(" · ".join(f"{k} = {v}" for k, v in ev.items()))


def _who() -> str:
    try:
        if st.user.is_logged_in:
            return str(st.user.get("email") or st.user.get("name") or "dashboard")
    except Exception:  # no [auth] configured: Streamlit raises its own error types
        pass
    return "dashboard"


for f in top:
    header = (f"{_title(f)} — ¥{fmt_number(f.annual_cost_jpy, lang)} · "
              f"{fmt_number(f.annual_co2_t, lang, 1)} t-CO₂ · {t('status.' + f.status, lang)}")
    with st.expander(header, expanded=f is top[0]):
        since_day = pd.Timestamp(f.start).tz_convert(c.tz).date()
        since_text = t("fd.since", lang, day=fmt_date(since_day, lang))
        level = t("fd.confidence", lang, level=t("confidence." + f.confidence, lang))
        st.markdown(f"**{t('fd.proposal', lang)}** ({since_text}, {level})")
        st.write(f.proposal_ja if lang == "ja" else f.proposal_en)
        if f.status_at is not None:
            st.caption(t("fd.status_line", lang, status=t("status." + f.status, lang),
                         by=f.status_by, at=fmt_datetime(f.status_at, lang, c.tz),
                         note=f.status_note))
        _evidence(f)
        note = st.text_input(t("fd.note", lang), key=f"fd_note_{f.id}")
        if not c.scope.can_act:
            st.caption(t("fd.read_only", lang))
            continue
        b = st.columns(3)
        for col, (action, status) in zip(b, (("ack", "acknowledged"), ("resolve", "resolved"),
                                             ("dismiss", "dismissed")), strict=True):
            if col.button(t(f"fd.{action}", lang), key=f"fd_{action}_{f.id}",
                          disabled=f.status == status):
                data.set_finding_status(c, f.id, status, _who(), note)
                st.toast(t("fd.changed", lang, id=f.id, status=t("status." + status, lang)))
                st.rerun()
