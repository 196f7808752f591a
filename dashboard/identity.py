"""Who is using this dashboard session: the one place that reads ``st.user``.

Everything else gets the session's ``greenpipe.access.Scope`` through ``data.context()``,
so tests drive identity with ``AppTest.user`` (a dict like ``st.user``'s) and nothing else.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from greenpipe import access
from greenpipe.config import Config


def session_scope(cfg: Config) -> access.Scope:
    """Return what the current session may read: everything without login, else by role."""
    if not cfg.dashboard.login:
        return access.FULL
    try:
        user = st.user
        if not bool(user.is_logged_in):
            return access.nobody()
        claims: dict[str, Any] = dict(user.to_dict())
    except Exception:  # [auth] secrets missing or invalid: require_login says why
        return access.nobody()
    identity = access.identify(cfg, claims)
    if identity is None:
        return access.nobody(str(claims.get("email") or claims.get("name") or ""))
    return access.scope_for(cfg, identity)
