"""InfluxDB reads that sum whole months from ``energy_1mo`` (issue 15).

``one_bucket`` answers a rollup read whose one bucket spans its whole range (the
dashboard's fiscal-year totals per site or sector): the whole months of the range (months
of the daily rollups' ``day_offset`` grid, unions of ``energy_1d`` days) come from the
per-meter monthly rollup, only the days before the first and after the last whole month from
the daily rollup the read would have used. A year of 200 sites is then 12 points per meter
plus a few site-days instead of 365 site-days per site and kind (docs/BENCHMARKS.md).
``read_monthly`` answers ``InfluxStore.read_monthly`` (the statutory reports' per-meter
months) from ``energy_1mo`` where it is current, raw reads elsewhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from greenpipe.stores.base import (
    GroupBy,
    concat_read_frames,
    empty_read_frame,
    fixed_day_offset,
    month_of_day,
    month_starts,
    read_by_months,
    read_frame,
)
from greenpipe.stores.influx_points import FIELDS, sum_rollup_points
from greenpipe.stores.influxql import ms_of, quote_ident, quote_literal, time_literal_ns

if TYPE_CHECKING:
    from greenpipe.stores.influx import InfluxStore, _State

MONTHLY_MEASUREMENT = "energy_1mo"
"""``energy_1d`` summed per meter and month (tags as ``energy``), stamped at the month's end."""
SITE_MONTHLY_MEASUREMENT = "energy_site_1mo"
"""``energy_1mo`` summed per site, meter kind and month (tags site, kind, sector), stamped at
the month's end."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUMS = ('SUM("energy_kwh"), SUM("power_kw_sum"), SUM("power_n"), SUM("temp_air_c_sum"), '
         'SUM("temp_n"), SUM("readings")')


def whole_days(store: InfluxStore, span: tuple[datetime, datetime] | None
               ) -> tuple[datetime, datetime] | None:
    """The whole local days (``day_offset`` grid) inside ``span``, as ``(first day's start,
    last day's end]``; None when there is none."""
    if span is None:
        return None
    day = timedelta(days=1)
    lo = span[0] + (-(span[0] - _EPOCH - store.day_offset)) % day  # ceil
    hi = span[1] - (span[1] - _EPOCH - store.day_offset) % day  # floor
    return (lo, hi) if lo < hi else None


def coverage_since(store: InfluxStore, field: int, state: _State | None
                   ) -> tuple[datetime, datetime] | None:
    """``rollup_coverage`` from the month start at ``field`` of ``state`` (the newest
    ``rollup_state``, ``InfluxStore._rollup_state``) on (2: ``months_from``, 3:
    ``site_months_from``); None where there is none."""
    covered = store._coverage_of(state)
    since = None if state is None else state[field]
    if not isinstance(since, datetime) or covered is None:
        return None
    lo = max(covered[0], since)
    return (lo, covered[1]) if lo < covered[1] else None


def whole_months(start: datetime, end: datetime, day_offset: timedelta
                 ) -> tuple[datetime, datetime] | None:
    """The first and last month boundary inside ``[start, end]`` (``day_offset`` grid;
    ``start`` on a day boundary), or None when no whole month lies between them."""
    first = month_of_day(start, day_offset)
    if first < start:
        first = month_of_day(first + timedelta(days=32), day_offset)
    last = month_of_day(end, day_offset)
    return (first, last) if first < last else None


def one_bucket(store: InfluxStore, daily: str, start: datetime, end: datetime, group: GroupBy,
               tags: Sequence[str], *, per_site: bool = False) -> pd.DataFrame | None:
    """The ``read_rollup`` frame of one bucket ``(start, end]`` (labelled ``start``) summed
    from ``energy_1mo`` (``per_site``: ``energy_site_1mo`` where the job keeps it, 12 points
    a site and kind instead of 12 a meter) over the whole months and ``daily`` around them,
    in one request; None when the range holds no whole month (read it as before)."""
    months = MONTHLY_MEASUREMENT
    state = store._rollup_state()  # once for both coverages: a query each
    kept = coverage_since(store, 3, state) if per_site else None
    if kept is not None:
        months = SITE_MONTHLY_MEASUREMENT
    else:
        kept = coverage_since(store, 2, state)
    span = None if kept is None else whole_months(max(start, kept[0]), min(end, kept[1]),
                                                  store.day_offset)
    if span is None:
        return None
    parts = [(daily, start, span[0]), (months, span[0], span[1]), (daily, span[1], end)]
    # Per site or sector (a few series a group): the points themselves, summed here
    # (``bucket_points`` says why); per meter, summed in the database.
    points = months == SITE_MONTHLY_MEASUREMENT
    tag = quote_ident(group.value)
    statements = [
        f"SELECT {f'{FIELDS}, {tag}' if points else _SUMS} FROM {quote_ident(measurement)} "
        "WHERE " + " AND ".join([f"time > {time_literal_ns(lo)}",
                                 f"time <= {time_literal_ns(hi)}", *tags])
        + ("" if points else f" GROUP BY {tag}")
        for measurement, lo, hi in parts if lo < hi]
    results = store.query("; ".join(statements))
    if points:  # one bucket (start, end]: labelled start
        width_ms = ms_of(end) - ms_of(start)
        return sum_rollup_points([row for result in results for series in result
                                  for row in series.values], group, width_ms,
                                 (ms_of(start) + 1) % width_ms)
    sums: dict[tuple[str, int], list[Any]] = {}
    for result in results:
        for series in result:
            acc = sums.setdefault((series.tags.get(group.value, ""), ms_of(start)),
                                  [None, 0.0, 0, 0.0, 0, 0])
            for _, *values in series.values[:1]:
                _add(acc, values)
    return read_frame(_rows(sums), group)


def month_points(store: InfluxStore, months: Sequence[datetime], group: GroupBy,
                 tags: Sequence[str]) -> pd.DataFrame:
    """The ``read_monthly`` frame of the consecutive month starts ``months`` (the last one
    ends the range) from ``energy_1mo``.

    The points themselves are selected (one per series and month, stamped at the month's
    end) and summed per group and month here: a ``GROUP BY time`` would need fixed-width
    buckets, and daily ones make InfluxDB walk every empty day of every series (0.7 s for
    300 meters over 5 years in the profile of docs/BENCHMARKS.md).
    """
    label = {ms_of(b): ms_of(a) for a, b in itertools.pairwise(months)}
    q = (f"SELECT {FIELDS} FROM {quote_ident(MONTHLY_MEASUREMENT)} WHERE "
         + " AND ".join([f"time > {time_literal_ns(months[0])}",
                         f"time <= {time_literal_ns(months[-1])}", *tags])
         + f" GROUP BY {quote_ident(group.value)}")
    sums: dict[tuple[str, int], list[Any]] = {}
    for series in store.query(q)[0]:
        key = series.tags.get(group.value, "")
        for t, *values in series.values:
            if int(t) not in label:
                continue
            acc = sums.setdefault((key, label[int(t)]), [None, 0.0, 0, 0.0, 0, 0])
            _add(acc, values)
    return read_frame(_rows(sums), group)


def _add(acc: list[Any], values: Sequence[Any]) -> None:
    """Add the six rollup fields to ``acc`` (energy stays None until a value is seen)."""
    for i, v in enumerate(values):
        if v is not None:
            acc[i] = v if acc[i] is None else acc[i] + v


def _rows(sums: dict[tuple[str, int], list[Any]]) -> list[tuple[Any, ...]]:
    """``read`` rows of summed rollup fields per (group, bucket ms), sorted; means from
    sums and counts."""
    return [(key, b, energy, p_sum / p_n if p_n else None, t_sum / t_n if t_n else None,
             int(n or 0))
            for (key, b), (energy, p_sum, p_n, t_sum, t_n, n) in sorted(sums.items()) if n]


def tag_filters(meters: Sequence[str] | None, sites: Sequence[str] | None,
                sectors: Sequence[str] | None, kinds: Sequence[str] | None) -> list[str] | None:
    """InfluxQL conditions of a read's filters; None when one is an empty list (nothing
    matches)."""
    where = []
    for tag, values in (("meter", meters), ("site", sites), ("sector", sectors),
                        ("kind", kinds)):
        if values is not None:
            if not values:
                return None
            where.append("(" + " OR ".join(
                f"{quote_ident(tag)} = {quote_literal(v)}" for v in values) + ")")
    return where


def read_monthly(store: InfluxStore, start: datetime, end: datetime, tz: str, group: GroupBy,
                 filters: tuple[Sequence[str] | None, Sequence[str] | None,
                                Sequence[str] | None, Sequence[str] | None]) -> pd.DataFrame:
    """``InfluxStore.read_monthly``: the months inside the whole days where ``energy_1mo``
    is current from it in one query (``month_points``), the others from one raw ``read``
    per month. ``filters`` are (meters, sites, sectors, kinds)."""
    meters, sites, sectors, kinds = filters
    months = month_starts(start, end, tz)
    whole = (whole_days(store, store.monthly_coverage())
             if fixed_day_offset(tz) == store.day_offset else None)
    inside = [i for i, (a, b) in enumerate(itertools.pairwise(months))
              if whole is not None and whole[0] <= a and b <= whole[1]]
    kw: dict[str, Any] = {"group_by": group, "meters": meters, "sites": sites,
                          "sectors": sectors, "kinds": kinds}
    if not inside:
        return read_by_months(store, months, **kw)
    first, last = inside[0], inside[-1] + 1  # coverage is contiguous, so are these
    tags = tag_filters(meters, sites, sectors, kinds)
    if tags is None:
        return empty_read_frame(group)
    rolled = month_points(store, months[first:last + 1], group, tags)
    return concat_read_frames([read_by_months(store, months[:first + 1], **kw), rolled,
                               read_by_months(store, months[last:], **kw)], group)
