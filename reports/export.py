"""Write a ``ReportSet`` as JSON, CSV or xlsx: one table per part plus a metadata block.

Parts of ``energy-act``: ``energy`` (GJ and crude-oil kL by energy type), ``intensity`` (per
fiscal year, the 5-year history), ``class``, ``nonfossil``, ``companies`` (1,500 kL test)
and ``monthly``. Parts of ``ghg``: ``co2`` (by source and basis, with the factor used) and
``summary``. Every format carries the metadata block naming each factor, its value, unit,
first fiscal year, source and whether it was verified, plus every warning.

* ``json``: ``{"metadata", "sites": {id: {...}}, "companies", "total", "tables"}``; each
  site and the total carry ``energy_gj``, ``crude_oil_kl``, ``intensity``,
  ``intensity_5y_avg_change_pct``, ``class``, ``co2_basic_t`` and ``co2_adjusted_t``.
* ``csv``: ``PATH`` holds the first part; the others go to ``STEM.<part>.csv`` beside it,
  the metadata to ``PATH.metadata.json``. English headers (one header row keeps CSV plain).
* ``xlsx``: a sheet per part and ``metadata``; row 1 Japanese headers, row 2 English ones,
  bold on a tinted fill, frozen below row 2.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from forecasting.export import flatten_metadata
from greenpipe import __version__
from greenpipe.errors import GreenpipeError
from reports.build import ReportSet

FORMATS = ("xlsx", "csv", "json")
KINDS = ("energy-act", "ghg")

# column -> (Japanese header, English header)
HEADERS: dict[str, tuple[str, str]] = {
    "site_id": ("事業所ID", "Site id"), "site_name": ("事業所名", "Site name"),
    "company_id": ("事業者ID", "Company id"), "fiscal_year": ("年度", "Fiscal year"),
    "energy_type": ("エネルギー種別", "Energy type"), "energy_kwh": ("使用量 kWh", "Energy kWh"),
    "energy_gj": ("熱量 GJ", "Energy GJ"), "crude_oil_kl": ("原油換算 kL", "Crude oil kL"),
    "factor": ("換算係数", "Conversion factor"), "factor_unit": ("係数単位", "Factor unit"),
    "months_with_data": ("データ月数", "Months with data"), "partial": ("部分年度", "Partial"),
    "denominator": ("原単位分母", "Denominator"), "intensity": ("原単位", "Intensity"),
    "intensity_unit": ("原単位単位", "Intensity unit"),
    "yoy_change_pct": ("対前年度比 %", "YoY change %"),
    "intensity_5y_avg_change_pct": ("5年度間平均原単位変化 %", "5-year avg change %"),
    "avg_years": ("平均年数", "Years averaged"), "class": ("クラス", "Class"),
    "meets_target": ("年1%改善目標達成", "Meets 1 %/yr target"),
    "pv_self_consumption_gj": ("自家消費太陽光 GJ", "Own PV GJ"),
    "purchased_nonfossil_gj": ("買電の非化石 GJ", "Purchased non-fossil GJ"),
    "nonfossil_share_pct": ("非化石比率 % (×1.2)", "Non-fossil share % (x1.2)"),
    "site_ids": ("事業所", "Sites"), "threshold_kl": ("基準 kL", "Threshold kL"),
    "specified": ("特定事業者", "Specified operator"), "month": ("月", "Month"),
    "source": ("排出源", "Source"), "basis": ("係数区分", "Basis"),
    "ef_kg_per_kwh": ("排出係数 kg-CO2/kWh", "Factor kg-CO2/kWh"),
    "factor_fy": ("係数年度", "Factor year"), "co2_t": ("CO2 t", "CO2 t"),
    "retailer_specific": ("事業者別係数", "Retailer-specific"),
    "factor_source": ("係数出典", "Factor source"),
    "co2_basic_t": ("基礎排出量 t-CO2", "Basic CO2 t"),
    "co2_adjusted_t": ("調整後排出量 t-CO2", "Adjusted CO2 t"),
    "key": ("項目", "Key"), "value": ("値", "Value"),
}


def _num(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def site_figures(rs: ReportSet) -> dict[str, dict[str, Any]]:
    """Return the per-site figures of the JSON output."""
    out = {}
    for s in rs.sites:
        cur = s.years[rs.fy]
        out[s.site_id] = {
            "name": s.name, "company_id": s.company_id, "energy_gj": s.energy_gj,
            "crude_oil_kl": s.crude_oil_kl, "intensity": s.intensity,
            "intensity_unit": s.intensity_unit, "yoy_change_pct": s.yoy_change_pct,
            "intensity_5y_avg_change_pct": s.intensity_5y_avg_change_pct,
            "avg_years": s.avg_years, "class": s.energy_class, "meets_target": s.meets_target,
            "co2_basic_t": s.co2_basic_t, "co2_adjusted_t": s.co2_adjusted_t,
            "partial": s.partial, "months_with_data": cur.months_with_data,
            "energy_gj_by_type": dict(cur.energy_gj_by_type),
            "energy_kwh_by_type": dict(cur.energy_kwh),
            "intensity_history": {f"FY{y}": v.intensity for y, v in sorted(s.years.items())},
            "nonfossil_share_pct": s.nonfossil_share_pct,
            "retailer": s.reporting.retailer, "menu": s.reporting.menu,
            "warnings": [w.code for w in s.warnings],
        }
    return out


def metadata(rs: ReportSet, kind: str) -> dict[str, Any]:
    """Return the metadata block: report, generator, factors with sources, warnings."""
    return {
        "report": kind, "fiscal_year": rs.fy, "timezone": rs.tz,
        "generator": f"greenpipe {__version__}",
        "generated_at_utc": datetime.now(UTC).isoformat(),
        "method": "docs/reports.md; partial years are reported as they are, never scaled",
        "factors": rs.factors,
        "warnings": [{"code": w.code, "scope": w.scope, "message": w.message}
                     for w in rs.warnings],
    }


def tables(rs: ReportSet, kind: str) -> dict[str, pd.DataFrame]:
    """Return the report's parts as frames (columns are keys of ``HEADERS``)."""
    if kind not in KINDS:
        raise GreenpipeError(f"report {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "ghg":
        co2 = [{"site_id": s.site_id, "site_name": s.name, "fiscal_year": rs.fy,
                "source": c.source, "basis": c.basis, "energy_kwh": c.energy_kwh,
                "ef_kg_per_kwh": c.ef_kg_per_kwh, "factor_fy": c.factor_fy, "co2_t": c.co2_t,
                "retailer_specific": c.retailer_specific, "factor_source": c.factor_source}
               for s in rs.sites for c in s.co2]
        summary = [{"site_id": s.site_id, "site_name": s.name, "company_id": s.company_id,
                    "fiscal_year": rs.fy, "partial": s.partial, "co2_basic_t": s.co2_basic_t,
                    "co2_adjusted_t": s.co2_adjusted_t} for s in rs.sites]
        return {"co2": _frame(co2, ["site_id", "site_name", "fiscal_year", "source", "basis",
                                    "energy_kwh", "ef_kg_per_kwh", "factor_fy", "co2_t",
                                    "retailer_specific", "factor_source"]),
                "summary": _frame(summary, ["site_id", "site_name", "company_id", "fiscal_year",
                                            "partial", "co2_basic_t", "co2_adjusted_t"])}
    energy, intensity, klass, nonfossil, monthly = [], [], [], [], []
    for s in rs.sites:
        cur = s.years[rs.fy]
        for etype, kwh in cur.energy_kwh.items():
            gj = cur.energy_gj_by_type.get(etype)
            energy.append({"site_id": s.site_id, "site_name": s.name,
                           "company_id": s.company_id, "fiscal_year": rs.fy,
                           "energy_type": etype, "energy_kwh": kwh, "energy_gj": gj,
                           "crude_oil_kl": None if gj is None else gj * _kl_per_gj(rs)})
        for y, sy in sorted(s.years.items()):
            intensity.append({"site_id": s.site_id, "fiscal_year": y,
                              "months_with_data": sy.months_with_data, "partial": sy.partial,
                              "energy_gj": sy.energy_gj, "denominator": sy.production,
                              "intensity": sy.intensity, "intensity_unit": s.intensity_unit})
        klass.append({"site_id": s.site_id, "site_name": s.name, "fiscal_year": rs.fy,
                      "intensity": s.intensity, "yoy_change_pct": s.yoy_change_pct,
                      "intensity_5y_avg_change_pct": s.intensity_5y_avg_change_pct,
                      "avg_years": s.avg_years, "class": s.energy_class,
                      "meets_target": s.meets_target})
        nonfossil.append({"site_id": s.site_id, "fiscal_year": rs.fy,
                          "pv_self_consumption_gj": s.nonfossil_gj["pv_self_consumption"],
                          "purchased_nonfossil_gj": s.nonfossil_gj["purchased_nonfossil"],
                          "energy_gj": s.energy_gj,
                          "nonfossil_share_pct": s.nonfossil_share_pct})
        for m in s.monthly:
            monthly.append({"site_id": s.site_id, **m, "intensity_unit": s.intensity_unit})
    companies = [{"company_id": c.company_id, "site_ids": ", ".join(c.site_ids),
                  "fiscal_year": rs.fy, "crude_oil_kl": c.crude_oil_kl,
                  "threshold_kl": c.threshold_kl, "specified": c.specified,
                  "partial": c.partial} for c in rs.companies]
    return {
        "energy": _frame(energy, ["site_id", "site_name", "company_id", "fiscal_year",
                                  "energy_type", "energy_kwh", "energy_gj", "crude_oil_kl"]),
        "intensity": _frame(intensity, ["site_id", "fiscal_year", "months_with_data", "partial",
                                        "energy_gj", "denominator", "intensity",
                                        "intensity_unit"]),
        "class": _frame(klass, ["site_id", "site_name", "fiscal_year", "intensity",
                                "yoy_change_pct", "intensity_5y_avg_change_pct", "avg_years",
                                "class", "meets_target"]),
        "nonfossil": _frame(nonfossil, ["site_id", "fiscal_year", "pv_self_consumption_gj",
                                        "purchased_nonfossil_gj", "energy_gj",
                                        "nonfossil_share_pct"]),
        "companies": _frame(companies, ["company_id", "site_ids", "fiscal_year",
                                        "crude_oil_kl", "threshold_kl", "specified",
                                        "partial"]),
        "monthly": _frame(monthly, ["site_id", "month", "energy_gj", "denominator",
                                    "intensity", "intensity_unit"]),
    }


def _kl_per_gj(rs: ReportSet) -> float:
    key = f"energy_act.crude_oil_kl_per_gj@FY{rs.fy}"
    return float(rs.factors[key]["value"]) if key in rs.factors else math.nan


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def to_json(rs: ReportSet, kind: str) -> dict[str, Any]:
    """Return the JSON document of the report (see module docstring)."""
    companies = {c.company_id: {"site_ids": c.site_ids, "crude_oil_kl": c.crude_oil_kl,
                                "threshold_kl": c.threshold_kl, "specified": c.specified,
                                "partial": c.partial} for c in rs.companies}
    parts = {name: [{k: _num(v) for k, v in rec.items()} for rec in
                    frame.astype(object).where(frame.notna(), None).to_dict(orient="records")]
             for name, frame in tables(rs, kind).items()}
    return {"metadata": metadata(rs, kind), "sites": site_figures(rs), "companies": companies,
            "total": rs.total(), "tables": parts}


def write_report(rs: ReportSet, kind: str, fmt: str, out: str | Path) -> list[Path]:
    """Write the report ``kind`` in ``fmt`` to ``out``; returns the files written."""
    if fmt not in FORMATS:
        raise GreenpipeError(f"report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = metadata(rs, kind)
    if fmt == "json":
        path.write_text(json.dumps(to_json(rs, kind), ensure_ascii=False, indent=1,
                                   default=str), encoding="utf-8")
        return [path]
    parts = tables(rs, kind)
    if fmt == "csv":
        written = []
        for i, (name, frame) in enumerate(parts.items()):
            target = path if i == 0 else path.with_name(f"{path.stem}.{name}.csv")
            frame.to_csv(target, index=False)
            written.append(target)
        side = path.with_name(path.name + ".metadata.json")
        side.write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str),
                        encoding="utf-8")
        return [*written, side]
    parts["metadata"] = pd.DataFrame(flatten_metadata(meta), columns=["key", "value"])
    _write_xlsx(parts, path)
    return [path]


def xlsx_bytes(rs: ReportSet, kind: str) -> bytes:
    """Return the xlsx of report ``kind`` as bytes (for a download button)."""
    import io

    parts = tables(rs, kind)
    parts["metadata"] = pd.DataFrame(flatten_metadata(metadata(rs, kind)),
                                     columns=["key", "value"])
    buf = io.BytesIO()
    _write_xlsx(parts, buf)
    return buf.getvalue()


def _write_xlsx(parts: dict[str, pd.DataFrame], path: Path | Any) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for name, frame in parts.items():
        ws = wb.create_sheet(name)
        ws.append([HEADERS.get(c, (c, c))[0] for c in frame.columns])
        ws.append([HEADERS.get(c, (c, c))[1] for c in frame.columns])
        for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
            ws.append([_num(v) for v in row])
        for r in (1, 2):
            for cell in ws[r]:
                cell.font, cell.fill = bold, fill
        ws.freeze_panes = "A3"
        for i, c in enumerate(frame.columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, min(48, len(c) + 4))
    wb.save(path)
