"""Reports (報告): Energy Conservation Act and GHG figures per company and site, downloads.

Per company: crude-oil kL against the 1,500 kL threshold. Per site: intensity per fiscal
year against the 1 %/yr improvement line, the class, CO2 basic vs adjusted, and every named
warning. Download buttons write the same files as ``greenpipe report`` (reports/export.py).
"""

from __future__ import annotations

import json

import streamlit as st

from dashboard import charts, data, ui
from dashboard.i18n import fmt_number, fmt_pct, t
from greenpipe.fiscal import fy_label
from reports import export

c = ui.ctx()
lang = c.lang
st.title(t("nav.reports", lang))
if not data.has_data(c):
    ui.empty("empty.store", lang)
    st.stop()
years = list(range(c.fy, c.fy - 5, -1))
# Reports are filed for the last completed fiscal year; the current one is still partial.
fy = st.selectbox(t("rp.fy", lang), years, index=1, key="rp_fy",
                  format_func=lambda y: fy_label(y, lang))
rs = data.reports(c, fy)
if not rs.sites:
    ui.empty("rp.no_sites", lang)
    st.stop()

# ---------------------------------------------------------------- companies
st.subheader(t("rp.companies", lang))
names = [c2.name for c2 in rs.companies]
kls = [c2.crude_oil_kl for c2 in rs.companies]
limit = rs.companies[0].threshold_kl
ui.chart(charts.horizontal_bars(names, kls, [charts.KIND_COLOURS["electricity"]] * len(names),
                                x_title=t("rp.kl_axis", lang),
                                limit=(limit, t("rp.threshold", lang,
                                                kl=fmt_number(limit, lang)))), "rp_companies")
for comp in rs.companies:
    status = t("rp.specified" if comp.specified else "rp.not_specified", lang)
    st.caption(f"{comp.name}: {fmt_number(comp.crude_oil_kl, lang, 1)} kL — {status}")

# ---------------------------------------------------------------- sites
sites = {s.site_id: s for s in rs.sites}
site_id = st.selectbox(t("rp.site", lang), list(sites), key="rp_site",
                       format_func=lambda s: f"{sites[s].name} ({s})")
rep = sites[site_id]
cur = rep.years[fy]
if rep.partial:
    st.warning(t("rp.partial", lang, months=cur.months_with_data))
cols = st.columns(4)
cols[0].metric(t("rp.kl", lang), fmt_number(rep.crude_oil_kl, lang, 1))
cols[1].metric(t("rp.class", lang, cls=rep.energy_class) if rep.energy_class
               else t("rp.class_na", lang), rep.energy_class or "—")
cols[2].metric(t("rp.avg", lang, years=rep.avg_years),
               fmt_pct(None if rep.intensity_5y_avg_change_pct is None
                       else rep.intensity_5y_avg_change_pct / 100, lang, signed=True))
cols[3].metric(t("rp.basic", lang) + " / " + t("rp.adjusted", lang),
               f"{fmt_number(rep.co2_basic_t, lang, 1)} / "
               f"{fmt_number(rep.co2_adjusted_t, lang, 1)}")

st.subheader(t("rp.intensity", lang))
ui.chart(charts.intensity_trend(
    [fy_label(y, lang) for y in sorted(rep.years)],
    [rep.years[y].intensity for y in sorted(rep.years)],
    [rep.years[y].partial for y in sorted(rep.years)],
    names={"actual": t("rp.actual", lang), "target": t("rp.target_line", lang),
           "partial": t("rp.partial_point", lang)},
    y_title=t("rp.intensity_axis", lang, unit=rep.intensity_unit)), "rp_intensity")

st.subheader(t("rp.co2", lang))
sources = list(dict.fromkeys(f.source for f in rep.co2))
by_basis = {(f.basis, f.source): f.co2_t for f in rep.co2}
ui.chart(charts.grouped_bars(
    sources, {t(f"rp.{basis}", lang): ([by_basis.get((basis, s)) for s in sources], colour)
              for basis, colour in (("basic", "#4C78A8"), ("adjusted", "#72B7B2"))},
    x_title="", y_title=t("rp.co2_axis", lang), height=320), "rp_co2")

if rs.warnings:
    st.subheader(t("rp.warnings", lang))
    mine = [w for w in rs.warnings if w.scope == f"site:{site_id}"]
    for w in mine:
        st.warning(f"{w.code}: {w.message}")
    others = [w for w in rs.warnings if w not in mine]
    if others:
        with st.expander(t("rp.other_warnings", lang, n=len(others))):
            for w in others:
                st.caption(f"{w.code} [{w.scope}]: {w.message}")

# ---------------------------------------------------------------- downloads
st.subheader(t("rp.download", lang))
xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
left, mid, right = st.columns(3)
left.download_button(t("rp.download_ea", lang),
                     data.audited(c, "download", f"energy_act_FY{fy}.xlsx",
                                  lambda: export.xlsx_bytes(rs, "energy-act")),
                     file_name=f"energy_act_FY{fy}.xlsx", mime=xlsx, key="rp_dl_ea",
                     on_click="ignore")
mid.download_button(t("rp.download_ghg", lang),
                    data.audited(c, "download", f"ghg_FY{fy}.xlsx",
                                 lambda: export.xlsx_bytes(rs, "ghg")),
                    file_name=f"ghg_FY{fy}.xlsx", mime=xlsx, key="rp_dl_ghg", on_click="ignore")
right.download_button(t("rp.download_json", lang),
                      data.audited(c, "download", f"reports_FY{fy}.json",
                                   lambda: json.dumps(export.to_json(rs, "energy-act"),
                                                      ensure_ascii=False,
                                                      default=str).encode("utf-8")),
                      file_name=f"reports_FY{fy}.json", mime="application/json",
                      key="rp_dl_json", on_click="ignore")
