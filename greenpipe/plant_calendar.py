"""Japanese working calendar: public holidays and recurring plant shutdowns.

Days are local calendar dates (Asia/Tokyo for the example city); convert a UTC timestamp
with ``local_date`` first. Used by the simulators for load shapes and by forecasting for
holiday regressors, so both agree on what a working day is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from greenpipe.config import ShutdownPeriod

DEFAULT_SHUTDOWNS: tuple[ShutdownPeriod, ...] = (
    ShutdownPeriod(name="golden_week", start="05-01", end="05-05"),
    ShutdownPeriod(name="obon", start="08-13", end="08-16"),
    ShutdownPeriod(name="new_year", start="12-29", end="01-03"),
)
"""Shutdowns typical of Japanese manufacturers, used when the config declares none."""


class DayType(StrEnum):
    """How a plant treats a local calendar day."""

    WORKDAY = "workday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"
    SHUTDOWN = "shutdown"


@lru_cache(maxsize=64)
def _japan_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def public_holiday_name(day: date) -> str | None:
    """Return the name of the Japanese public holiday on ``day``, or None."""
    name = _japan_holidays(day.year).get(day)
    return str(name) if name else None


def shutdown_name(day: date, shutdowns: Iterable[ShutdownPeriod]) -> str | None:
    """Return the name of the plant shutdown covering ``day``, or None."""
    for period in shutdowns:
        if period.contains(day):
            return period.name
    return None


def day_type(day: date, shutdowns: Iterable[ShutdownPeriod] = DEFAULT_SHUTDOWNS) -> DayType:
    """Classify a local day; a shutdown wins over a holiday, a holiday over a weekday."""
    if shutdown_name(day, shutdowns):
        return DayType.SHUTDOWN
    if public_holiday_name(day):
        return DayType.HOLIDAY
    if day.weekday() == 5:
        return DayType.SATURDAY
    if day.weekday() == 6:
        return DayType.SUNDAY
    return DayType.WORKDAY


def local_date(ts: datetime, timezone: str) -> date:
    """Return the local calendar date of an aware timestamp in an IANA time zone."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no UTC offset")
    return ts.astimezone(ZoneInfo(timezone)).date()
