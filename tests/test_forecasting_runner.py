"""``greenpipe forecast run`` over a seeded store, and ``forecast export`` in every format."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose

from forecasting.export import COLUMNS, tidy_table
from forecasting.runner import (
    ProjectionTask,
    baseline_points,
    build_tasks,
    execute,
    latest_reading,
    split_records,
)
from greenpipe.app.cli import main
from greenpipe.config import Target
from greenpipe.model import Reading
from greenpipe.results import SavingsRecord
from tests.forecasting_fleet import seed_city
from tests.forecasting_synthetic import jst


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The seeded city, its store, the plant's true saving, and one in-process run."""
    tmp = tmp_path_factory.mktemp("city")
    cfg, store, truth = seed_city(tmp)
    as_of = latest_reading(store)
    tasks = build_tasks(cfg, store, as_of, run_id="run-a")
    records = execute(tasks, workers=1)
    yield cfg, store, truth, as_of, tasks, records
    store.close()


def test_every_meter_and_scope_gets_records(city) -> None:  # type: ignore[no-untyped-def]
    _cfg, _store, truth, as_of, _tasks, records = city
    assert as_of == jst(2026, 3, 25)  # end of the last day, 540 days after 2024-10-01
    savings, forecasts = split_records(records)
    by_meter = {s.meter_id: s for s in savings}
    assert set(by_meter) == {"plant-main", "plant-gas", "office-main"}
    plant = by_meter["plant-main"]
    assert plant.measure_id == "plant-led"
    assert plant.baseline_start == jst(2024, 10, 1) and plant.reporting_start == jst(2025, 10, 1)
    assert plant.savings_kwh == pytest.approx(truth, rel=0.03)
    assert plant.savings_kwh_lower <= truth <= plant.savings_kwh_upper
    assert_allclose(plant.avoided_co2_kg, plant.savings_kwh * 0.485)
    assert plant.passes_ashrae and plant.warnings == ()
    # The daily series of every analysis: reporting days at JST midnight, summing to the
    # totals, each day's baseline prediction inside its band.
    points = baseline_points(records)
    for s in savings:
        mine = [p for p in points if (p.meter_id, p.measure_id) == (s.meter_id, s.measure_id)]
        assert mine and all(p.site_id == s.site_id and p.run_id == "run-a" for p in mine)
        assert mine[0].day_start == s.reporting_start
        assert all(b.day_start - a.day_start == pd.Timedelta(days=1)
                   for a, b in itertools.pairwise(mine))
        assert_allclose(sum(p.predicted_kwh for p in mine), s.reporting_predicted_kwh,
                        rtol=1e-12)
        assert_allclose(sum(p.observed_kwh for p in mine), s.reporting_observed_kwh,
                        rtol=1e-12)
        assert all(p.predicted_kwh_lower <= p.predicted_kwh <= p.predicted_kwh_upper
                   for p in mine)
    for null in (by_meter["plant-gas"], by_meter["office-main"]):  # no measure: null test
        assert null.measure_id == ""
        assert null.savings_kwh_lower <= 0 <= null.savings_kwh_upper
    keys = {(f.scope, f.scope_id, f.fiscal_year, f.target_fy) for f in forecasts}
    assert keys == {
        ("city", "city", 2025, 2030), ("city", "city", 2030, 2030),
        ("sector", "industry", 2025, 2030), ("sector", "industry", 2030, 2030),
        ("sector", "commercial", 2025, None), ("sector", "commercial", 2030, None),
        ("site", "plant", 2025, None), ("site", "plant", 2030, None),
        ("site", "office", 2025, None), ("site", "office", 2030, None),
    }
    city_now = next(f for f in forecasts if f.scope == "city" and f.fiscal_year == 2025)
    # Trajectory at FY2025 from 2,000 t (FY2013) to 1,080 t (FY2030): 2000 - 920 × 12/17.
    assert_allclose(city_now.trajectory_co2_t, 2000 - 920 * 12 / 17)
    assert_allclose(city_now.target_co2_t, 1080.0)
    assert_allclose(city_now.gap_co2_t, city_now.co2_t_p50 - city_now.trajectory_co2_t)
    assert city_now.probability_meeting == 1.0  # ~230 t against a 1,350 t path
    assert city_now.co2_t_p10 <= city_now.co2_t_p50 <= city_now.co2_t_p90
    # Six days of FY2025 remain: the observed part dominates.
    assert city_now.observed_co2_t / city_now.co2_t_p50 > 0.97
    sites = [f for f in forecasts if f.scope == "site" and f.fiscal_year == 2025]
    assert_allclose(sum(f.observed_co2_t for f in sites), city_now.observed_co2_t)
    model = json.loads(city_now.model)
    # 540 days of history: business-as-usual level, the plant's measure as a known step.
    assert model["regressors"] == ["hdd", "cdd", "hdd_workday", "cdd_workday", "step_plant-led"]
    assert model["trend"] == "flat" and city_now.warnings == ("projection.flat_trend",)


def test_records_round_trip_through_the_store(city) -> None:  # type: ignore[no-untyped-def]
    _cfg, store, _truth, _as_of, _tasks, records = city
    savings, forecasts = split_records(records)
    store.write_savings(savings)
    store.write_forecasts(forecasts)
    assert store.read_savings("run-a") == sorted(savings, key=lambda s: s.meter_id)
    back = store.read_forecasts("run-a")
    assert len(back) == len(forecasts) and set(back) == set(forecasts)


def test_insufficient_data_gives_flagged_nan_records(city, tmp_path: Path  # type: ignore[no-untyped-def]
                                                     ) -> None:
    cfg, store, _truth, as_of, _tasks, _records = city
    from greenpipe.model import Meter, MeterKind

    extra = Meter("new-meter", "office", MeterKind.ELECTRICITY, "kWh")
    cfg2 = replace(cfg, meters=(*cfg.meters, extra), targets=(*cfg.targets, Target(
        "sector", "household", 2013, 100.0, 2030, 66.0)))
    store.catalog = store.catalog.of(cfg2.meters, cfg2.sites)
    store.write([Reading("new-meter", "office", as_of - pd.Timedelta(days=d).to_pytimedelta(),
                         energy_kwh=1.0) for d in range(0, 20)])
    all_tasks = build_tasks(cfg2, store, as_of, run_id="run-b")
    tasks = [t for t in all_tasks
             if getattr(t, "meter_id", None) == "new-meter"
             or getattr(t, "scope_id", None) == "household"]
    records = execute(tasks, workers=1)
    savings, forecasts = split_records(records)
    (new,) = savings
    assert math.isnan(new.savings_kwh)
    # Nothing in the baseline year; 20 of the 90 reporting days.
    assert new.warnings == ("data.no_data", "data.low_coverage", "data.long_gap")
    # Issue 14: messages about a projection's history name its scope.
    histories = {(t.scope, t.scope_id): t.history for t in all_tasks
                 if isinstance(t, ProjectionTask) and t.history is not None}
    assert histories and all(h.scope == f"{s}:{i}" for (s, i), h in histories.items())
    household = [f for f in forecasts if f.scope_id == "household"]
    assert household and all(f.warnings == ("projection.no_data",) for f in household)
    assert all(math.isnan(f.co2_t_p50) for f in household)


def test_pool_matches_in_process_run(city) -> None:  # type: ignore[no-untyped-def]
    _cfg, _store, _truth, _as_of, tasks, records = city
    pooled = execute(tasks[:3], workers=2)
    ref = {r.meter_id: r for r in records if isinstance(r, SavingsRecord)}
    for r in split_records(pooled)[0]:
        assert_allclose(r.savings_kwh, ref[r.meter_id].savings_kwh, rtol=1e-9)


def test_cli_run_and_exports(city, tmp_path: Path,  # type: ignore[no-untyped-def]
                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg, store, *_ = city
    config = cfg.source
    assert main(["forecast", "run", "--config", config, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "3 savings and 10 forecast records" in out
    forecasts, savings = store.read_forecasts(), store.read_savings()
    assert len(forecasts) == 10 and len(savings) == 3
    points = store.read_baseline_points()
    assert {p.run_id for p in points} == {savings[0].run_id}
    for s in savings:  # the stored daily series adds up to the stored totals
        mine = [p for p in points if (p.meter_id, p.measure_id) == (s.meter_id, s.measure_id)]
        assert_allclose(sum(p.predicted_kwh for p in mine), s.reporting_predicted_kwh)
        assert_allclose(sum(p.observed_kwh for p in mine), s.reporting_observed_kwh)
    expected = tidy_table(forecasts, savings)
    assert len(expected) == 10 * 9 + 3 * 12

    for fmt in ("csv", "parquet", "json", "xlsx"):
        path = tmp_path / f"export.{fmt}"
        assert main(["forecast", "export", "--config", config, "--format", fmt,
                     "--out", str(path)]) == 0
        if fmt == "csv":
            got = pd.read_csv(path, dtype={"site_id": str, "measure_id": str})
            meta = json.loads((tmp_path / "export.csv.metadata.json").read_text("utf-8"))
            _check_metadata_is_informative(meta)
        elif fmt == "parquet":
            got = pd.read_parquet(path)
            meta = json.loads(pq.read_schema(path).metadata[b"greenpipe"])
        elif fmt == "json":
            doc = json.loads(path.read_text("utf-8"))
            got, meta = pd.DataFrame(doc["rows"]), doc["metadata"]
        else:
            styled = openpyxl.load_workbook(path)
            for sheet in styled.worksheets:  # a header that looks like one and stays put
                assert sheet.freeze_panes == "A2"
                assert all(c.font.bold for c in sheet[1])
            book = openpyxl.load_workbook(path, read_only=True)
            assert book.sheetnames == ["data", "metadata"]
            header = next(book["data"].iter_rows(max_row=1, values_only=True))
            assert list(header) == list(COLUMNS)
            got = pd.read_excel(path, sheet_name="data")
            meta_rows = dict(pd.read_excel(path, sheet_name="metadata").values.tolist())
            meta = {"run_ids": json.loads(meta_rows["run_ids"]),
                    "emission_factor_sources": {k: v for k, v in meta_rows.items()
                                                if k.startswith("emission_factor_sources")}}
        assert list(got.columns) == list(COLUMNS)
        assert len(got) == len(expected)
        assert_allclose(got["value"].astype(float).to_numpy(),
                        expected["value"].to_numpy(), equal_nan=True)
        assert got["quantity"].tolist() == expected["quantity"].tolist()
        assert meta["run_ids"] == [forecasts[0].run_id]
        assert any("Our World in Data" in str(v)
                   for v in meta["emission_factor_sources"].values())
    plant = expected[(expected["scope_id"] == "plant-main")
                     & (expected["quantity"] == "savings_kwh")]
    assert plant["unit"].tolist() == ["kWh"] and plant["measure_id"].tolist() == ["plant-led"]


def _check_metadata_is_informative(meta: dict) -> None:  # type: ignore[type-arg]
    """Issue 14: columns said only 'see docs', the method always said 'linear trend',
    and fit_start/fit_end had no UTC offset."""
    assert set(meta["columns"]) == set(COLUMNS)
    assert all("see docs" not in d["description"] and d["description"]
               for d in meta["columns"].values())
    assert meta["columns"]["period_start_utc"]["unit"] == "ISO-8601 timestamp, UTC"
    trends = {m["model"]["trend"] for m in meta["forecast_models"].values()
              if m["model"] and "trend" in m["model"]}
    assert trends
    method = meta["method"]["projection"]
    for trend in {"flat", "linear"}:
        assert (f"{trend} trend" in method) == (trend in trends), (trend, method)
    fitted = [m["model"] for m in meta["forecast_models"].values()
              if m["model"] and m["model"].get("fit_start")]
    assert fitted and all(datetime.fromisoformat(m[k]).utcoffset() is not None
                          for m in fitted for k in ("fit_start", "fit_end"))


def test_export_without_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = tmp_path / "empty.toml"
    cfg_path.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "e.db"}"\n', encoding="utf-8")
    assert main(["forecast", "export", "--config", str(cfg_path), "--format", "csv",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "run `greenpipe forecast run` first" in capsys.readouterr().err


@pytest.mark.integration
def test_run_on_influxdb_matches_sqlite(city, influxdb, tmp_path: Path  # type: ignore[no-untyped-def]
                                        ) -> None:
    """The same city on a real influxd gives the same tasks and results as on SQLite."""
    import uuid

    from greenpipe.stores.influx import InfluxStore
    from greenpipe.stores.influx_admin import init

    cfg, sqlite_store, _truth, as_of, _tasks, records = city
    influx = InfluxStore(influxdb.store_url(f"fc_{uuid.uuid4().hex[:12]}"),
                         sqlite_store.catalog)
    init(influx)
    try:
        import sqlite3

        rows = sqlite3.connect(sqlite_store.path).execute(
            "SELECT meter_id, site_id, ts_ms, energy_kwh, temp_air_c FROM readings "
            "WHERE meter_id IN ('plant-main', 'plant-gas', 'office-main', 'wx')").fetchall()
        influx.write([Reading(m, s, pd.Timestamp(ts, unit="ms", tz="UTC").to_pydatetime(),
                              energy_kwh=e, temp_air_c=t) for m, s, ts, e, t in rows])
        tasks = build_tasks(cfg, influx, as_of, run_id="run-a")
        run = execute([t for t in tasks if getattr(t, "meter_id", "") == "plant-main"],
                      workers=1)
        got = split_records(run)[0]
        ref = next(r for r in records if isinstance(r, SavingsRecord)
                   and r.meter_id == "plant-main")
        assert_allclose(got[0].savings_kwh, ref.savings_kwh, rtol=1e-9)
        influx.write_savings(got)
        assert influx.read_savings() == got
        influx.write_baseline_points(baseline_points(run))
        assert influx.read_baseline_points() == baseline_points(run)
    finally:
        influx.close()
