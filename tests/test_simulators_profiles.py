"""Load profiles through the fleet: JST calendars, shutdowns, HVAC, PV and EV charging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from greenpipe.config import Config, config_from_dict
from simulators.fleet import Fleet
from simulators.profiles import PROFILES, window
from simulators.weather import temp_air_c_at

JST = timezone(timedelta(hours=9))


def _at(fleet: Fleet, meter_id: str, *instants: datetime) -> np.ndarray:
    row = [m.meter.id for m in fleet.energy_meters].index(meter_id)
    t = np.asarray([int(ts.timestamp()) for ts in instants], dtype=np.int64)
    return fleet.power_kw(t)[row]


@pytest.fixture(scope="module")
def fleet(example_config: Config) -> Fleet:
    return Fleet(example_config, seed=42)


OFF_DAYS = {
    "Culture Day (public holiday)": "2025-11-03",
    "Golden Week shutdown": "2025-05-01",
    "Golden Week shutdown (Friday)": "2025-05-02",
    "Obon shutdown": "2025-08-13",
    "Obon shutdown (Thursday)": "2025-08-14",
    "New Year shutdown": "2025-12-29",
    "New Year shutdown (Tuesday)": "2025-12-30",
    "Sunday": "2025-11-09",
}


@pytest.mark.parametrize("label", sorted(OFF_DAYS))
def test_two_shift_plant_idles_on_holidays_shutdowns_and_sundays(fleet: Fleet, label: str) -> None:
    off_day = datetime.fromisoformat(OFF_DAYS[label])
    for hour in (10, 16):
        off = _at(fleet, "f2-main", off_day.replace(hour=hour, tzinfo=JST))
        # normal weekdays around it: Tuesday 2025-11-04 and Wednesday 2025-11-05
        work = _at(fleet, "f2-main", datetime(2025, 11, 4, hour, tzinfo=JST),
                   datetime(2025, 11, 5, hour, tzinfo=JST))
        assert off[0] < 0.25 * work.min(), (label, hour, off, work)


def test_local_hours_are_jst_09_00_jst_is_00_00_utc(fleet: Fleet) -> None:
    # Tuesday 2025-11-04: 09:00 JST = 00:00 UTC is inside the first shift; 00:00 JST is not.
    shift, night = _at(fleet, "f2-main", datetime(2025, 11, 4, 0, 0, tzinfo=UTC),
                       datetime(2025, 11, 3, 15, 0, tzinfo=UTC))
    nominal = 2500.0
    assert shift > 0.8 * nominal
    assert night < 0.2 * nominal
    # The same UTC instants read as if local were UTC would swap the answer.
    ctx = fleet._context(np.asarray([int(datetime(2025, 11, 4, tzinfo=UTC).timestamp())]),
                         "Asia/Tokyo", np.zeros(1), np.ones(1), np.zeros(1))
    assert_allclose(ctx.local_hour, [9.0])


def test_sites_in_daylight_saving_zones_follow_their_local_clock() -> None:
    raw = {
        "sites": [{"id": "berlin", "name": "B", "sector": "industry",
                   "timezone": "Europe/Berlin", "grid_region": "de"}],
        "meters": [{"id": "b-main", "site": "berlin", "kind": "electricity",
                    "profile": "sme_workshop", "nominal_kw": 100.0}],
    }
    fleet = Fleet(config_from_dict(raw, env={}), seed=1)
    # Wednesday 2025-07-02 (CEST, UTC+2) and Wednesday 2025-01-08 (CET, UTC+1), 07:45 local:
    # the workshop opens at 08:00, so 06:15 UTC is open in summer and closed in winter.
    summer_open, summer_closed = _at(fleet, "b-main", datetime(2025, 7, 2, 6, 15, tzinfo=UTC),
                                     datetime(2025, 7, 2, 5, 45, tzinfo=UTC))
    winter_open, winter_closed = _at(fleet, "b-main", datetime(2025, 1, 8, 7, 15, tzinfo=UTC),
                                     datetime(2025, 1, 8, 6, 15, tzinfo=UTC))
    assert summer_open > 4 * summer_closed
    assert winter_open > 4 * winter_closed


def test_offices_close_on_holidays_and_29_december_to_3_january(fleet: Fleet) -> None:
    weekday = _at(fleet, "office-1-main", datetime(2025, 11, 5, 11, tzinfo=JST))[0]
    for day in ("2025-11-03", "2025-12-30", "2026-01-02", "2025-11-09"):
        closed = _at(fleet, "office-1-main",
                     datetime.fromisoformat(day).replace(hour=11, tzinfo=JST))[0]
        assert closed < 0.5 * weekday, day
    # offices do not observe the plants' Obon shutdown (2025-08-13 is a Wednesday)
    obon = _at(fleet, "office-1-main", datetime(2025, 8, 13, 11, tzinfo=JST))[0]
    assert obon > 0.5 * 600


def _weekdays_at(year: int, month: int, hour: int) -> list[datetime]:
    days = [datetime(year, month, d, hour, tzinfo=JST) for d in range(1, 29)]
    return [d for d in days if d.weekday() < 5 and d.day not in (11, 13, 14, 15)]


def test_office_hvac_follows_the_shared_outdoor_temperature(fleet: Fleet) -> None:
    # The hottest August weekday afternoon draws more than the mildest May one (cooling),
    # judged by the very temperatures the weather meter publishes.
    aug, may = _weekdays_at(2025, 8, 14), _weekdays_at(2025, 5, 14)
    t_aug = temp_air_c_at([d.timestamp() for d in aug], 42)
    t_may = temp_air_c_at([d.timestamp() for d in may], 42)
    hot_day = aug[int(np.argmax(t_aug))]
    mild_day = may[int(np.argmin(np.abs(t_may - 20.0)))]
    assert t_aug.max() > 28.0
    hot, mild = _at(fleet, "office-1-main", hot_day, mild_day)
    assert hot > mild * 1.2


def test_office_shape_adds_cooling_per_degree_above_22_c() -> None:
    from simulators.profiles import SlotContext, office

    def ctx(temp_c: float) -> SlotContext:
        one = np.ones(1)
        return SlotContext(
            t_epoch_s=one, local_hour=np.asarray([11.0]), local_days=one,
            day_code=np.zeros(1, dtype=np.int64), prev_day_code=np.zeros(1, dtype=np.int64),
            office_closed=np.zeros(1, dtype=bool), new_years_day=np.zeros(1, dtype=bool),
            temp_air_c=np.asarray([temp_c]), clearness=one, pv_fraction=np.zeros(1),
        )

    # occupied weekday 11:00: base 0.22 + plugs 0.33, plus 0.030 per K above 22 °C
    assert_allclose(office(ctx(20.0)), [0.55])
    assert_allclose(office(ctx(32.0)), [0.55 + 0.030 * 10])
    assert_allclose(office(ctx(6.0)), [0.55 + 0.022 * 10])


def test_gas_heating_follows_heating_degrees(fleet: Fleet) -> None:
    winter = _at(fleet, "city-hall-gas", datetime(2025, 1, 15, 10, tzinfo=JST))[0]
    summer = _at(fleet, "city-hall-gas", datetime(2025, 8, 6, 10, tzinfo=JST))[0]
    assert winter > 5 * summer


def test_pv_meters_are_zero_at_night_and_produce_by_day(fleet: Fleet) -> None:
    day = datetime(2025, 6, 10, tzinfo=JST)
    t = [day + timedelta(minutes=5 * k) for k in range(288)]
    p = _at(fleet, "pv-1", *t)
    hours = np.arange(288) * 5 / 60
    assert_array_equal(p[(hours < 4.0) | (hours >= 19.5)], 0.0)
    assert p.max() > 0
    assert 9.5 <= hours[np.argmax(p)] <= 14.0


def test_pv_clear_days_in_june_beat_clear_days_in_december(fleet: Fleet) -> None:
    from simulators.weather import clearness_by_day, local_day_jst

    def clear_day_energies(year: int, month: int) -> list[float]:
        out = []
        for d in range(1, 29):
            start = datetime(year, month, d, tzinfo=JST)
            if clearness_by_day(local_day_jst(start.timestamp()), 42) < 0.85:
                continue
            t = [start + timedelta(minutes=5 * k) for k in range(288)]
            out.append(float(_at(fleet, "pv-1", *t).sum() / 12))
        return out

    june, december = clear_day_energies(2025, 6), clear_day_energies(2025, 12)
    assert june and december
    assert np.mean(june) > np.mean(december) * 1.2


def test_ev_depot_charges_at_night(fleet: Fleet) -> None:
    night = _at(fleet, "bus-depot-chargers", *(datetime(2025, 11, 5, 0, tzinfo=JST)
                                             + timedelta(hours=h) for h in (0, 1, 2)))
    day = _at(fleet, "bus-depot-chargers", *(datetime(2025, 11, 5, 9, tzinfo=JST)
                                           + timedelta(hours=h) for h in (0, 7, 8)))
    assert night.min() > 0.5 * 900
    assert day.max() < 0.1 * 900


def test_window_ramps_and_wraps_midnight() -> None:
    h = np.asarray([5.0, 6.0, 7.0, 22.0, 23.5, 1.0, 3.0])
    assert_allclose(window(h, 6.0, 23.0, 1.0), [0.0, 0.5, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert_allclose(window(h, 22.0, 2.0, 1.0), [0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.0])


def test_every_documented_profile_exists() -> None:
    assert set(PROFILES) == {
        "continuous_process", "process_gas", "two_shift", "sme_workshop", "office", "retail",
        "city_hall", "office_heating_gas", "pv", "ev_depot", "weather",
    }
