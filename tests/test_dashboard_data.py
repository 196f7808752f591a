"""Helpers of the dashboard's data module (dashboard/data.py) and its config section."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from dashboard import data
from greenpipe.config import config_from_dict
from greenpipe.errors import ConfigError
from tests.dashboard_seed import SEED_FORECASTS


def _ctx(as_of: datetime) -> data.Ctx:
    return data.Ctx(cfg=config_from_dict({}, env={}), config_path="", store_url="sqlite:x.db",
                    as_of=as_of, lang="en")


def test_parse_as_of_needs_an_offset() -> None:
    assert data.parse_as_of("2025-10-01T12:00+09:00") == datetime(2025, 10, 1, 3, tzinfo=UTC)
    with pytest.raises(ConfigError, match="add a UTC offset"):
        data.parse_as_of("2025-10-01T12:00")
    with pytest.raises(ConfigError, match="ISO 8601"):
        data.parse_as_of("yesterday")


def test_fiscal_year_to_date_and_the_same_span_last_year() -> None:
    c = _ctx(datetime(2025, 10, 1, 3, tzinfo=UTC))  # 2025-10-01 12:00 JST
    assert c.fy == 2025
    assert c.day_offset.total_seconds() == -9 * 3600
    start, end = data.fiscal_ytd(c)
    assert start == datetime(2025, 3, 31, 15, tzinfo=UTC)  # 2025-04-01 00:00 JST
    assert end == c.as_of
    prev_start, prev_end = data.fiscal_ytd(c, 2024)
    assert prev_start == datetime(2024, 3, 31, 15, tzinfo=UTC)
    assert prev_end - prev_start == end - start


def test_fiscal_ytd_on_the_first_instant_of_a_fiscal_year() -> None:
    c = _ctx(datetime(2026, 3, 31, 15, tzinfo=UTC))  # 2026-04-01 00:00 JST: FY2026 starts
    assert c.fy == 2026
    start, end = data.fiscal_ytd(c)
    assert start == end == c.as_of


def test_forecast_for_picks_the_nearest_target() -> None:
    city = data.forecast_for(SEED_FORECASTS, "city", None, 2025)
    assert city is not None and city.target_fy == 2030
    assert data.forecast_for(SEED_FORECASTS, "sector", "industry", 2025) is SEED_FORECASTS[2]
    assert data.forecast_for(SEED_FORECASTS, "sector", "transport", 2025) is None
    assert data.forecast_for(SEED_FORECASTS, "city", None, 2026) is None
    no_target = replace(SEED_FORECASTS[0], target_fy=None)
    assert data.forecast_for([no_target, SEED_FORECASTS[1]], "city", None, 2025).target_fy == 2050


@pytest.mark.parametrize("key", ["refresh_s", "cache_ttl_s", "offline_after_s"])
def test_dashboard_config_rejects_non_positive_times(key: str) -> None:
    with pytest.raises(ConfigError, match=f"dashboard.{key}"):
        config_from_dict({"dashboard": {key: 0}}, env={})
    assert getattr(config_from_dict({"dashboard": {key: 5}}, env={}).dashboard, key) == 5
