"""Each detector on hand-made series with known answers (no store, no simulator)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from findings.base import SLOT, MeterData, meter_frame
from findings.demand import EvOptions, demand_peak, ev_peak_charging
from findings.drift import CusumOptions, baseline_cusum, change_point, cusum_path
from findings.measures import measure_underdelivering
from findings.pv import clear_sky_kwh_per_kwp, pv_underperformance
from findings.waste import off_hours_base_load
from greenpipe.model import Meter, MeterKind, Sector, Site
from greenpipe.plant_calendar import DayType
from greenpipe.results import BaselinePoint, SavingsRecord
from greenpipe.tariff import Tariff, TouBand

TZ = "Asia/Tokyo"
SITE = Site("plant", "Plant", Sector.INDUSTRY, TZ, "tepco")
START = datetime(2025, 9, 1, tzinfo=UTC) - timedelta(hours=9)  # 2025-09-01 00:00 JST
TARIFF = Tariff(demand_jpy_per_kw_month=1800.0, energy_jpy_per_kwh=15.0,
                bands=(TouBand("day", 8.0, 22.0, 20.0, "workdays"),))


def _data(kw: np.ndarray, kind: MeterKind = MeterKind.ELECTRICITY, nominal_kw: float = 100.0,
          tariff: Tariff = TARIFF) -> MeterData:
    index = pd.date_range(START, periods=len(kw), freq=SLOT)
    end = START + len(kw) * SLOT
    meter = Meter("m1", "plant", kind, "kWh", nominal_kw=nominal_kw)
    frame = meter_frame(pd.Series(kw * 0.5, index=index), START, end, TZ, tariff=tariff,
                        kind=kind)
    return MeterData(meter, SITE, frame, end, 0.5, tariff)


def _plant(days: int) -> tuple[np.ndarray, pd.DataFrame]:
    """100 kW 08:00-18:00 on workdays, 20 kW otherwise."""
    frame = _data(np.zeros(days * 48)).frame
    on = frame["workday"] & (frame["local_hour"] >= 8) & (frame["local_hour"] < 18)
    return np.where(on, 100.0, 20.0), frame


def test_tariff_prices_slots_by_band_and_day() -> None:
    price = TARIFF.electricity_price(np.array([7.5, 8.0, 21.5, 22.0, 12.0]),
                                     np.array([True, True, True, True, False]))
    assert_allclose(price, [15.0, 20.0, 20.0, 15.0, 15.0])
    night = Tariff(energy_jpy_per_kwh=30.0, bands=(TouBand("night", 22.0, 6.0, 10.0),))
    assert_allclose(night.electricity_price(np.array([23.0, 2.0, 6.0]), np.ones(3, bool)),
                    [10.0, 10.0, 30.0])


def test_off_hours_finds_weekend_load_from_its_first_sunday() -> None:
    kw, frame = _plant(84)
    change = date(2025, 10, 12)  # a Sunday; the next day off is Monday 10-13, Sports Day
    off_day = frame["day_type"].isin([DayType.SUNDAY.value, DayType.HOLIDAY.value])
    kw = kw + np.where(off_day & (frame["local_date"] >= change), 15.0, 0.0)
    result = off_hours_base_load(_data(kw))
    (f,) = result.findings
    assert f.code == "waste.off_hours_base_load" and f.meter == "m1"
    assert_allclose(f.evidence["days_off_excess_kw"], 15.0, atol=1e-9)
    assert_allclose(f.evidence["days_off_floor_kw"], 20.0, atol=1e-9)
    assert f.evidence["days_off_since"] == "2025-10-12"
    # Hours a year: the window's share of Sundays and holidays × 365 d × 24 h.
    dates = frame.groupby("local_date")["day_type"].first()
    share = dates.isin([DayType.SUNDAY.value, DayType.HOLIDAY.value]).mean()
    assert_allclose(f.annual_kwh, round(15.0 * share * 365 * 24, 1))
    assert_allclose(f.annual_co2_t, round(f.annual_kwh * 0.5 / 1000, 3))
    assert_allclose(f.annual_cost_jpy, round(f.annual_kwh * 15.0), atol=1)  # days off: 15 ¥
    assert f.confidence == "high"


def test_off_hours_is_quiet_on_a_clean_plant_and_warns_on_short_data() -> None:
    kw, _ = _plant(84)
    assert off_hours_base_load(_data(kw)).findings == ()
    short = off_hours_base_load(_data(kw[:48 * 10]))
    assert short.findings == ()
    assert [w.code for w in short.warnings] == ["findings.too_few_days"]


def _points(residuals: list[float], sigma: float = 1.0) -> list[BaselinePoint]:
    z = 1.6448536269514722  # 90 % band
    day0 = datetime(2025, 9, 1, tzinfo=UTC)
    return [BaselinePoint("r", day0, "m1", "plant", "", day0 + timedelta(days=i), 100.0 + r,
                          100.0, 100.0 - z * sigma, 100.0 + z * sigma)
            for i, r in enumerate(residuals)]


def test_cusum_path_matches_hand_computation() -> None:
    # A null test: mu0 = 0; k = 0.5.
    path = cusum_path(_points([0.0, 0.0, 2.0, 2.0, -4.0, 1.0], sigma=2.0),
                      CusumOptions(reference_days=2))
    assert_allclose(path["x"], [0, 0, 1, 1, -2, 0.5])
    assert_allclose(path["s_upper"], [0, 0, 0.5, 1.0, 0.0, 0.0])
    assert path.attrs["mu0"] == 0.0
    # After a measure: mu0 = median of the first 2 days' x = -1.5 (the measure's saving).
    after = [replace(p, measure_id="led") for p in _points([-2.0, -4.0, 0.0, -3.0], 2.0)]
    path = cusum_path(after, CusumOptions(reference_days=2))
    assert_allclose(path.attrs["mu0"], -1.5)
    assert_allclose(path["s_upper"], [0.0, 0.0, 1.0, 0.5])


def test_baseline_cusum_dates_the_drift_and_counts_its_excess() -> None:
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.5, 60)  # half the band's sigma (1 kWh), as Prophet's bands run
    residuals = list(np.where(np.arange(60) >= 30, 2.0, 0.0) + noise)
    (f,) = baseline_cusum(_data(np.full(48 * 60, 10.0)), _points(residuals)).findings
    assert f.code == "drift.baseline_cusum"
    # Page's estimate, earliest within 0.5σ of the minimum: at most two days early here.
    assert -3 <= (f.start - datetime(2025, 10, 1, tzinfo=UTC)).days <= 0
    since = int(f.evidence["days_since_start"])
    mu0 = float(f.evidence["mu0_sigma"])
    assert_allclose(f.evidence["excess_kwh_since_start"],
                    sum(residuals[-since:]) - mu0 * since, rtol=1e-4)  # 3 decimals
    assert_allclose(f.annual_kwh, f.evidence["excess_kwh_since_start"] / since * 365, rtol=1e-3)
    assert baseline_cusum(_data(np.full(48 * 60, 10.0)), _points(list(noise))).findings == ()
    none = baseline_cusum(_data(np.full(48 * 60, 10.0)), [])
    assert [w.code for w in none.warnings] == ["findings.no_baseline"]


def test_change_point_dates_a_step_with_pelt() -> None:
    kw, frame = _plant(90)
    rng = np.random.default_rng(5)
    daily_noise = rng.normal(0, 0.01, 90).repeat(48)
    kw = kw * (1 + daily_noise) + np.where(frame["local_date"] >= date(2025, 10, 16), 10.0, 0.0)
    (f,) = change_point(_data(kw)).findings
    assert f.code == "drift.change_point"
    assert f.evidence["since"] == "2025-10-16"
    assert_allclose(f.evidence["step_kwh_per_day"], 240.0, rtol=0.05)  # 10 kW × 24 h
    kw_clean, _ = _plant(90)
    assert change_point(_data(kw_clean * (1 + daily_noise))).findings == ()


def test_demand_peak_finds_the_start_up_spike_and_prices_it() -> None:
    kw, frame = _plant(35)
    spike = frame["workday"] & (frame["local_hour"] == 8.0) & (
        frame["local_date"] >= date(2025, 9, 20))
    kw = kw + np.where(spike, 40.0, 0.0)
    (f,) = demand_peak(_data(kw)).findings
    assert f.code == "demand.peak"
    assert_allclose(f.evidence["peak_kw"], 140.0)
    assert_allclose(f.evidence["excess_kw"], 40.0)  # the slots after hold 100 kW
    assert f.evidence["slot_local"] == "08:00"
    assert f.evidence["since"] == "2025-09-22"  # the first workday from 09-20 (a Saturday)
    assert_allclose(f.annual_cost_jpy, 40.0 * 1800 * 12)
    assert f.annual_kwh == 0.0
    assert demand_peak(_data(_plant(35)[0])).findings == ()


def test_ev_evening_charging_saving_is_peak_minus_the_night_spread() -> None:
    days = 28
    kw = np.zeros(days * 48)
    frame = _data(kw, MeterKind.EV_CHARGING).frame
    late = frame["local_date"] >= date(2025, 9, 15)
    h = frame["local_hour"]
    night = ((h >= 22) | (h < 3)) & ~late  # 5 h at 100 kW = 500 kWh, overnight
    evening = (h >= 18) & (h < 23) & late  # the same 500 kWh from 18:00
    kw = np.where(night | evening, 100.0, 0.0)
    (f,) = ev_peak_charging(_data(kw, MeterKind.EV_CHARGING), EvOptions()).findings
    assert f.code == "ev.peak_charging"
    assert_allclose(f.evidence["saving_kw"], 100.0 - 500.0 / 8.0)
    assert f.evidence["since"] == "2025-09-15"
    no_shift = np.where(((h >= 22) | (h < 3)), 100.0, 0.0)
    assert ev_peak_charging(_data(no_shift, MeterKind.EV_CHARGING)).findings == ()


def test_measure_underdelivering_against_its_declared_saving() -> None:
    t0 = datetime(2025, 9, 1, tzinfo=UTC)
    rec = SavingsRecord("r", t0, "m1", "plant", "led", "daily", t0 - timedelta(days=365), t0,
                        t0, t0 + timedelta(days=30), 9800.0, 10000.0, 200.0, 50.0, 350.0, 0.9)
    data = _data(np.full(48 * 30, 10.0))
    (f,) = measure_underdelivering(data, rec, -10.0).findings  # declared 1000 kWh
    assert f.code == "measure.underdelivering" and f.key == "led"
    assert_allclose(f.evidence["delivered_share"], 0.2)
    assert_allclose(f.annual_kwh, round(800.0 / 30 * 365, 1))
    assert measure_underdelivering(data, rec, -2.5).findings == ()  # 200 of 250: fine
    nan = SavingsRecord("r", t0, "m1", "plant", "led", "daily", t0, t0, t0, t0, *[np.nan] * 6)
    assert [w.code for w in measure_underdelivering(data, nan, -10.0).warnings] == [
        "findings.no_verified_saving"]


def test_pv_soiling_loss_against_the_pvlib_clear_sky() -> None:
    days = 60
    index = pd.date_range(START, periods=days * 48, freq=SLOT)
    clear = clear_sky_kwh_per_kwp(index, 36.6, 140.65, 25.0, 180.0) * 100.0 / 0.5  # kW
    day = np.arange(days * 48) // 48
    soiling = np.where(day >= 20, 0.004 * (day - 20), 0.0)  # cleaned on day 20, then 0.4 %/d
    clouds = np.where(day % 5 == 0, 0.3, 0.85)  # every fifth day overcast
    kw = clear * clouds * (1 - soiling)
    (f,) = pv_underperformance(_data(kw, MeterKind.PV), 36.6, 140.65).findings
    assert f.code == "pv.underperformance"
    assert f.evidence["cause"] == "soiling"
    true_loss = 0.004 * (days - 1 - 20 - 7)  # the index is a centred 15-day quantile
    assert_allclose(f.evidence["loss_pct"] / 100, true_loss, rtol=0.3)
    assert abs((f.start - (START + timedelta(days=20))).days) <= 7
    clean = pv_underperformance(_data(clear * clouds, MeterKind.PV), 36.6, 140.65)
    assert clean.findings == ()


@pytest.mark.parametrize("kind", [MeterKind.WEATHER, MeterKind.PV])
def test_detectors_skip_meters_they_do_not_judge(kind: MeterKind) -> None:
    kw, _ = _plant(40)
    assert off_hours_base_load(_data(kw, kind)).findings == ()
    assert demand_peak(_data(kw, kind)).findings == ()


def test_pv_abrupt_drop_is_a_fault_not_soiling() -> None:
    days = 60
    index = pd.date_range(START, periods=days * 48, freq=SLOT)
    clear = clear_sky_kwh_per_kwp(index, 36.6, 140.65, 25.0, 180.0) * 100.0 / 0.5
    day = np.arange(days * 48) // 48
    clouds = np.where(day % 5 == 0, 0.3, 0.85)
    kw = clear * clouds * np.where(day >= 30, 0.75, 1.0)  # a string lost on day 30
    (f,) = pv_underperformance(_data(kw, MeterKind.PV), 36.6, 140.65).findings
    assert f.evidence["cause"] == "fault"
    assert_allclose(f.evidence["loss_pct"], 25.0, rtol=0.05)
