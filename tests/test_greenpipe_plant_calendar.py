"""Tests for greenpipe.plant_calendar: Japanese holidays and plant shutdowns in JST."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from greenpipe.config import ShutdownPeriod
from greenpipe.plant_calendar import (
    DEFAULT_SHUTDOWNS,
    DayType,
    day_type,
    local_date,
    public_holiday_name,
    shutdown_name,
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 1, 13), DayType.HOLIDAY),    # Coming of Age Day (2nd Monday of January)
        (date(2025, 3, 20), DayType.HOLIDAY),    # Vernal Equinox Day
        (date(2025, 4, 29), DayType.HOLIDAY),    # Showa Day, before the Golden Week shutdown
        (date(2025, 5, 2), DayType.SHUTDOWN),    # Golden Week shutdown (a Friday)
        (date(2025, 5, 6), DayType.HOLIDAY),     # substitute holiday after the shutdown
        (date(2025, 8, 13), DayType.SHUTDOWN),   # Obon
        (date(2025, 8, 17), DayType.SUNDAY),     # after Obon
        (date(2025, 11, 3), DayType.HOLIDAY),    # Culture Day
        (date(2025, 11, 24), DayType.HOLIDAY),   # substitute holiday for Labour Thanksgiving
        (date(2025, 12, 29), DayType.SHUTDOWN),  # New Year shutdown starts
        (date(2026, 1, 3), DayType.SHUTDOWN),    # ... and wraps into January
        (date(2026, 1, 5), DayType.WORKDAY),
        (date(2025, 6, 7), DayType.SATURDAY),
        (date(2025, 6, 8), DayType.SUNDAY),
    ],
)
def test_day_types(day: date, expected: DayType) -> None:
    assert day_type(day, DEFAULT_SHUTDOWNS) == expected


def test_holiday_names() -> None:
    assert public_holiday_name(date(2025, 5, 5)) is not None
    assert public_holiday_name(date(2025, 6, 10)) is None


def test_shutdown_wrapping_the_new_year() -> None:
    ny = ShutdownPeriod("new_year", "12-29", "01-03")
    assert ny.contains(date(2025, 12, 31))
    assert ny.contains(date(2026, 1, 1))
    assert not ny.contains(date(2026, 1, 4))
    assert not ny.contains(date(2025, 12, 28))
    assert shutdown_name(date(2026, 1, 2), [ny]) == "new_year"


def test_local_date_uses_jst() -> None:
    # 15:00 UTC on 31 March is already 1 April in Tokyo (the fiscal-year boundary).
    ts = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)
    assert local_date(ts, "Asia/Tokyo") == date(2025, 4, 1)
    assert local_date(ts, "UTC") == date(2025, 3, 31)
    with pytest.raises(ValueError, match="no UTC offset"):
        local_date(datetime(2025, 1, 1), "Asia/Tokyo")
