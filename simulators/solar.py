"""Solar geometry and a clear-sky PV model, vectorised over time.

Solar position follows the NOAA / Spencer (1971) Fourier series for declination and the
equation of time (accurate to a few minutes of arc, plenty for load simulation). Clear-sky
global horizontal irradiance is Haurwitz's model (Haurwitz 1945, as used by pvlib's
``clearsky.haurwitz``); the plane-of-array sum uses a fixed beam/diffuse split and the
isotropic sky. PV output follows a performance ratio and a -0.4 %/K crystalline-silicon
temperature coefficient with a NOCT-style cell temperature.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

PANEL_TILT_DEG = 25.0
"""Tilt of the simulated south-facing arrays (typical for Kanto rooftops). [deg]"""
PERFORMANCE_RATIO = 0.86
"""Wiring, inverter and soiling losses at 25 °C cell temperature. [-]"""
TEMP_COEFF_PER_K = -0.004
"""Relative change of PV power per kelvin of cell temperature above 25 °C. [1/K]"""
_DIFFUSE_FRACTION = 0.15  # share of clear-sky GHI that is diffuse
_ALBEDO = 0.2
_EPOCH_DAY_2000 = 10957


def solar_cos_zenith(
    t_epoch_s: ArrayLike, latitude_deg: float, longitude_deg: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return (cos zenith, declination [rad], hour angle [rad]) at epoch seconds (UTC)."""
    t = np.atleast_1d(np.asarray(t_epoch_s, dtype=np.float64))
    days = t / 86400.0
    g = 2.0 * np.pi * (((days - _EPOCH_DAY_2000) / 365.2422) % 1.0)
    eqtime_min = 229.18 * (
        0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
        - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g)
    )
    decl = (
        0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g)
        - 0.006758 * np.cos(2 * g) + 0.000907 * np.sin(2 * g)
        - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g)
    )
    utc_min = (t % 86400.0) / 60.0
    true_solar_min = utc_min + eqtime_min + 4.0 * longitude_deg
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    lat = np.radians(latitude_deg)
    cos_z = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    return cos_z, decl, hour_angle


def clear_sky_ghi_w_m2(cos_zenith: ArrayLike) -> NDArray[np.float64]:
    """Return Haurwitz clear-sky global horizontal irradiance; 0 with the sun down. [W/m²]"""
    cz = np.asarray(cos_zenith, dtype=np.float64)
    safe = np.where(cz > 1e-6, cz, 1.0)
    return np.where(cz > 1e-6, 1098.0 * safe * np.exp(-0.059 / safe), 0.0)


def clear_sky_poa_w_m2(
    t_epoch_s: ArrayLike, latitude_deg: float, longitude_deg: float,
    tilt_deg: float = PANEL_TILT_DEG,
) -> NDArray[np.float64]:
    """Return clear-sky irradiance on a south-facing plane tilted by ``tilt_deg``. [W/m²]"""
    cos_z, decl, hour_angle = solar_cos_zenith(t_epoch_s, latitude_deg, longitude_deg)
    ghi = clear_sky_ghi_w_m2(cos_z)
    up = cos_z > 1e-6
    dni = np.where(up, (1.0 - _DIFFUSE_FRACTION) * ghi / np.where(up, cos_z, 1.0), 0.0)
    # Angle of incidence on a south-facing plane: the sun as seen from latitude (lat - tilt).
    eq_lat = np.radians(latitude_deg - tilt_deg)
    cos_aoi = np.sin(eq_lat) * np.sin(decl) + np.cos(eq_lat) * np.cos(decl) * np.cos(hour_angle)
    tilt = np.radians(tilt_deg)
    beam = dni * np.clip(cos_aoi, 0.0, None)
    sky = _DIFFUSE_FRACTION * ghi * (1.0 + np.cos(tilt)) / 2.0
    ground = ghi * _ALBEDO * (1.0 - np.cos(tilt)) / 2.0
    return np.where(up, beam + sky + ground, 0.0)


def pv_power_fraction(
    poa_w_m2: ArrayLike, temp_air_c: ArrayLike
) -> NDArray[np.float64]:
    """Return PV AC output as a fraction of the array's peak power (kWp). [-]"""
    poa = np.asarray(poa_w_m2, dtype=np.float64)
    temp_cell_c = np.asarray(temp_air_c, dtype=np.float64) + poa / 800.0 * 25.0
    derate = 1.0 + TEMP_COEFF_PER_K * (temp_cell_c - 25.0)
    return np.clip(poa / 1000.0 * PERFORMANCE_RATIO * derate, 0.0, None)
