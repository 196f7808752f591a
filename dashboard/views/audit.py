"""Audit log (監査ログ): who acknowledged, downloaded or exported what, and when (city office)."""

from __future__ import annotations

import streamlit as st

from dashboard import data, ui
from dashboard.i18n import fmt_datetime, t

c = ui.ctx()
lang = c.lang
st.title(t("nav.audit", lang))
st.caption(t("au.intro", lang))
entries = data.audit_entries(c)  # raises AccessDeniedError for anyone but the city office
if entries.empty:
    ui.empty("au.empty", lang)
    st.stop()
entries["ts"] = [fmt_datetime(ts, lang, c.tz) for ts in entries["ts"]]
ui.table(entries, "au_table")
