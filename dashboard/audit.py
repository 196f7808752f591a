"""The audit log: who acknowledged a finding, downloaded or exported what, and when.

A local SQLite file (``[access] audit_path``, default ``var/audit.db``) rather than the
store: the store may be InfluxDB, which keeps measurements, not a tamper-evident journal;
one append-only table in SQLite is enough for ~120 users and readable with any SQLite tool.
The city office reads it on the dashboard's Audit page.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from greenpipe.config import Config
from greenpipe.errors import StoreError

_SCHEMA = """CREATE TABLE IF NOT EXISTS audit (
    ts_ms INTEGER NOT NULL, who TEXT NOT NULL, organisation TEXT NOT NULL,
    role TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)"""
COLUMNS = ("ts", "who", "organisation", "role", "action", "detail")


def path_of(cfg: Config) -> Path:
    """The audit log file of ``cfg`` (relative paths are relative to the working directory)."""
    return Path(cfg.access.audit_path)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=10)
        conn.execute(_SCHEMA)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the audit log {path} ({exc}); fix [access] audit_path "
                         "or the directory's permissions", retryable=False) from None
    return conn


def record(path: Path, ts: datetime, who: str, organisation: str, role: str, action: str,
           detail: str) -> None:
    """Append one entry; ``ts`` must be timezone-aware."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware (UTC)")
    conn = _connect(path)
    try:
        with conn:
            conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?)",
                         (int(ts.timestamp() * 1000), who, organisation, role, action, detail))
    finally:
        conn.close()


def read(path: Path, limit: int = 500) -> pd.DataFrame:
    """The newest ``limit`` entries, newest first, with ``ts`` as aware UTC."""
    conn = _connect(path)
    try:
        rows = conn.execute("SELECT * FROM audit ORDER BY ts_ms DESC, rowid DESC LIMIT ?",
                            (limit,)).fetchall()
    finally:
        conn.close()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["ts"] = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in frame["ts"]]
    return frame
