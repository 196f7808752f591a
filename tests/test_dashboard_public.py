"""The residents' progress page (dashboard/views/public.py, dashboard/public.py): no login,
city and sector figures only, never a company or site name, ja first, en switchable."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from dashboard.browser import Chromium, PageSpec, find_chromium, render_page
from dashboard.launch import dashboard_env, streamlit_command
from dashboard.public import sector_bars
from greenpipe.net import free_loopback_port
from tests.conftest import stop_process, wait_for_port
from tests.dashboard_seed import AS_OF, seed_store, write_config
from tests.test_dashboard_access import ACCESS_TOML, ACME, AUTH
from tests.test_dashboard_app import _clean_caches  # noqa: F401  (autouse fixture)

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
EF_GRID = 0.485
EF_GAS = 0.17952
NAMES = ("第一工場", "第二工場", "駅前オフィス", "メガソーラー", "アクメ製作所", "テスト市役所",
         "factory-1", "factory-2", "office-1", "pv-plant", "f1-main", "f1-gas", "pv-1",
         "office-1-main", "acme")


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, public: bool = True,
         lang: str = "ja") -> AppTest:
    pytest.importorskip("authlib")
    path = write_config(tmp_path, lang)
    text = path.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n")
    text = text.replace("[access]\n", f"[access]\npublic_page = {str(public).lower()}\n")
    path.write_text(text + ACCESS_TOML)
    seed_store(path, results=True)
    monkeypatch.setenv("GREENPIPE_CONFIG", str(path))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    return at


def _everything(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.title, *at.subheader,
                               *at.info, *at.warning, *at.error)]
    parts += [f"{m.label} {m.value} {m.help}" for m in at.metric]
    parts += [c.proto.spec for c in at.get("echarts_chart")]
    return "\n".join(parts)


def test_public_page_without_login_in_japanese(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch).run()
    assert not at.metric and [b.label for b in at.button] == ["ログイン"]
    at.switch_page("views/public.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "テスト市の脱炭素 2025年度"
    m = {x.label: x.value for x in at.metric}
    co2_t = ((150_000 + 20_000) * EF_GRID + 30_000 * EF_GAS) / 1000
    assert m["今年度のCO₂排出量（累計）"] == f"{co2_t:,.1f} t" == "87.8 t"
    assert m["目標の道すじ（今日まで）"] == "339.5 t"
    # PV 12,000 kWh × 0.485 = 5.82 t plus the verified measure f1-led 4.85 t.
    assert m["取り組みで減らしたCO₂"] == "10.7 t"
    assert m["太陽光の発電量"] == "12.0 MWh"
    cumulative = json.loads(at.get("echarts_chart")[0].proto.spec)
    assert_allclose(max(y for _, y in cumulative["series"][-1]["data"]), co2_t)
    # Wall-screen type, ticked once a month with Japanese month labels.
    assert cumulative["xAxis"]["axisLabel"] == {"formatter": "{M}月", "fontSize": 20}
    assert cumulative["xAxis"]["minInterval"] == 28 * 86_400_000
    assert cumulative["xAxis"]["maxInterval"] == 31 * 86_400_000
    assert cumulative["legend"]["textStyle"]["fontSize"] == 22
    text = _everything(at)
    for name in NAMES:
        assert name not in text, name
    # Each sector holds one site with data in the seed: all suppressed, and it says so.
    assert "参加拠点が少ない部門は表示していません: 業務, 産業" in text
    assert "個別の企業・拠点の数値は表示しません。" in text
    assert "データストア" not in text  # no store URL for the public


def test_public_page_switches_to_english(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch)
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page("views/public.py").run()
    assert not at.exception
    assert at.title[0].value == "テスト市 on the way to net zero, FY2025"
    assert {x.label for x in at.metric} == {
        "CO₂ emitted this fiscal year", "Target path to date", "CO₂ avoided by the measures",
        "Solar power generated"}


def test_public_page_is_off_unless_enabled(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch, public=False).run()
    at.switch_page("views/public.py").run()
    assert not at.exception and not at.metric
    assert [b.label for b in at.button] == ["ログイン"]


def test_logged_in_users_also_get_the_public_page(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path, monkeypatch)
    at.user = dict(ACME)
    at.run()
    at.switch_page("views/public.py").run()
    assert not at.exception and at.metric[0].value == "87.8 t"  # the whole city


def test_sector_bars_need_three_sites_of_two_organisations() -> None:
    day = datetime(2025, 5, 1, 15, tzinfo=UTC)
    use = pd.DataFrame({
        "site": ["a", "b", "c", "d", "e", "f", "g"],
        "sector": ["industry", "industry", "industry", "commercial", "public", "public",
                   "transport"],
        "bucket": [day] * 7, "energy_kwh": [1.0] * 7,
        "co2_kg": [1000.0, 2000.0, 500.0, 100.0, 200.0, 300.0, 50.0]})
    owners = {"a": "x", "b": "x", "c": "y", "d": "p", "e": "city", "f": "city", "g": "city"}
    bars, suppressed = sector_bars(use, owners, {"industry": 4.0})
    # commercial = d + e + f (public counts as commercial): 3 sites of 2 organisations.
    assert [(b.sector, b.budget_t) for b in bars] == [("commercial", None), ("industry", 4.0)]
    assert_allclose([b.co2_t for b in bars], [0.6, 3.5])
    assert suppressed == ["transport"]
    one_org = {s: "x" for s in owners}
    bars, suppressed = sector_bars(use, one_org, {})
    assert bars == [] and suppressed == ["commercial", "industry", "transport"]


@pytest.mark.integration
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_public_page_in_chromium_at_1920x1080(tmp_path: Path, lang: str) -> None:
    """``streamlit run`` with login on and no one logged in: /public renders in chromium,
    in wall-screen type, with no site name; the screenshot is 1920×1080."""
    pytest.importorskip("authlib")
    binary = find_chromium()
    if binary is None:
        pytest.fail("chromium is not installed; `apt-get install chromium`")
    path = write_config(tmp_path, "ja")
    text = path.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n")
    path.write_text(text.replace("[access]\n", "[access]\npublic_page = true\n") + ACCESS_TOML)
    seed_store(path, results=True)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n" + "".join(f'{k} = "{v}"\n' for k, v in AUTH.items()))
    port = free_loopback_port()
    env = dashboard_env(path, None, AS_OF.isoformat())
    with open(tmp_path / "streamlit.log", "wb") as log:
        proc = subprocess.Popen(streamlit_command(port), env=env, stdout=log, stderr=log,
                                cwd=tmp_path)
    browser = Chromium(binary, width=1920, height=1080)
    try:
        wait_for_port(port, proc, timeout_s=60)
        title = "脱炭素" if lang == "ja" else "net zero"
        state = render_page(browser, f"http://127.0.0.1:{port}/public?lang={lang}",
                            PageSpec("public", 1, 0, title))
        assert state["exceptions"] == 0
        for name in NAMES:
            assert name not in state["text"], name
        assert ("87.8 t" in state["text"]) and ("12.0 MWh" in state["text"])
        value_px = browser.evaluate("""parseFloat(getComputedStyle(document.querySelector(
            '[data-testid="stMetricValue"]')).fontSize)""")
        assert value_px >= 60  # readable across a lobby (Streamlit's default is 36 px)
        browser.set_viewport(1080)
        png = browser.screenshot(tmp_path / f"public_{lang}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png.read_bytes()[16:24])
        assert (width, height) == (1920, 1080)
        # The root URL is the login page: nothing of the city.
        browser.navigate(f"http://127.0.0.1:{port}/?lang={lang}")
        browser.wait_for("""(() => { const b = [...document.querySelectorAll('button')]
            .map(x => x.innerText); return b.includes('ログイン') || b.includes('Log in'); })()""")
        assert "87.8" not in browser.evaluate("document.body.innerText")
        if os.environ.get("GREENPIPE_UPDATE_SCREENSHOTS") == "1":
            target = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
            shutil.copy(png, target / png.name)
    finally:
        browser.close()
        stop_process(proc)
