"""Fiscal years (April–March, JST): boundaries, labels and the interval-end convention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from greenpipe.fiscal import (
    current_fiscal_year,
    fiscal_year,
    fiscal_year_bounds,
    fiscal_year_fraction,
    fy_label,
)


def test_boundary_instant_in_jst() -> None:
    # 2025-03-31T15:00Z is 2025-04-01 00:00 JST: the first instant of FY2025.
    assert fiscal_year(datetime(2025, 3, 31, 15, tzinfo=UTC)) == 2025
    assert fiscal_year(datetime(2025, 3, 31, 14, 59, 59, tzinfo=UTC)) == 2024
    # In UTC the same instant is still March 31, i.e. FY2024.
    assert fiscal_year(datetime(2025, 3, 31, 15, tzinfo=UTC), "UTC") == 2024


def test_interval_end_reading_belongs_to_previous_year() -> None:
    ts = datetime(2025, 3, 31, 15, tzinfo=UTC)
    assert fiscal_year(ts, interval_end=True) == 2024
    assert fiscal_year(ts + timedelta(minutes=30), interval_end=True) == 2025


def test_dates_are_local() -> None:
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026
    assert fiscal_year(date(2026, 1, 1)) == 2025


def test_bounds_are_jst_midnights_in_utc() -> None:
    start, end = fiscal_year_bounds(2025)
    assert start == datetime(2025, 3, 31, 15, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 15, tzinfo=UTC)
    assert (end - start) == timedelta(days=365)
    s24, e24 = fiscal_year_bounds(2023)  # contains 29 Feb 2024
    assert e24 - s24 == timedelta(days=366)


def test_bounds_across_dst_zone() -> None:
    # Europe/Berlin: 1 April is in summer time (UTC+2) in both years.
    start, end = fiscal_year_bounds(2025, "Europe/Berlin")
    assert start == datetime(2025, 3, 31, 22, tzinfo=UTC)
    assert end == datetime(2026, 3, 31, 22, tzinfo=UTC)


def test_fraction_and_current() -> None:
    start, _ = fiscal_year_bounds(2025)
    assert fiscal_year_fraction(start) == 0.0
    assert fiscal_year_fraction(start + timedelta(days=73)) == pytest.approx(73 / 365)
    assert current_fiscal_year(datetime(2026, 11, 28, tzinfo=UTC)) == 2026


def test_labels() -> None:
    assert fy_label(2025, "en") == "FY2025"
    assert fy_label(2025, "ja") == "2025年度"
    with pytest.raises(ValueError, match="use 'ja' or 'en'"):
        fy_label(2025, "de")


def test_naive_and_bad_zone_rejected() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        fiscal_year(datetime(2025, 4, 1))
    with pytest.raises(ValueError, match="IANA"):
        fiscal_year_bounds(2025, "Mars/Olympus")
