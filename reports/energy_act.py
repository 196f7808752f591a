"""Energy Conservation Act (省エネ法) arithmetic: pure functions over sourced factors.

Every factor comes from ``greenpipe/data/energy_factors.toml`` through
``greenpipe.energy_factors``; this module never holds a number of its own.

Energy types and their conversion to GJ (``energy_gj``):

* ``electricity_purchased`` (electricity and EV-charging meters): MWh × the fiscal year's
  ``electricity_gj_per_mwh`` (9.76 up to FY2022 data, 8.64 from FY2023 data);
* ``pv_self_consumption`` (own PV, not exported): MWh × ``pv_self_consumption_gj_per_mwh``
  from FY2023 (the 2023 revision); earlier years have no factor: not energy under the Act;
* ``city_gas`` metered as energy: kWh × 3.6 MJ/kWh; metered as volume: thousand Nm³ × the
  supplier's heat value (``gas_gj_from_volume``);
* ``heat``: no verified factor ships, so it has none (the report warns, never zero).

Intensity (エネルギー消費原単位) and class (事業者クラス分け評価制度):

* numerator = (total − non-fossil fuel) + non-fossil fuel × 0.8 (2023 revision); greenpipe
  has no non-fossil *fuel* meter kind, so the weight applies to nothing metered today;
* ``avg_change_pct`` — average yearly change over the years given:
  ((I_last / I_first) ** (1 / (n − 1)) − 1) × 100, the geometric mean of the year-on-year
  ratios (the 5-year average uses the 5 fiscal years ending with the report year; the
  geometric-mean form is the usual reading of 5年度間平均原単位変化 but was NOT verified
  against a primary METI source);
* ``energy_class`` — S: average improvement ≥ 1 %/yr; B: target missed and intensity up
  year-on-year two years running, or the average up more than 5 %; A: every other operator
  that missed the target (資源エネルギー庁 class evaluation as quoted by teitannso.jp). C is
  a subset of B that METI picks when *compliance with the judgement criteria* is especially
  poor, an on-site assessment no meter data can make: greenpipe reports B and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from greenpipe.energy_factors import ConversionFactor, ConversionTable

ENERGY_TYPES = ("electricity_purchased", "pv_self_consumption", "city_gas", "heat")
"""Energy types of the report, in display order."""
KIND_TO_TYPE = {"electricity": "electricity_purchased", "ev_charging": "electricity_purchased",
                "pv": "pv_self_consumption", "gas": "city_gas", "heat": "heat"}
"""Meter kind → energy type; weather and production meters are not energy."""
_FACTOR_OF_TYPE = {"electricity_purchased": ("electricity_gj_per_mwh", 1e-3),
                   "pv_self_consumption": ("pv_self_consumption_gj_per_mwh", 1e-3),
                   "city_gas": ("gas_mj_per_kwh", 1e-3)}
"""Energy type → (factor id, kWh → factor-unit scale): GJ = kWh × scale × value."""

__all__ = ["ENERGY_TYPES", "KIND_TO_TYPE", "EnergyGj", "avg_change_pct", "crude_oil_kl",
           "energy_class", "energy_gj", "gas_gj_from_volume", "intensity_numerator_gj",
           "nonfossil_share_pct", "purchased_nonfossil_fraction", "yoy_change_pct"]


@dataclass(frozen=True, slots=True)
class EnergyGj:
    """Energy of one type converted to GJ, with the factor used (None: no factor)."""

    energy_type: str
    energy_kwh: float
    """Metered energy. [kWh]"""
    gj: float | None
    """Converted energy; None when no factor applies. [GJ]"""
    factor: ConversionFactor | None


def energy_gj(energy_type: str, energy_kwh: float, fy: int, table: ConversionTable) -> EnergyGj:
    """Convert metered energy [kWh] of ``energy_type`` in fiscal year ``fy`` to GJ."""
    spec = _FACTOR_OF_TYPE.get(energy_type)
    factor = table.lookup(spec[0], fy) if spec else None
    if spec is None or factor is None:
        return EnergyGj(energy_type, energy_kwh, None, None)
    return EnergyGj(energy_type, energy_kwh, energy_kwh * spec[1] * factor.value, factor)


def gas_gj_from_volume(thousand_nm3: float, heat_gj_per_thousand_nm3: float) -> float:
    """Return city gas energy = volume [thousand Nm³] × supplier heat value. [GJ]"""
    return thousand_nm3 * heat_gj_per_thousand_nm3


def crude_oil_kl(gj: float, table: ConversionTable, fy: int) -> float:
    """Return crude-oil equivalent = GJ × 0.0258 kL/GJ (the shipped factor). [kL]"""
    return gj * table.require("crude_oil_kl_per_gj", fy).value


def purchased_nonfossil_fraction(certificate_pct: float, table: ConversionTable, fy: int
                                 ) -> float | None:
    """Return a menu's non-fossil share = (A + (100 − A) × 0.13) / 100, or None before FY2023.

    ``certificate_pct`` is A, the retailer's non-fossil certificate use for the menu [%].
    """
    grid = table.lookup("nonfossil_grid_share", fy)
    if grid is None:
        return None
    return (certificate_pct + (100.0 - certificate_pct) * grid.value) / 100.0


def intensity_numerator_gj(total_gj: float, nonfossil_fuel_gj: float, table: ConversionTable,
                           fy: int) -> float:
    """Return (total − non-fossil fuel) + non-fossil fuel × 0.8 from FY2023, else total. [GJ]"""
    w = table.lookup("nonfossil_fuel_intensity_weight", fy)
    if w is None:
        return total_gj
    return (total_gj - nonfossil_fuel_gj) + nonfossil_fuel_gj * w.value


def nonfossil_share_pct(total_gj: float, qualifying_electricity_gj: float,
                        other_nonfossil_gj: float, table: ConversionTable, fy: int
                        ) -> float | None:
    """Return the non-fossil share with qualifying electricity × 1.2 (2023 revision). [%]

    Qualifying non-fossil electricity is own PV self-consumption (and non-FIT off-site PPA);
    ``other_nonfossil_gj`` is the non-fossil part of purchased electricity, unweighted.
    None before FY2023 (no non-fossil reporting) or when ``total_gj`` is not positive.
    """
    w = table.lookup("nonfossil_electricity_share_weight", fy)
    if w is None or not total_gj > 0:
        return None
    return (qualifying_electricity_gj * w.value + other_nonfossil_gj) / total_gj * 100.0


def yoy_change_pct(current: float | None, previous: float | None) -> float | None:
    """Return the year-on-year change (current / previous − 1) × 100, None if unknown. [%]"""
    if current is None or previous is None or not previous > 0 or not math.isfinite(current):
        return None
    return (current / previous - 1.0) * 100.0


def avg_change_pct(intensities: Sequence[float | None]) -> float | None:
    """Return the average yearly change of consecutive yearly intensities, oldest first. [%]

    ((I_last / I_first) ** (1 / (n − 1)) − 1) × 100 — the geometric mean of the n − 1
    year-on-year ratios. None with fewer than 2 years or any unknown/non-positive year.
    """
    vals = list(intensities)
    if len(vals) < 2 or any(v is None or not v > 0 for v in vals):
        return None
    first, last = float(vals[0]), float(vals[-1])  # type: ignore[arg-type]
    return ((last / first) ** (1.0 / (len(vals) - 1)) - 1.0) * 100.0


def energy_class(avg_pct: float | None, yoy_pcts: Sequence[float | None],
                 thresholds: Mapping[str, float]) -> str | None:
    """Return ``S``, ``A`` or ``B`` from the average change and the year-on-year changes.

    ``thresholds`` holds ``intensity_target_pct_per_year`` (1) and ``class_b_5y_increase_pct``
    (5). ``yoy_pcts`` are the year-on-year changes, oldest first; the last two decide the
    "up two years running" rule. None when the average is unknown.
    """
    if avg_pct is None:
        return None
    if avg_pct <= -thresholds["intensity_target_pct_per_year"]:
        return "S"
    last_two = list(yoy_pcts)[-2:]
    up_twice = len(last_two) == 2 and all(v is not None and v > 0 for v in last_two)
    if up_twice or avg_pct > thresholds["class_b_5y_increase_pct"]:
        return "B"
    return "A"
