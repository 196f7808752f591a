"""Report files: JSON keys, CSV parts and the xlsx opened with openpyxl."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from numpy.testing import assert_allclose

from greenpipe.app.cli import main
from reports.build import build_reports
from reports.export import tables, write_report
from tests.test_reports_build import city, fill, store  # noqa: F401  (fixture)

KEYS = ("energy_gj", "crude_oil_kl", "intensity", "intensity_5y_avg_change_pct", "class",
        "co2_basic_t", "co2_adjusted_t")


def test_json_has_the_documented_keys_per_site_and_total(store, tmp_path: Path) -> None:  # noqa: F811
    fill(store, 365 + 366)
    rs = build_reports(city(), store, 2023)
    out = tmp_path / "ea.json"
    write_report(rs, "energy-act", "json", out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    for site in doc["sites"].values():
        assert all(k in site for k in KEYS)
    assert all(k in doc["total"] for k in KEYS)
    f1 = doc["sites"]["f1"]
    assert_allclose(f1["energy_gj"], rs.sites[0].energy_gj)
    assert f1["class"] in ("S", "A", "B")
    meta = doc["metadata"]["factors"]
    assert meta["energy_act.electricity_gj_per_mwh@FY2023"]["value"] == 8.64
    assert "tayori.com" in meta["energy_act.electricity_gj_per_mwh@FY2023"]["source"]
    assert any(k.startswith("ghg.electricity.yonden/C.basic@FY2023") for k in meta)
    assert {w["code"] for w in doc["metadata"]["warnings"]} >= {"ghg.retailer_without_factors"}


def test_xlsx_has_japanese_and_english_headers_and_the_numbers(store, tmp_path: Path  # noqa: F811
                                                               ) -> None:
    fill(store, 365 + 366)
    rs = build_reports(city(), store, 2023)
    out = tmp_path / "ea.xlsx"
    write_report(rs, "energy-act", "xlsx", out)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["energy", "intensity", "class", "nonfossil", "companies",
                             "monthly", "metadata"]
    ws = wb["energy"]
    assert ws["A1"].value == "事業所ID" and ws["A2"].value == "Site id"
    assert ws["G1"].value == "熱量 GJ" and ws["G2"].value == "Energy GJ"
    assert ws.freeze_panes == "A3" and ws["A1"].font.b
    rows = {(r[0], r[4]): r for r in ws.iter_rows(min_row=3, values_only=True)}
    assert_allclose(rows[("f1", "electricity_purchased")][6], 366 * 8.64)
    assert_allclose(rows[("f1", "electricity_purchased")][7], 366 * 8.64 * 0.0258)
    meta = {r[0]: r[1] for r in wb["metadata"].iter_rows(min_row=3, values_only=True)}
    assert meta["report"] == "energy-act" and meta["fiscal_year"] == "2023"
    ghg = tmp_path / "ghg.xlsx"
    write_report(rs, "ghg", "xlsx", ghg)
    ws = openpyxl.load_workbook(ghg)["summary"]
    assert ws["F1"].value == "基礎排出量 t-CO2"
    f1 = next(r for r in ws.iter_rows(min_row=3, values_only=True) if r[0] == "f1")
    assert_allclose(f1[5], 366_000 * 0.464 / 1000 + 183_000 * 0.17952 / 1000)


def test_csv_parts_and_the_cli(store, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
                               ) -> None:
    fill(store, 365)
    cfg_file = tmp_path / "city.toml"
    cfg_file.write_text(f'[store]\nurl = "sqlite:///{store.path}"\n' + _toml(), encoding="utf-8")
    out = tmp_path / "ghg.csv"
    assert main(["report", "ghg", "--config", str(cfg_file), "--fy", "2022", "--format", "csv",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ghg FY2022" in printed and "ghg.retailer_without_factors" in printed
    assert out.is_file() and (tmp_path / "ghg.summary.csv").is_file()
    assert json.loads((tmp_path / "ghg.csv.metadata.json").read_text())["report"] == "ghg"
    assert main(["report", "energy-act", "--config", str(cfg_file), "--fy", "2022",
                 "--company", "x", "--format", "json", "--out", str(tmp_path / "x.json")]) == 2
    assert "no such company" in capsys.readouterr().err
    parts = tables(build_reports(city(), store, 2022), "ghg")
    assert set(parts) == {"co2", "summary"}


def _toml() -> str:
    return """
[[sites]]
id = "f1"
name = "Plant"
sector = "industry"
[[meters]]
id = "f1-e"
site = "f1"
kind = "electricity"
[[meters]]
id = "f1-out"
site = "f1"
kind = "production"
unit = "t"
[[site_reporting]]
site = "f1"
"""
