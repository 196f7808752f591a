"""Analyst-ready exports of a forecast run: one tidy table plus a metadata block.

``tidy_table`` turns the stored records into one row per scope, period and quantity:

========================  ==============================================================
column                    meaning
========================  ==============================================================
``run_id``                the ``greenpipe forecast run`` that produced the row
``record``                ``forecast`` (projection) or ``savings`` (avoided energy)
``scope``                 ``city``, ``sector``, ``site`` or ``meter``
``scope_id``              city / sector name, site id or meter id
``site_id``               site of a meter (savings rows), else the site id or empty
``measure_id``            efficiency measure (savings rows; empty for a null test)
``period``                ``FY2026`` for projections, ``START/END`` for savings
``period_start_utc``      start of the period (ISO-8601, UTC)
``period_end_utc``        end of the period (exclusive)
``target_fy``             target year the row is compared with (projections), else empty
``quantity``              the quantity; its unit is the suffix (``_t`` = t-CO2, ``_kwh``,
                          ``_kg``, ``_kg_per_kwh``; ``_frac`` and ``probability`` are 0..1)
``value``                 the number (empty when unknown)
``unit``                  the unit spelled out
========================  ==============================================================

Formats: ``csv`` (plus ``PATH.metadata.json``), ``parquet`` (metadata in the file's
key-value metadata under ``greenpipe``), ``json`` (``{"metadata": …, "rows": […]}``) and
``xlsx`` (sheets ``data`` and ``metadata``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from greenpipe import __version__
from greenpipe.errors import GreenpipeError
from greenpipe.fiscal import fiscal_year_bounds, fy_label
from greenpipe.results import ForecastRecord, SavingsRecord

COLUMNS = ("run_id", "record", "scope", "scope_id", "site_id", "measure_id", "period",
           "period_start_utc", "period_end_utc", "target_fy", "quantity", "value", "unit")
FORMATS = ("csv", "parquet", "json", "xlsx")

_FORECAST_QUANTITIES = {
    "co2_t_p10": "t-CO2", "co2_t_p50": "t-CO2", "co2_t_p90": "t-CO2",
    "observed_co2_t": "t-CO2", "base_co2_t": "t-CO2", "target_co2_t": "t-CO2",
    "trajectory_co2_t": "t-CO2", "gap_co2_t": "t-CO2", "probability_meeting": "probability",
}
_SAVINGS_QUANTITIES = {
    "reporting_observed_kwh": "kWh", "reporting_predicted_kwh": "kWh", "savings_kwh": "kWh",
    "savings_kwh_lower": "kWh", "savings_kwh_upper": "kWh", "interval_level": "probability",
    "avoided_co2_kg": "kg-CO2", "ef_kg_per_kwh": "kg-CO2/kWh", "cvrmse": "fraction",
    "nmbe": "fraction", "r2": "fraction", "cv_cvrmse": "fraction",
}


COLUMN_DOCS: dict[str, dict[str, str]] = {
    "run_id": {"description": "the `greenpipe forecast run` that produced the row",
               "unit": ""},
    "record": {"description": "forecast (fiscal-year CO2 projection) or savings (avoided "
                              "energy of a measure, IPMVP Option C)", "unit": ""},
    "scope": {"description": "what the row is about: city, sector, site or meter", "unit": ""},
    "scope_id": {"description": "city or sector name, site id or meter id", "unit": ""},
    "site_id": {"description": "site of the meter (savings rows); the site id for site "
                               "projections; else empty", "unit": ""},
    "measure_id": {"description": "efficiency measure evaluated (savings rows; empty for a "
                                  "null test)", "unit": ""},
    "period": {"description": "FY2026 (Japanese fiscal year, April to March) for "
                              "projections, START/END local dates for savings", "unit": ""},
    "period_start_utc": {"description": "start of the period, inclusive",
                         "unit": "ISO-8601 timestamp, UTC"},
    "period_end_utc": {"description": "end of the period, exclusive",
                       "unit": "ISO-8601 timestamp, UTC"},
    "target_fy": {"description": "fiscal year of the target a projection row is compared "
                                 "with; empty without a target and for savings rows",
                  "unit": "fiscal year"},
    "quantity": {"description": "name of the number in `value`; its unit is in `unit` and "
                                "in its suffix (_t, _kwh, _kg, _kg_per_kwh)", "unit": ""},
    "value": {"description": "the number; empty when it could not be computed (see the "
                             "record's warnings in forecast_models / savings_models)",
              "unit": "see `unit`"},
    "unit": {"description": "unit of `value`: t-CO2, kWh, kg-CO2, kg-CO2/kWh, fraction "
                            "(0..1) or probability (0..1)", "unit": ""},
}
"""Description and unit of every export column (the metadata's ``columns``)."""


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _num(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else float(v)


def tidy_table(forecasts: Sequence[ForecastRecord], savings: Sequence[SavingsRecord],
               tz: str = "Asia/Tokyo") -> pd.DataFrame:
    """Return the long table documented in this module (columns ``COLUMNS``)."""
    rows: list[dict[str, Any]] = []
    for f in forecasts:
        start, end = fiscal_year_bounds(f.fiscal_year, tz)
        for q, unit in _FORECAST_QUANTITIES.items():
            rows.append({"run_id": f.run_id, "record": "forecast", "scope": f.scope,
                         "scope_id": f.scope_id, "site_id": f.scope_id if f.scope == "site"
                         else "", "measure_id": "", "period": fy_label(f.fiscal_year, "en"),
                         "period_start_utc": _iso(start), "period_end_utc": _iso(end),
                         "target_fy": f.target_fy, "quantity": q,
                         "value": _num(getattr(f, q)), "unit": unit})
    for s in savings:
        for q, unit in _SAVINGS_QUANTITIES.items():
            rows.append({"run_id": s.run_id, "record": "savings", "scope": "meter",
                         "scope_id": s.meter_id, "site_id": s.site_id,
                         "measure_id": s.measure_id,
                         "period": f"{s.reporting_start:%Y-%m-%d}/{s.reporting_end:%Y-%m-%d}",
                         "period_start_utc": _iso(s.reporting_start),
                         "period_end_utc": _iso(s.reporting_end), "target_fy": None,
                         "quantity": q, "value": _num(getattr(s, q)), "unit": unit})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["target_fy"] = frame["target_fy"].astype("Int64")
    frame["value"] = frame["value"].astype("float64")
    return frame


def metadata(forecasts: Sequence[ForecastRecord], savings: Sequence[SavingsRecord],
             factor_sources: dict[str, str]) -> dict[str, Any]:
    """Return the metadata block: run, method, periods, model metrics, factor sources."""
    records: list[ForecastRecord | SavingsRecord] = [*forecasts, *savings]
    runs = sorted({r.run_id for r in records})
    created = sorted({_iso(r.created_at) for r in records})
    return {
        "generator": f"greenpipe {__version__}",
        "exported_at_utc": datetime.now(UTC).isoformat(),
        "run_ids": runs,
        "run_created_at_utc": created,
        "method": {
            "savings": "IPMVP Option C whole-facility baseline: Prophet (flat trend, weekly "
                       "seasonality on regular days, Japanese holidays and plant shutdowns, "
                       "heating/cooling degree regressors); avoided energy = baseline "
                       "prediction - actual; interval from posterior predictive samples plus "
                       "baseline-level uncertainty (ASHRAE Guideline 14 n')",
            "quality": "CV(RMSE), NMBE, R2 per ASHRAE Guideline 14 (in-sample and "
                       "time-series cross-validation)",
            "projection": _projection_method(forecasts),
        },
        "columns": COLUMN_DOCS,
        "quantities": {q: {"unit": u} for q, u in
                       {**_FORECAST_QUANTITIES, **_SAVINGS_QUANTITIES}.items()},
        "savings_models": {
            f"{s.meter_id}/{s.measure_id or 'null-test'}": {
                "baseline_period_utc": [_iso(s.baseline_start), _iso(s.baseline_end)],
                "reporting_period_utc": [_iso(s.reporting_start), _iso(s.reporting_end)],
                "granularity": s.granularity, "interval_level": s.interval_level,
                "cvrmse": _num(s.cvrmse), "nmbe": _num(s.nmbe), "r2": _num(s.r2),
                "cv_cvrmse": _num(s.cv_cvrmse), "passes_ashrae": s.passes_ashrae,
                "warnings": list(s.warnings),
            } for s in savings},
        "forecast_models": {
            f"{f.scope}:{f.scope_id}": {"model": json.loads(f.model) if f.model else None,
                                        "warnings": list(f.warnings)}
            for f in forecasts},
        "emission_factor_sources": factor_sources,
    }


def _projection_method(forecasts: Sequence[ForecastRecord]) -> str:
    """Describe the projection method the run actually used (its trend per scope)."""
    trends: dict[str, list[str]] = {}
    for f in forecasts:
        try:
            trend = str(json.loads(f.model).get("trend") or "") if f.model else ""
        except (ValueError, AttributeError):
            trend = ""
        scope = f"{f.scope}:{f.scope_id}"
        if trend and scope not in trends.setdefault(trend, []):
            trends[trend].append(scope)
    if not trends:
        used = "Prophet on daily emissions (no projection was fitted)"
    elif len(trends) == 1:
        used = f"Prophet {next(iter(trends))} trend on daily emissions"
    else:
        used = "Prophet on daily emissions, " + "; ".join(
            f"{t} trend for {', '.join(scopes)}" for t, scopes in sorted(trends.items()))
    note = (" (flat: under 2 years of history, with a yearly level random walk)"
            if "flat" in trends else "")
    return (f"{used}{note}, climatological temperature; P10/P50/P90 of fiscal-year totals; "
            "linear target trajectory; probability = share of samples at or below it")


def write_export(table: pd.DataFrame, meta: dict[str, Any], fmt: str, out: str | Path
                 ) -> list[Path]:
    """Write ``table`` and ``meta`` in ``fmt``; returns the files written."""
    if fmt not in FORMATS:
        raise GreenpipeError(f"export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta_text = json.dumps(meta, ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        table.to_csv(path, index=False)
        side = path.with_name(path.name + ".metadata.json")
        side.write_text(meta_text, encoding="utf-8")
        return [path, side]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(table, preserve_index=False)
        arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                               b"greenpipe": meta_text.encode("utf-8")})
        pq.write_table(arrow, path)
        return [path]
    if fmt == "json":
        # Python floats, not DataFrame.to_json (10 significant digits): exact round trip.
        rows = [{k: (None if pd.isna(v) else int(v) if k == "target_fy" else v)
                 for k, v in rec.items()} for rec in table.to_dict(orient="records")]
        path.write_text(json.dumps({"metadata": meta, "rows": rows}, ensure_ascii=False,
                                   indent=1, default=str), encoding="utf-8")
        return [path]
    flat = pd.DataFrame(_flatten(meta), columns=["key", "value"])
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        table.to_excel(xl, sheet_name="data", index=False)
        flat.to_excel(xl, sheet_name="metadata", index=False)
        for sheet in xl.sheets.values():
            _style_sheet(sheet)
    return [path]


def _style_sheet(sheet: Any) -> None:
    """Bold, shaded header row that stays in view (frozen), columns sized to their text."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
    sheet.freeze_panes = "A2"
    for i, column in enumerate(sheet.iter_cols(max_row=min(sheet.max_row, 200)), start=1):
        width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        sheet.column_dimensions[get_column_letter(i)].width = min(60, width + 2)


def flatten_metadata(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a metadata block to ``(dotted.key, text)`` rows (lists as JSON) for sheets."""
    return _flatten(obj, prefix)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        return [(prefix, json.dumps(obj, ensure_ascii=False, default=str))]
    return [(prefix, "" if obj is None else str(obj))]
