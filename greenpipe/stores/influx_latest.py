"""``InfluxStore.latest()``: the newest reading of every meter.

With current ``meter_totals`` (``influx_totals``) only the points outside the sealed days
are read, in one request: before them grouped in the database (``GROUP BY "meter" ORDER BY
time DESC LIMIT 1``), after them (the unsealed edge: today and a day or two) the same way,
or as points for sparse meters (``influx_points.sparse``, ``newest_points``). A meter silent
since the sealed days is read at its ``last_ms`` instant. Without current totals: one
grouped read of every point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from greenpipe.model import Reading
from greenpipe.stores import influx_points as points
from greenpipe.stores.influx_totals import span_where
from greenpipe.stores.influxql import Series, quote_ident, quote_literal, time_literal_ns

if TYPE_CHECKING:
    from greenpipe.stores.influx import InfluxStore


def latest(store: InfluxStore) -> dict[str, Reading]:
    """``InfluxStore.latest``: the newest reading of every meter."""
    from greenpipe.stores.influx import _from_ms

    totals = store._current_totals()[1]
    if totals is None:
        return latest_parts(store, [""])[0]
    # Before the sealed days, then after them (newer: it wins), in one request.
    wheres = [span_where(None, totals.lo), span_where(totals.hi, None)]
    before, out = (_before_and_edge(store, *wheres) if points.sparse(totals)
                   else latest_parts(store, wheres))
    newest: dict[str, int] = {}
    for (meter, _), (_, _, _, last) in totals.series.items():
        if meter not in out:  # silent since the sealed days: read at its last instant
            newest[meter] = max(newest.get(meter, last), last)
    by_instant: dict[int, list[str]] = {}
    for meter, last in newest.items():
        by_instant.setdefault(last, []).append(meter)
    sealed: dict[str, Reading] = {}
    for i in range(0, len(by_instant), 200):
        for part in latest_parts(store, [
                f"WHERE time = {time_literal_ns(_from_ms(ms))} AND (" + " OR ".join(
                    f'"meter" = {quote_literal(m)}' for m in meters) + ")"
                for ms, meters in list(by_instant.items())[i:i + 200]]):
            sealed.update(part)
    return {**before, **sealed, **out}


def latest_parts(store: InfluxStore, wheres: Sequence[str]) -> list[dict[str, Reading]]:
    """The newest reading per meter of each ``WHERE`` clause (grouped), in one request."""
    statements = [_latest_query(where) for where in wheres]
    results = store.query("; ".join(statements))
    return [_readings(result)
            for result in [*results, *[[]] * (len(statements) - len(results))]]


def _before_and_edge(store: InfluxStore, before: str, edge: str
                     ) -> tuple[dict[str, Reading], dict[str, Reading]]:
    """The newest reading per meter of the ``before`` and ``edge`` clauses, in one
    request: ``before`` grouped in the database, ``edge`` from its points
    (``influx_points.newest_points``) unless it holds more than ``POINTS_MAX``."""
    statements = [_latest_query(before),
                  points.points_query(f'{points.LATEST_COLUMNS}, "meter"', edge)]
    results = [*store.query("; ".join(statements)), [], []]
    newest = points.newest_points([row for one in results[1] for row in one.values])
    if newest is None:
        return _readings(results[0]), latest_parts(store, [edge])[0]
    return _readings(results[0]), {meter: _reading(meter, values)
                                   for meter, values in newest.items()}


def _latest_query(where: str) -> str:
    """InfluxQL of the newest ``energy`` point per meter in ``where`` (grouped)."""
    from greenpipe.stores.influx import MEASUREMENT

    return (f"SELECT {points.LATEST_COLUMNS} FROM {quote_ident(MEASUREMENT)} {where} "
            'GROUP BY "meter" ORDER BY time DESC LIMIT 1')


def _reading(meter: str, values: Sequence[Any]) -> Reading:
    """The ``Reading`` of a point ``[time, *LATEST_COLUMNS]`` of ``meter``."""
    from greenpipe.stores.influx import _float, _from_ms

    ts, site, energy, register, power, temp, quality = values
    return Reading(meter_id=meter, site_id=str(site), ts=_from_ms(ts),
                   energy_kwh=_float(energy), register_kwh=_float(register),
                   power_kw=_float(power), temp_air_c=_float(temp),
                   quality=frozenset(q for q in str(quality or "").split(",") if q))


def _readings(result: Sequence[Series]) -> dict[str, Reading]:
    """The readings of a ``_latest_query`` answer (one series per meter, one point each)."""
    out: dict[str, Reading] = {}
    for series in result:
        meter = series.tags.get("meter", "")
        for values in series.values[:1]:
            out[meter] = _reading(meter, values)
    return out
