"""What was sent where and when: the de-duplication state, in a small SQLite file.

Why a file of its own and not the store: alert bookkeeping is delivery state, not
measurement data; keeping it out of the ``Store`` protocol spares both backends (and
InfluxDB, which has no cheap upsert by key) a table only this package reads. The file
lives beside a SQLite store (``var/greenpipe.db`` → ``var/greenpipe.alerts.db``) or, for
InfluxDB, at ``var/alerts-state.db``; ``alerts.state_path`` chooses another.

A key is remembered per channel, so a channel that failed is tried again at the next run
while the channels that delivered stay quiet until the window has passed.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from greenpipe.errors import GreenpipeError
from greenpipe.model import require_utc
from greenpipe.stores.url import parse_store_url

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts_sent (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    PRIMARY KEY (key, channel)
);
"""


def state_path_for(state_path: str, store_url: str) -> Path:
    """Return the state file ``alerts.state_path`` resolves to for the given store URL."""
    if state_path != "auto":
        return Path(state_path)
    parsed = parse_store_url(store_url)
    if parsed.scheme == "sqlite" and parsed.path is not None:
        return parsed.path.with_name(parsed.path.stem + ".alerts.db")
    return Path("var") / "alerts-state.db"


def is_due(last_sent: datetime | None, now: datetime, window_s: float) -> bool:
    """Return True when a key last sent at ``last_sent`` may be sent again at ``now``.

    Sent exactly ``window_s`` ago counts as due: the window is half-open. [s]
    """
    if last_sent is None:
        return True
    return (require_utc(now, "now") - last_sent).total_seconds() >= window_s


class DedupeState:
    """The persisted (key, channel) → last successful send time."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the state file; raises GreenpipeError when it cannot."""
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise GreenpipeError(
                f"cannot open the alert state file {path} ({exc}); fix its directory's "
                "permissions or set alerts.state_path to a writable file") from None

    def last_sent(self, key: str, channel: str) -> datetime | None:
        """Return when ``key`` was last delivered on ``channel``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT sent_at_ms FROM alerts_sent WHERE key = ? AND channel = ?",
                (key, channel)).fetchone()
        return None if row is None else datetime.fromtimestamp(row[0] / 1000, UTC)

    def record(self, key: str, channel: str, at: datetime) -> None:
        """Remember that ``key`` was delivered on ``channel`` at ``at``."""
        ms = round(require_utc(at, "at").timestamp() * 1000)
        with self._lock:
            self._db.execute(
                "INSERT INTO alerts_sent (key, channel, sent_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (key, channel) DO UPDATE SET sent_at_ms = excluded.sent_at_ms",
                (key, channel, ms))

    def prune(self, before: datetime) -> int:
        """Forget sends older than ``before`` (they are due again anyway); returns count."""
        ms = round(require_utc(before, "before").timestamp() * 1000)
        with self._lock:
            return self._db.execute(
                "DELETE FROM alerts_sent WHERE sent_at_ms < ?", (ms,)).rowcount

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()
