"""Tests for greenpipe.config: loading, environment overrides and validation messages."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from greenpipe.config import config_from_dict, load_config
from greenpipe.errors import ConfigError
from greenpipe.model import MeterKind, Sector

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example.toml"


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_city_has_the_required_fleet() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.city.timezone == "Asia/Tokyo"
    profiles = {m.profile for m in cfg.meters}
    assert {"continuous_process", "two_shift", "sme_workshop"} <= profiles
    assert sum(1 for s in cfg.sites if s.sector == Sector.COMMERCIAL) >= 2
    assert any(s.id == "city-hall" and s.sector == Sector.PUBLIC for s in cfg.sites)
    kinds = {m.kind for m in cfg.meters}
    assert {MeterKind.PV, MeterKind.EV_CHARGING, MeterKind.WEATHER} <= kinds
    assert all(s.timezone == "Asia/Tokyo" for s in cfg.sites)
    assert cfg.measures, "the example declares efficiency measures for forecasting to find"


def test_environment_overrides_scalar_keys() -> None:
    env = {
        "GREENPIPE_BROKER_HOST": "mqtt.example",
        "GREENPIPE_BROKER_PORT": "8883",
        "GREENPIPE_BROKER_TLS": "true",
        "GREENPIPE_STORE_URL": "sqlite:///tmp/x.db",
        "GREENPIPE_COLLECTOR_FLUSH_INTERVAL_S": "2.5",
        "GREENPIPE_BROKER_PASSWORD": "s3cret",
    }
    cfg = load_config(EXAMPLE, env=env)
    assert cfg.broker.host == "mqtt.example"
    assert cfg.broker.port == 8883
    assert cfg.broker.tls is True
    assert cfg.store.url == "sqlite:///tmp/x.db"
    assert cfg.collector.flush_interval_s == 2.5
    assert cfg.broker.password == "s3cret"
    assert "s3cret" not in repr(cfg.broker)


def test_password_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[broker]\nhost = "h"\nusername = "u"\npassword_file = "pw"\n')
    assert load_config(cfg_file, env={}).broker.password == "from-file"


@pytest.mark.parametrize(
    ("mutate", "key", "value", "fix_words"),
    [
        (lambda d: d["broker"].update(port=70000), "broker.port", 70000, "between 1 and 65535"),
        (lambda d: d["sites"][0].update(sector="factory"), "sites[0].sector", "factory",
         "industry"),
        (lambda d: d["sites"][0].update(timezone="Tokyo"), "sites[0].timezone", "Tokyo",
         "IANA"),
        (lambda d: d["meters"][0].update(kind="water"), "meters[0].kind", "water", "electricity"),
        (lambda d: d["meters"][0].update(site="nowhere"), "meters[0].site", "nowhere",
         "no [[sites]] entry"),
        (lambda d: d["meters"][0].update(unit="degC"), "meters[0].unit", "degC", "kWh"),
        (lambda d: d["meters"][0].update(id="bad/id"), "meters[0].id", "bad/id", "MQTT topics"),
        (lambda d: d["meters"][0].update(rated_max_power_kw=-5), "meters[0].rated_max_power_kw",
         -5, "positive"),
        (lambda d: d["store"].update(url="postgres://x"), "store.url", "postgres://x",
         "unknown store scheme"),
        (lambda d: d["collector"].update(batch_size="big"), "collector.batch_size", "big",
         "whole number"),
        (lambda d: d["simulator"].update(speeed=2), "simulator.speeed", 2, "did you mean 'speed'"),
        (lambda d: d["measures"][0].update(change_pct=-120), "measures[0].change_pct", -120,
         "above -100"),
        (lambda d: d["shutdowns"][0].update(start="5/1"), "shutdowns[0].start", "5/1", "MM-DD"),
        (lambda d: d["meters"].append(dict(d["meters"][0])), "meters[15].id", "f1-main",
         "unique"),
    ],
)
def test_validation_error_names_key_value_and_fix(mutate: Any, key: str, value: object,
                                                  fix_words: str) -> None:
    raw = _example()
    mutate(raw)
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, env={})
    err = info.value
    assert err.key == key
    assert err.value == value
    assert fix_words in str(err)


@pytest.mark.parametrize(("bad_id", "why"), [
    ("_gw", "it starts with '_'"),
    (".", "it starts with '.'"),
    ("m" * 65, "it has 65 characters"),
    ("bad/id+", "it contains '+', '/'"),
    ("", "it is empty"),
])
def test_id_errors_give_the_whole_rule(bad_id: str, why: str) -> None:
    """Issue 14: '_gw' and '.' were told to use only characters they already use."""
    raw = _example()
    raw["sites"][0]["id"] = bad_id
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, env={})
    text = str(info.value)
    assert why in text
    assert "starts with a letter or digit" in text and "at most 64 characters" in text


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE, env={"GREENPIPE_BROKER_PORT": "eighty"})
    assert info.value.key == "GREENPIPE_BROKER_PORT"
    assert info.value.value == "eighty"


def test_password_in_the_file_is_refused() -> None:
    raw = _example()
    raw["broker"]["password"] = "oops"
    with pytest.raises(ConfigError, match="GREENPIPE_BROKER_PASSWORD"):
        config_from_dict(raw, env={})


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[broker\nhost=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})


@pytest.mark.parametrize(("mutate", "key", "fix"), [
    (lambda d: d["companies"][0]["sites"].append("nowhere"), "companies[0].sites[2]",
     "no site has this id"),
    (lambda d: d["companies"][1]["sites"].append("factory-1"), "companies[1].sites[1]",
     "already belongs to company"),
    (lambda d: d["site_reporting"][3].pop("floor_area_m2"), "site_reporting[3].floor_area_m2",
     "positive floor_area_m2"),
    (lambda d: d["site_reporting"][0].update(nonfossil_certificate_pct=120.0),
     "site_reporting[0].nonfossil_certificate_pct", "between 0 and 100"),
    (lambda d: d["meters"].append({"id": "x", "site": "factory-1", "kind": "production",
                                   "unit": ""}), "meters[15].unit", "name the production unit"),
    (lambda d: d["meters"][0].update(nominal_output_per_h=3.0),
     "meters[0].nominal_output_per_h", "only production meters"),
])
def test_reporting_sections_are_validated(mutate: Any, key: str, fix: str) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        config_from_dict(raw, env={})
    assert exc.value.key == key and fix in str(exc.value)


def test_example_declares_companies_retailers_and_production() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert {c.id for c in cfg.companies} >= {"hitachi-demo"}
    units = {m.id: m.unit for m in cfg.meters if m.kind.value == "production"}
    assert units == {"f1-output": "t", "f2-output": "units", "f3-output": "parts"}
    office = next(r for r in cfg.site_reporting if r.site == "office-1")
    assert office.intensity_denominator == "floor_area" and office.floor_area_m2 == 12000.0
