"""Encoders for the Export page: one DataFrame to CSV, Parquet, JSON or xlsx bytes."""

from __future__ import annotations

import io

import pandas as pd

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("csv", "text/csv"),
    "parquet": ("parquet", "application/vnd.apache.parquet"),
    "json": ("json", "application/json"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
"""Format name -> (file extension, MIME type)."""

XLSX_MAX_ROWS = 1_048_575
"""Data rows an Excel sheet holds (1,048,576 rows minus the header)."""


def encode(frame: pd.DataFrame, fmt: str) -> bytes:
    """Encode ``frame`` as ``fmt`` (csv, parquet, json, xlsx); raises ValueError otherwise.

    Times stay unambiguous: CSV writes ISO 8601 with the offset (``+09:00``), JSON writes
    UTC ISO 8601 (``Z``), Parquet keeps the time zone, and xlsx, which has no time zones,
    gets the local wall time (name the zone in the column, e.g. ``interval_start_jst``).
    """
    if fmt == "csv":
        # UTF-8 with BOM so Excel in Japanese Windows opens 拠点名 correctly.
        return frame.to_csv(index=False).encode("utf-8-sig")
    if fmt == "parquet":
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        return buf.getvalue()
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", force_ascii=False,
                             indent=1).encode("utf-8")
    if fmt == "xlsx":
        buf = io.BytesIO()
        naive = frame.copy()
        for col in naive.columns:
            if isinstance(naive[col].dtype, pd.DatetimeTZDtype):
                naive[col] = naive[col].dt.tz_localize(None)
        with pd.ExcelWriter(buf, engine="openpyxl") as writer:
            naive.to_excel(writer, index=False, sheet_name="greenpipe")
        return buf.getvalue()
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
