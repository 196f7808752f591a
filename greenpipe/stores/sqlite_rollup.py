"""SQLite rollups: hourly and daily summaries of ``readings``, kept in the write transaction.

Tables ``rollup_1h`` and ``rollup_1d`` hold, per meter and bucket ``(b, b + w]`` (labelled
``b``), the energy sum, the sums and counts behind the power and temperature means, and the
reading count. ``rollup_site_1d`` and ``rollup_sector_1d`` hold the same sums per (site,
meter kind, day) and per (sector, meter kind, day), built from ``rollup_1d``, so a city-wide
daily read by sector or site does not scan meter-days (issue 15). ``rollup_1mo`` holds the
same per meter and local calendar month (months of the ``day_offset`` grid: JST months
start at 15:00 UTC on the last day of the month before), built from ``rollup_1d``, for
``Store.read_monthly`` (fiscal-year and monthly report figures), and ``rollup_site_1mo``
the same per (site, meter kind, month), built from ``rollup_1mo``, for a fiscal year's
site and sector totals (12 rows a site and kind instead of 12 a meter).
``SqliteStore.write`` recomputes every bucket a batch touches *inside the same
transaction* as the ``INSERT OR REPLACE`` of the readings, so late readings and corrected
(replaced) readings are summarised exactly as the raw rows now stand: a bucket is rebuilt
from its rows, never incremented, which is what makes replacement safe.

Daily buckets start at local midnight of the store's ``day_offset`` (e.g. -9 h for JST,
the city's zone when it keeps one UTC offset all year, else UTC midnight). ``Store.read``
answers from the rollups whenever the requested buckets are unions of rollup buckets: the
whole days of the range from ``rollup_1d``, the whole hours at its edges from ``rollup_1h``
and only the ragged minutes from ``readings`` (``plan``). Other reads (e.g. 30-minute
buckets) go to the raw readings, so results never depend on whether a rollup was used
(tests/test_store_contract.py proves it, including late and replaced readings).

Hand-written because SQLite has no materialised views; the SQL is the whole mechanism.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from greenpipe.stores.base import month_of_day

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
ROLLUP_VERSION = "4"
"""Bumped when the rollup tables change: a store with another version rebuilds them once."""


_SUMS_SQL = """
    energy_sum REAL,
    energy_n   INTEGER NOT NULL,
    power_sum  REAL    NOT NULL,
    power_n    INTEGER NOT NULL,
    temp_sum   REAL    NOT NULL,
    temp_n     INTEGER NOT NULL,
    n          INTEGER NOT NULL,"""


def _table_sql(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    meter_id   TEXT    NOT NULL,
    b_ms       INTEGER NOT NULL,
    site_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    sector     TEXT    NOT NULL,{_SUMS_SQL}
    PRIMARY KEY (meter_id, b_ms, site_id, sector)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {name}_b ON {name} (b_ms);
CREATE INDEX IF NOT EXISTS {name}_site ON {name} (site_id, b_ms);
CREATE INDEX IF NOT EXISTS {name}_sector ON {name} (sector, b_ms);
"""


def _site_table_sql(name: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {name} (
    site_id    TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    sector     TEXT    NOT NULL,
    b_ms       INTEGER NOT NULL,{_SUMS_SQL}
    PRIMARY KEY (kind, b_ms, site_id, sector)
) WITHOUT ROWID;"""


# Clustered by (kind, day): the dashboard reads one meter kind over a range of days.
SCHEMA = (_table_sql("rollup_1h") + _table_sql("rollup_1d") + _table_sql("rollup_1mo")
          + _site_table_sql("rollup_site_1d") + _site_table_sql("rollup_site_1mo") + f"""
CREATE INDEX IF NOT EXISTS rollup_site_1d_site ON rollup_site_1d (site_id, b_ms);
CREATE TABLE IF NOT EXISTS rollup_sector_1d (
    sector     TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    b_ms       INTEGER NOT NULL,{_SUMS_SQL}
    PRIMARY KEY (kind, b_ms, sector)
) WITHOUT ROWID;
""")

_SUM_SUMS = ("SUM(energy_sum), SUM(energy_n), TOTAL(power_sum), SUM(power_n), "
             "TOTAL(temp_sum), SUM(temp_n), SUM(n)")
_TOUCHED = ("SELECT DISTINCT r.site_id, r.kind, r.sector, r.b_ms FROM temp.rollup_touched t "
            "JOIN rollup_1d r ON r.meter_id = t.meter_id AND r.b_ms = t.b_ms")

_AGG = ("SUM(energy_kwh), COUNT(energy_kwh), TOTAL(power_kw), COUNT(power_kw), "
        "TOTAL(temp_air_c), COUNT(temp_air_c), COUNT(*)")


def _floor(ts_ms: int, width_ms: int, offset_ms: int) -> int:
    """Label of the bucket ``(b, b + w]`` that holds ``ts_ms``."""
    return (ts_ms - 1 - offset_ms) // width_ms * width_ms + offset_ms


def refresh(conn: sqlite3.Connection, keys: Iterable[tuple[str, int]], day_offset_ms: int
            ) -> None:
    """Rebuild the hourly and daily rollup rows of the touched ``(meter_id, ts_ms)`` keys.

    Call inside the transaction that wrote the readings. Hours come from the raw rows, days
    from the (just rebuilt) hours: a day offset is a whole number of hours, so hours nest;
    site-days from the meter-days and sector-days from the site-days.
    """
    hours = sorted({(m, _floor(ts, HOUR_MS, 0)) for m, ts in keys})
    days = sorted({(m, _floor(b + 1, DAY_MS, day_offset_ms)) for m, b in hours})
    conn.executemany("DELETE FROM rollup_1h WHERE meter_id = ? AND b_ms = ?", hours)
    conn.executemany(
        f"INSERT INTO rollup_1h SELECT meter_id, ?, site_id, MIN(kind), sector, {_AGG} "
        "FROM readings WHERE meter_id = ? AND ts_ms > ? AND ts_ms <= ? "
        "GROUP BY meter_id, site_id, sector",
        [(b, m, b, b + HOUR_MS) for m, b in hours])
    # The (site, kind, sector) groups of the touched meter-days, before and after: a
    # corrected reading may move a meter-day to another site, which then needs rebuilding.
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_touched "
                 "(meter_id TEXT NOT NULL, b_ms INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.rollup_touched")
    conn.executemany("INSERT INTO temp.rollup_touched VALUES (?, ?)", days)
    groups = set(conn.execute(_TOUCHED).fetchall())
    conn.executemany("DELETE FROM rollup_1d WHERE meter_id = ? AND b_ms = ?", days)
    conn.executemany(
        f"INSERT INTO rollup_1d SELECT meter_id, ?, site_id, MIN(kind), sector, {_SUM_SUMS} "
        "FROM rollup_1h WHERE meter_id = ? AND b_ms >= ? AND b_ms < ? "
        "GROUP BY meter_id, site_id, sector",
        [(d, m, d, d + DAY_MS) for m, d in days])
    groups |= set(conn.execute(_TOUCHED).fetchall())
    _refresh_groups(conn, sorted(groups))
    _refresh_months(conn, days, groups, day_offset_ms)


def month_bounds(day_ms: int, day_offset_ms: int) -> tuple[int, int]:
    """``(start, end)`` of the month (``day_offset`` grid) holding the day labelled
    ``day_ms``. [ms]"""
    off = timedelta(milliseconds=day_offset_ms)
    lo = month_of_day(datetime.fromtimestamp(day_ms / 1000, UTC), off)
    hi = month_of_day(lo + timedelta(days=32), off)
    return round(lo.timestamp() * 1000), round(hi.timestamp() * 1000)


def _refresh_months(conn: sqlite3.Connection, days: Iterable[tuple[str, int]],
                    groups: Iterable[tuple[str, str, str, int]], day_offset_ms: int) -> None:
    """Rebuild the ``rollup_1mo`` rows of the meters and months of the touched days, from
    ``rollup_1d`` (all of a meter's month, so a day that moved site moves too), and the
    ``rollup_site_1mo`` rows of the months of the touched (site, kind, sector, day)
    ``groups`` (before and after the change: only those site-months changed)."""
    bounds: dict[int, tuple[int, int]] = {}
    months = set()
    for m, d in days:
        if d not in bounds:
            bounds[d] = month_bounds(d, day_offset_ms)
        months.add((m, *bounds[d]))
    todo = sorted(months)
    site_months = set()
    for site, kind, sector, d in groups:
        if d not in bounds:
            bounds[d] = month_bounds(d, day_offset_ms)
        site_months.add((site, kind, sector, bounds[d][0]))
    conn.executemany("DELETE FROM rollup_1mo WHERE meter_id = ? AND b_ms = ?",
                     [(m, lo) for m, lo, _ in todo])
    conn.executemany(
        f"INSERT INTO rollup_1mo SELECT meter_id, ?, site_id, MIN(kind), sector, {_SUM_SUMS} "
        "FROM rollup_1d WHERE meter_id = ? AND b_ms >= ? AND b_ms < ? "
        "GROUP BY meter_id, site_id, sector", [(lo, m, lo, hi) for m, lo, hi in todo])
    # Set-based (one DELETE, one INSERT ... JOIN): a statement per site-month made a
    # city's batch of 500 readings 26 ms slower (docs/BENCHMARKS.md).
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS rollup_site_months (site_id TEXT NOT NULL, "
                 "kind TEXT NOT NULL, sector TEXT NOT NULL, b_ms INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.rollup_site_months")
    conn.executemany("INSERT INTO temp.rollup_site_months VALUES (?, ?, ?, ?)",
                     sorted(site_months))
    conn.execute("DELETE FROM rollup_site_1mo WHERE (kind, b_ms, site_id, sector) IN "
                 "(SELECT kind, b_ms, site_id, sector FROM temp.rollup_site_months)")
    conn.execute(
        f"INSERT INTO rollup_site_1mo SELECT r.site_id, r.kind, r.sector, r.b_ms, {_SUM_SUMS} "
        "FROM temp.rollup_site_months t JOIN rollup_1mo r ON r.site_id = t.site_id "
        "AND r.b_ms = t.b_ms AND r.kind = t.kind AND r.sector = t.sector "
        "GROUP BY r.site_id, r.kind, r.sector, r.b_ms")


def rebuild_months(conn: sqlite3.Connection, day_offset_ms: int) -> None:
    """Rebuild ``rollup_1mo`` from ``rollup_1d`` and ``rollup_site_1mo`` from it (alone: a
    store whose daily rollups are current, from before the monthly tables existed)."""
    conn.execute("DELETE FROM rollup_1mo")
    # Local date of a day label = its UTC date after removing the offset; the month start
    # goes back onto the grid the same way (day labels are whole days, so exact).
    month = (f"(CAST(strftime('%s', (b_ms - ({day_offset_ms})) / 1000, 'unixepoch', "
             f"'start of month') AS INTEGER) * 1000 + ({day_offset_ms}))")
    conn.execute(
        f"INSERT INTO rollup_1mo SELECT meter_id, {month} AS mo, site_id, MIN(kind), sector, "
        f"{_SUM_SUMS} FROM rollup_1d GROUP BY meter_id, mo, site_id, sector")
    rebuild_site_months(conn)


def rebuild_site_months(conn: sqlite3.Connection) -> None:
    """Rebuild ``rollup_site_1mo`` from ``rollup_1mo`` (alone: a version-3 store)."""
    conn.execute("DELETE FROM rollup_site_1mo")
    conn.execute(
        f"INSERT INTO rollup_site_1mo SELECT site_id, kind, sector, b_ms, {_SUM_SUMS} "
        "FROM rollup_1mo GROUP BY site_id, kind, sector, b_ms")


def _refresh_groups(conn: sqlite3.Connection, groups: Sequence[tuple[str, str, str, int]]
                    ) -> None:
    """Rebuild the per-site and per-sector daily rows of ``(site, kind, sector, day)``."""
    conn.executemany("DELETE FROM rollup_site_1d WHERE site_id = ? AND kind = ? "
                     "AND sector = ? AND b_ms = ?", groups)
    conn.executemany(
        f"INSERT INTO rollup_site_1d SELECT site_id, kind, sector, b_ms, {_SUM_SUMS} "
        "FROM rollup_1d WHERE site_id = ? AND kind = ? AND sector = ? AND b_ms = ? "
        "GROUP BY site_id, kind, sector, b_ms", groups)
    sectors = sorted({(sector, kind, b) for _, kind, sector, b in groups})
    conn.executemany("DELETE FROM rollup_sector_1d WHERE sector = ? AND kind = ? AND b_ms = ?",
                     sectors)
    conn.executemany(
        f"INSERT INTO rollup_sector_1d SELECT sector, kind, b_ms, {_SUM_SUMS} "
        "FROM rollup_site_1d WHERE sector = ? AND kind = ? AND b_ms = ? "
        "GROUP BY sector, kind, b_ms", sectors)


def rebuild(conn: sqlite3.Connection, day_offset_ms: int) -> None:
    """Rebuild the rollups from every stored reading (a store opened for the first time
    with rollups, or with a new day offset). Call inside a transaction."""
    for table in ("rollup_1h", "rollup_1d", "rollup_site_1d", "rollup_sector_1d", "rollup_1mo",
                  "rollup_site_1mo"):
        conn.execute(f"DELETE FROM {table}")
    hour = "((ts_ms - 1) / 3600000) * 3600000"  # ts_ms > 0: truncation is floor
    conn.execute(
        f"INSERT INTO rollup_1h SELECT meter_id, {hour} AS b, site_id, MIN(kind), sector, "
        f"{_AGG} FROM readings WHERE ts_ms > 0 GROUP BY meter_id, b, site_id, sector")
    rest = conn.execute("SELECT meter_id, ts_ms FROM readings WHERE ts_ms <= 0").fetchall()
    if rest:
        refresh(conn, [(str(m), int(t)) for m, t in rest], day_offset_ms)
        for table in ("rollup_1d", "rollup_site_1d", "rollup_sector_1d",
                      "rollup_1mo", "rollup_site_1mo"):  # rebuilt below
            conn.execute(f"DELETE FROM {table}")
    day = (f"((b_ms - {day_offset_ms}) - (((b_ms - {day_offset_ms}) % {DAY_MS}) + {DAY_MS})"
           f" % {DAY_MS}) + {day_offset_ms}")
    conn.execute(
        f"INSERT INTO rollup_1d SELECT meter_id, {day} AS d, site_id, MIN(kind), sector, "
        f"{_SUM_SUMS} FROM rollup_1h GROUP BY meter_id, d, site_id, sector")
    rebuild_groups(conn)
    rebuild_months(conn, day_offset_ms)


def rebuild_groups(conn: sqlite3.Connection) -> None:
    """Rebuild the per-site and per-sector daily rollups from ``rollup_1d`` (alone: a
    store whose hourly and daily rollups are current, from before these tables existed)."""
    conn.execute("DELETE FROM rollup_site_1d")
    conn.execute("DELETE FROM rollup_sector_1d")
    conn.execute(
        f"INSERT INTO rollup_site_1d SELECT site_id, kind, sector, b_ms, {_SUM_SUMS} "
        "FROM rollup_1d GROUP BY site_id, kind, sector, b_ms")
    conn.execute(
        f"INSERT INTO rollup_sector_1d SELECT sector, kind, b_ms, {_SUM_SUMS} "
        "FROM rollup_site_1d GROUP BY sector, kind, b_ms")


_RAW_PART = ("SUM(energy_kwh) AS es, COUNT(energy_kwh) AS en, TOTAL(power_kw) AS ps, "
             "COUNT(power_kw) AS pn, TOTAL(temp_air_c) AS ts, COUNT(temp_air_c) AS tn, "
             "COUNT(*) AS n")
_ROLLUP_PART = ("SUM(energy_sum) AS es, SUM(energy_n) AS en, TOTAL(power_sum) AS ps, "
                "SUM(power_n) AS pn, TOTAL(temp_sum) AS ts, SUM(temp_n) AS tn, SUM(n) AS n")


def daily_table(group: str, meters: bool, sites: bool) -> str:
    """The narrowest daily rollup that answers a read grouped by ``group`` (``meter_id``,
    ``site_id`` or ``sector``) with or without a meter or site filter."""
    if meters or group == "meter_id":
        return "rollup_1d"
    return "rollup_sector_1d" if group == "sector" and not sites else "rollup_site_1d"


def plan(start_ms: int, end_ms: int, width_ms: int, offset_ms: int, day_offset_ms: int,
         daily: str = "rollup_1d") -> list[tuple[str, int, int]]:
    """Split the read range ``(start, end]`` into pieces answered by one source each.

    Returns ``(source, lo, hi)`` pieces covering ``(start, end]`` exactly: the whole days
    from ``daily`` (``rollup_1d``, or a coarser table from ``daily_table``), the whole hours
    at their edges from ``rollup_1h`` and the rest from ``readings``.
    A rollup is only used when every requested bucket is a union of its
    buckets (``width % r == 0`` and ``offset ≡ o`` mod ``r``), so results are exact.
    An empty list means: no rollup applies, read the raw rows as before.
    """
    tiers = [(t, r, o) for t, r, o in ((daily, DAY_MS, day_offset_ms),
                                        ("rollup_1h", HOUR_MS, 0))
             if width_ms % r == 0 and (offset_ms - o) % r == 0]
    if not tiers:
        return []

    def split(lo: int, hi: int, level: int) -> list[tuple[str, int, int]]:
        if lo >= hi:
            return []
        if level == len(tiers):
            return [("readings", lo, hi)]
        table, r, o = tiers[level]
        a = lo + (o - lo) % r  # ceil to the grid
        b = hi - (hi - o) % r  # floor to the grid
        if a >= b:
            return split(lo, hi, level + 1)
        return [*split(lo, a, level + 1), (table, a, b), *split(b, hi, level + 1)]

    pieces = split(start_ms, end_ms, 0)
    return pieces if any(src != "readings" for src, _, _ in pieces) else []


def with_months(pieces: list[tuple[str, int, int]], start_ms: int, end_ms: int,
                width_ms: int, offset_ms: int, day_offset_ms: int, daily: str
                ) -> list[tuple[str, int, int]]:
    """``plan`` for a read whose one bucket spans ``(start, end]`` (a fiscal year's totals):
    its whole months from ``rollup_1mo`` (per meter: 12 rows a meter-year instead of 365
    meter-days) or, where ``daily`` is a per-site or per-sector table, ``rollup_site_1mo``
    (12 rows a site and kind), the rest planned as before. Other reads keep ``pieces``."""
    if not pieces or end_ms - start_ms > width_ms or (start_ms - offset_ms) % width_ms:
        return pieces
    if (start_ms - day_offset_ms) % DAY_MS or (end_ms - day_offset_ms) % DAY_MS:
        return pieces
    first = month_bounds(start_ms, day_offset_ms)
    m0 = start_ms if first[0] == start_ms else first[1]
    m1 = month_bounds(end_ms, day_offset_ms)[0]
    if m0 >= m1:
        return pieces

    def part(lo: int, hi: int) -> list[tuple[str, int, int]]:
        if lo >= hi:
            return []
        return plan(lo, hi, width_ms, offset_ms, day_offset_ms, daily) or [("readings", lo, hi)]

    monthly = "rollup_1mo" if daily == "rollup_1d" else "rollup_site_1mo"
    return [*part(start_ms, m0), (monthly, m0, m1), *part(m1, end_ms)]


def read_sql(pieces: Sequence[tuple[str, int, int]], col: str, bucket_expr: str,
             filters: Sequence[str], filter_params: Sequence[object]
             ) -> tuple[str, list[object]]:
    """The ``Store.read`` aggregate over ``plan`` pieces: one UNION ALL, summed per bucket.

    ``bucket_expr`` is the raw query's label expression over ``ts_ms``; over a rollup it is
    evaluated at ``b_ms + 1`` (an instant inside the rollup bucket). Means are recombined
    from sums and counts, so they equal the raw ``AVG``.
    """
    parts: list[str] = []
    params: list[object] = []
    for source, lo, hi in pieces:
        if source == "readings":
            where = ["ts_ms > ?", "ts_ms <= ?", *filters]
            parts.append(f"SELECT {col} AS g, {bucket_expr} AS b, {_RAW_PART} FROM readings "
                         f"WHERE {' AND '.join(where)} GROUP BY g, b")
        else:
            where = ["b_ms >= ?", "b_ms < ?", *filters]
            expr = bucket_expr.replace("ts_ms", "(b_ms + 1)")
            parts.append(f"SELECT {col} AS g, {expr} AS b, {_ROLLUP_PART} FROM {source} "
                         f"WHERE {' AND '.join(where)} GROUP BY g, b")
        params += [lo, hi, *filter_params]
    sql = ("SELECT g, b, CASE WHEN SUM(en) > 0 THEN SUM(es) END, "
           "CASE WHEN SUM(pn) > 0 THEN SUM(ps) / SUM(pn) END, "
           "CASE WHEN SUM(tn) > 0 THEN SUM(ts) / SUM(tn) END, SUM(n) FROM ("
           + " UNION ALL ".join(parts) + ") GROUP BY g, b ORDER BY g, b")
    return sql, params
