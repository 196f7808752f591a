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

from dataclasses import dataclass
from datetime import datetime, timedelta
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

    q = (f'SELECT "readings", "energy_kwh", "first_ms", "last_ms", "from_ms", "until_ms" '
         f'FROM {quote_ident(TOTALS_MEASUREMENT)} GROUP BY "meter", "site" '
         "ORDER BY time DESC LIMIT 1")
    spans: set[tuple[int, int]] = set()
    series: dict[tuple[str, str], tuple[int, float, int, int]] = {}
    for one in store.query(q)[0]:
        for _, n, energy, first, last, lo, hi in one.values[:1]:
            if None in (n, first, last, lo, hi):
                return None
            spans.add((int(lo), int(hi)))
            series[(one.tags.get("meter", ""), one.tags.get("site", ""))] = (
                int(n), float(energy or 0.0), int(first), int(last))
    if len(spans) != 1:
        return None
    lo, hi = spans.pop()
    return Totals(_from_ms(lo), _from_ms(hi), series)


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
    else:
        store.query(f"DELETE FROM {quote_ident(TOTALS_MEASUREMENT)}")
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
