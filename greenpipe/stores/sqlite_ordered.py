"""Ordered register writes on SQLite: read a meter's stored neighbours inside the write.

Interval energy is ``register - previous register`` of one meter, so it needs the meter's
readings in order. Collectors that share one subscription each see part of every meter's
stream; SQLite serialises their writes (``BEGIN IMMEDIATE`` takes the database's one write
lock), so *inside* that transaction each writer sees every reading committed before it and
none can commit in between. ``SqliteStore.write_ordered`` reads here, per meter of a batch,
the stored readings from just before the batch's earliest one and hands them to a derive
function supplied by the caller (the collector's register rules; the core knows no rules),
then writes what it returns in the same transaction. Hand-written because it is a few
indexed queries on the store's own schema.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from greenpipe.model import Reading

MAX_CONTEXT = 32
"""Stored readings read back from a span while looking for a register baseline; a meter
with more refused readings in a row than this starts over. [readings]"""

_COLUMNS = "ts_ms, site_id, energy_kwh, register_kwh, power_kw, temp_air_c, quality"


def _reading(meter_id: str, row: tuple[object, ...]) -> Reading:
    ts_ms, site_id, energy, register, power, temp, quality = row
    return Reading(meter_id=meter_id, site_id=str(site_id),
                   ts=datetime.fromtimestamp(int(ts_ms) / 1000, tz=UTC),  # type: ignore[call-overload]
                   energy_kwh=energy, register_kwh=register, power_kw=power,  # type: ignore[arg-type]
                   temp_air_c=temp,  # type: ignore[arg-type]
                   quality=frozenset(q for q in str(quality).split(",") if q))


def register_context(conn: sqlite3.Connection, meter_id: str, lo_ms: int, hi_ms: int,
                     is_baseline: Callable[[Reading], bool]) -> list[Reading]:
    """Return a meter's stored register readings around ``[lo_ms, hi_ms]``, oldest first.

    That is: the newest baseline before ``lo_ms`` (``is_baseline``, the caller's rule, e.g.
    not a refused spike) with the readings after it, every register reading in the span,
    and the readings after ``hi_ms`` up to and including the first baseline: the readings
    after that one keep their previous register, so their energy cannot change. Rows
    without a register (interval form, weather) are left out.
    """
    before: list[Reading] = []
    cur = conn.execute(
        f"SELECT {_COLUMNS} FROM readings WHERE meter_id = ? AND ts_ms < ? "
        "AND register_kwh IS NOT NULL ORDER BY ts_ms DESC LIMIT ?",
        (meter_id, lo_ms, MAX_CONTEXT + 1))
    for row in cur:
        before.append(_reading(meter_id, row))
        if is_baseline(before[-1]):
            break
    else:
        before = []  # no baseline within reach: the meter starts over
    out = before[::-1]
    cur = conn.execute(
        f"SELECT {_COLUMNS} FROM readings WHERE meter_id = ? AND ts_ms >= ? "
        "AND register_kwh IS NOT NULL ORDER BY ts_ms", (meter_id, lo_ms))
    for row in cur:
        out.append(_reading(meter_id, row))
        if int(row[0]) > hi_ms and is_baseline(out[-1]):
            break
    cur.close()
    return out


def readings_after(conn: sqlite3.Connection, meter_id: str, after_ms: int, limit: int
                   ) -> list[Reading]:
    """Return a meter's next ``limit`` stored register readings after ``after_ms``."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM readings WHERE meter_id = ? AND ts_ms > ? "
        "AND register_kwh IS NOT NULL ORDER BY ts_ms LIMIT ?",
        (meter_id, after_ms, limit)).fetchall()
    return [_reading(meter_id, r) for r in rows]
