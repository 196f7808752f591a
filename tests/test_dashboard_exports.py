"""Export encoders of the dashboard (dashboard/exports.py): every format round-trips."""

from __future__ import annotations

import io
import json

import openpyxl
import pandas as pd
import pytest

from dashboard.exports import FORMATS, encode

FRAME = pd.DataFrame({
    "meter": ["f1-main", "拠点-2"],
    "interval_start_jst": pd.to_datetime(["2025-04-01T00:00", "2025-04-01T00:30"]).tz_localize(
        "Asia/Tokyo"),
    "energy_kwh": [1.5, None],
})


def test_csv_has_bom_and_offsets() -> None:
    raw = encode(FRAME, "csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(back["meter"]) == ["f1-main", "拠点-2"]
    assert list(back["interval_start_jst"]) == ["2025-04-01 00:00:00+09:00",
                                                "2025-04-01 00:30:00+09:00"]
    assert back["energy_kwh"].iloc[0] == 1.5 and pd.isna(back["energy_kwh"].iloc[1])


def test_parquet_round_trips_with_time_zone() -> None:
    back = pd.read_parquet(io.BytesIO(encode(FRAME, "parquet")))
    pd.testing.assert_frame_equal(back, FRAME, check_dtype=False)
    assert str(back["interval_start_jst"].dt.tz) == "Asia/Tokyo"


def test_json_records() -> None:
    records = json.loads(encode(FRAME, "json"))
    assert records[1]["meter"] == "拠点-2"
    assert records[0]["energy_kwh"] == 1.5 and records[1]["energy_kwh"] is None
    assert records[0]["interval_start_jst"].startswith("2025-03-31T15:00:00")


def test_xlsx_writes_local_wall_time() -> None:
    book = openpyxl.load_workbook(io.BytesIO(encode(FRAME, "xlsx")))
    rows = list(book["greenpipe"].iter_rows(values_only=True))
    assert rows[0] == ("meter", "interval_start_jst", "energy_kwh")
    assert rows[1][0] == "f1-main" and rows[1][2] == 1.5
    assert rows[2][1].isoformat() == "2025-04-01T00:30:00"


def test_unknown_format_is_refused() -> None:
    assert set(FORMATS) == {"csv", "parquet", "json", "xlsx"}
    with pytest.raises(ValueError, match="unknown export format"):
        encode(FRAME, "pdf")
