"""Helpers of the dashboard's data module (dashboard/data.py) and its config section."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from dashboard import data
from greenpipe.config import config_from_dict, load_config
from greenpipe.errors import ConfigError
from greenpipe.model import Reading
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.dashboard_seed import AS_OF, SEED_FORECASTS, seed_store, write_config


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


def test_sector_days_and_site_totals_keep_every_total_of_the_meter_days(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview's sector × kind × region × day series and its per-site FY totals keep
    every total of the per-meter days: energy and CO2 per day, sector, kind and site (the
    seed's hand values are checked page-side in tests/test_dashboard_app.py)."""
    cfg_path = write_config(tmp_path)
    # A second electricity meter at factory-1, so sites × kinds has fewer rows than meters.
    with cfg_path.open("a", encoding="utf-8") as f:
        f.write('\n[[meters]]\nid = "f1-sub"\nsite = "factory-1"\nkind = "electricity"\n')
    seed_store(cfg_path)
    cfg = load_config(cfg_path, env={})
    extra = SqliteStore(cfg.store.url.removeprefix("sqlite://"),
                        Catalog.of(cfg.meters, cfg.sites))
    extra.write([Reading("f1-sub", "factory-1", datetime(2025, 9, 30, 2, 0, tzinfo=UTC),
                         energy_kwh=7_000.0)])
    extra.close()
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg_path))
    monkeypatch.delenv("GREENPIPE_STORE_URL", raising=False)
    try:
        ctx = data.context()
        ctx = replace(ctx, as_of=AS_OF.astimezone(UTC))
        start, end = data.fiscal_ytd(ctx)
        per_meter = data.meter_days(ctx, start, end)
        per_sector = data.sector_days(ctx, start, end)
        per_site = data.site_totals(ctx, start, end)
        assert len(per_sector) < len(per_meter)
        assert per_meter["energy_kwh"].sum() > 0
        for frame, groupings in ((per_sector, (["day"], ["sector"], ["kind"],
                                               ["sector", "kind", "day"])),
                                 (per_site, (["site"], ["sector"], ["site", "kind"]))):
            for keys in groupings:
                for col in ("energy_kwh", "co2_kg", "avoided_co2_kg", "readings"):
                    want = per_meter.groupby(keys)[col].sum().sort_index()
                    got = frame.groupby(keys)[col].sum().sort_index()
                    pd.testing.assert_series_equal(got, want, check_dtype=False, rtol=1e-12)
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()


def test_closed_days_and_today_split_at_local_midnight() -> None:
    """FY-to-date splits at the JST midnight before as_of: the closed days keep one cache
    key all day, only today's part changes with the clock."""
    ctx = _ctx(datetime(2025, 10, 1, 3, 0, tzinfo=UTC))  # 12:00 JST
    start = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
    midnight = datetime(2025, 9, 30, 15, 0, tzinfo=UTC)  # 1 Oct 00:00 JST
    assert data._closed_days_and_today(ctx, start, ctx.as_of) == [
        (start, midnight, True), (midnight, ctx.as_of, False)]
    later = replace(ctx, as_of=datetime(2025, 10, 1, 9, 0, tzinfo=UTC))
    assert data._closed_days_and_today(later, start, later.as_of)[0] == (start, midnight, True)
    # A range that ends on midnight (closed: read from the rollups), or starts today (read
    # raw), is not split.
    assert data._closed_days_and_today(ctx, start, midnight) == [(start, midnight, True)]
    assert data._closed_days_and_today(ctx, midnight, ctx.as_of) == [
        (midnight, ctx.as_of, False)]


def test_meter_health_refresh_reads_only_todays_hours(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The live headline fragment reruns meter_health every refresh: a later clock on the
    same day re-reads only today's hours; the closed days come from the cache."""
    cfg_path = write_config(tmp_path)
    seed_store(cfg_path)
    monkeypatch.setenv("GREENPIPE_CONFIG", str(cfg_path))
    monkeypatch.delenv("GREENPIPE_STORE_URL", raising=False)
    reads: list[tuple[datetime, datetime]] = []
    original = SqliteStore.read

    def spy(self: SqliteStore, start: datetime, end: datetime, *args: object,
            **kwargs: object) -> pd.DataFrame:
        reads.append((start, end))
        return original(self, start, end, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SqliteStore, "read", spy)
    try:
        ctx = replace(data.context(), as_of=AS_OF.astimezone(UTC))
        first = data.meter_health(ctx)
        midnight = datetime(2025, 9, 30, 15, tzinfo=UTC)  # 1 Oct 00:00 JST (AS_OF's day)
        assert (midnight, ctx.as_of) in reads and len(reads) == 2
        reads.clear()
        later = replace(ctx, as_of=ctx.as_of + pd.Timedelta(minutes=1).to_pytimedelta())
        again = data.meter_health(later)
        assert reads == [(midnight, later.as_of)]  # today only
        pd.testing.assert_frame_equal(first[["meter", "gaps_h", "readings"]],
                                      again[["meter", "gaps_h", "readings"]])
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
