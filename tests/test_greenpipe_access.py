"""Organisations, roles and site scopes (greenpipe.access) and their config checks."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from greenpipe import access
from greenpipe.config import Config, config_from_dict
from greenpipe.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cfg() -> Config:
    return config_from_dict(_example(), env={})


def test_example_declares_the_city_office_and_roles(cfg: Config) -> None:
    assert [c.id for c in cfg.companies if c.kind == "city"] == ["hitachi-city"]
    assert cfg.access.claim == "groups"
    assert {r.role for r in cfg.roles} == {"city", "company", "analyst"}


@pytest.mark.parametrize(("entry", "key", "fix"), [
    ({"group": "g", "organisation": "acme", "role": "company"}, "roles[0].organisation",
     "no organisation has this id"),
    ({"group": "g", "organisation": "hitachi-demo", "role": "admin"}, "roles[0].role",
     "choose one of city, company, analyst"),
    ({"group": "g", "organisation": "hitachi-demo", "role": "city"}, "roles[0].role",
     "the city role belongs to the city office"),
    ({"organisation": "hitachi-demo", "role": "company"}, "roles[0]",
     "set exactly one of group"),
    ({"group": "g", "email": "a@b.jp", "organisation": "hitachi-demo", "role": "company"},
     "roles[0]", "set exactly one of group"),
])
def test_bad_role_mapping_is_refused_with_key_and_fix(entry: dict[str, Any], key: str,
                                                      fix: str) -> None:
    raw = _example()
    raw["roles"] = [entry]
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, env={})
    assert err.value.key == key
    assert fix in str(err.value)


def test_a_site_owned_twice_is_refused() -> None:
    raw = _example()
    raw["companies"][1]["sites"] = ["factory-3", "factory-1"]
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, env={})
    assert err.value.key == "companies[1].sites[1]"
    assert "already belongs to company 'hitachi-demo'" in str(err.value)


def test_two_city_offices_are_refused() -> None:
    raw = _example()
    raw["companies"][0]["kind"] = "city"
    with pytest.raises(ConfigError, match="mark only the city office"):
        config_from_dict(raw, env={})


def test_unknown_organisation_kind_is_refused() -> None:
    raw = _example()
    raw["companies"][0]["kind"] = "ngo"
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, env={})
    assert err.value.key == "companies[0].kind"


def test_identify_by_group_claim_and_email(cfg: Config) -> None:
    city = access.identify(cfg, {"email": "Mayor@City.example", "groups": ["city-office"]})
    assert city == access.Identity("mayor@city.example", "hitachi-city", "city")
    company = access.identify(cfg, {"email": "e@hd.example", "groups": "hitachi-demo-energy"})
    assert company == access.Identity("e@hd.example", "hitachi-demo", "company")
    analyst = access.identify(cfg, {"email": "ANALYST@ayukawa.example", "groups": []})
    assert analyst is not None and analyst.role == "analyst"
    assert access.identify(cfg, {"email": "stranger@x.example", "groups": ["other"]}) is None


def test_identify_uses_the_configured_claim() -> None:
    raw = _example()
    raw["access"]["claim"] = "org"
    cfg = config_from_dict(raw, env={})
    assert access.identify(cfg, {"groups": ["city-office"]}) is None
    found = access.identify(cfg, {"org": "city-office", "name": "Mayor"})
    assert found == access.Identity("Mayor", "hitachi-city", "city")


def test_scopes_of_each_role(cfg: Config) -> None:
    city = access.scope_for(cfg, access.Identity("m", "hitachi-city", "city"))
    assert city.sites is None and city.can_audit and city.can_act
    company = access.scope_for(cfg, access.Identity("e", "hitachi-demo", "company"))
    assert company.sites == {"factory-1", "factory-2"}
    assert company.can_act and not company.can_audit
    assert company.allows_site("factory-1") and not company.allows_site("factory-3")
    analyst = access.scope_for(cfg, access.Identity("a", "ayukawa-seimitsu", "analyst"))
    assert analyst.sites == {"factory-3"} and not analyst.can_act
    city_analyst = access.scope_for(cfg, access.Identity("a", "hitachi-city", "analyst"))
    assert city_analyst.sites is None and not city_analyst.can_audit
    ghost = access.scope_for(cfg, access.Identity("g", "gone", "company"))
    assert ghost.sites == frozenset()


def test_restrict_ids() -> None:
    assert access.restrict_ids(None, None) is None
    assert access.restrict_ids(["a", "b"], None) == ["a", "b"]
    assert access.restrict_ids(None, {"b", "a"}) == ["a", "b"]
    assert access.restrict_ids(["a", "c"], {"a", "b"}) == ["a"]


def _frame() -> pd.DataFrame:
    day = datetime(2025, 5, 1, 15, tzinfo=UTC)
    rows = [  # site, sector, kind, energy_kwh
        ("f1", "industry", "electricity", 10.0), ("f2", "industry", "electricity", 20.0),
        ("f3", "industry", "electricity", 40.0), ("o1", "commercial", "electricity", 1.0),
        ("o2", "commercial", "electricity", 2.0), ("o3", "commercial", "electricity", 4.0),
        ("o4", "commercial", "electricity", 8.0),
    ]
    return pd.DataFrame({"meter": [f"{r[0]}-m" for r in rows], "site": [r[0] for r in rows],
                         "sector": [r[1] for r in rows], "kind": [r[2] for r in rows],
                         "bucket": [day] * len(rows), "energy_kwh": [r[3] for r in rows],
                         "power_kw": [1.0] * len(rows)})


def test_merge_others_keeps_own_rows_and_suppresses_small_groups() -> None:
    scope = access.Scope(access.Identity("e", "x", "company"), frozenset({"f1", "f2"}))
    out, suppressed = access.merge_others(_frame(), scope)
    # industry has one other site (f3): suppressed, else 70 - 30 would reveal f3's 40 kWh.
    assert suppressed == {"industry"}
    assert set(out["site"]) == {"f1", "f2", access.OTHERS}
    assert "f3-m" not in set(out["meter"])
    others = out[out["site"] == access.OTHERS]
    assert list(others["sector"]) == ["commercial"]
    assert_allclose(others["energy_kwh"], [15.0])
    assert others["power_kw"].isna().all()
    assert_allclose(out.loc[out["site"] == "f1", "energy_kwh"], [10.0])


def test_merge_others_suppresses_a_single_other_organisation() -> None:
    scope = access.Scope(access.Identity("e", "x", "company"), frozenset({"f1", "f2"}))
    one_owner = {"o1": "rival", "o2": "rival", "o3": "rival", "o4": "rival"}
    out, suppressed = access.merge_others(_frame(), scope, owners=one_owner)
    assert suppressed == {"industry", "commercial"}
    assert set(out["site"]) == {"f1", "f2"}
    two_owners = {**one_owner, "o4": "other"}
    out, suppressed = access.merge_others(_frame(), scope, owners=two_owners)
    assert suppressed == {"industry"}
    assert_allclose(out.loc[out["site"] == access.OTHERS, "energy_kwh"], [15.0])


def test_merge_others_is_a_no_op_for_the_city(cfg: Config) -> None:
    frame = _frame()
    out, suppressed = access.merge_others(frame, access.FULL)
    assert out is frame and suppressed == set()
