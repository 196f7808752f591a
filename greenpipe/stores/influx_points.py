"""InfluxDB reads that select points and aggregate them in Python (issue 15).

InfluxDB 1.x spends most of a read with ``GROUP BY "<tag>"`` (and ``GROUP BY time``) on
the grouping when each group holds few points: one output series per group, each bucket
walked per series. Selecting the points with the group's tag as a column and summing them
here answered the dashboard's reads 2-7x faster at 1,000 meters (docs/BENCHMARKS.md):

* ``bucket_points``: a rollup read whose bucket is the rollup's own width (one point a
  series and bucket): hourly ``energy_1h`` by meter, daily ``energy_sector_1d`` by sector;
* ``raw_points``, ``short_read_points``, ``edge_stats``: raw ``energy`` points of a short
  range (today's hours by meter, today by site and sector, the unsealed edge of
  ``stats()``), up to ``POINTS_MAX`` points, else the caller groups in the database as
  before.

The aggregates are the InfluxQL ones: sums (None when no point has the field), means over
the points that have the field, counts of ``quality`` (always written).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greenpipe.stores.base import GroupBy, empty_read_frame
from greenpipe.stores.influx_totals import Totals, span_where
from greenpipe.stores.influxql import ms_of, quote_ident, time_literal_ns

if TYPE_CHECKING:
    from greenpipe.stores.influx import InfluxStore

ROLLUP_FIELDS = ("energy_kwh", "power_kw_sum", "power_n", "temp_air_c_sum", "temp_n",
                 "readings")
"""The six fields of every rollup point."""
FIELDS = ", ".join(quote_ident(f) for f in ROLLUP_FIELDS)
"""``ROLLUP_FIELDS`` as an InfluxQL field list."""


def _grouped_sums(rows: list[list[Any]], width_ms: int, shift_ms: int, n_values: int
                  ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Sum the ``n_values`` columns after the time of ``rows`` (``[time, *values, key]``,
    None for a missing value) per key and bucket: (keys, bucket labels [ms], sums, counts
    of the non-missing values), one entry per (key, bucket) with a row, sorted by key then
    bucket.

    Buckets as InfluxQL's ``GROUP BY time(width, shift)``: ``t`` in ``[s, s + width)``
    with ``s = shift (mod width)``, labelled ``s - 1`` ms, the start of ``(b, b + width]``
    as ``read`` labels it (see ``InfluxStore._aggregate``). Vectorised with numpy: a Python
    loop, or a pandas ``groupby``, cost more than the query at 1,000 meters.
    """
    columns = list(zip(*rows, strict=True))
    t = np.asarray(columns[0], dtype=np.int64)
    labels = t - (t - shift_ms) % width_ms - 1
    key_codes, key_names = pd.factorize(np.asarray(
        ["" if k is None else str(k) for k in columns[-1]], dtype=object), sort=True)
    label_codes, label_values = pd.factorize(labels, sort=True)
    groups, inverse = np.unique(key_codes.astype(np.int64) * len(label_values) + label_codes,
                                return_inverse=True)
    values = np.asarray(columns[1:1 + n_values], dtype=np.float64).reshape(n_values, -1)
    present = ~np.isnan(values)
    sums = np.stack([np.bincount(inverse, weights=np.where(ok, v, 0.0), minlength=len(groups))
                     for v, ok in zip(values, present, strict=True)])
    counts = np.stack([np.bincount(inverse, weights=ok, minlength=len(groups))
                       for ok in present])
    keys = [str(k) for k in key_names[groups // len(label_values)]]
    return keys, np.asarray(label_values)[groups % len(label_values)], sums, counts


def sum_rollup_points(rows: list[list[Any]], group: GroupBy, width_ms: int,
                      shift_ms: int) -> pd.DataFrame:
    """The ``read_rollup`` frame of rollup points ``[time, *ROLLUP_FIELDS, group tag]``
    summed per group and ``(b, b + width]`` bucket (``_grouped_sums``). Means from sums
    and counts; buckets without readings left out."""
    if not rows:
        return empty_read_frame(group)
    keys, labels, sums, counts = _grouped_sums(rows, width_ms, shift_ms, len(ROLLUP_FIELDS))
    energy, p_sum, p_n, t_sum, t_n, n = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = _frame(group, keys, labels, np.where(counts[0] > 0, energy, np.nan),
                       np.where(p_n > 0, p_sum / p_n, np.nan),
                       np.where(t_n > 0, t_sum / t_n, np.nan), n)
    return frame[frame["readings"] > 0].reset_index(drop=True)


def _frame(group: GroupBy, keys: list[str], labels: np.ndarray, energy: np.ndarray,
           power: np.ndarray, temp: np.ndarray, readings: np.ndarray) -> pd.DataFrame:
    """The ``Store.read`` frame (as ``base.read_frame``) of per-(group, bucket ms) columns."""
    return pd.DataFrame({
        group.value: keys,
        "bucket": pd.to_datetime(labels.astype(np.int64), unit="ms", utc=True),
        "energy_kwh": energy.astype(np.float64),
        "power_kw": power.astype(np.float64),
        "temp_air_c": temp.astype(np.float64),
        "readings": np.rint(readings).astype(np.int64),
    })


def bucket_points(store: InfluxStore, measurement: str, start: datetime, end: datetime,
                  width_ms: int, shift_ms: int, group: GroupBy, tags: Sequence[str]
                  ) -> pd.DataFrame:
    """The ``read_rollup`` frame of ``(b, b + width]`` buckets (InfluxQL's
    ``GROUP BY time(width, shift)``, labelled ``b``) of ``measurement``'s points in
    ``(start, end]``, summed per group and bucket here.

    Why not ``GROUP BY time(...), "<group>"`` in the database: InfluxDB 1.x spends most
    of such a read on the grouping itself, per series and bucket: a week of hourly
    ``energy_1h`` points of 1,000 meters took 0.27 s grouped and 0.03-0.04 s as points
    with the group's tag as a column, a fiscal year of ``energy_site_1mo`` per site 0.15
    vs 0.025 s (docs/BENCHMARKS.md). Callers use it where a bucket holds about one point
    per group (the bucket is the rollup's own width, the group its series), so the answer
    is no bigger than the grouped one.
    """
    tag = quote_ident(group.value)
    q = (f"SELECT {FIELDS}, {tag} FROM {quote_ident(measurement)} WHERE "
         + " AND ".join([f"time > {time_literal_ns(start)}", f"time <= {time_literal_ns(end)}",
                         *tags]))
    rows = [row for series in store.query(q)[0] for row in series.values]
    return sum_rollup_points(rows, group, width_ms, shift_ms)


POINTS_MAX = 50_000
"""Most raw points a read selects to aggregate in Python (``raw_points``): a day of
30-minute readings of 1,000 meters; beyond it the database aggregates."""


LATEST_COLUMNS = '"site", "energy_kwh", "register_kwh", "power_kw", "temp_air_c", "quality"'
"""The ``energy`` columns of a ``Reading`` after its time (``InfluxStore.latest``)."""


def points_query(columns: str, where: str, limit: int | None = None) -> str:
    """InfluxQL selecting ``energy``'s points in ``where``, at most one more than ``limit``
    (default ``POINTS_MAX``), so an answer longer than ``limit`` says "too many"."""
    from greenpipe.stores.influx import MEASUREMENT

    limit = POINTS_MAX if limit is None else limit
    return f"SELECT {columns} FROM {quote_ident(MEASUREMENT)} {where} LIMIT {int(limit) + 1}"


SPARSE_READINGS_A_DAY = 2.0
"""Most readings a meter and day (on average over the sealed days) for which ``latest()``
reads the unsealed edge as points (``sparse``)."""


def sparse(totals: Totals) -> bool:
    """True when the meters of ``totals`` sent at most ``SPARSE_READINGS_A_DAY`` readings a
    day on average over the sealed days: then ``latest()``'s unsealed edge (today and at
    most a day or two before) holds a few points a meter, and ``newest_points`` beats
    ``GROUP BY "meter"``; with 24 or more a day it did not (docs/storage.md)."""
    days = (totals.hi - totals.lo).total_seconds() / 86_400
    readings = sum(series[0] for series in totals.series.values())
    return bool(totals.series) and days > 0 and (
        readings <= SPARSE_READINGS_A_DAY * days * len(totals.series))


def newest_points(rows: list[list[Any]]) -> dict[str, list[Any]] | None:
    """Per meter, the newest of ``points_query`` rows ``[time, *LATEST_COLUMNS, meter]``
    (as ``[time, *LATEST_COLUMNS]``; a tie keeps the later row); None when there are more
    than ``POINTS_MAX``.

    Why not ``GROUP BY "meter" ORDER BY time DESC LIMIT 1``: one output series per meter
    (``raw_points`` says why); the unsealed edge of ``latest()`` at one reading a meter
    and day, 1,000 meters, took 0.05 s grouped and 0.015 s as points on the bench store
    (docs/BENCHMARKS.md). Only for ``sparse`` meters: at 24 readings a meter and day the
    points were slower (docs/storage.md).
    """
    if len(rows) > POINTS_MAX:
        return None
    newest: dict[str, list[Any]] = {}
    for row in rows:
        meter = str(row[-1] or "")
        old = newest.get(meter)
        if old is None or int(row[0]) >= int(old[0]):
            newest[meter] = row[:-1]
    return newest


def raw_points(store: InfluxStore, columns: str, where: str,
               limit: int | None = None) -> list[list[Any]] | None:
    """The rows (time first, then ``columns``) of ``energy``'s points in ``where``, or None
    when there are more than ``limit`` (default ``POINTS_MAX``; then aggregate in the
    database instead).

    Why: InfluxDB 1.x spends most of a ``GROUP BY "meter"`` read of few points a meter on
    the grouping (one output series per meter): the unsealed edge's per-meter counts,
    sums and first/last instants of 1,000 meters took 0.15 s grouped (three statements)
    against 0.07 s as points with 24 readings a meter (docs/BENCHMARKS.md).
    """
    limit = POINTS_MAX if limit is None else limit
    rows: list[list[Any]] = []
    for one in store.query(points_query(columns, where, limit))[0]:
        rows.extend(one.values)
    return rows if len(rows) <= limit else None


def edge_stats(store: InfluxStore, sealed: datetime, hi: datetime
               ) -> tuple[dict[tuple[str, str], tuple[int, float]],
                          dict[tuple[str, str], tuple[int, int]]] | None:
    """Per (meter, site): readings and energy [kWh] of the raw points after ``hi``, and
    first and last reading instants [ms] after ``sealed`` (``sealed <= hi``), from one
    ``raw_points`` read; None when the edge holds too many points. The same numbers as
    ``sums_by_series`` (``COUNT("quality"), SUM("energy_kwh")``) and ``first_last``."""
    rows = raw_points(store, '"quality", "energy_kwh", "meter", "site"',
                      span_where(sealed, None))
    if rows is None:
        return None
    hi_ms = ms_of(hi)
    counts: dict[tuple[str, str], list[Any]] = {}
    instants: dict[tuple[str, str], tuple[int, int]] = {}
    for t, quality, energy, meter, site in rows:
        key = (str(meter or ""), str(site or ""))
        t = int(t)
        if t > hi_ms:
            acc = counts.setdefault(key, [0, None])
            acc[0] += quality is not None
            if energy is not None:
                acc[1] = energy if acc[1] is None else acc[1] + energy
        if quality is not None:
            f, la = instants.get(key, (t, t))
            instants[key] = (min(f, t), max(la, t))
    return {k: (n, e) for k, (n, e) in counts.items()}, instants


def short_read_points(store: InfluxStore, where: Sequence[str], width_ms: int,
                      shift_ms: int, group: GroupBy) -> pd.DataFrame | None:
    """``read``'s buckets per ``group`` of a short range summed here from the raw points
    (``raw_points`` says why; None: too many points, group in the database). The same
    aggregates as ``read``'s InfluxQL: energy summed (None when no reading has it), power
    and temperature averaged over the readings that have them, readings counted by
    ``quality``.

    At the bench city's one reading a meter and day this is 3-5x faster than the grouped
    read; at a day of 30-minute readings of 1,000 meters (24,000 points by noon) the two
    were about equal per site and 3x apart per meter (docs/BENCHMARKS.md)."""
    rows = raw_points(store, '"energy_kwh", "power_kw", "temp_air_c", "quality", '
                             f"{quote_ident(group.value)}", "WHERE " + " AND ".join(where))
    if rows is None:
        return None
    if not rows:
        return empty_read_frame(group)
    # Every bucket with a point, as InfluxQL's (``readings`` may be 0 there).
    quality = [[t, e, p, tc, q is not None, m] for t, e, p, tc, q, m in rows]
    keys, labels, sums, counts = _grouped_sums(quality, width_ms, shift_ms, 4)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _frame(group, keys, labels, np.where(counts[0] > 0, sums[0], np.nan),
                      np.where(counts[1] > 0, sums[1] / counts[1], np.nan),
                      np.where(counts[2] > 0, sums[2] / counts[2], np.nan), sums[3])
