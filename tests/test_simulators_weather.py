"""Hitachi weather model: seasons, the diurnal cycle, cloudiness, and the scalar/vector API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from numpy.testing import assert_allclose

from simulators.weather import (
    JST_OFFSET_S,
    clearness_by_day,
    local_day_jst,
    temp_air_c,
    temp_air_c_at,
)


def _hourly(start: datetime, days: int) -> np.ndarray:
    t0 = int(start.timestamp())
    return np.arange(t0, t0 + days * 86400, 3600)


def test_january_is_colder_than_august_close_to_hitachi_normals() -> None:
    jan = temp_air_c_at(_hourly(datetime(2025, 1, 1, tzinfo=UTC), 31), seed=42).mean()
    aug = temp_air_c_at(_hourly(datetime(2025, 8, 1, tzinfo=UTC), 31), seed=42).mean()
    assert jan < aug - 15
    # JMA normals for Hitachi: about 3.6 °C in January and 25 °C in August
    assert 1.0 < jan < 7.0
    assert 22.0 < aug < 28.0


@pytest.mark.parametrize("seed", [1, 42])
def test_daily_maximum_is_in_the_afternoon_and_minimum_near_dawn(seed: int) -> None:
    start = datetime(2025, 4, 1, tzinfo=UTC) - timedelta(seconds=JST_OFFSET_S)  # 00:00 JST
    temps = temp_air_c_at(_hourly(start, 60), seed).reshape(60, 24)
    mean_by_hour = temps.mean(axis=0)
    assert 13 <= int(np.argmax(mean_by_hour)) <= 16
    assert 4 <= int(np.argmin(mean_by_hour)) <= 7
    # most single days too, despite the day-to-day anomalies
    assert np.mean((temps.argmax(axis=1) >= 12) & (temps.argmax(axis=1) <= 17)) > 0.7


def test_scalar_function_matches_the_vectorised_one_and_needs_aware_times() -> None:
    ts = datetime(2025, 7, 1, 5, 30, tzinfo=UTC)
    assert temp_air_c(ts, 42) == temp_air_c_at([ts.timestamp()], 42)[0]
    with pytest.raises(ValueError, match="no UTC offset"):
        temp_air_c(datetime(2025, 7, 1, 5, 30), 42)


def test_temperature_is_continuous_and_seed_dependent() -> None:
    t = np.arange(1_750_000_000, 1_750_000_000 + 5 * 86400, 60)
    temps = temp_air_c_at(t, 42)
    assert np.abs(np.diff(temps)).max() < 0.3  # no steps at local midnight
    assert not np.allclose(temps, temp_air_c_at(t, 43))


def test_jst_day_boundary_is_15_utc() -> None:
    before = datetime(2025, 1, 1, 14, 59, tzinfo=UTC).timestamp()
    after = datetime(2025, 1, 1, 15, 0, tzinfo=UTC).timestamp()
    assert int(local_day_jst(after)) - int(local_day_jst(before)) == 1


def test_clearness_is_seasonal_sunny_winters_cloudy_tsuyu() -> None:
    first = int(local_day_jst(datetime(2020, 1, 1, tzinfo=UTC).timestamp()))
    days = np.arange(first, first + 6 * 366)
    k = clearness_by_day(days, seed=42)
    assert k.min() >= 0.1 and k.max() <= 1.0
    months = np.asarray([(datetime(1970, 1, 1) + timedelta(days=int(d))).month for d in days])
    assert k[months == 1].mean() > k[months == 6].mean() + 0.1
    assert_allclose(clearness_by_day(days, 42), k)  # pure
