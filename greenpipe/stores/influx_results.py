"""Forecast and savings records in InfluxDB (measurements ``forecast`` and ``savings``).

A record's key fields (``greenpipe.results.FORECAST_KEY`` / ``SAVINGS_KEY``, run id first)
are tags and its ``created_at`` is the timestamp, so writing the same run and key again
replaces the point, as SQLite's ``UNIQUE ... ON CONFLICT REPLACE`` does. Every other field
is a field typed from the record (INTEGER as integer, REAL as float, TEXT as string), so a
field never changes type between writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from influxdb_client import Point, WritePrecision

from greenpipe.errors import StoreError
from greenpipe.results import (
    FORECAST_KEY,
    SAVINGS_KEY,
    ForecastRecord,
    R,
    SavingsRecord,
    columns_of,
    record_from_row,
    record_to_row,
    sort_records,
)
from greenpipe.stores.influxql import Series, quote_ident, quote_literal

_KEYS: dict[type, tuple[str, ...]] = {ForecastRecord: FORECAST_KEY, SavingsRecord: SAVINGS_KEY}
_FORBIDDEN_IN_TAGS = ("\n", "\r", "\t", "\\")


def record_lines(measurement: str, records: Sequence[ForecastRecord | SavingsRecord]) -> list[str]:
    """Serialize records to line protocol (ms precision) with influxdb-client's ``Point``."""
    lines = []
    for record in records:
        cls = type(record)
        keys = _KEYS[cls]
        types = dict(columns_of(cls))
        row = record_to_row(record)
        point = Point(measurement)
        for key in keys:
            value = row[key]
            if value is None or value == "":
                continue  # InfluxDB drops empty tags; read back as unknown
            text = str(value)
            if any(ch in text for ch in _FORBIDDEN_IN_TAGS):
                raise StoreError(f"{cls.__name__}.{key} {text!r} contains a newline, tab or "
                                 "backslash, which an InfluxDB tag cannot carry unchanged",
                                 retryable=False)
            point = point.tag(key, text)
        for name, value in row.items():
            if name in keys or name == "created_at" or value is None:
                continue
            sql = types[name]
            typed: Any = int(value) if sql == "INTEGER" else (
                float(value) if sql == "REAL" else str(value))
            point = point.field(name, typed)
        created_ms = row["created_at"]
        assert isinstance(created_ms, int)
        lines.append(point.time(created_ms, WritePrecision.MS).to_line_protocol())
    return lines


def newest_run_query(measurement: str) -> str:
    """InfluxQL for the newest point of a measurement (its time is the newest created_at)."""
    return f"SELECT * FROM {quote_ident(measurement)} ORDER BY time DESC LIMIT 1"


def at_time_query(measurement: str, ms: int) -> str:
    """InfluxQL for every point of a measurement at one instant (runs created together)."""
    return f"SELECT * FROM {quote_ident(measurement)} WHERE time = {int(ms) * 1_000_000}"


def run_query(measurement: str, run_id: str) -> str:
    """InfluxQL for every record of one run."""
    return (f"SELECT * FROM {quote_ident(measurement)} "
            f"WHERE {quote_ident('run_id')} = {quote_literal(run_id)}")


def records_from_series(cls: type[R], series: list[Series]) -> list[R]:
    """Rebuild records from the series of a ``SELECT *`` (epoch ms), in key order."""
    out = []
    for s in series:
        for values in s.values:
            row: dict[str, Any] = {}
            for col, value in zip(s.columns, values, strict=True):
                if col == "time":
                    row["created_at"] = value
                else:
                    row[col] = None if value == "" and col in _KEYS[cls] else value
            for tag, value in s.tags.items():
                row.setdefault(tag, value or None)
            for key in _KEYS[cls]:
                row.setdefault(key, None)  # an empty key was not stored as a tag at all
            out.append(record_from_row(cls, row))
    return sort_records(out)


def newest_run_id(series: list[Series]) -> str | None:
    """Return the run id of the newest point (ties: the greatest run id)."""
    best: tuple[int, str] | None = None
    for s in series:
        if "run_id" not in s.columns:
            continue
        ti, ri = s.columns.index("time"), s.columns.index("run_id")
        for values in s.values:
            cand = (int(values[ti]), str(values[ri]))
            best = cand if best is None or cand > best else best
    return best[1] if best else None
