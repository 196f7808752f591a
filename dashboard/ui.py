"""Small Streamlit helpers shared by the pages: language toggle, login, empty states, charts."""

from __future__ import annotations

import gc
import threading
from typing import Any

import streamlit as st

from dashboard import data
from dashboard.charts import DEFAULT_HEIGHT, Spec
from dashboard.i18n import LANGS, fmt_datetime, sector_label, t
from greenpipe import access

_LANG_NAMES = {"ja": "日本語", "en": "English"}
_frozen = threading.Event()
"""Set once ``freeze_startup_heap`` has frozen this process's heap."""
_freeze_lock = threading.Lock()


def freeze_startup_heap() -> bool:
    """Move the started server's objects (modules, Streamlit, pandas: about 120,000) out of
    the garbage collector's reach with ``gc.freeze()``, once per process (the first run);
    True when this call froze them.

    Why: a cold page allocates enough (parsed store answers, frames) for CPython to run a
    full collection once or twice a run, and each walked the whole startup heap: 55-110 ms
    of the InfluxDB Overview's cold run at 1,000 meters x 2 years, 2-5 ms once frozen
    (docs/BENCHMARKS.md). Frozen objects are never collected, so garbage is collected
    first, it happens once (a module flag, not ``st.cache_resource``, which tests clear),
    and every later object stays tracked as before.
    """
    with _freeze_lock:
        if _frozen.is_set():
            return False
        gc.collect()
        gc.freeze()
        _frozen.set()
        return True


def language_toggle(default: str) -> str:
    """Show the ja/en toggle in the sidebar and return the choice.

    The first language of a session is ``?lang=`` from the URL, else the config default.
    """
    if st.session_state.get("lang") not in LANGS:
        # ?lang=en in the URL picks the first language, e.g. for a wall screen's kiosk URL.
        wanted = st.query_params.get("lang")
        st.session_state["lang"] = wanted if wanted in LANGS else default
    st.sidebar.radio(
        "言語 / Language", LANGS, key="lang", horizontal=True,
        format_func=lambda code: _LANG_NAMES[code],
    )
    return str(st.session_state["lang"])


def ctx() -> data.Ctx:
    """The page context for the current session (language from the toggle)."""
    return data.context(st.session_state.get("lang"))


def is_logged_in() -> bool:
    """True when the visitor has logged in through OIDC (False when login cannot work)."""
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # no [auth] secrets: Streamlit raises its own error types
        return False


def require_login(lang: str) -> None:
    """Stop the script unless the visitor is logged in through the configured OIDC provider.

    Streamlit's ``st.login`` needs Authlib and an ``[auth]`` section in
    ``.streamlit/secrets.toml`` (see docs/dashboard.md); when either is missing the page
    says so instead of failing with a traceback.
    """
    try:
        import authlib  # noqa: F401  # st.login imports it lazily; check up front
    except ImportError:
        st.error(t("app.login_unavailable", lang, why="pip install 'streamlit[auth]'"))
        st.stop()
    problem = auth_secrets_problem()
    if problem is not None:
        st.error(t("app.login_unavailable", lang, why=problem))
        st.stop()
    try:
        logged_in = bool(st.user.is_logged_in)
    except Exception as exc:  # Streamlit raises its own error types for bad [auth] secrets
        st.error(t("app.login_unavailable", lang, why=str(exc)))
        st.stop()
    if not logged_in:
        st.title(t("app.title", lang))
        st.info(t("app.login_required", lang))
        st.button(t("app.login", lang), on_click=st.login, type="primary")
        st.stop()
    st.sidebar.button(t("app.logout", lang), on_click=st.logout)


AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret",
             "server_metadata_url")
"""Keys ``st.login()`` (default provider) needs in ``[auth]`` of ``.streamlit/secrets.toml``."""


def auth_secrets_problem() -> str | None:
    """Say what is missing from ``[auth]`` in ``.streamlit/secrets.toml``, or None if complete.

    Without it Streamlit only says ``st.user has no attribute "is_logged_in"``.
    """
    try:
        auth = st.secrets.get("auth")
    except Exception:  # no secrets.toml at all (Streamlit raises on first access)
        auth = None
    if not auth:
        return ("no identity provider is configured: add an [auth] section to "
                ".streamlit/secrets.toml (in the directory the dashboard starts from) with "
                + ", ".join(AUTH_KEYS) + " (see docs/dashboard.md#login-optional), or set "
                "[dashboard] login = false")
    missing = [k for k in AUTH_KEYS if not auth.get(k)]
    if missing:
        return ("[auth] in .streamlit/secrets.toml lacks " + ", ".join(missing)
                + " (see docs/dashboard.md#login-optional)")
    return None


def who_line(c: data.Ctx) -> str:
    """Who is logged in and as what (role, organisation), in the page's language."""
    ident = c.scope.identity
    if not c.cfg.dashboard.login:
        return t("app.no_login", c.lang)
    orgs = {o.id: o.name or o.id for o in c.cfg.companies}
    return t("app.who", c.lang, who=ident.who or "?", role=t(f"role.{ident.role}", c.lang),
             org=orgs.get(ident.organisation, ident.organisation or "–"))


def suppression_note(c: data.Ctx, frame: Any) -> None:
    """Say on the page that a company sees others' sites merged and small groups suppressed."""
    if not c.scope.restricted:
        return
    st.caption(t("access.others", c.lang, n=access.MIN_OTHER_SITES))
    suppressed = getattr(frame, "attrs", {}).get("suppressed_sectors") or []
    if suppressed:
        st.caption(t("access.suppressed", c.lang, n=access.MIN_OTHER_SITES,
                     sectors=", ".join(sector_label(s, c.lang) for s in suppressed)))


def footer(c: data.Ctx) -> None:
    """Show who is logged in, the dashboard clock and the store in the sidebar."""
    st.sidebar.markdown(f"**{who_line(c)}**")
    st.sidebar.caption(t("app.as_of", c.lang, ts=fmt_datetime(c.as_of, c.lang, c.tz)))
    if not c.scope.restricted:  # the store's location is the city's infrastructure
        st.sidebar.caption(t("app.store", c.lang, url=c.store_url))


def empty(key: str, lang: str, **values: object) -> None:
    """Show a helpful empty state (an info box), never a blank panel or a traceback."""
    st.info(t(key, lang, **values), icon="ℹ️")


def chart(spec: Spec, key: str) -> None:
    """Render an ECharts option (``dashboard.charts``) at full width with Streamlit's ECharts.

    SVG rather than canvas: as fast to draw (issue 15), crisp in screenshots, and its
    drawn ``path``s tell the browser tests that a chart has been drawn. Streamlit's theme
    gives the app's fonts, tooltips and non-overlapping axis labels; the option's own
    colours and fonts take precedence over it.
    """
    option = dict(spec)
    height = int(option.pop("height", DEFAULT_HEIGHT))
    st.echarts_chart(option, key=key, height=height, renderer="svg", theme="streamlit")


def table(frame: Any, key: str, numbers: tuple[str, ...] = (), **kwargs: Any) -> None:
    """Render a table without the index; ``numbers`` get thousands separators (1,234.5)."""
    config = {name: st.column_config.NumberColumn(format="localized") for name in numbers}
    st.dataframe(frame, hide_index=True, key=key, column_config=config or None, **kwargs)
