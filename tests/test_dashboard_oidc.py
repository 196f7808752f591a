"""``st.login`` end to end: a real OIDC provider (oidc-provider-mock), ``streamlit run`` and
headless chromium over DevTools.

The provider runs on a free loopback port with two predefined users, the city office's
mayor and acme's energy manager, whose ``groups`` claims map them through ``[[roles]]``
(tests/test_dashboard_access.py's ACCESS_TOML). Chromium logs in as each, checks what
each sees, logs out, and checks that a session without login gets only the login page.
Afterwards every log of the run (Streamlit at debug level, the provider) is searched for
the client secret, the cookie secret, the session cookie and any JWT (ID or access token).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from dashboard.browser import Chromium, find_chromium
from dashboard.launch import dashboard_env, streamlit_command
from greenpipe.net import free_loopback_port
from tests.conftest import REPO, stop_process, wait_for_port
from tests.dashboard_seed import AS_OF, seed_store, write_config
from tests.test_dashboard_access import ACCESS_TOML

pytestmark = pytest.mark.integration
USERS = {
    "mayor": {"sub": "mayor", "email": "mayor@city.example", "name": "Mayor",
              "groups": ["city-office"]},
    "boss": {"sub": "boss", "email": "boss@acme.example", "name": "Boss",
             "groups": ["acme-energy"]},
}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Stack:
    url: str
    secrets: tuple[str, ...]
    logs: tuple[Path, ...]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The OIDC provider and the dashboard (login on), both on free loopback ports."""
    pytest.importorskip("oidc_provider_mock")
    pytest.importorskip("authlib")
    tmp = tmp_path_factory.mktemp("oidc")
    idp_port, port = free_loopback_port(), free_loopback_port()
    idp_log, app_log = tmp / "provider.log", tmp / "streamlit.log"
    idp_cmd = [sys.executable, "-m", "oidc_provider_mock", "-H", "127.0.0.1",
               "-p", str(idp_port)]
    for claims in USERS.values():
        idp_cmd += ["--user-claims", json.dumps(claims)]
    with open(idp_log, "wb") as log:
        idp = subprocess.Popen(idp_cmd, stdout=log, stderr=log, env={**os.environ,
                                                                     "NO_COLOR": "1"})
    cfg = write_config(tmp, "ja")
    text = cfg.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n")
    cfg.write_text(text + ACCESS_TOML)
    seed_store(cfg, results=True)
    client_secret, cookie_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    (tmp / ".streamlit").mkdir()
    (tmp / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{cookie_secret}"\n'
        'client_id = "greenpipe-dashboard"\n'
        f'client_secret = "{client_secret}"\n'
        f'server_metadata_url = "http://127.0.0.1:{idp_port}/.well-known/openid-configuration"\n')
    # Plain http on loopback only: Authlib refuses it without this switch.
    env = {**dashboard_env(cfg, None, AS_OF.isoformat()), "AUTHLIB_INSECURE_TRANSPORT": "1"}
    with open(app_log, "wb") as log:
        app = subprocess.Popen([*streamlit_command(port), "--logger.level", "debug"],
                               env=env, stdout=log, stderr=log, cwd=tmp)
    try:
        wait_for_port(idp_port, idp, timeout_s=60)
        wait_for_port(port, app, timeout_s=60)
        meta = requests.get(f"http://127.0.0.1:{idp_port}/.well-known/openid-configuration",
                            timeout=10).json()
        assert meta["issuer"].startswith("http://127.0.0.1")
        yield Stack(f"http://127.0.0.1:{port}", (client_secret, cookie_secret),
                    (idp_log, app_log))
    finally:
        stop_process(app)
        stop_process(idp)


def _click(browser: Chromium, selector_js: str) -> None:
    browser.wait_for(f"!!({selector_js})", timeout_s=60, stable_polls=2)
    browser.evaluate(f"({selector_js}).click()")


def _button(label: str) -> str:
    return (f"[...document.querySelectorAll('button')].find(b => b.innerText.trim() === "
            f"{json.dumps(label)})")


def _main_text(browser: Chromium, contains: str) -> str:
    expr = ("(() => { const m = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
            f" const s = document.querySelector('[data-testid=\"stSidebar\"]');"
            f" const t = (m ? m.innerText : '') + '\\n' + (s ? s.innerText : '');"
            f" return t.includes({json.dumps(contains)}) && "
            "!document.querySelector('[data-testid=\"stSkeleton\"]') ? t : false; })()")
    browser.wait_for(expr, timeout_s=90)
    return str(browser.evaluate(expr))


def _log_in(browser: Chromium, stack: Stack, sub: str) -> None:
    browser.navigate(stack.url + "/")
    _click(browser, _button("ログイン"))
    # The provider's authorisation form: one button per predefined user.
    _click(browser, f"document.querySelector('button[name=\"sub\"][value=\"{sub}\"]')")


def _log_out(browser: Chromium) -> None:
    _click(browser, _button("ログアウト"))
    # Streamlit ends the provider's session too (RP-initiated logout): confirm it there.
    _click(browser, _button("End session"))
    _main_text(browser, "このダッシュボードを見るにはログインが必要です。")


def test_login_as_city_and_company_then_logout(stack: Stack, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not installed; `apt-get install chromium`")
    browser = Chromium(binary, width=1440, height=1000)
    shots = []
    try:
        _log_in(browser, stack, "mayor")
        city = _main_text(browser, "ログイン中: mayor@city.example（市・テスト市役所）")
        assert "87.8 t" in city  # every site: f1 + office-1
        assert "監査ログ" in city  # the city office's audit page is listed
        shots.append(browser.screenshot(tmp_path / "login_city_ja.png"))
        cookies = browser.send("Network.getAllCookies")["cookies"]
        session = [c["value"] for c in cookies if c["name"].startswith("_streamlit")]
        assert session, [c["name"] for c in cookies]
        _log_out(browser)

        _log_in(browser, stack, "boss")
        company = _main_text(browser, "ログイン中: boss@acme.example（企業・アクメ製作所）")
        assert "78.1 t" in company and "87.8 t" not in company  # acme's own sites only
        assert "監査ログ" not in company
        assert "表示していません" in company  # says which sector totals are suppressed
        shots.append(browser.screenshot(tmp_path / "login_company_ja.png"))
        session += [c["value"] for c in browser.send("Network.getAllCookies")["cookies"]
                    if c["name"].startswith("_streamlit")]
        _log_out(browser)
    finally:
        browser.close()

    # A fresh browser (no cookie): every page is the login page, nothing of the city.
    fresh = Chromium(binary)
    try:
        for path in ("/", "/sites", "/export", "/audit"):
            fresh.navigate(stack.url + path)
            text = _main_text(fresh, "ログインが必要です")
            assert "t-CO" not in text and "87.8" not in text and "第一工場" not in text, path
            assert not fresh.evaluate(
                "document.querySelectorAll('[data-testid=\"stMetric\"]').length")
    finally:
        fresh.close()
    if os.environ.get("GREENPIPE_UPDATE_SCREENSHOTS") == "1":
        for png in shots:
            shutil.copy(png, REPO / "docs" / "screenshots" / png.name)

    # No secret, cookie or token in any log, at any level (Streamlit ran at debug).
    provider, dashboard = (p.read_text(errors="replace") for p in stack.logs)
    assert "issued authorization code" in provider  # the provider did log the logins
    assert "Runtime state" in dashboard  # Streamlit's debug lines are there
    for secret in (*stack.secrets, *session):
        assert secret not in provider and secret not in dashboard
    assert not JWT.search(dashboard), JWT.search(dashboard)
    # The provider's own access log holds an ID token only where Streamlit's logout sends
    # it as id_token_hint in the end-session URL (OIDC RP-initiated logout, a GET): that
    # log belongs to the identity provider; docs/security.md says to treat it as secret.
    for line in provider.splitlines():
        if JWT.search(line):
            assert "GET /oauth2/end_session?" in line and "id_token_hint=" in line, line
