"""Solar geometry and the clear-sky PV model, against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.testing import assert_allclose

from simulators.solar import (
    clear_sky_ghi_w_m2,
    clear_sky_poa_w_m2,
    pv_power_fraction,
    solar_cos_zenith,
)

LAT, LON = 36.6, 140.65  # Hitachi City
JST = timedelta(hours=9)


def _day_minutes(day: datetime) -> np.ndarray:
    t0 = int((day - JST).timestamp())  # local midnight
    return np.arange(t0, t0 + 86400, 60)


def test_noon_sun_height_at_equinox_and_solstices() -> None:
    # At solar noon the zenith angle is |latitude - declination|.
    for day, decl_deg in ((datetime(2025, 3, 20, tzinfo=UTC), 0.0),
                          (datetime(2025, 6, 21, tzinfo=UTC), 23.44),
                          (datetime(2025, 12, 21, tzinfo=UTC), -23.44)):
        cz = solar_cos_zenith(_day_minutes(day), LAT, LON)[0].max()
        assert_allclose(cz, np.cos(np.radians(LAT - decl_deg)), atol=0.004)


def test_solar_noon_in_hitachi_is_about_11_40_jst() -> None:
    # 140.65 E is 5.65 degrees east of the JST meridian: 22.6 min early, +-16 min equation
    # of time.
    for month in (2, 5, 8, 11):
        day = datetime(2025, month, 15, tzinfo=UTC)
        cz = solar_cos_zenith(_day_minutes(day), LAT, LON)[0]
        noon_min = int(np.argmax(cz))
        assert 11 * 60 + 10 <= noon_min <= 12 * 60 + 5, (month, noon_min)


def test_haurwitz_clear_sky_ghi() -> None:
    assert_allclose(clear_sky_ghi_w_m2([1.0, 0.5, 0.0, -0.3]),
                    [1098 * np.exp(-0.059), 549 * np.exp(-0.118), 0.0, 0.0])


def test_pv_is_zero_at_night_and_peaks_around_local_noon() -> None:
    t = _day_minutes(datetime(2025, 6, 21, tzinfo=UTC))
    poa = clear_sky_poa_w_m2(t, LAT, LON)
    frac = pv_power_fraction(poa, np.full(t.size, 20.0))
    hours = np.arange(t.size) / 60.0
    assert np.all(frac[(hours < 4.0) | (hours > 19.5)] == 0.0)
    peak_h = hours[np.argmax(frac)]
    assert 11.0 <= peak_h <= 12.5
    assert 0.7 < frac.max() < 1.0  # per kWp, after losses


def test_june_beats_december_on_clear_days() -> None:
    june = _day_minutes(datetime(2025, 6, 21, tzinfo=UTC))
    dec = _day_minutes(datetime(2025, 12, 21, tzinfo=UTC))
    pj = pv_power_fraction(clear_sky_poa_w_m2(june, LAT, LON), 22.0)
    pd = pv_power_fraction(clear_sky_poa_w_m2(dec, LAT, LON), 5.0)
    assert pj.max() > pd.max()
    assert pj.sum() / 60 > 1.3 * pd.sum() / 60  # daily kWh per kWp


def test_hot_cells_produce_less() -> None:
    assert_allclose(pv_power_fraction(1000.0, 25.0 - 31.25), 0.86)  # cell exactly at 25 °C
    assert pv_power_fraction(1000.0, 35.0) < pv_power_fraction(1000.0, 5.0)
