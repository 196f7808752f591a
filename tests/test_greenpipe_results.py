"""Forecast and savings records: flat-row round trip and storage in both Stores."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenpipe.results import (
    ForecastRecord,
    SavingsRecord,
    columns_of,
    record_from_row,
    record_to_row,
)
from greenpipe.stores import Store
from greenpipe.stores.sqlite import SqliteStore

T = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)

FORECASTS = [
    ForecastRecord("run-1", T, "city", "city", 2026, 21000.5, 22000.25, 23000.125,
                   observed_co2_t=14000.0, target_fy=2030, base_fy=2013, base_co2_t=30420.0,
                   target_co2_t=16426.8, trajectory_co2_t=19000.0, gap_co2_t=3000.25,
                   probability_meeting=0.125, model='{"method": "prophet"}',
                   warnings=("data.no_yearly_cycle",)),
    ForecastRecord("run-1", T, "site", "factory-1", 2026, 1.0, 2.0, 3.0),
    ForecastRecord("run-1", T, "city", "city", 2050, 0.0, 100.0, 200.0, target_fy=2050,
                   probability_meeting=0.0, warnings=("projection.far", "data.long_gap")),
]
SAVINGS = [
    SavingsRecord("run-1", T, "f2-main", "factory-2", "f2-led-retrofit", "daily",
                  T - timedelta(days=400), T - timedelta(days=35), T - timedelta(days=35), T,
                  9000.0, 10000.0, 1000.0, 800.0, 1200.0, 0.9, avoided_co2_kg=485.0,
                  ef_kg_per_kwh=0.485, cvrmse=0.05, nmbe=-0.001, r2=0.93, cv_cvrmse=0.07,
                  passes_ashrae=True, model="{}", warnings=()),
    SavingsRecord("run-1", T, "pv-1", "pv-plant", "", "daily", T - timedelta(days=400),
                  T - timedelta(days=90), T - timedelta(days=90), T, 5.0, 5.5, 0.5, -1.0, 2.0,
                  0.9, cvrmse=float("nan")),
]


def test_row_round_trip() -> None:
    for rec in [*FORECASTS, *SAVINGS]:
        row = record_to_row(rec)
        assert set(row) == {c for c, _ in columns_of(type(rec))}
        back = record_from_row(type(rec), row)
        if isinstance(rec, SavingsRecord) and rec.cvrmse is not None and math.isnan(rec.cvrmse):
            assert back.cvrmse is None and row["cvrmse"] is None  # NaN is stored as unknown
            back = replace(back, cvrmse=rec.cvrmse)
            assert replace(back, cvrmse=0.0) == replace(rec, cvrmse=0.0)
        else:
            assert back == rec
    assert record_to_row(FORECASTS[0])["created_at"] == round(T.timestamp() * 1000)
    assert record_to_row(SAVINGS[0])["passes_ashrae"] == 1
    with pytest.raises(ValueError, match="timezone-aware"):
        record_to_row(replace(FORECASTS[1], created_at=datetime(2026, 1, 1)))


@pytest.fixture(params=["sqlite", pytest.param("influx", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind."""
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "results.db")
    else:
        from greenpipe.stores.influx import InfluxStore
        from greenpipe.stores.influx_admin import init

        server = request.getfixturevalue("influxdb")
        influx = InfluxStore(server.store_url(f"results_{uuid.uuid4().hex[:12]}"))
        init(influx)
        s = influx
    yield s
    s.close()


def _clean(records: list[SavingsRecord]) -> list[SavingsRecord]:
    return [replace(r, cvrmse=None) if r.cvrmse is not None and math.isnan(r.cvrmse) else r
            for r in records]


def test_store_round_trip_and_newest_run(store: Store) -> None:
    assert store.read_forecasts() == [] and store.read_savings() == []
    assert store.write_forecasts(FORECASTS) == 3
    assert store.write_savings(SAVINGS) == 2
    order = [FORECASTS[0], FORECASTS[2], FORECASTS[1]]
    assert store.read_forecasts() == order  # key order: scope, scope_id, fiscal_year
    assert _clean(store.read_savings()) == _clean(SAVINGS)  # key order: f2-main, pv-1
    later = [replace(r, run_id="run-2", created_at=T + timedelta(hours=1)) for r in FORECASTS[:1]]
    store.write_forecasts(later)
    assert store.read_forecasts() == later
    assert len(store.read_forecasts("run-1")) == 3
    assert store.read_forecasts("no-such-run") == []


def test_rewrite_without_target_replaces(store: Store) -> None:
    # SQLite treats NULL key columns as distinct; target_fy None must still be one key.
    plain = FORECASTS[1]
    store.write_forecasts([plain])
    store.write_forecasts([replace(plain, co2_t_p50=2.5)])
    assert store.read_forecasts() == [replace(plain, co2_t_p50=2.5)]
