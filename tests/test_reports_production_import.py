"""Production CSV import: good rows stored, bad rows dead letters with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenpipe.app.cli import main
from greenpipe.config import config_from_dict
from greenpipe.errors import GreenpipeError
from greenpipe.stores.sqlite import SqliteStore
from reports.production_import import parse_production_csv

CFG = config_from_dict({
    "sites": [{"id": "f1", "name": "Plant", "sector": "industry"}],
    "meters": [{"id": "f1-e", "site": "f1", "kind": "electricity"},
               {"id": "f1-out", "site": "f1", "kind": "production", "unit": "t"}],
}, env={})


def test_parser_accepts_index_column_missing_markers_and_naive_tz() -> None:
    text = (",timestamp,meter_id,quantity,unit\n"
            "0,2025-04-01T09:00:00+09:00,f1-out,12.5,t\n"
            "1,2025-04-01T10:00:00,f1-out,3,\n"
            "2,2025-04-01T11:00:00+09:00,f1-out,NA,t\n"
            "3,2025-04-01T12:00:00+09:00,f1-out,null,t\n"
            "4,2025-04-01T13:00:00+09:00,f1-out,-1,t\n"
            "5,yesterday,f1-out,1,t\n"
            "6,2025-04-01T14:00:00+09:00,f1-e,1,t\n"
            "7,2025-04-01T15:00:00+09:00,nope,1,t\n"
            "8,2025-04-01T16:00:00+09:00,f1-out,1,kg\n")
    recs, bad = parse_production_csv(text, CFG, naive_tz="Asia/Tokyo")
    assert [(r.ts, r.quantity) for r in recs] == [
        (datetime(2025, 4, 1, 0, tzinfo=UTC), 12.5), (datetime(2025, 4, 1, 1, tzinfo=UTC), 3.0)]
    assert [(b.line, b.code) for b in bad] == [
        (4, "csv.missing_value"), (5, "csv.missing_value"), (6, "csv.bad_number"),
        (7, "csv.bad_timestamp"), (8, "csv.not_production_meter"), (9, "csv.unknown_meter"),
        (10, "csv.unit_mismatch")]
    # Without --naive-tz the naive row is refused, not guessed.
    _, bad = parse_production_csv(text, CFG)
    assert (3, "csv.naive_timestamp") in [(b.line, b.code) for b in bad]


def test_file_level_problems_are_clear_errors() -> None:
    with pytest.raises(GreenpipeError, match="lacks meter_id"):
        parse_production_csv("timestamp,quantity\n", CFG)
    with pytest.raises(GreenpipeError, match="--naive-tz"):
        parse_production_csv("timestamp,quantity\n", CFG, meter="f1-out", naive_tz="Mars/Base")
    recs, _ = parse_production_csv("timestamp,quantity\n2025-04-01T09:00Z,1\n", CFG,
                                   meter="f1-out")
    assert recs[0].meter_id == "f1-out" and recs[0].site_id == "f1"


def test_cli_stores_rows_and_dead_letters(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "p.db"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{db}"\n' + """
[[sites]]
id = "f1"
name = "Plant"
sector = "industry"
[[meters]]
id = "f1-out"
site = "f1"
kind = "production"
unit = "t"
""", encoding="utf-8")
    csv_file = tmp_path / "prod.csv"
    csv_file.write_text("timestamp,meter_id,quantity\n2025-04-01T09:00:00+09:00,f1-out,5\n"
                        "2025-04-01T10:00:00+09:00,f1-out,oops\n", encoding="utf-8")
    assert main(["import", "production", "--config", str(cfg), "--csv", str(csv_file)]) == 1
    out = capsys.readouterr().out
    assert "stored 1 production records" in out and "csv.bad_number: 1" in out
    store = SqliteStore(db)
    t0 = datetime(2025, 3, 31, tzinfo=UTC)
    assert store.read_production(t0, t0 + timedelta(days=2), timedelta(days=2))[
        "quantity"].tolist() == [5.0]
    (letter,) = store.read_dead_letters()
    assert letter.code == "csv.bad_number" and letter.topic == "import/production/prod.csv:3"
    assert letter.payload == b"2025-04-01T10:00:00+09:00,f1-out,oops"
    assert main(["import", "production", "--config", str(cfg), "--csv",
                 str(tmp_path / "missing.csv")]) == 2
