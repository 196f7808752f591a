"""市民向け進捗 / Progress for residents: city and sector figures only, large type, live.

Reachable without login when ``[access] public_page = true`` (a lobby screen or the city's
web site). Everything comes from ``dashboard.public.public_progress``, which holds no
company or site names; Japanese first, English through the toggle or ``?lang=en``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, public, ui
from dashboard.i18n import fmt_number, fmt_pct, sector_label, t
from greenpipe.fiscal import fy_label

# Wall-screen type: readable from across a lobby at 1920×1080.
st.markdown("""<style>
[data-testid="stMetricValue"] { font-size: 4.2rem; }
[data-testid="stMetricLabel"] p { font-size: 1.6rem; }
h1 { font-size: 3.4rem !important; }
h2, h3 { font-size: 2.2rem !important; }
[data-testid="stCaptionContainer"] p { font-size: 1.3rem; }
</style>""", unsafe_allow_html=True)

c = ui.ctx()
lang = c.lang
st.title(t("pub.title", lang, city=c.cfg.city.name, fy=fy_label(c.fy, lang)))


@st.fragment(run_every=max(1, c.cfg.dashboard.refresh_s))
def progress() -> None:
    """All panels; reruns on the dashboard's refresh timer, like a live wall screen."""
    lc = ui.ctx()
    p = public.public_progress(lc)
    if not p.cumulative:
        ui.empty("pub.no_data", lang)
        return
    col = st.columns(4)
    col[0].metric(t("pub.co2", lang), f"{fmt_number(p.co2_t, lang, 1)} t")
    target = (None if p.target_fy is None or p.reduction_pct is None else
              t("pub.target", lang, fy=p.target_fy, pct=fmt_pct(p.reduction_pct, lang, 0)))
    col[1].metric(t("pub.path", lang),
                  "–" if p.budget_t is None else f"{fmt_number(p.budget_t, lang, 1)} t",
                  help=target)
    col[2].metric(t("pub.avoided", lang),
                  f"{fmt_number(p.pv_avoided_t + p.measures_avoided_t, lang, 1)} t",
                  help=t("pub.avoided_help", lang, pv_t=fmt_number(p.pv_avoided_t, lang, 1),
                         measures_t=fmt_number(p.measures_avoided_t, lang, 1)))
    col[3].metric(t("pub.pv", lang), f"{fmt_number(p.pv_mwh, lang, 1)} MWh")
    if target:
        st.caption(target)
    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("pub.cumulative", lang))
        actual = fy_label(p.fy, lang)
        frames = [pd.DataFrame({"series": actual, "x": [d for d, _ in p.cumulative],
                                "y": [v for _, v in p.cumulative]})]
        colours = {actual: "#2F3E46"}
        if p.path_fy_t is not None:
            path = t("pub.path_line", lang)
            colours[path] = "#C0392B"
            frames.insert(0, pd.DataFrame({"series": path, "x": [p.fy_first_day, p.fy_last_day],
                                           "y": [0.0, p.path_fy_t]}))
        # Wall-screen type (readable from across a lobby), ticked once a month.
        option = charts.lines(pd.concat(frames, ignore_index=True), "x", "y", "series",
                              x_title="", y_title=t("col.co2_t", lang), colours=colours,
                              dashes={n: "dashed" for n in colours if n != actual},
                              widths={actual: 5})
        charts.monthly_ticks(charts.large_type(option), "{M}月" if lang == "ja" else "{MMM}")
        ui.chart(option, "pub_cumulative")
    with right:
        st.subheader(t("pub.sectors", lang))
        if p.sectors:
            option = charts.progress_bars(
                [sector_label(b.sector, lang) for b in p.sectors],
                [charts.SECTOR_COLOURS.get(b.sector, "#9D9D9D") for b in p.sectors],
                [b.co2_t for b in p.sectors], None, [b.budget_t for b in p.sectors],
                names={"this": fy_label(p.fy, lang), "last": "", "target": t("pub.path", lang)},
                x_title="", y_title=t("col.co2_t", lang))
            ui.chart(charts.large_type(option), "pub_sectors")
        if p.suppressed:
            st.caption(t("pub.suppressed", lang,
                         sectors=", ".join(sector_label(s, lang) for s in p.suppressed)))
    st.caption(t("pub.privacy", lang) + " " + t("pub.refresh", lang,
                                                 s=lc.cfg.dashboard.refresh_s))


progress()
