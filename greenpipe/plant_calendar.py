"""Working calendar: public holidays (any country) and recurring plant shutdowns.

Days are local calendar dates (Asia/Tokyo for the example city); convert a UTC timestamp
with ``local_date`` first. Used by the simulators for load shapes and by forecasting for
holiday regressors, so both agree on what a working day is. Public holidays come from the
``holidays`` package for an ISO 3166 country code (Japan by default; ``country_for_zone``
derives the code from an IANA zone through the tz database's ``zone.tab``). Japanese plant
shutdowns (``DEFAULT_SHUTDOWNS``) apply only where a caller passes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from greenpipe.config import ShutdownPeriod
from greenpipe.config_checks import month_day
from greenpipe.csvio import is_missing, pick_column, read_table
from greenpipe.errors import GreenpipeError

DEFAULT_COUNTRY = "JP"
"""Public holidays of this country when none is given (the example city is Japanese)."""

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


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)


def check_country(country: str) -> str:
    """Return the upper-cased ISO 3166 code if the holidays package knows it, else raise."""
    code = country.strip().upper()
    if code not in holidays.list_supported_countries():
        raise GreenpipeError(f"country {country!r} has no public-holiday calendar; give an "
                             "ISO 3166 alpha-2 code such as JP, US, DE or GB")
    return code


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """Zone -> country code from the tz database's zone.tab (tzdata package or system)."""
    text = ""
    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        system = Path("/usr/share/zoneinfo/zone.tab")
        text = system.read_text("utf-8") if system.exists() else ""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#"):
            out[parts[2]] = parts[0]
    return out


def country_for_zone(tz: str, default: str = DEFAULT_COUNTRY) -> str:
    """Return the country code of an IANA zone (Europe/Berlin -> DE), or ``default``.

    Zones without a country (UTC, Etc/GMT+9) give ``default``.
    """
    code = _zone_countries().get(tz)
    return code if code and code in holidays.list_supported_countries() else default


def public_holiday_name(day: date, country: str = DEFAULT_COUNTRY) -> str | None:
    """Return the name of ``country``'s public holiday on ``day``, or None."""
    name = _holidays(country, day.year).get(day)
    return str(name) if name else None


def load_shutdowns(spec: str) -> tuple[ShutdownPeriod, ...]:
    """Return the shutdowns named by ``none``, ``jp`` (``DEFAULT_SHUTDOWNS``) or a CSV file.

    The CSV has columns ``name,start,end`` with month-day bounds (``08-13``), as the
    ``[[shutdowns]]`` config tables.
    """
    if spec.strip().lower() == "none":
        return ()
    if spec.strip().lower() == "jp":
        return DEFAULT_SHUTDOWNS
    df = read_table(spec, "shutdowns CSV")
    cols = list(df.columns)
    names = [pick_column(cols, None, (c,), c, spec) for c in ("name", "start", "end")]
    out = []
    for i, row in enumerate(df[names].itertuples(index=False), start=1):
        if all(is_missing(v) for v in row):
            continue
        period = ShutdownPeriod(name=row[0].strip(), start=row[1].strip(), end=row[2].strip())
        try:
            month_day(period.start), month_day(period.end)
        except ValueError:
            raise GreenpipeError(f"{spec} row {i}: {period.start!r}..{period.end!r} are not "
                                 "month-day bounds; write name,start,end such as "
                                 "obon,08-13,08-16") from None
        out.append(period)
    return tuple(out)


def shutdown_name(day: date, shutdowns: Iterable[ShutdownPeriod]) -> str | None:
    """Return the name of the plant shutdown covering ``day``, or None."""
    for period in shutdowns:
        if period.contains(day):
            return period.name
    return None


def day_type(day: date, shutdowns: Iterable[ShutdownPeriod] = DEFAULT_SHUTDOWNS,
             country: str = DEFAULT_COUNTRY) -> DayType:
    """Classify a local day; a shutdown wins over a holiday, a holiday over a weekday."""
    # Models classify every day of every fit; the month-day parsing made this a hot spot.
    return _day_type(day, tuple(shutdowns), country)


@lru_cache(maxsize=65536)
def _day_type(day: date, shutdowns: tuple[ShutdownPeriod, ...], country: str) -> DayType:
    if shutdown_name(day, shutdowns):
        return DayType.SHUTDOWN
    if public_holiday_name(day, country):
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
