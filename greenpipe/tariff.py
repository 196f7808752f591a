"""Electricity and gas tariff: energy ¥/kWh by time-of-use band, and demand ¥/kW-month.

Japanese high-voltage business contracts bill a basic (demand) charge on the contract power,
which is the highest 30-minute demand of the current and previous 11 months (TEPCO Energy
Partner states this rule for its demand-metered plans), plus energy charges that may differ
by time of use. ``[tariff]`` in the config holds one such tariff for the whole city; the
finder prices findings with it. The numbers shipped in config/example.toml are illustrative
(see the comment there), so replace them with your contract's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from greenpipe.errors import ConfigError

DayFilter = Literal["all", "workdays", "non_workdays"]


@dataclass(frozen=True, slots=True)
class TouBand:
    """A time-of-use band: an energy price over local hours [start_h, end_h) on some days."""

    name: str
    start_h: float
    """First local hour of the band (may be above end_h for a band across midnight). [h]"""
    end_h: float
    """Local hour the band ends (exclusive). [h]"""
    jpy_per_kwh: float
    """Energy price in the band. [¥/kWh]"""
    days: DayFilter = "all"
    """Which days the band applies on (workdays per the plant calendar)."""


@dataclass(frozen=True, slots=True)
class Tariff:
    """A city-wide tariff: demand charge plus energy prices by time-of-use band."""

    demand_jpy_per_kw_month: float = 0.0
    """Basic (demand) charge per kW of contract power and month. [¥/kW/month]"""
    energy_jpy_per_kwh: float = 0.0
    """Electricity price outside every band. [¥/kWh]"""
    gas_jpy_per_kwh: float = 0.0
    """City-gas price per kWh of energy content (gas and heat meters). [¥/kWh]"""
    bands: tuple[TouBand, ...] = ()
    """Time-of-use bands; the first band that matches a slot prices it."""
    source: str = ""
    """Where the numbers come from (or that they are illustrative)."""

    def electricity_price(self, local_hour: NDArray[np.float64],
                          workday: NDArray[np.bool_]) -> NDArray[np.float64]:
        """Return the energy price of each slot from its local hour and day type. [¥/kWh]"""
        hour = np.asarray(local_hour, dtype=np.float64)
        work = np.asarray(workday, dtype=bool)
        price = np.full(hour.shape, self.energy_jpy_per_kwh, dtype=np.float64)
        done = np.zeros(hour.shape, dtype=bool)
        for b in self.bands:
            if b.start_h <= b.end_h:
                in_hours = (hour >= b.start_h) & (hour < b.end_h)
            else:
                in_hours = (hour >= b.start_h) | (hour < b.end_h)
            on_day = (work if b.days == "workdays" else ~work if b.days == "non_workdays"
                      else np.ones(hour.shape, dtype=bool))
            hit = in_hours & on_day & ~done
            price[hit] = b.jpy_per_kwh
            done |= hit
        return price


def tariff_from_dict(raw: Mapping[str, Any], where: str = "tariff") -> Tariff:
    """Build a Tariff from the ``[tariff]`` table; raises ConfigError naming the bad key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(where, raw, "[tariff] must be a table")
    known = ("demand_jpy_per_kw_month", "energy_jpy_per_kwh", "gas_jpy_per_kwh", "bands",
             "source")
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}.{key}", raw[key], f"unknown key; known: {', '.join(known)}")

    def number(data: Mapping[str, Any], key: str, at: str, default: float | None) -> float:
        value = data.get(key, default)
        if value is None:
            raise ConfigError(f"{at}.{key}", None, "this key is required; add it")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{at}.{key}", value, "use a number of 0 or more")
        return float(value)

    bands = []
    raw_bands = raw.get("bands", [])
    if not isinstance(raw_bands, list) or not all(isinstance(b, Mapping) for b in raw_bands):
        raise ConfigError(f"{where}.bands", raw_bands,
                          "write each band as a [[tariff.bands]] table")
    for i, b in enumerate(raw_bands):
        at = f"{where}.bands[{i}]"
        for key in b:
            if key not in ("name", "start_h", "end_h", "jpy_per_kwh", "days"):
                raise ConfigError(f"{at}.{key}", b[key],
                                  "unknown key; known: name, start_h, end_h, jpy_per_kwh, days")
        start_h, end_h = number(b, "start_h", at, None), number(b, "end_h", at, None)
        if not (0 <= start_h <= 24 and 0 <= end_h <= 24) or start_h == end_h:
            raise ConfigError(f"{at}.start_h", (start_h, end_h),
                              "use local hours from 0 to 24 with start_h != end_h")
        days = b.get("days", "all")
        if days not in ("all", "workdays", "non_workdays"):
            raise ConfigError(f"{at}.days", days, "choose one of all, workdays, non_workdays")
        bands.append(TouBand(str(b.get("name", f"band{i}")), start_h, end_h,
                             number(b, "jpy_per_kwh", at, None), days))
    return Tariff(
        demand_jpy_per_kw_month=number(raw, "demand_jpy_per_kw_month", where, 0.0),
        energy_jpy_per_kwh=number(raw, "energy_jpy_per_kwh", where, 0.0),
        gas_jpy_per_kwh=number(raw, "gas_jpy_per_kwh", where, 0.0),
        bands=tuple(bands), source=str(raw.get("source", "")),
    )
