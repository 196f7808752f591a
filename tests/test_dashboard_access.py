"""Per-organisation access in the dashboard: AppTest with simulated OIDC users (st.user).

The seeded test city (tests/dashboard_seed.py) with login on: ``acme`` owns factory-1 and
factory-2; the city office ``city`` owns pv-plant; office-1 belongs to no organisation.
A company user of acme must never see office-1's or pv-plant's figures, by page, widget
state, export, download or data call. Each other sector holds a single other site, so
acme's sector totals are all suppressed (fewer than 3 other sites).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import audit, data
from greenpipe import access
from greenpipe.config import load_config
from greenpipe.errors import AccessDeniedError
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.dashboard_seed import AS_OF, seed_store, write_config
from tests.test_dashboard_app import _clean_caches  # noqa: F401  (autouse fixture)
from tests.test_dashboard_findings import SEED as SEED_FINDINGS

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
EF_GRID = 0.485
EF_GAS = 0.17952

ACCESS_TOML = """
[[companies]]
id = "city"
name = "テスト市役所"
kind = "city"
sites = ["pv-plant"]

[[roles]]
group = "city-office"
organisation = "city"
role = "city"

[[roles]]
group = "acme-energy"
organisation = "acme"
role = "company"

[[roles]]
email = "analyst@acme.example"
organisation = "acme"
role = "analyst"
"""
CITY = {"is_logged_in": True, "email": "mayor@city.example", "groups": ["city-office"]}
ACME = {"is_logged_in": True, "email": "boss@acme.example", "groups": ["acme-energy"]}
ANALYST = {"is_logged_in": True, "email": "analyst@acme.example", "groups": []}
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
        "client_id": "greenpipe", "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration"}


@pytest.fixture()
def cfg_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("authlib")
    path = write_config(tmp_path, "en")
    text = path.read_text().replace("[dashboard]\n", "[dashboard]\nlogin = true\n")
    path.write_text(text + ACCESS_TOML)
    seed_store(path, results=True)
    cfg = load_config(path, env={})
    store = SqliteStore(cfg.store.url.removeprefix("sqlite://"),
                        Catalog.of(cfg.meters, cfg.sites))
    store.write_findings(list(SEED_FINDINGS))
    store.close()
    monkeypatch.setenv("GREENPIPE_CONFIG", str(path))
    monkeypatch.setenv("GREENPIPE_DASHBOARD_AS_OF", AS_OF.isoformat())
    return path


def _as(user: dict[str, object]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = dict(user)
    return at


def _text(at: AppTest) -> str:
    parts = [e.value for e in (*at.markdown, *at.caption, *at.title, *at.subheader,
                               *at.info, *at.warning, *at.error)]
    parts += [m.label + " " + m.value for m in at.metric]
    parts += [str(o) for sb in at.selectbox for o in sb.options]
    parts += [e.label for e in at.expander]
    return "\n".join(parts)


def _ctx(cfg_path: Path, user: dict[str, object]) -> data.Ctx:
    cfg = load_config(cfg_path)
    ident = access.identify(cfg, user)
    assert ident is not None
    return data.context("en", access.scope_for(cfg, ident))


def test_company_overview_shows_only_its_own_figures(cfg_path: Path) -> None:
    at = _as(ACME).run()
    assert not at.exception, [e.value for e in at.exception]
    m = {x.label: x.value for x in at.metric}
    own_t = (150_000 * EF_GRID + 30_000 * EF_GAS) / 1000  # f1-main + f1-gas = 78.1 t
    assert m["FY-to-date CO₂ emissions"] == f"{own_t:,.1f} t" == "78.1 t"
    assert m["FY-to-date energy use"] == "180.0 MWh"  # without office-1's 20 MWh
    text = _text(at)
    assert "Logged in: boss@acme.example (company, アクメ製作所)" in text
    assert "are suppressed" in text and "Commercial" in text
    # Its partial total is not compared with the whole city's target path or projection.
    assert m["Target path (FY to date)"] == "–" and m["Projected FY end"] == "–"
    assert "not compared with the city's targets" in text
    assert "No forecast yet" not in text  # there is one; a company is just not shown it
    for other in ("駅前オフィス", "メガソーラー", "office-1", "pv-1"):
        assert other not in text, other


def test_city_user_sees_every_site_and_the_audit_page(cfg_path: Path) -> None:
    at = _as(CITY).run()
    assert not at.exception
    m = {x.label: x.value for x in at.metric}
    assert m["FY-to-date CO₂ emissions"] == "87.8 t"
    assert "Logged in: mayor@city.example (city office, テスト市役所)" in _text(at)
    at.switch_page("views/sites.py").run()  # the control for the company tests below
    assert "駅前オフィス (office-1)" in _text(at) and "メガソーラー (pv-plant)" in _text(at)
    at.switch_page("views/audit.py").run()
    assert not at.exception and at.title[0].value == "Audit log"


@pytest.mark.parametrize("page", ["views/sites.py", "views/export.py", "views/findings.py",
                                  "views/meters.py", "views/reports.py", "views/forecast.py"])
def test_every_page_hides_other_organisations(cfg_path: Path, page: str) -> None:
    at = _as(ACME).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    text = _text(at)
    assert "Logged in: boss@acme.example" in text
    for other in ("駅前オフィス", "メガソーラー", "office-1", "pv-plant"):
        assert other not in text, (page, other)


def test_crafted_widget_state_cannot_open_another_site(cfg_path: Path) -> None:
    at = _as(ACME).run()
    at.switch_page("views/sites.py")
    at.session_state["site"] = "office-1"  # what a forged ?site= or widget value would do
    at.run()
    assert not at.exception
    assert "駅前オフィス" not in _text(at)
    assert at.selectbox(key="site").value in ("factory-1", "factory-2")


def test_export_page_offers_only_own_sites_and_meters(cfg_path: Path) -> None:
    at = _as(ACME).run()
    at.switch_page("views/export.py").run()
    at.radio(key="ex_scope").set_value("meter").run()
    assert at.selectbox(key="ex_which_meter").options == ["f1-main", "f1-gas", "f2-main"]
    at.radio(key="ex_scope").set_value("site").run()
    assert at.selectbox(key="ex_which_site").options == ["第一工場 (factory-1)",
                                                         "第二工場 (factory-2)"]


def test_data_module_enforces_the_scope_on_every_read(cfg_path: Path) -> None:
    c = _ctx(cfg_path, ACME)
    start, end = data.fiscal_ytd(c)
    # What an export of another site, sector or meter would ask for:
    for kwargs in ({"sites": ["office-1"]}, {"meters": ["office-1-main", "pv-1"]},
                   {"sectors": ["commercial"]}, {}):
        frame = data.read(c, start, end, timedelta(days=1), group_by="meter", **kwargs)
        assert set(frame["meter"]) <= {"f1-main", "f1-gas", "f2-main"}, kwargs
    by_site = data.read(c, start, end, timedelta(days=1), group_by="site")
    assert set(by_site["site"]) == {"factory-1"}
    sectors = data.read(c, start, end, timedelta(days=1), group_by="sector")
    assert set(sectors["sector"]) == {"industry"}  # commercial, public: 1 other site each
    assert sectors.attrs["suppressed_sectors"] == ["commercial", "public"]
    # The overview's fast paths (sector days, site totals from the rollups) are scoped too.
    sector_days = data.sector_days(c, start, end)
    assert set(sector_days["sector"]) == {"industry"}
    assert sector_days.attrs["suppressed_sectors"] == ["commercial", "public"]
    totals = data.site_totals(c, start, end)
    assert not totals.empty and set(totals["site"]) <= {"factory-1", "factory-2"}
    days = data.meter_days(c, start, end, sites=["office-1"])
    assert days.empty and days.attrs["suppressed_sectors"] == ["commercial"]
    assert set(data.latest(c)) == {"f1-main", "f1-gas"}
    assert {m.meter for m in data.stats(c).meters} == {"f1-main", "f1-gas"}
    assert [d.topic for d in data.dead_letters(c)] == ["greenpipe/v1/factory-1/f1-main/reading"]
    assert {f.site for f in data.findings(c)} == {"factory-1"}
    assert {r.site_id for r in data.savings(c)} == {"factory-1"}
    # industry holds acme's sites only: its total is acme's own figure, so it is shown.
    assert {(r.scope, r.scope_id) for r in data.forecasts(c)} == {("city", "city"),
                                                                  ("sector", "industry")}
    assert data.upstream_loss(c)[1] == []
    assert set(data.meter_health(c)["meter"]) == {"f1-main", "f1-gas", "f2-main"}
    with pytest.raises(AccessDeniedError, match="another organisation"):
        data.reports(c, 2025, site="office-1")
    assert {r.site_id for r in data.reports(c, 2025).sites} == {"factory-1", "factory-2"}
    with pytest.raises(AccessDeniedError):
        data.audit_entries(c)


def test_acknowledging_and_downloads_go_to_the_audit_log(cfg_path: Path) -> None:
    at = _as(ACME).run()
    at.switch_page("views/findings.py").run()
    own = SEED_FINDINGS[0]
    at.button(key=f"fd_ack_{own.id}").click().run()
    assert not at.exception
    c = _ctx(cfg_path, ACME)
    # Rendering download buttons records nothing: the payload is built (and audited) only
    # when a download is clicked.
    for page in ("views/export.py", "views/reports.py"):
        at.switch_page(page).run()
        assert not at.exception
    assert list(audit.read(audit.path_of(c.cfg))["action"]) == ["finding.acknowledged"]
    payload = data.audited(c, "export", "greenpipe_site_factory-1.csv", lambda: b"x")()
    assert payload == b"x"
    log = audit.read(audit.path_of(c.cfg))
    assert list(log["action"]) == ["export", "finding.acknowledged"]
    assert list(log["who"]) == ["boss@acme.example"] * 2
    assert list(log["organisation"]) == ["acme"] * 2
    assert list(log["detail"]) == ["greenpipe_site_factory-1.csv", own.id]
    # The city office reads it on its page.
    city = _as(CITY).run()
    city.switch_page("views/audit.py").run()
    assert list(city.dataframe[0].value["action"]) == ["export", "finding.acknowledged"]


def test_analyst_is_read_only(cfg_path: Path) -> None:
    at = _as(ANALYST).run()
    at.switch_page("views/findings.py").run()
    assert not at.exception
    assert not [b for b in at.button if b.key and b.key.startswith("fd_ack_")]
    assert "Your role is read-only." in _text(at)
    c = _ctx(cfg_path, ANALYST)
    with pytest.raises(AccessDeniedError, match="read-only"):
        data.set_finding_status(c, SEED_FINDINGS[0].id, "acknowledged", "x")
    acme = _ctx(cfg_path, ACME)
    with pytest.raises(AccessDeniedError, match="another organisation"):
        data.set_finding_status(acme, SEED_FINDINGS[1].id, "acknowledged", "x")


def test_unmapped_and_logged_out_users_get_nothing(cfg_path: Path) -> None:
    stranger = _as({"is_logged_in": True, "email": "who@else.example", "groups": ["x"]}).run()
    assert not stranger.exception and not stranger.metric
    assert "who@else.example has no access" in stranger.warning[0].value
    out = _as({"is_logged_in": False}).run()
    assert not out.exception and not out.metric
    assert [b.label for b in out.button] == ["Log in"]
