"""greenpipe.csvio and the CSV imports built on it: missing marks, index columns, naive times."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from forecasting.data import (
    BaselineData,
    read_meter_column,
    read_meter_csv,
    read_temperature_column,
)
from greenpipe.csvio import is_missing, parse_numbers, parse_timestamps
from greenpipe.errors import GreenpipeError
from greenpipe.plant_calendar import (
    DEFAULT_SHUTDOWNS,
    DayType,
    check_country,
    country_for_zone,
    day_type,
    load_shutdowns,
)

DATA = Path(__file__).parent / "data" / "csv"


def _utc(*stamps: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(s, tz="UTC") for s in stamps]


def test_missing_marks_are_counted_never_filled() -> None:
    col, marks = read_meter_column(DATA / "meter_missing_marks.csv")
    assert marks == "start"
    assert col.missing == 6 and col.rows == 8
    assert_allclose(col.series.to_numpy(), [1.5] + [np.nan] * 5 + [2.5, np.nan])
    # Through BaselineData: hours with a missing mark are unknown (not 0) and reported.
    data = BaselineData.from_csv(DATA / "meter_missing_marks.csv", granularity="hourly",
                                 force=True)
    assert_allclose(data.frame["energy_kwh"].to_numpy(),
                    [1.5] + [np.nan] * 5 + [2.5, np.nan])
    found = {w.code: w.message for w in data.warnings}
    assert "meter CSV: 6 of 8 rows marked missing" in found["data.missing_values"]
    # The finding survives slicing into baseline / reporting periods.
    part = data.slice(data.start, data.end, force=True)
    assert "data.missing_values" in {w.code for w in part.warnings}


@pytest.mark.parametrize("cell", ["", " ", "nan", "NaN", "NA", "n/a", "null", "NULL", "None"])
def test_missing_mark_spellings(cell: str) -> None:
    assert is_missing(cell)
    values, missing = parse_numbers(pd.Series([cell, "2"]), "x.csv")
    assert missing == 1 and np.isnan(values[0]) and values[1] == 2.0


def test_not_a_number_is_still_an_error() -> None:
    with pytest.raises(GreenpipeError, match="'lots' in row 2 is not a number"):
        parse_numbers(pd.Series(["1", "lots"]), "x.csv")


def test_leading_index_column_is_dropped() -> None:
    energy, marks = read_meter_csv(DATA / "meter_index_column.csv")
    assert marks == "end"
    assert list(energy.index) == _utc("2025-03-31T16:00", "2025-03-31T17:00",
                                      "2025-03-31T18:00")
    assert_allclose(energy.to_numpy(), [1.0, 2.0, 3.0])
    energy, marks = read_meter_csv(DATA / "meter_numbered_rows.csv")
    assert marks == "start" and list(energy) == [4.0, 5.0]
    # An index written without a header cell (one more field per row than the header).
    energy, marks = read_meter_csv(DATA / "meter_index_without_header.csv")
    assert marks == "start" and list(energy) == [4.0, 5.0]
    assert list(energy.index) == _utc("2025-04-01T00:00", "2025-04-01T01:00")


def test_naive_timestamps_need_a_zone() -> None:
    with pytest.raises(GreenpipeError, match=r"no UTC offset.*--naive-tz"):
        read_meter_csv(DATA / "meter_naive_new_york.csv")


def test_naive_timestamps_in_a_zone_across_both_dst_changes() -> None:
    energy, _ = read_meter_csv(DATA / "meter_naive_new_york.csv", naive_tz="America/New_York")
    # 2025-03-09: 00:00 and 01:00 EST (UTC−5), then 03:00 EDT (UTC−4). 2025-11-02: 00:00
    # and the first 01:00 EDT, the repeated 01:00 EST, 02:00 EST.
    assert list(energy.index) == _utc(
        "2025-03-09T05:00", "2025-03-09T06:00", "2025-03-09T07:00",
        "2025-11-02T04:00", "2025-11-02T05:00", "2025-11-02T06:00", "2025-11-02T07:00")
    temps = read_temperature_column(DATA / "temperature_naive_f.csv", "F",
                                    naive_tz="America/New_York")
    assert temps.missing == 1
    assert_allclose(temps.series.to_numpy(), [10.0, np.nan, 20.0])


def test_naive_timestamp_errors_are_explained() -> None:
    with pytest.raises(GreenpipeError, match="cannot be read as America/New_York"):
        read_meter_csv(DATA / "meter_naive_skipped_hour.csv", naive_tz="America/New_York")
    with pytest.raises(GreenpipeError, match="not an IANA time zone"):
        read_meter_csv(DATA / "meter_naive_new_york.csv", naive_tz="Mars/Olympus")
    with pytest.raises(GreenpipeError, match="mixes offset and offset-free"):
        parse_timestamps(["2025-04-01T00:00:00Z", "2025-04-01T01:00:00"], "x.csv", "UTC")
    with pytest.raises(GreenpipeError, match=r"row 2: value .2\.0. has no timestamp"):
        read_meter_csv(DATA / "meter_value_without_time.csv")


def test_offset_timestamps_ignore_naive_zone() -> None:
    idx = parse_timestamps(["2025-04-01T09:00:00+09:00"], "x.csv", naive_tz="Europe/Berlin")
    assert list(idx) == _utc("2025-04-01T00:00")


def test_country_calendars_and_shutdown_files() -> None:
    assert country_for_zone("America/New_York") == "US"
    assert country_for_zone("Europe/Berlin") == "DE"
    assert country_for_zone("UTC") == "JP"  # no country: the default
    assert check_country("gb") == "GB"
    with pytest.raises(GreenpipeError, match="no public-holiday calendar"):
        check_country("XX")
    assert day_type(date(2025, 7, 4), (), "US") == DayType.HOLIDAY
    assert day_type(date(2025, 7, 4), (), "JP") == DayType.WORKDAY
    assert day_type(date(2025, 8, 14), (), "DE") == DayType.WORKDAY  # no Obon outside Japan
    assert load_shutdowns("none") == () and load_shutdowns("JP") == DEFAULT_SHUTDOWNS
    plant = load_shutdowns(str(DATA / "shutdowns_plant.csv"))
    assert [p.name for p in plant] == ["summer", "winter"]
    assert day_type(date(2025, 12, 31), plant, "US") == DayType.SHUTDOWN
    with pytest.raises(GreenpipeError, match=r"row 1: .08-01.\.\..08-32. are not month-day"):
        load_shutdowns(str(DATA / "shutdowns_bad.csv"))
    with pytest.raises(GreenpipeError, match="does not exist"):
        load_shutdowns(str(DATA / "missing.csv"))
