"""Export (エクスポート): choose a scope, period and format, then download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import data, exports, summaries, ui
from dashboard.i18n import fmt_number, kind_label, sector_label, t
from greenpipe.fiscal import fiscal_year_bounds

c = ui.ctx()
lang = c.lang
zone = ZoneInfo(c.tz)
st.title(t("nav.export", lang))

dataset = st.radio(t("ex.dataset", lang), ["readings", "savings", "forecasts"], horizontal=True,
                   key="ex_dataset", format_func=lambda d: t(f"ex.{d}", lang))
if dataset != "readings":
    records = data.savings(c) if dataset == "savings" else data.forecasts(c)
    if not records:
        ui.empty("empty.forecast", lang)
        st.stop()
    table = summaries.records_frame(records, c.tz)
    fmt = st.radio(t("ex.format", lang), list(exports.FORMATS), horizontal=True,
                   key="ex_fmt_results", format_func=str.upper)
    st.caption(t("ex.rows", lang, n=fmt_number(len(table), lang)))
    ext, mime = exports.FORMATS[fmt]
    results_name = f"greenpipe_{dataset}_{records[0].run_id}.{ext}"
    st.download_button(f"{t('ex.download', lang)} ({fmt.upper()})",
                       data.audited(c, "export", results_name,
                                    lambda: exports.encode(table, fmt)),
                       file_name=results_name, mime=mime,
                       type="primary", key="ex_download_results", on_click="ignore")
    ui.table(table, "ex_results_preview")
    st.stop()
if not data.has_data(c):
    ui.empty("empty.store", lang)
    st.stop()

left, right = st.columns(2)
with left:
    scope = st.radio(t("ex.scope", lang), ["city", "sector", "site", "meter"], horizontal=True,
                     key="ex_scope", format_func=lambda s: t(f"ex.scope_{s}", lang))
    # Only what the user's organisation may read; data.read enforces it again.
    sites = data.visible_sites(c)
    sectors = sorted({s.sector.value for s in sites.values()})
    options: dict[str, list[str]] = {
        "city": [], "sector": sectors, "site": list(sites),
        "meter": [m.id for m in data.visible_meters(c)]}
    labels = {**{s: sector_label(s, lang) for s in sectors},
              **{s: f"{sites[s].name} ({s})" for s in sites}}
    which = None
    if scope != "city":
        which = st.selectbox(t("ex.which", lang), options[scope], key=f"ex_which_{scope}",
                             format_func=lambda v: labels.get(v, v))
with right:
    today = c.as_of.astimezone(zone).date()
    fy_start = fiscal_year_bounds(c.fy, c.tz)[0].astimezone(zone).date()
    period = st.date_input(t("ex.period", lang), value=(fy_start, today), key="ex_period")
    resolution = st.radio(t("ex.resolution", lang), ["30min", "hour", "day"], index=2,
                          horizontal=True, key="ex_res", format_func=lambda r: t(f"res.{r}", lang))
    fmt = st.radio(t("ex.format", lang), list(exports.FORMATS), horizontal=True, key="ex_fmt",
                   format_func=str.upper)

if not isinstance(period, tuple) or len(period) != 2:
    st.stop()  # the date picker is mid-selection (one end chosen)
first, last = period
start = datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)
end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
width = {"30min": timedelta(minutes=30), "hour": timedelta(hours=1), "day": timedelta(days=1)}
chosen = [str(which)]
chosen_meters = {"city": [m.id for m in data.visible_meters(c)],
                 "sector": [m.id for m in data.visible_meters(c) if m.site in sites
                            and sites[m.site].sector.value == which],
                 "site": [m.id for m in data.visible_meters(c) if m.site == which],
                 "meter": chosen}[scope]
tz_name = c.as_of.astimezone(zone).strftime("%Z")


def _table(lo: datetime, hi: datetime) -> pd.DataFrame:
    """The export's rows over ``(lo, hi]``: one per meter and non-empty interval."""
    frame = data.read(c, lo, hi, width[resolution], group_by="meter",
                      offset=c.day_offset if resolution == "day" else timedelta(0),
                      sectors=chosen if scope == "sector" else None,
                      sites=chosen if scope == "site" else None,
                      meters=chosen if scope == "meter" else None)
    frame = summaries.annotate(frame, c.cfg.meters_by_id(), sites)
    return pd.DataFrame({
        "meter": frame["meter"], "site": frame["site"], "sector": frame["sector"],
        "kind": frame["kind"],
        f"interval_start_{tz_name.lower()}": frame["bucket"].dt.tz_convert(zone),
        f"interval_end_{tz_name.lower()}":
            (frame["bucket"] + width[resolution]).dt.tz_convert(zone),
        "energy_kwh": frame["energy_kwh"], "power_kw": frame["power_kw"],
        "temp_air_c": frame["temp_air_c"], "readings": frame["readings"],
    })


# A selection of at most EXACT_ROWS meter-intervals is read now and counted exactly; a
# larger one (a year of a city: 365,000 meter-days, seconds to read) is read only when the
# download is clicked, and the page shows its size from the configured meters.
EXACT_ROWS = 50_000
bound = len(chosen_meters) * max(1, -(-(end - start) // width[resolution]))
exact = bound <= EXACT_ROWS
out = _table(start, end) if exact else None
n_rows = len(out) if out is not None else bound
st.caption(t("ex.rows", lang, n=fmt_number(n_rows, lang)) if exact
           else t("ex.rows_about", lang, n=fmt_number(n_rows, lang)))
if out is not None and out.empty:
    ui.empty("empty.period", lang)
    st.stop()
name = f"greenpipe_{scope}{'_' + which if which else ''}_{first:%Y%m%d}-{last:%Y%m%d}"
ext, mime = exports.FORMATS[fmt]
too_big = fmt == "xlsx" and n_rows > exports.XLSX_MAX_ROWS
if too_big:
    st.warning(t("ex.xlsx_too_big", lang, n=fmt_number(exports.XLSX_MAX_ROWS, lang)))
# The file is read and encoded only when the button is clicked (a callable), not on every
# rerun.
st.download_button(f"{t('ex.download', lang)} ({fmt.upper()})",
                   data.audited(c, "export", f"{name}.{ext}",
                                lambda: exports.encode(out if out is not None
                                                       else _table(start, end), fmt)),
                   file_name=f"{name}.{ext}", mime=mime,
                   type="primary", key="ex_download", on_click="ignore", disabled=too_big)
with st.expander(t("ex.preview", lang)):
    # The first rows of the file; for a large selection, those of its first interval.
    head = out if out is not None else _table(start, min(end, start + width[resolution]))
    preview = head.head(50).copy()
    preview["kind"] = [kind_label(k, lang) for k in preview["kind"]]
    ui.table(preview, "ex_preview")
