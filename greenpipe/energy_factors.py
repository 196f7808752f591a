"""Energy Conservation Act conversion factors: pure lookups over a shipped, sourced table.

``greenpipe/data/energy_factors.toml`` holds the conversion factors (electricity GJ/MWh by
fiscal year, 0.0258 kL/GJ, city-gas heat values, the non-fossil weights) and the legal
thresholds, each with its source, its first fiscal year of data and whether we verified it.
This module only loads and looks them up; the statutory arithmetic lives in ``reports/``.

Year rule (``ConversionTable.lookup``): the entry with the latest ``fiscal_year`` at or before
the requested one applies. Earlier years get the earliest entry only when it says
``applies_before = true``; otherwise there is no factor (None) and the caller warns.

Example::

    >>> t = load_conversions()
    >>> [t.lookup("electricity_gj_per_mwh", fy).value for fy in (2022, 2023)]
    [9.76, 8.64]
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

FACTORS_FILE = Path(__file__).resolve().parent / "data" / "energy_factors.toml"

__all__ = ["ConversionFactor", "ConversionTable", "Threshold", "load_conversions"]


@dataclass(frozen=True, slots=True)
class ConversionFactor:
    """One conversion factor with the first fiscal year of data it applies to."""

    id: str
    fiscal_year: int
    value: float
    unit: str
    """The unit of ``value`` written out, e.g. ``GJ/MWh``."""
    source: str
    verified: bool
    """True when the value was found in the cited source; False: shipped with a caveat."""
    applies_before: bool = False
    """True: fiscal years before ``fiscal_year`` use this entry too."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """A legal threshold, e.g. the 1,500 kL Specified Business Operator line."""

    id: str
    value: float
    unit: str
    source: str
    verified: bool


@dataclass(frozen=True, slots=True)
class ConversionTable:
    """The loaded conversion factors and thresholds."""

    factors: tuple[ConversionFactor, ...]
    thresholds: tuple[Threshold, ...]

    def lookup(self, factor_id: str, fy: int) -> ConversionFactor | None:
        """Return the factor ``factor_id`` that applies to fiscal year ``fy``, or None."""
        cands = sorted((f for f in self.factors if f.id == factor_id),
                       key=lambda f: f.fiscal_year)
        applicable = [f for f in cands if f.fiscal_year <= fy]
        if applicable:
            return applicable[-1]
        if cands and cands[0].applies_before:
            return cands[0]
        return None

    def require(self, factor_id: str, fy: int) -> ConversionFactor:
        """Return the factor like ``lookup``; KeyError names the id and year when absent."""
        found = self.lookup(factor_id, fy)
        if found is None:
            raise KeyError(f"no conversion factor {factor_id!r} for FY{fy} in the shipped "
                           "table (greenpipe/data/energy_factors.toml)")
        return found

    def threshold(self, threshold_id: str) -> Threshold:
        """Return the threshold ``threshold_id``; KeyError when it is not shipped."""
        for t in self.thresholds:
            if t.id == threshold_id:
                return t
        raise KeyError(f"no threshold {threshold_id!r} in greenpipe/data/energy_factors.toml")


def _parse(raw: Mapping[str, Any], where: str) -> ConversionFactor:
    try:
        f = ConversionFactor(id=str(raw["id"]), fiscal_year=int(raw["fiscal_year"]),
                             value=float(raw["value"]), unit=str(raw["unit"]),
                             source=str(raw["source"]), verified=bool(raw["verified"]),
                             applies_before=bool(raw.get("applies_before", False)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad conversion entry {dict(raw)!r} ({exc})") from None
    if not math.isfinite(f.value) or f.value < 0:
        raise ValueError(f"{where}: value must be a finite number >= 0, got {f.value}")
    return f


@lru_cache(maxsize=4)
def load_conversions(path: str | Path | None = None) -> ConversionTable:
    """Load the shipped conversion table (or ``path``)."""
    p = str(path or FACTORS_FILE)
    with open(p, "rb") as fh:
        raw = tomllib.load(fh)
    factors = tuple(_parse(e, f"{p} conversions[{i}]")
                    for i, e in enumerate(raw.get("conversions", [])))
    thresholds = tuple(Threshold(id=str(t["id"]), value=float(t["value"]), unit=str(t["unit"]),
                                 source=str(t["source"]), verified=bool(t["verified"]))
                       for t in raw.get("thresholds", []))
    return ConversionTable(factors, thresholds)
