"""The finder on a simulated city: each injected waste pattern is found with the right code,
a start date within a week and an estimate within ±30 % of the injected excess; the same
city with the patterns off gives no finding above low confidence.

The truth comes from the simulator itself: the fleet's noise is a pure function of (seed,
meter, instant), so the pattern city minus the clean city is exactly the injected energy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from findings.runner import FinderRun, run_finder
from greenpipe.config import Config
from greenpipe.finding import Finding
from greenpipe.stores.sqlite import SqliteStore
from tests.findings_city import AS_OF, PATTERN_CODES, city, forecast

FORECAST_METERS = ("office-main", "f2-main")


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        dict[str, tuple[Config, SqliteStore, FinderRun]]]:
    """The pattern city and the clean city, forecast and then searched for findings."""
    out = {}
    for name, patterns in (("waste", True), ("clean", False)):
        cfg, store = city(tmp_path_factory.mktemp(name), patterns=patterns)
        forecast(cfg, store, FORECAST_METERS)
        out[name] = (cfg, store, run_finder(cfg, store, AS_OF))
    yield out
    for _, store, _ in out.values():
        store.close()


def _one(run: FinderRun, code: str, meter: str) -> Finding:
    found = [f for f in run.findings if f.code == code and f.meter == meter]
    assert len(found) == 1, [(f.code, f.meter) for f in run.findings]
    return found[0]


def _local_day(ts: datetime) -> date:
    return pd.Timestamp(ts).tz_convert("Asia/Tokyo").date()


def _injected_kwh(cities: dict, meter: str, start: datetime) -> float:
    """Pattern city minus clean city: the energy the pattern added since ``start``. [kWh]"""
    total = []
    for name in ("waste", "clean"):
        _, store, _ = cities[name]
        frame = store.read(start, AS_OF, timedelta(days=1), meters=[meter])
        total.append(float(frame["energy_kwh"].sum()))
    return total[0] - total[1]


@pytest.mark.parametrize("pattern", sorted(PATTERN_CODES))
def test_injected_pattern_is_found_with_its_code_and_start(cities: dict, pattern: str) -> None:
    meter, code, true_start = PATTERN_CODES[pattern]
    f = _one(cities["waste"][2], code, meter)
    assert abs((_local_day(f.start) - true_start).days) <= 7, (f.start, true_start)
    assert f.confidence in ("medium", "high")
    assert f.proposal_ja and f.proposal_en
    assert f.annual_cost_jpy > 0


def test_weekend_base_load_estimate(cities: dict) -> None:
    f = _one(cities["waste"][2], "waste.off_hours_base_load", "f3-main")
    start = datetime(2026, 9, 5, 15, tzinfo=AS_OF.tzinfo)
    days = (AS_OF - start).days
    truth_annual_kwh = _injected_kwh(cities, "f3-main", start) / days * 365
    assert f.annual_kwh == pytest.approx(truth_annual_kwh, rel=0.3)
    assert f.evidence["days_off_excess_kw"] == pytest.approx(40.0, rel=0.3)


def test_hvac_drift_estimate(cities: dict) -> None:
    f = _one(cities["waste"][2], "drift.baseline_cusum", "office-main")
    truth = _injected_kwh(cities, "office-main", f.start)
    assert f.evidence["excess_kwh_since_start"] == pytest.approx(truth, rel=0.3)


def test_shift_start_spike_estimate(cities: dict) -> None:
    cfg = cities["waste"][0]
    f = _one(cities["waste"][2], "demand.peak", "f2-main")
    assert f.evidence["excess_kw"] == pytest.approx(600.0, rel=0.3)
    assert f.annual_cost_jpy == pytest.approx(
        600.0 * cfg.tariff.demand_jpy_per_kw_month * 12, rel=0.3)
    assert f.evidence["slot_local"] == "06:30"


def test_pv_soiling_estimate(cities: dict) -> None:
    f = _one(cities["waste"][2], "pv.underperformance", "pv-1")
    assert f.evidence["cause"] == "soiling"
    true_loss_pct = 0.25 * (AS_OF.date() - date(2026, 8, 20)).days
    assert f.evidence["loss_pct"] == pytest.approx(true_loss_pct, rel=0.3)


def test_measure_underdelivery_estimate(cities: dict) -> None:
    f = _one(cities["waste"][2], "measure.underdelivering", "f2-main")
    # Clean city: the measure delivers its declared 8 %, so clean / 0.92 is the
    # counterfactual; the pattern delivers a quarter, so 6 % of it is missing.
    start = datetime(2026, 8, 31, 15, tzinfo=AS_OF.tzinfo)
    _, clean_store, _ = cities["clean"]
    clean = clean_store.read(start, AS_OF, timedelta(days=1), meters=["f2-main"])
    days = (AS_OF - start).days
    truth_annual = 0.08 * 0.75 * float(clean["energy_kwh"].sum()) / 0.92 / days * 365
    assert f.annual_kwh == pytest.approx(truth_annual, rel=0.3)


def test_evening_charging_estimate(cities: dict) -> None:
    f = _one(cities["waste"][2], "ev.peak_charging", "depot-chargers")
    # Avoidable demand per night: the 900 kW block minus the night's energy over 8 h.
    _, clean_store, _ = cities["clean"]
    start = datetime(2026, 10, 20, 6, tzinfo=AS_OF.tzinfo)  # 15:00 JST: nights run 15-09
    frame = clean_store.read(start, AS_OF, timedelta(hours=24), meters=["depot-chargers"],
                             offset=timedelta(hours=6))
    truth_kw = float(np.median(900.0 - frame["energy_kwh"].to_numpy() / 8.0))
    assert f.evidence["saving_kw"] == pytest.approx(truth_kw, rel=0.3)


def test_clean_city_gives_no_finding_above_low_confidence(cities: dict) -> None:
    run = cities["clean"][2]
    assert [(f.code, f.meter) for f in run.findings if f.confidence != "low"] == []


def test_meters_without_enough_data_get_warnings_not_findings(cities: dict) -> None:
    run = cities["waste"][2]
    codes = {(w.code, w.meter) for w in run.warnings}
    # f3-main and the depot have no forecast run stored: CUSUM says so instead of firing.
    assert ("findings.no_baseline", "f3-main") in codes
    assert not [f for f in run.findings if f.code == "drift.baseline_cusum"
                and f.meter == "f3-main"]
