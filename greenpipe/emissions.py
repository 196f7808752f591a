"""CO2 emission factors and emissions: pure functions over shipped, sourced data.

Factors are data: ``greenpipe/data/emission_factors.toml`` ships the defaults and names the
source of every value; users override them with ``[[emission_factors]]`` in the config
(``FactorTable.with_overrides``). Everything is kg-CO2 per kWh of delivered energy.

Lookup rules (``FactorTable.lookup``):

* ``kind`` is the meter kind. ``ev_charging`` uses the ``electricity`` factor unless an
  entry for ``ev_charging`` exists. ``weather`` meters have no factor (ValueError).
* ``grid_region`` falls back to ``"japan"`` (the national default) when the region has no
  entry of its own.
* ``fiscal_year``: the entry with the latest ``fiscal_year`` at or before the requested one
  applies; years before the earliest entry use the earliest one (and future years, e.g. a
  FY2030 projection, use the latest known value).
* ``basis``: ``location`` or ``market`` (GHG Protocol Scope 2 Guidance dual reporting);
  the Japanese ``basic`` / ``adjusted`` factors are accepted as aliases. Fuels and heat have
  one value, stored as ``location`` and used for both bases.

PV and site emissions: electricity meters measure what the site draws from the grid at its
utility connection, so on-site PV self-consumption has already reduced their reading. PV
meters carry a factor of 0 (generation emits nothing) and are never subtracted a second time;
their generation is reported separately as avoided CO2 = ``avoided_co2_kg(pv_kwh, grid ef)``.
If your electricity meter instead measures gross load behind the PV inverter, net it first
with ``grid_import_kwh(load_kwh, pv_kwh)`` per interval (exported surplus is not negative
emissions).

Example::

    >>> table = load_factors()
    >>> table.lookup("electricity", "tepco", 2025, "location").ef_kg_per_kwh
    0.485
    >>> avoided_co2_kg(1000.0, 0.485)
    485.0
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from greenpipe.fiscal import DEFAULT_TZ, fiscal_year

FACTORS_FILE = Path(__file__).resolve().parent / "data" / "emission_factors.toml"
NATIONAL_REGION = "japan"
BASES = ("location", "market")
BASIS_ALIASES = {"basic": "location", "adjusted": "market", "location": "location",
                 "market": "market"}
"""Japan's 基礎排出係数 (basic) maps to location-based, 調整後排出係数 (adjusted) to market."""
ENERGY_KINDS = ("electricity", "ev_charging", "gas", "heat", "pv")

Basis = Literal["location", "market", "basic", "adjusted"]

__all__ = [
    "BASES",
    "ENERGY_KINDS",
    "EmissionFactor",
    "FactorTable",
    "avoided_co2_kg",
    "co2_kg",
    "factor_kg_per_kwh",
    "grid_import_kwh",
    "load_factors",
    "normalise_basis",
]


@dataclass(frozen=True, slots=True)
class EmissionFactor:
    """One emission factor: kg-CO2 per kWh for a kind, region, first fiscal year and basis."""

    kind: str
    grid_region: str
    fiscal_year: int
    """First fiscal year (April–March) the value applies to."""
    basis: str
    """``location`` or ``market``."""
    ef_kg_per_kwh: float
    """Emission factor. [kg-CO2/kWh]"""
    source: str
    """Where the value comes from (publisher, table, year) or ``config`` for overrides."""
    retailer: str = ""
    """Electricity retailer the factor belongs to (SHK 電気事業者別排出係数); empty for
    grid-region factors. Retailer entries are only returned by ``lookup_retailer``."""
    menu: str = ""
    """The retailer's menu (メニューA, B, C(残差) ...); empty when the retailer has one."""


def normalise_basis(basis: str) -> str:
    """Return ``location`` or ``market`` for a basis or its Japanese alias (basic/adjusted)."""
    try:
        return BASIS_ALIASES[basis]
    except KeyError:
        raise ValueError(
            f"unknown emission basis {basis!r}; use location, market, basic or adjusted"
        ) from None


@dataclass(frozen=True, slots=True)
class FactorTable:
    """An immutable set of emission factors with the lookup rules of this module."""

    factors: tuple[EmissionFactor, ...]

    def with_overrides(self, overrides: Iterable[Any]) -> FactorTable:
        """Return a table with config overrides applied in order.

        Each override has the attributes of ``EmissionFactor`` (``config.emission_factors``
        entries do). With ``fiscal_year`` None it replaces every entry of the same kind,
        region and basis for all years; otherwise it replaces (or adds) the entry with the
        same (kind, grid_region, fiscal_year, basis).
        """
        factors = list(self.factors)
        for o in overrides:
            basis = normalise_basis(str(o.basis))
            retailer = str(getattr(o, "retailer", "") or "")
            menu = str(getattr(o, "menu", "") or "")
            same = (o.kind, o.grid_region, basis, retailer, menu)
            if o.fiscal_year is None:
                factors = [f for f in factors if _key(f) != same]
                fy = 0
            else:
                fy = int(o.fiscal_year)
                factors = [f for f in factors
                           if (*_key(f), f.fiscal_year) != (*same, fy)]
            factors.append(EmissionFactor(kind=str(o.kind), grid_region=str(o.grid_region),
                                          fiscal_year=fy, basis=basis,
                                          ef_kg_per_kwh=float(o.ef_kg_per_kwh),
                                          source=f"config: {o.source}",
                                          retailer=retailer, menu=menu))
        return FactorTable(tuple(factors))

    def lookup(self, kind: str, grid_region: str, fy: int, basis: str = "location"
               ) -> EmissionFactor:
        """Return the factor that applies to ``kind`` in ``grid_region`` in fiscal year ``fy``.

        Raises ValueError for a kind without factors (e.g. ``weather``) or an unknown basis.
        """
        b = normalise_basis(basis)
        kinds = [kind, "electricity"] if kind == "ev_charging" else [kind]
        for k in kinds:
            # Electricity needs the requested basis; fuels have one value for both bases.
            bases = (b,) if k == "electricity" else tuple(dict.fromkeys((b, "location")))
            for region in dict.fromkeys((grid_region, NATIONAL_REGION)):
                for want in bases:
                    cands = [f for f in self.factors
                             if f.kind == k and f.grid_region == region and f.basis == want
                             and not f.retailer]
                    if cands:
                        return _pick_year(cands, fy)
        raise ValueError(
            f"no emission factor for kind {kind!r} (region {grid_region!r}, basis {b}); "
            f"energy kinds with factors: {', '.join(sorted({f.kind for f in self.factors}))}. "
            "Add an [[emission_factors]] entry to the config"
        )

    def lookup_retailer(self, retailer: str, menu: str, fy: int, basis: str
                        ) -> EmissionFactor | None:
        """Return the retailer's electricity factor for ``menu`` in ``fy``, or None.

        Same year rule as ``lookup`` (newest entry at or before ``fy``, else the earliest).
        None means the table has no entry for this retailer, menu and basis: the caller
        falls back to the national default and warns (never a silent zero).
        """
        b = normalise_basis(basis)
        cands = [f for f in self.factors
                 if f.kind == "electricity" and f.retailer == retailer and f.menu == menu
                 and f.basis == b]
        return _pick_year(cands, fy) if cands else None

    def sources(self) -> dict[str, str]:
        """Return ``"kind/region/FYyyyy/basis" -> source`` for export metadata.

        Retailer entries are left out: only the statutory reports use them, and they name
        the retailer factor they used in their own metadata.
        """
        return {f"{f.kind}/{f.grid_region}/FY{f.fiscal_year}/{f.basis}": f.source
                for f in sorted(self.factors, key=lambda f: (f.kind, f.grid_region,
                                                            f.fiscal_year, f.basis))
                if not f.retailer}


def _key(f: EmissionFactor) -> tuple[str, str, str, str, str]:
    return (f.kind, f.grid_region, f.basis, f.retailer, f.menu)


def _pick_year(cands: list[EmissionFactor], fy: int) -> EmissionFactor:
    cands = sorted(cands, key=lambda f: f.fiscal_year)
    applicable = [f for f in cands if f.fiscal_year <= fy]
    return applicable[-1] if applicable else cands[0]


def _parse_entry(raw: Mapping[str, Any], where: str) -> EmissionFactor:
    try:
        ef = float(raw["ef_kg_per_kwh"])
        entry = EmissionFactor(
            kind=str(raw["kind"]),
            grid_region=str(raw.get("grid_region", NATIONAL_REGION)),
            fiscal_year=int(raw["fiscal_year"]),
            basis=normalise_basis(str(raw.get("basis", "location"))),
            ef_kg_per_kwh=ef,
            source=str(raw["source"]),
            retailer=str(raw.get("retailer", "")),
            menu=str(raw.get("menu", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad emission factor entry {dict(raw)!r} ({exc})") from None
    if not np.isfinite(ef) or ef < 0:
        raise ValueError(f"{where}: ef_kg_per_kwh must be a finite number >= 0, got {ef}")
    return entry


@lru_cache(maxsize=8)
def _load_file(path: str) -> FactorTable:
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    entries = raw.get("factors", [])
    return FactorTable(tuple(_parse_entry(e, f"{path} factors[{i}]")
                             for i, e in enumerate(entries)))


def load_factors(path: str | Path | None = None, overrides: Iterable[Any] = ()) -> FactorTable:
    """Load the shipped factor table (or ``path``) and apply ``cfg.emission_factors`` overrides."""
    table = _load_file(str(path or FACTORS_FILE))
    overrides = tuple(overrides)
    return table.with_overrides(overrides) if overrides else table


def factor_kg_per_kwh(
    kind: str,
    grid_region: str,
    ts: datetime,
    basis: str = "location",
    *,
    table: FactorTable | None = None,
    tz: str = DEFAULT_TZ,
) -> float:
    """Return the factor for energy of ``kind`` at instant ``ts`` (aware). [kg-CO2/kWh]

    The fiscal year of ``ts`` in ``tz`` selects the value; ``table`` defaults to the shipped one.
    """
    table = table or load_factors()
    return table.lookup(kind, grid_region, fiscal_year(ts, tz), basis).ef_kg_per_kwh


def co2_kg(
    frame: pd.DataFrame,
    *,
    table: FactorTable | None = None,
    basis: str = "location",
    tz: str = DEFAULT_TZ,
    time_col: str = "bucket",
    kind_col: str = "kind",
    region_col: str = "grid_region",
    energy_col: str = "energy_kwh",
) -> pd.Series:
    """Return per-row emissions = energy × factor that applies at that time. [kg-CO2]

    ``frame`` has an aware time column (a ``Store.read`` bucket label, i.e. the start of
    the interval ``(b, b + w]``), the meter kind, the site's grid region and the energy
    [kWh]. Missing energy gives NaN emissions (not zero): unknown stays unknown.
    """
    table = table or load_factors()
    if frame.empty:
        return pd.Series(dtype="float64", index=frame.index, name="co2_kg")
    times = pd.to_datetime(frame[time_col])
    if times.dt.tz is None:
        raise ValueError(f"column {time_col!r} is timezone-naive; store UTC-aware timestamps")
    # The fiscal year of each distinct instant (a year of daily buckets: 365 conversions
    # to local time, not one per row), then one look-up per distinct (kind, region,
    # fiscal year) spread back over the rows. Codes are combined with numpy: a
    # ``MultiIndex`` factorisation of the three columns cost 4x more (pandas categoricals).
    t_codes, instants = pd.factorize(times, use_na_sentinel=False)
    local = pd.DatetimeIndex(instants).tz_convert(tz)
    fy = np.where(local.month >= 4, local.year, local.year - 1)
    fy_codes, fys = pd.factorize(fy[t_codes], use_na_sentinel=False)
    kind_codes, kinds = pd.factorize(frame[kind_col].astype(str).to_numpy(),
                                     use_na_sentinel=False)
    region_codes, regions = pd.factorize(frame[region_col].astype(str).to_numpy(),
                                         use_na_sentinel=False)
    keys = (kind_codes.astype(np.int64) * len(regions) + region_codes) * len(fys) + fy_codes
    distinct, codes = np.unique(keys, return_inverse=True)
    efs = np.array([table.lookup(str(kinds[k // len(fys) // len(regions)]),
                                 str(regions[k // len(fys) % len(regions)]),
                                 int(fys[k % len(fys)]), basis).ef_kg_per_kwh
                    for k in distinct], dtype="float64")[codes.reshape(-1)]
    energy = pd.to_numeric(frame[energy_col], errors="coerce").to_numpy(dtype="float64")
    return pd.Series(energy * efs, index=frame.index, name="co2_kg")


def avoided_co2_kg(avoided_energy_kwh: float | np.ndarray | pd.Series, ef_kg_per_kwh: float
                   ) -> float | np.ndarray | pd.Series:
    """Return avoided emissions = avoided energy [kWh] × factor [kg-CO2/kWh]. [kg-CO2]"""
    if not np.isfinite(ef_kg_per_kwh) or ef_kg_per_kwh < 0:
        raise ValueError(f"ef_kg_per_kwh must be a finite number >= 0, got {ef_kg_per_kwh}")
    return avoided_energy_kwh * ef_kg_per_kwh


def grid_import_kwh(load_kwh: float | np.ndarray | pd.Series,
                    pv_kwh: float | np.ndarray | pd.Series) -> float | np.ndarray | pd.Series:
    """Return grid import = max(load − PV self-consumption, 0) per interval. [kWh]

    Only for electricity meters that measure gross load behind the PV inverter; a surplus
    exported to the grid is clipped at 0 (export is avoided CO2, not negative emissions).
    """
    return np.maximum(np.asarray(load_kwh, dtype="float64") - np.asarray(pv_kwh, "float64"), 0.0)
