"""Per-meter totals over the rolled-up days, so ``InfluxStore.stats()`` reads one point per
meter instead of every point or every meter-day.

The ``meter_totals`` measurement holds one point per (meter, site) series: the readings,
energy and first and last reading instants of the whole local days ``(from_ms, until_ms]``,
where ``from_ms`` is the start of the first whole day of ``rollup_coverage`` and ``until_ms``
the start of the oldest day the latest ``greenpipe db rollup`` run re-rolled ("sealed" days:
no later run of the same window touches them). The job extends the totals by the days
sealed since its previous run, from ``energy_1d`` (counts, energy) and the raw points of
those days (first/last instants), and rebuilds them when a run re-rolls an older day or
the coverage restarts. ``stats()`` adds ``energy_1d`` for the covered days after
``until_ms`` and scans raw only outside the covered whole days.

Why hand-written: InfluxDB 1.x has no running aggregates (a continuous query recomputes a
window, it cannot keep a total), and ``FIRST``/``LAST``/``SUM`` over two years of points per
meter cost 8-15 s at 1,000 meters (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from greenpipe.stores import line_protocol
from greenpipe.stores.influxql import ms_of, quote_ident, time_literal_ns

if TYPE_CHECKING:
    from greenpipe.stores.influx import InfluxStore

TOTALS_MEASUREMENT = "meter_totals"
"""One point per (meter, site): counts, energy, first/last instants of the sealed days."""

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Totals:
    """The sealed days' per-series totals and the span ``(lo, hi]`` they cover."""

    lo: datetime
    hi: datetime
    series: dict[tuple[str, str], tuple[int, float, int, int]]
    """(meter, site) -> (readings, energy [kWh], first, last instant [ms since epoch])."""


def floor_day(store: InfluxStore, ts: datetime) -> datetime:
    """The start of the local day (``store.day_offset`` grid) holding ``ts``."""
    from greenpipe.stores.influx import _EPOCH

    return ts - (ts - _EPOCH - store.day_offset) % _DAY


def read_totals(store: InfluxStore) -> Totals | None:
    """The stored totals, or None when there are none or their spans disagree (a run that
    stopped half-way): then readers fall back to ``energy_1d``."""
    from greenpipe.stores.influx import _from_ms

    # The points themselves, newest first, the newest per series kept here: InfluxDB 1.x
    # answers this 2-3x faster than ``GROUP BY "meter", "site" ... LIMIT 1`` (one output
    # series per meter), and the measurement holds one point a series (two while a run
    # replaces them).
    q = (f'SELECT "readings", "energy_kwh", "first_ms", "last_ms", "from_ms", "until_ms", '
         f'"meter", "site" FROM {quote_ident(TOTALS_MEASUREMENT)} ORDER BY time DESC')
    spans: set[tuple[int, int]] = set()
    series: dict[tuple[str, str], tuple[int, float, int, int]] = {}
    for one in store.query(q)[0]:
        for _, n, energy, first, last, lo, hi, meter, site in one.values:
            key = (str(meter or ""), str(site or ""))
            if key in series:
                continue  # an older point of the series
            if None in (n, first, last, lo, hi):
                return None
            spans.add((int(lo), int(hi)))
            series[key] = (int(n), float(energy or 0.0), int(first), int(last))
    if len(spans) != 1:
        return None
    lo, hi = spans.pop()
    return Totals(_from_ms(lo), _from_ms(hi), series)


def read_totals_cached(store: InfluxStore, state_ms: int) -> Totals | None:
    """``read_totals``, memoised on the store for the newest ``rollup_state`` point
    (``state_ms``, its instant [ms since epoch]) and at most ``TOTALS_CACHE_S``.

    Why: one cold dashboard run calls ``stats()``, ``latest()`` and ``has_readings()``,
    and each read the whole measurement (one point per meter: 0.06-0.2 s at 1,000 meters,
    docs/BENCHMARKS.md). Every rollup run writes a new state point, so its new totals are
    read at once; the age bound covers what the key cannot see: a reader that took the
    state point of a run still writing its totals (until then readers saw the previous
    totals anyway), and totals written by another process without a state point.
    """
    return store._totals_memo.get(lambda: read_totals(store), TOTALS_CACHE_S, key=state_ms)


TOTALS_CACHE_S = 30.0
"""How long ``read_totals_cached`` trusts its last read for one ``rollup_state``. [s]"""


def sums_by_series(store: InfluxStore, select: str, measurement: str,
                   where: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    """Run ``SELECT {select} FROM measurement {where} GROUP BY meter, site``; return the
    first row's values (without the time) per (meter, site)."""
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    q = (f"SELECT {select} FROM {quote_ident(measurement)} {where} "
         'GROUP BY "meter", "site"')
    for one in store.query(q)[0]:
        if one.values:
            out[(one.tags.get("meter", ""), one.tags.get("site", ""))] = tuple(one.values[0][1:])
    return out


def span_where(lo: datetime | None, hi: datetime | None) -> str:
    """InfluxQL ``WHERE`` clause for ``(lo, hi]`` (None: unbounded on that side; both
    None: no clause)."""
    parts = ([f"time > {time_literal_ns(lo)}"] if lo is not None else []) + (
        [f"time <= {time_literal_ns(hi)}"] if hi is not None else [])
    return "WHERE " + " AND ".join(parts) if parts else ""


def first_last(store: InfluxStore, where: str) -> dict[tuple[str, str], tuple[int, int]]:
    """First and last reading instant [ms since epoch] per (meter, site) of raw points."""
    from greenpipe.stores.influx import MEASUREMENT

    m = quote_ident(MEASUREMENT)
    firsts, lasts = [*store.query(
        f'SELECT FIRST("quality") FROM {m} {where} GROUP BY "meter", "site"; '
        f'SELECT LAST("quality") FROM {m} {where} GROUP BY "meter", "site"'), [], []][:2]
    first = {(s.tags.get("meter", ""), s.tags.get("site", "")): int(s.values[0][0])
             for s in firsts if s.values}
    last = {(s.tags.get("meter", ""), s.tags.get("site", "")): int(s.values[0][0])
            for s in lasts if s.values}
    return {key: (first[key], last[key]) for key in first if key in last}


def retention_horizon(store: InfluxStore) -> datetime | None:
    """The start of the oldest shard group of the database's default retention policy once
    data has expired: InfluxDB drops whole shard groups once they end before now minus the
    policy's duration, so every point from here on is still stored and none before it is.
    None when nothing can have expired (no finite duration, or the oldest shard group is
    younger than the duration) or when unknown (no shards, or
    ``SHOW SHARDS`` refused: it needs an admin user on 1.x and 2.x/3.x lack it); then the
    rollups and totals are trusted as before. Cached on the store for
    ``HORIZON_CACHE_S``."""
    return store._horizon_memo.get(lambda: _read_horizon(store), HORIZON_CACHE_S)


def _read_horizon(store: InfluxStore) -> datetime | None:
    """``retention_horizon`` without the memo: ``SHOW RETENTION POLICIES; SHOW SHARDS``."""
    from greenpipe.stores.influxql import InfluxError

    horizon: datetime | None = None
    try:
        policies, shards = store.query("SHOW RETENTION POLICIES; SHOW SHARDS")[:2]
    except (InfluxError, ValueError):
        policies, shards = [], []
    default = next((row for one in policies for row in one.values
                    if len(row) > 4 and row[4] is True), None)
    starts = [datetime.fromisoformat(str(row[4]).replace("Z", "+00:00"))
              for one in shards if one.name == store.database for row in one.values
              if default is not None and len(row) > 4 and row[2] == default[0]]
    duration = _go_duration(str(default[1])) if default is not None else timedelta(0)
    # Only a shard group that ended before now - duration can have been dropped: while
    # the oldest one starts later, nothing has expired (its data simply starts there).
    if starts and duration and min(starts) <= datetime.now(UTC) - duration:
        horizon = min(starts)
    return horizon


def clip_to_retention(store: InfluxStore, lo: datetime, hi: datetime
                      ) -> tuple[datetime, datetime] | None:
    """``(lo, hi]`` from the retention horizon on (None when it has all expired)."""
    horizon = retention_horizon(store)
    if horizon is None or horizon <= lo:
        return lo, hi
    return (horizon, hi) if horizon < hi else None


def _go_duration(text: str) -> timedelta:
    """A Go duration as InfluxDB prints it (``9600h0m0s``; ``0s`` is forever)."""
    seconds = {"h": 3600, "m": 60, "s": 1}
    return timedelta(seconds=sum(int(n) * seconds[unit]
                                 for n, unit in re.findall(r"(\d+)(h|m|s)", text)))


HORIZON_CACHE_S = 60.0
"""How long ``retention_horizon`` trusts its last ``SHOW SHARDS``. [s]"""


def _trimmed(store: InfluxStore, old: Totals, lo: datetime) -> dict[tuple[str, str],
                                                                    tuple[int, float, int, int]]:
    """``old`` without the days before ``lo`` (expired under the retention policy): counts
    and energy of ``(lo, old.hi]`` from ``energy_1d``, the last instants kept, the first
    instants kept where after ``lo`` and otherwise read from the first raw points after
    ``lo`` (one day, then the rest of the span for meters silent that day)."""
    from greenpipe.stores.influx import DAILY_ROLLUP_MEASUREMENT

    sums = sums_by_series(store, 'SUM("readings"), SUM("energy_kwh")',
                          DAILY_ROLLUP_MEASUREMENT, span_where(lo, old.hi))
    lo_ms = ms_of(lo)
    need = {key for key in sums if key in old.series and old.series[key][2] <= lo_ms}
    firsts: dict[tuple[str, str], int] = {}
    for where in (span_where(lo, min(lo + _DAY, old.hi)), span_where(lo, old.hi)):
        if need - firsts.keys():
            firsts.update(_first_instants(store, where, firsts))
    out = {}
    for key, (n, energy) in sums.items():
        if not n or key not in old.series:
            continue
        first = old.series[key][2] if key not in need else firsts.get(key)
        if first is not None:
            out[key] = (int(n), float(energy or 0.0), first, old.series[key][3])
    return out


def _first_instants(store: InfluxStore, where: str, known: dict[tuple[str, str], int]
                    ) -> dict[tuple[str, str], int]:
    """First raw reading instant [ms] per (meter, site) in ``where``, for keys not known."""
    from greenpipe.stores.influx import MEASUREMENT

    out: dict[tuple[str, str], int] = {}
    for one in store.query(f'SELECT FIRST("quality") FROM {quote_ident(MEASUREMENT)} {where} '
                           'GROUP BY "meter", "site"')[0]:
        key = (one.tags.get("meter", ""), one.tags.get("site", ""))
        if one.values and key not in known:
            out[key] = int(one.values[0][0])
    return out


def update_totals(store: InfluxStore, rerolled_from: datetime, stamp_ms: int) -> int:
    """Extend (or rebuild) ``meter_totals`` after a rollup run that re-rolled the days
    from ``rerolled_from`` on and recorded its coverage; return the points written.

    The points are stamped ``stamp_ms`` (the run's wall clock, so a retention policy
    accepts them); the previous run's points are deleted once the new ones are written,
    and readers take each series' newest point (a reader in between sees mixed spans and
    falls back to ``energy_1d``).

    Days before ``rerolled_from``'s day are sealed. The totals grow by the sealed days
    since the previous run (cheap); when this run re-rolled a day the totals already hold,
    or the coverage restarted after a gap, they are rebuilt from ``energy_1d`` and the
    raw points of the covered days (as costly as one old ``stats()``, once).
    """
    from greenpipe.stores.influx import DAILY_ROLLUP_MEASUREMENT

    whole = store._whole_rollup_days()
    if whole is None:
        return 0
    lo = whole[0]
    hi = min(floor_day(store, rerolled_from), whole[1])
    old = read_totals(store)
    if old is not None and old.lo == lo and old.hi <= hi:
        start, base = old.hi, dict(old.series)
    elif old is not None and old.lo < lo < old.hi <= hi:
        # The retention policy dropped the oldest shard group: the coverage now starts
        # after it (``rollup_coverage``), so the sealed days before it leave the totals.
        start, base = old.hi, _trimmed(store, old, lo)
        if start == hi:
            _write_totals(store, base, lo, hi, stamp_ms)
            return len(base)
    else:
        store.query(f"DELETE FROM {quote_ident(TOTALS_MEASUREMENT)}")
        store._totals_memo.clear()
        start, base = lo, {}
    if hi <= lo or (old is not None and start == old.hi == hi):
        return 0  # nothing sealed yet, or nothing sealed since the previous run
    where = span_where(start, hi)
    sums = sums_by_series(store, 'SUM("readings"), SUM("energy_kwh")',
                          DAILY_ROLLUP_MEASUREMENT, where)
    instants = first_last(store, where)
    for key, (n, energy) in sums.items():
        if key not in instants or not n:
            continue
        first, last = instants[key]
        if key in base:
            n0, e0, f0, l0 = base[key]
            base[key] = (n0 + int(n), e0 + float(energy or 0.0), min(f0, first), max(l0, last))
        else:
            base[key] = (int(n), float(energy or 0.0), first, last)
    return _write_totals(store, base, lo, hi, stamp_ms)


def _write_totals(store: InfluxStore, base: dict[tuple[str, str], tuple[int, float, int, int]],
                  lo: datetime, hi: datetime, stamp_ms: int) -> int:
    """Write the totals of ``(lo, hi]`` stamped ``stamp_ms``, then delete older points."""
    store._totals_memo.clear()  # this process reads them anew
    span = {"from_ms": float(ms_of(lo)), "until_ms": float(ms_of(hi))}
    lines = [line_protocol.encode_point(
        TOTALS_MEASUREMENT, {"meter": meter, "site": site},
        {"readings": float(n), "energy_kwh": energy, "first_ms": float(first),
         "last_ms": float(last), **span}, stamp_ms)
        for (meter, site), (n, energy, first, last) in sorted(base.items())]
    for i in range(0, len(lines), 5000):
        store.write_lines(lines[i:i + 5000])
    store.query(f"DELETE FROM {quote_ident(TOTALS_MEASUREMENT)} "
                f"WHERE time < {int(stamp_ms)}ms")
    return len(lines)
