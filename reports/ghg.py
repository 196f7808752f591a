"""GHG reporting (温対法 SHK) arithmetic: CO2 by source, basic and adjusted. Pure functions.

Electricity (and EV charging, which is purchased electricity) uses the site's retailer- and
menu-specific factor from ``greenpipe/data/emission_factors.toml`` (entries with
``retailer``); a site whose retailer (or menu) has no entry falls back to the national
default of the same file (``FactorTable.lookup("electricity", region, fy, basis)``) and the
caller records the warning ``ghg.retailer_without_factors``. City gas and heat use the
shipped fuel factors, identical for both bases. Own PV emits nothing and is not a source.

Nothing is cached: a report recomputes CO2 from stored energy with the factor file and the
site's retailer as they are now, so changing either recomputes every past year it affects,
and each figure names the factor year it used (``Co2Figure.factor_fy``).
"""

from __future__ import annotations

from dataclasses import dataclass

from greenpipe.emissions import EmissionFactor, FactorTable

SOURCES = ("electricity", "city_gas", "heat")
"""CO2 sources of the report, in display order."""
_SOURCE_OF_KIND = {"electricity": "electricity", "ev_charging": "electricity",
                   "gas": "city_gas", "heat": "heat"}

__all__ = ["SOURCES", "Co2Figure", "co2_t", "electricity_factor", "source_of_kind"]


@dataclass(frozen=True, slots=True)
class Co2Figure:
    """CO2 of one source in one fiscal year and basis, with the factor behind it."""

    source: str
    basis: str
    """``basic`` (基礎排出係数) or ``adjusted`` (調整後排出係数)."""
    energy_kwh: float
    """Metered energy of the source. [kWh]"""
    co2_t: float
    """Emissions. [t-CO2]"""
    ef_kg_per_kwh: float
    """Factor used. [kg-CO2/kWh]"""
    factor_fy: int
    """First fiscal year (results year for retailer factors) of the factor entry used."""
    factor_source: str
    retailer_specific: bool
    """False when the national default stood in for a retailer without factors."""


def source_of_kind(kind: str) -> str | None:
    """Return the CO2 source of a meter kind, or None (pv, weather, production emit nothing)."""
    return _SOURCE_OF_KIND.get(kind)


def electricity_factor(table: FactorTable, retailer: str, menu: str, grid_region: str,
                       fy: int, basis: str) -> tuple[EmissionFactor, bool]:
    """Return (factor, retailer_specific) for purchased electricity in ``fy``.

    The retailer/menu entry when the table has one, else the national default (False).
    """
    if retailer:
        found = table.lookup_retailer(retailer, menu, fy, basis)
        if found is not None:
            return found, True
    return table.lookup("electricity", grid_region, fy, basis), False


def co2_t(source: str, energy_kwh: float, fy: int, basis: str, table: FactorTable, *,
          retailer: str = "", menu: str = "", grid_region: str = "japan") -> Co2Figure:
    """Return the CO2 of ``energy_kwh`` [kWh] of ``source`` in fiscal year ``fy``. [t-CO2]"""
    if source == "electricity":
        factor, specific = electricity_factor(table, retailer, menu, grid_region, fy, basis)
    else:
        kind = {"city_gas": "gas", "heat": "heat"}[source]
        factor, specific = table.lookup(kind, grid_region, fy, basis), True
    return Co2Figure(source=source, basis=basis, energy_kwh=energy_kwh,
                     co2_t=energy_kwh * factor.ef_kg_per_kwh / 1000.0,
                     ef_kg_per_kwh=factor.ef_kg_per_kwh, factor_fy=factor.fiscal_year,
                     factor_source=factor.source, retailer_specific=specific)
