"""The dashboard entrypoint: ``streamlit run dashboard/app.py`` (or ``greenpipe dashboard``).

It sets up the frame every page shares (language toggle, optional login, clock) and routes
with ``st.navigation``. Pages live in ``dashboard/views/`` and get all data through
``dashboard/data.py``. Configuration comes from ``GREENPIPE_CONFIG`` and
``GREENPIPE_STORE_URL``, which ``greenpipe dashboard`` sets.
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from dashboard import data, ui
from dashboard.i18n import t
from greenpipe.errors import AccessDeniedError, GreenpipeError

_PAGES = (
    ("views/overview.py", "nav.overview", ":material/dashboard:", "overview"),
    ("views/sites.py", "nav.sites", ":material/factory:", "sites"),
    ("views/forecast.py", "nav.forecast", ":material/trending_up:", "forecast"),
    ("views/findings.py", "nav.findings", ":material/report_problem:", "findings"),
    ("views/meters.py", "nav.meters", ":material/speed:", "meters"),
    ("views/export.py", "nav.export", ":material/download:", "export"),
    ("views/reports.py", "nav.reports", ":material/description:", "reports"),
)
# Listed when [access] public_page = true; without login it is all a visitor gets.
_PUBLIC_PAGE = ("views/public.py", "nav.public", ":material/public:", "public")
# Listed only for the city office (Scope.can_audit); the page checks again.
_AUDIT_PAGE = ("views/audit.py", "nav.audit", ":material/policy:", "audit")


def main() -> None:
    """Render the frame and run the selected page."""
    st.set_page_config(page_title="greenpipe", page_icon="🌱", layout="wide")
    ui.freeze_startup_heap()
    try:
        ctx = data.context()
    except GreenpipeError as exc:
        # No language is known yet when the config itself is broken: say it in both.
        st.error(t("app.config_error", "ja", err=exc) + "\n\n" + t("app.config_error", "en",
                                                                     err=exc))
        st.stop()
    lang = ui.language_toggle(ctx.cfg.city.language)
    public = st.Page(_PUBLIC_PAGE[0], title=t(_PUBLIC_PAGE[1], lang), icon=_PUBLIC_PAGE[2],
                     url_path=_PUBLIC_PAGE[3])
    if ctx.cfg.dashboard.login and ctx.cfg.access.public_page and not ui.is_logged_in():
        # Residents: the public page needs no login; everything else is the login page.
        _run(st.navigation([st.Page(lambda: ui.require_login(lang), title=t("app.login", lang),
                                    icon=":material/login:", url_path="login", default=True),
                            public]), lang)
        return
    if ctx.cfg.dashboard.login:
        ui.require_login(lang)
    ctx = data.context(lang)
    if not ctx.scope.has_access:
        st.warning(t("app.no_access", lang, who=ctx.scope.identity.who or "?"))
        st.stop()
    listed = (*_PAGES, _AUDIT_PAGE) if ctx.scope.can_audit else _PAGES
    pages = [
        st.Page(path, title=t(key, lang), icon=icon, url_path=url, default=(i == 0))
        for i, (path, key, icon, url) in enumerate(listed)
    ]
    if ctx.cfg.access.public_page:
        pages.append(public)
    page = st.navigation(pages)
    ui.footer(ctx)
    _run(page, lang)


def _run(page: StreamlitPage, lang: str) -> None:
    """Run the selected page; access and store errors become messages, not tracebacks."""
    try:
        page.run()
    except AccessDeniedError as exc:
        st.error(t("app.access_denied", lang, err=exc))
    except GreenpipeError as exc:
        st.error(t("app.store_error", lang, err=exc))


main()
