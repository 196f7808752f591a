"""Meters (メーター): health of every meter, gaps and quality findings, dead letters."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data, summaries, ui
from dashboard.i18n import fmt_age, fmt_datetime, kind_label, t

c = ui.ctx()
lang = c.lang
st.title(t("nav.meters", lang))


# Rows of the health table in view; more scroll inside it (problems come first). A city's
# 1,000 meters at full height made a 35,000-pixel grid that the browser drew whole: about
# 1-3 s of every switch into this page (docs/BENCHMARKS.md, issue 15).
_ROWS_SHOWN = 25
# A coloured mark before each status, so problems stand out without a pandas Styler: styling
# 1,000 rows cost 0.15-0.3 s of every run of this page and of its timed refresh (issue 15),
# an unstyled frame 1 ms. Orange: online, but messages were lost before the collector.
_STATUS_MARK = {summaries.ONLINE: "🟢", summaries.OFFLINE: "🔴", summaries.NEVER: "⚪"}
_LOST_MARK = "🟠"


@st.fragment(run_every=max(1, c.cfg.dashboard.refresh_s))
def health_panel() -> None:
    """Meter health table; problems first, marked. Reruns on its own timer."""
    lc = ui.ctx()
    st.subheader(t("me.health", lang))
    if not data.has_data(lc):
        ui.empty("empty.store", lang)
    health = data.meter_health(lc)
    # Problems first: offline and never-seen meters, then the rest, each by meter id.
    health = health.assign(_ok=health["status"] == summaries.ONLINE).sort_values(
        ["_ok", "meter"]).drop(columns="_ok").reset_index(drop=True)
    status_text = {summaries.ONLINE: t("me.online", lang),
                   summaries.OFFLINE: t("me.offline", lang), summaries.NEVER: t("me.never", lang)}
    lost = health["upstream_lost"] > 0
    marks = [_LOST_MARK if s == summaries.ONLINE and gone else _STATUS_MARK[s]
             for s, gone in zip(health["status"], lost, strict=True)]
    shown = pd.DataFrame({
        t("col.status", lang): [f"{m} {status_text[s]}"
                                for m, s in zip(marks, health["status"], strict=True)],
        t("col.meter", lang): health["meter"],
        t("col.site", lang): health["site"],
        t("col.kind", lang): [kind_label(k, lang) for k in health["kind"]],
        t("col.last_seen", lang): [fmt_datetime(ts.to_pydatetime(), lang, lc.tz)
                                   if pd.notna(ts) else "–" for ts in health["last_ts"]],
        t("col.age", lang): [fmt_age(a, lang) if pd.notna(a) else "–"
                             for a in health["age_s"]],
        t("col.readings", lang): health["readings"],
        t("col.gaps_h", lang): health["gaps_h"],
        t("col.quality", lang): health["quality"],
        t("col.upstream_lost", lang): health["upstream_lost"],
        t("ov.dead_letters", lang): health["dead_letters"],
    })
    ui.table(shown, "me_health",
             numbers=(t("col.readings", lang), t("col.upstream_lost", lang)),
             height=38 + 35 * min(len(shown), _ROWS_SHOWN))
    st.caption(t("me.gap_note", lang))
    upstream_panel(lc)


def upstream_panel(lc: data.Ctx) -> None:
    """Messages lost upstream per meter (seq gaps) and the broker's own drop counter."""
    st.subheader(t("me.upstream", lang))
    lost, brokers = data.upstream_loss(lc)
    total = sum(lost.values())
    if total:
        st.warning(t("me.upstream_warning", lang, n=f"{total:,}"), icon="⚠️")
        ranked = sorted(((n, m) for m, n in lost.items() if n), reverse=True)
        ui.chart(charts.horizontal_bars([m for _, m in ranked], [n for n, _ in ranked],
                                        ["#C0392B"] * len(ranked),
                                        x_title=t("me.upstream_axis", lang)), "me_upstream")
    else:
        st.success(t("me.upstream_none", lang))
    for b in brokers:
        n = t("me.broker_unknown", lang) if b.dropped is None else f"{b.dropped:,}"
        text = t("me.broker_dropped", lang, client=b.client_id, n=n,
                 ts=fmt_datetime(b.seen_at, lang, lc.tz))
        if b.dropped:
            st.error(text)
        else:
            st.caption(text)


health_panel()

st.subheader(t("me.dead", lang))
letters = data.dead_letters(c)
if not letters:
    ui.empty("empty.dead_letters", lang)
else:
    ui.table(pd.DataFrame({
        t("col.received", lang): [fmt_datetime(d.received_at, lang, c.tz) for d in letters],
        t("col.topic", lang): [d.topic for d in letters],
        t("col.code", lang): [d.code for d in letters],
        t("col.reason", lang): [d.reason for d in letters],
        t("me.payload", lang): [summaries.payload_text(d.payload, 120) for d in letters],
    }), "me_dead")
    for i, d in enumerate(letters[:20]):
        with st.expander(f"{fmt_datetime(d.received_at, lang, c.tz)} · {d.code} · {d.topic}"):
            st.write(d.reason)
            st.code(summaries.payload_text(d.payload), language=None)
            del i
