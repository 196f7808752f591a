"""Config keys for forecasting: [forecasting], [[targets]], [[emission_factors]]."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from greenpipe.config import config_from_dict
from greenpipe.errors import ConfigError
from tests.conftest import EXAMPLE_CONFIG


def _example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def test_example_holds_the_hitachi_vision() -> None:
    cfg = config_from_dict(_example(), env={})
    by = {(t.scope, t.id, t.target_fy): t for t in cfg.targets}
    assert by[("city", "city", 2030)].reduction_pct == 46.0
    assert by[("city", "city", 2050)].reduction_pct == 100.0
    assert {k[1]: t.reduction_pct for k, t in by.items() if k[0] == "sector"} == {
        "industry": 38.0, "commercial": 51.0, "household": 66.0, "transport": 35.0}
    assert all(t.base_fy == 2013 for t in cfg.targets)
    sectors = sum(t.base_co2_t for k, t in by.items()
                  if k[0] == "sector" and k[1] != "household")
    assert by[("city", "city", 2030)].base_co2_t == sectors
    assert cfg.forecasting.granularity == "daily"


def _with(key: str, entry: dict[str, Any]) -> dict[str, Any]:
    raw = _example()
    raw[key] = [entry]
    return raw


_TARGET = {"scope": "sector", "id": "industry", "base_fy": 2013, "base_co2_t": 100.0,
           "target_fy": 2030, "reduction_pct": 38.0}


@pytest.mark.parametrize(("change", "key", "fix"), [
    ({"scope": "county"}, "targets[0].scope", "choose one of"),
    ({"id": "farming"}, "targets[0].id", "sector target names one of"),
    ({"scope": "site", "id": "nowhere"}, "targets[0].id", r"no \[\[sites\]\] entry"),
    ({"target_fy": 2013}, "targets[0].target_fy", "after base_fy"),
    ({"base_co2_t": 0}, "targets[0].base_co2_t", "above 0"),
    ({"reduction_pct": 120}, "targets[0].reduction_pct", "at most 100"),
    ({"base_fy": 13}, "targets[0].base_fy", "such as 2013"),
    ({"reduction_pct": "46%"}, "targets[0].reduction_pct", "use a number"),
    ({"goal": 1}, "targets[0].goal", "unknown key"),
])
def test_target_errors(change: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix) as exc:
        config_from_dict(_with("targets", {**_TARGET, **change}), env={})
    assert exc.value.key == key


def test_missing_target_key_and_duplicate() -> None:
    entry = {k: v for k, v in _TARGET.items() if k != "base_co2_t"}
    with pytest.raises(ConfigError, match="required") as exc:
        config_from_dict(_with("targets", entry), env={})
    assert exc.value.key == "targets[0].base_co2_t"
    raw = _example()
    raw["targets"] = [_TARGET, dict(_TARGET)]
    with pytest.raises(ConfigError, match="already has a target") as exc:
        config_from_dict(raw, env={})
    assert exc.value.key == "targets[1].target_fy"


_EF = {"kind": "electricity", "grid_region": "tepco", "basis": "adjusted",
       "ef_kg_per_kwh": 0.44, "source": "retailer FY2024"}


@pytest.mark.parametrize(("change", "key", "fix"), [
    ({"kind": "weather"}, "emission_factors[0].kind", "choose one of"),
    ({"basis": "residual"}, "emission_factors[0].basis", "choose one of"),
    ({"ef_kg_per_kwh": -0.1}, "emission_factors[0].ef_kg_per_kwh", "from 0 to below 10"),
    ({"ef_kg_per_kwh": 485}, "emission_factors[0].ef_kg_per_kwh", "from 0 to below 10"),
    ({"source": " "}, "emission_factors[0].source", "name where the factor comes from"),
    ({"fiscal_year": "FY2024"}, "emission_factors[0].fiscal_year", "whole number"),
])
def test_emission_factor_errors(change: dict[str, Any], key: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix) as exc:
        config_from_dict(_with("emission_factors", {**_EF, **change}), env={})
    assert exc.value.key == key


def test_emission_factor_source_required() -> None:
    entry = {k: v for k, v in _EF.items() if k != "source"}
    with pytest.raises(ConfigError, match="required") as exc:
        config_from_dict(_with("emission_factors", entry), env={})
    assert exc.value.key == "emission_factors[0].source"


@pytest.mark.parametrize(("key", "value", "fix"), [
    ("interval_level", 1.0, "below 1"),
    ("uncertainty_samples", 10, "at least 50"),
    ("min_coverage", 0.0, "above 0"),
    ("hdd_base_c", 30.0, "must not exceed"),
    ("baseline_days", 0, "1 or more"),
    ("workers", -1, "one per core"),
    ("level_drift_pct_per_year", -0.5, "0 \\(off\\) to 50"),
    ("level_drift_pct_per_year", 80.0, "0 \\(off\\) to 50"),
    ("level_drift_pct_per_year", "3%", "number"),
    ("granularity", "weekly", "choose one of"),
    ("shutdown_handling", "drop", "choose one of"),
])
def test_forecasting_section_errors(key: str, value: Any, fix: str) -> None:
    raw = _example()
    raw["forecasting"] = {key: value}
    with pytest.raises(ConfigError, match=fix) as exc:
        config_from_dict(raw, env={})
    assert exc.value.key == f"forecasting.{key}"


def test_level_drift_default_and_off() -> None:
    raw = _example()
    assert config_from_dict(raw, env={}).forecasting.level_drift_pct_per_year == 3.0
    raw["forecasting"] = {"level_drift_pct_per_year": 0}
    assert config_from_dict(raw, env={}).forecasting.level_drift_pct_per_year == 0.0
