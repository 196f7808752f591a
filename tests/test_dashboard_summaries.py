"""Pure table-building functions of the dashboard (dashboard/summaries.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from dashboard import summaries
from greenpipe.model import DeadLetter, Meter, MeterKind, Reading
from greenpipe.stores import MeterStats, StoreStats

AS_OF = datetime(2025, 10, 1, 3, 30, tzinfo=UTC)
METERS = [Meter("a", "s1", MeterKind.ELECTRICITY, "kWh"),
          Meter("b", "s1", MeterKind.PV, "kWh"),
          Meter("c", "s2", MeterKind.GAS, "kWh")]


def _hourly(rows: list[tuple[str, datetime]]) -> pd.DataFrame:
    return pd.DataFrame({"meter": [m for m, _ in rows],
                         "bucket": pd.to_datetime([b for _, b in rows], utc=True),
                         "energy_kwh": 1.0, "power_kw": 1.0, "temp_air_c": float("nan"),
                         "readings": 1})


def test_meter_health_status_age_gaps_and_flags() -> None:
    h = lambda n: AS_OF.replace(minute=0) - timedelta(hours=n)  # noqa: E731
    stats = StoreStats(meters=(
        MeterStats("a", "s1", 10, h(5), AS_OF - timedelta(minutes=10), 5.0),
        MeterStats("b", "s1", 3, h(30), h(26), 1.0),
        MeterStats("zz", "s9", 1, h(1), h(1), 0.0),
    ), dead_letters=0)
    latest = {"a": Reading("a", "s1", AS_OF - timedelta(minutes=10),
                           quality=frozenset({"quality.counter_reset"}))}
    # a: buckets 5,4,2 hours before the current hour plus the current (partial) hour.
    hourly = _hourly([("a", h(5)), ("a", h(4)), ("a", h(2)), ("a", h(0)), ("b", h(27))])
    out = summaries.meter_health(METERS, stats, latest, hourly, as_of=AS_OF,
                                 offline_after=timedelta(hours=1))
    assert list(out["meter"]) == ["a", "b", "c", "zz"]
    assert list(out["status"]) == ["online", "offline", "never", "offline"]
    assert list(out["kind"]) == ["electricity", "pv", "gas", "unknown"]
    assert_allclose(out["age_s"][:2], [600.0, 26 * 3600 + 1800.0])
    # a: complete hours h5..h1 = 5, with data in 3 -> 2 gaps; the current hour never counts.
    # b: h27..h1 = 27 hours, 1 with data -> 26 gaps.
    assert list(out["gaps_h"]) == [2, 26, 0, 0]
    assert list(out["quality"]) == ["quality.counter_reset", "", "", ""]
    assert list(out["readings"]) == [10, 3, 0, 1]


def test_meter_health_on_an_empty_store() -> None:
    out = summaries.meter_health(METERS, StoreStats((), 0), {}, _hourly([]), as_of=AS_OF,
                                 offline_after=timedelta(hours=1))
    assert list(out["status"]) == ["never"] * 3
    assert list(out["gaps_h"]) == [0, 0, 0]


def test_monthly_rolls_local_days_into_calendar_months() -> None:
    daily = pd.DataFrame({"meter": ["a", "a", "a", "b"],
                          "day": [date(2025, 3, 31), date(2025, 4, 1), date(2025, 4, 30),
                                  date(2025, 4, 2)],
                          "energy_kwh": [1.0, 2.0, 4.0, 8.0], "readings": [48, 48, 48, 1]})
    out = summaries.monthly(daily, "meter")
    assert list(out["month"]) == [date(2025, 3, 1), date(2025, 4, 1), date(2025, 4, 1)]
    assert list(out["meter"]) == ["a", "a", "b"]
    assert_allclose(out["energy_kwh"], [1.0, 6.0, 8.0])
    assert list(out["readings"]) == [48, 96, 1]
    assert summaries.monthly(daily.iloc[0:0], "meter").empty


def test_straight_line_target() -> None:
    assert summaries.straight_line_target_t(1000, 2013, 2030, 46, 2013) == 1000
    assert summaries.straight_line_target_t(1000, 2013, 2030, 46, 2030) == pytest.approx(540)
    assert summaries.straight_line_target_t(1000, 2013, 2030, 46, 2040) == pytest.approx(540)
    assert summaries.straight_line_target_t(1000, 2013, 2030, 46, 2025) == pytest.approx(
        1000 * (1 - 0.46 * 12 / 17))
    with pytest.raises(ValueError, match="after base_fy"):
        summaries.straight_line_target_t(1000, 2030, 2013, 46, 2025)


def test_change_pct_and_sector_mapping() -> None:
    assert summaries.change_pct(90, 100) == pytest.approx(-10)
    assert summaries.change_pct(5, 0) is None
    assert summaries.sector_for_target("public") == "commercial"
    assert summaries.sector_for_target("industry") == "industry"


def test_payload_text_and_dead_letters_by_meter() -> None:
    assert summaries.payload_text(b'{"a": 1}') == '{"a": 1}'
    assert summaries.payload_text(b"\x00\xff") == "hex: 00 ff"
    assert summaries.payload_text(b"x" * 10, limit=4) == "xxxx… (+6)"
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    letters = [DeadLetter(t0, "greenpipe/v1/s1/a/reading", b"", "c", "r"),
               DeadLetter(t0, "greenpipe/v1/s1/a/reading", b"", "c", "r"),
               DeadLetter(t0, "other/topic", b"", "c", "r")]
    assert summaries.dead_letters_by_meter(letters, "greenpipe/v1") == {"a": 2}


def test_annotate_adds_site_kind_sector_region() -> None:
    from greenpipe.model import Sector, Site

    sites = {"s1": Site("s1", "S1", Sector.INDUSTRY, "Asia/Tokyo", "tepco")}
    frame = pd.DataFrame({"meter": ["a", "c", "x"]})
    out = summaries.annotate(frame, {m.id: m for m in METERS}, sites)
    assert list(out["site"]) == ["s1", "s2", "unknown"]
    assert list(out["kind"]) == ["electricity", "gas", "unknown"]
    assert list(out["sector"]) == ["industry", "unknown", "unknown"]
    assert list(out["grid_region"]) == ["tepco", "japan", "japan"]


def test_progress_sums_consumption_and_keeps_pv_apart() -> None:
    now = pd.DataFrame({"kind": ["electricity", "gas", "pv"],
                        "energy_kwh": [1000.0, 500.0, 200.0],
                        "co2_kg": [485.0, 89.76, 0.0], "avoided_co2_kg": [0.0, 0.0, 97.0]})
    before = now.assign(co2_kg=[970.0, 0.0, 0.0])
    p = summaries.progress(now, before, budget_t=0.5)
    assert p.co2_t == pytest.approx(0.57476)
    assert p.co2_prev_t == pytest.approx(0.97)
    assert p.energy_mwh == pytest.approx(1.5)
    assert p.pv_mwh == pytest.approx(0.2)
    assert p.pv_avoided_t == pytest.approx(0.097)
    assert p.budget_t == 0.5
    assert summaries.progress(now, None, None).co2_prev_t is None


def test_nearest_target_and_its_path_to_date() -> None:
    from greenpipe.config import Target

    t2030 = Target("city", "city", 2013, 1000.0, 2030, 46.0)
    t2050 = Target("city", "city", 2013, 1000.0, 2050, 100.0)
    ind = Target("sector", "industry", 2013, 600.0, 2030, 38.0)
    targets = [t2050, ind, t2030]
    assert summaries.nearest_target(targets, "city", None, 2025) is t2030
    assert summaries.nearest_target(targets, "city", None, 2031) is t2050
    assert summaries.nearest_target(targets, "sector", "industry", 2025) is ind
    assert summaries.nearest_target(targets, "sector", "transport", 2025) is None
    assert summaries.path_to_date_t(t2030, 2025, 0.5) == pytest.approx(
        1000 * (1 - 0.46 * 12 / 17) * 0.5)
