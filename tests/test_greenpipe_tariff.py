"""The [tariff] and [[waste_patterns]] config: parsed, validated with clear messages."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from greenpipe.config import config_from_dict, load_config
from greenpipe.errors import ConfigError
from greenpipe.tariff import Tariff, TouBand, tariff_from_dict

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example.toml"


def _raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_city_tariff_and_patterns() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.tariff == Tariff(1800.0, 16.0, 8.0, (TouBand("day", 8.0, 22.0, 20.0, "workdays"),),
                                cfg.tariff.source)
    assert "illustrative" in cfg.tariff.source
    assert {p.kind for p in cfg.waste_patterns} == {
        "weekend_base_load", "hvac_schedule_drift", "shift_start_spike", "pv_soiling",
        "measure_underdelivery", "evening_charging"}
    assert all(p.enabled for p in cfg.waste_patterns)


def test_no_tariff_prices_nothing() -> None:
    raw = _raw()
    del raw["tariff"]
    assert config_from_dict(raw, env={}).tariff == Tariff()


@pytest.mark.parametrize(("table", "key", "fix"), [
    ({"demand_jpy_per_kw_month": -1.0}, "tariff.demand_jpy_per_kw_month", "0 or more"),
    ({"energy_jpy_per_kwh": "16"}, "tariff.energy_jpy_per_kwh", "number"),
    ({"peak_jpy": 1.0}, "tariff.peak_jpy", "unknown key"),
    ({"bands": [{"start_h": 8.0, "end_h": 8.0, "jpy_per_kwh": 1.0}]}, "tariff.bands[0].start_h",
     "start_h != end_h"),
    ({"bands": [{"start_h": 8.0, "end_h": 22.0, "jpy_per_kwh": 1.0, "days": "weekdays"}]},
     "tariff.bands[0].days", "workdays"),
    ({"bands": [{"start_h": 8.0, "end_h": 22.0}]}, "tariff.bands[0].jpy_per_kwh", "required"),
])
def test_bad_tariff_names_key_and_fix(table: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        tariff_from_dict(table)
    assert err.value.key == key and fix in err.value.fix


@pytest.mark.parametrize(("patch", "key"), [
    ({"kind": "lights_on"}, "waste_patterns[0].kind"),
    ({"meter": "nope"}, "waste_patterns[0].meter"),
    ({"extra_kw": -5.0}, "waste_patterns[0].extra_kw"),
    ({"at_h": 24.0}, "waste_patterns[0].at_h"),
])
def test_bad_waste_pattern_names_key(patch: dict[str, Any], key: str) -> None:
    raw = _raw()
    raw["waste_patterns"][0].update(patch)
    with pytest.raises(ConfigError) as err:
        config_from_dict(raw, env={})
    assert err.value.key == key


def test_underdelivery_needs_a_declared_measure() -> None:
    raw = _raw()
    pattern = next(p for p in raw["waste_patterns"] if p["kind"] == "measure_underdelivery")
    pattern["measure"] = "no-such-measure"
    with pytest.raises(ConfigError, match="no \\[\\[measures\\]\\] entry"):
        config_from_dict(raw, env={})
