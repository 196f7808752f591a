"""Forecasting records in InfluxDB (measurements ``forecast``, ``savings``, ``baseline_series``).

A record's key fields (``greenpipe.results.FORECAST_KEY`` / ``SAVINGS_KEY``, run id first)
are tags and its ``created_at`` is the timestamp, so writing the same run and key again
replaces the point, as SQLite's ``UNIQUE ... ON CONFLICT REPLACE`` does. A ``BaselinePoint``
is a time series point: its ``day_start`` is the timestamp, run, meter and measure are tags
and ``created_at`` is an integer field (epoch ms), so the newest run is found with
``max(created_at)`` per run id. Every other field
is a field typed from the record (INTEGER as integer, REAL as float, TEXT as string), so a
field never changes type between writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from greenpipe.errors import StoreError
from greenpipe.finding import (
    FINDINGS_TABLE,
    Finding,
    finding_columns,
    finding_from_row,
    finding_to_row,
)
from greenpipe.results import (
    BASELINE_KEY,
    FORECAST_KEY,
    SAVINGS_KEY,
    AnyRecord,
    BaselinePoint,
    ForecastRecord,
    R,
    SavingsRecord,
    columns_of,
    record_from_row,
    record_to_row,
    sort_records,
)
from greenpipe.stores import line_protocol
from greenpipe.stores.influxql import Series, quote_ident, quote_literal

_KEYS: dict[type, tuple[str, ...]] = {ForecastRecord: FORECAST_KEY, SavingsRecord: SAVINGS_KEY,
                                      BaselinePoint: BASELINE_KEY[:-1]}
_TIME: dict[type, str] = {BaselinePoint: "day_start"}
"""The record field that is the point's timestamp (default ``created_at``)."""
_FORBIDDEN_IN_TAGS = ("\n", "\r", "\t", "\\")


def record_lines(measurement: str, records: Sequence[AnyRecord]) -> list[str]:
    """Serialize records to line protocol (ms precision) column by column (``line_protocol``)."""
    lines = []
    for record in records:
        cls = type(record)
        keys = _KEYS[cls]
        types = dict(columns_of(cls))
        row = record_to_row(record)
        tags: dict[str, str] = {}
        for key in keys:
            value = row[key]
            if value is None or value == "":
                continue  # InfluxDB drops empty tags; read back as unknown
            text = str(value)
            if any(ch in text for ch in _FORBIDDEN_IN_TAGS):
                raise StoreError(f"{cls.__name__}.{key} {text!r} contains a newline, tab or "
                                 "backslash, which an InfluxDB tag cannot carry unchanged",
                                 retryable=False)
            tags[key] = text
        time_field = _TIME.get(cls, "created_at")
        fields: dict[str, Any] = {}
        for name, value in row.items():
            if name in keys or name == time_field or value is None:
                continue
            sql = types[name]
            fields[name] = int(value) if sql == "INTEGER" else (
                float(value) if sql == "REAL" else str(value))
        time_ms = row[time_field]
        assert isinstance(time_ms, int)
        lines.append(line_protocol.encode_point(measurement, tags, fields, time_ms))
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


def newest_run_by_created_query(measurement: str) -> str:
    """InfluxQL for each run's ``created_at`` field (measurements timed by another field)."""
    return (f"SELECT max({quote_ident('created_at')}) FROM {quote_ident(measurement)} "
            f"GROUP BY {quote_ident('run_id')}")


def newest_run_by_created(series: list[Series]) -> str | None:
    """Return the run with the greatest ``created_at`` (ties: the greatest run id)."""
    best: tuple[int, str] | None = None
    for s in series:
        run_id = s.tags.get("run_id", "")
        for values in s.values:
            if values[1] is None:
                continue
            cand = (int(values[1]), str(run_id))
            best = cand if best is None or cand > best else best
    return best[1] if best else None


def run_meters_query(measurement: str, run_id: str, meter_ids: Sequence[str] | None) -> str:
    """InfluxQL for every record of one run, optionally of some meters only."""
    query = run_query(measurement, run_id)
    if meter_ids:
        either = " OR ".join(f"{quote_ident('meter_id')} = {quote_literal(m)}"
                             for m in meter_ids)
        query += f" AND ({either})"
    return query


def records_from_series(cls: type[R], series: list[Series]) -> list[R]:
    """Rebuild records from the series of a ``SELECT *`` (epoch ms), in key order."""
    time_field = _TIME.get(cls, "created_at")
    out = []
    for s in series:
        for values in s.values:
            row: dict[str, Any] = {}
            for col, value in zip(s.columns, values, strict=True):
                if col == "time":
                    row[time_field] = value
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


def finding_lines(findings: Sequence[Finding]) -> list[str]:
    """Line protocol for findings: tag ``id``, timestamp ``first_seen`` (else ``start``).

    The timestamp never changes for an id, so rewriting a finding (new status, new numbers)
    replaces its one point, as SQLite's unique id does.
    """
    types = dict(finding_columns())
    lines = []
    for f in findings:
        if any(ch in f.id for ch in _FORBIDDEN_IN_TAGS) or not f.id:
            raise StoreError(f"finding id {f.id!r} is empty or holds a newline, tab or "
                             "backslash, which an InfluxDB tag cannot carry", retryable=False)
        row = finding_to_row(f)
        time_ms = row["first_seen"] if row["first_seen"] is not None else row["start"]
        fields: dict[str, Any] = {}
        for name, value in row.items():
            if name == "id" or value is None:
                continue
            sql = types[name]
            fields[name] = int(value) if sql == "INTEGER" else (
                float(value) if sql == "REAL" else str(value))
        assert isinstance(time_ms, int)
        lines.append(line_protocol.encode_point(FINDINGS_TABLE, {"id": f.id}, fields, time_ms))
    return lines


def findings_query(status: str | None) -> str:
    """InfluxQL for every finding, or those of one status."""
    query = f"SELECT * FROM {quote_ident(FINDINGS_TABLE)}"
    if status:
        query += f" WHERE {quote_ident('status')} = {quote_literal(status)}"
    return query


def findings_from_series(series: list[Series]) -> list[Finding]:
    """Rebuild findings from the series of ``findings_query``, sorted by id."""
    names = {c for c, _ in finding_columns()}
    out = []
    for s in series:
        for values in s.values:
            row: dict[str, Any] = {c: v for c, v in zip(s.columns, values, strict=True)
                                   if c in names}
            row.update({k: v for k, v in s.tags.items() if k in names})
            for name in names:
                row.setdefault(name, None)
            out.append(finding_from_row(row))
    return sorted(out, key=lambda f: f.id)
