"""InfluxStore specifics on a real influxd 1.6.7: admin commands, rollups, config, CLI.

The behaviour shared with SqliteStore is proven by tests/test_store_contract.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from greenpipe.app.cli import main
from greenpipe.config import load_config
from greenpipe.errors import ConfigError
from greenpipe.model import Meter, MeterKind, Reading, Sector, Site
from greenpipe.stores import Catalog, influx, influx_points, influx_totals, open_store
from greenpipe.stores.influx import InfluxStore
from greenpipe.stores.influx_admin import (
    check,
    init,
    retention_seconds,
    rollup_daily,
    rollup_hourly,
    run_rollups,
)
from greenpipe.stores.influx_totals import TOTALS_MEASUREMENT, read_totals
from greenpipe.stores.influxql import InfluxError, ms_of, quote_ident, quote_literal
from tests._influx_http import Recorded, Reply, recording_server
from tests.conftest import EXAMPLE_CONFIG, InfluxProcess

T0 = datetime(2025, 4, 1, tzinfo=UTC)
H = timedelta(hours=1)
CATALOG = Catalog.of(
    [Meter("p-main", "plant", MeterKind.ELECTRICITY, "kWh"),
     Meter("o-main", "office", MeterKind.ELECTRICITY, "kWh")],
    [Site("plant", "Plant", Sector.INDUSTRY, "Asia/Tokyo", "tepco"),
     Site("office", "Office", Sector.COMMERCIAL, "Asia/Tokyo", "tepco")],
)


def _db() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(influxdb: InfluxProcess) -> Iterator[InfluxStore]:
    """An initialised, empty InfluxStore on the real influxd."""
    s = InfluxStore(influxdb.store_url(_db()), CATALOG)
    init(s)
    yield s
    s.close()


def _city(days: int = 2) -> list[Reading]:
    """Two meters, 10-minute readings with varying energy, power and sparse temperature."""
    out = []
    for i in range(1, days * 144 + 1):
        ts = T0 + timedelta(minutes=10 * i)
        out.append(Reading("p-main", "plant", ts, energy_kwh=float(i % 7),
                           power_kw=float(i % 5) * 6.0))
        if i % 3:
            out.append(Reading("o-main", "office", ts, energy_kwh=0.5 * (i % 4),
                               power_kw=float(i % 4) * 3.0 if i % 2 else None,
                               temp_air_c=20.0 + i % 3))
    return out


def _answered(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bool]:
    """Wrap ``influx_points.<name>``; the list records, per call, whether it answered (not
    None: the points were few enough)."""
    used: list[bool] = []
    original = getattr(influx_points, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        used.append(answer is not None)
        return answer

    monkeypatch.setattr(influx_points, name, spy)
    return used


pytestmark = pytest.mark.integration


def test_quoting_escapes_what_influxql_would_interpret() -> None:
    assert quote_ident('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_literal("x' OR ''='") == "'x\\' OR \\'\\'=\\''"
    assert quote_literal("line\nbreak\\") == "'line\\nbreak\\\\'"


def test_init_creates_database_and_retention_policy(influxdb: InfluxProcess) -> None:
    s = InfluxStore(influxdb.store_url(_db()))
    done = init(s, "400d")
    assert "retention policy 'greenpipe' keeps 400d (default)" in done
    assert init(s, "52w")[-1] == "retention policy 'greenpipe' keeps 52w (default)"
    (series,) = s.query(f"SHOW RETENTION POLICIES ON {quote_ident(s.database)}")[0]
    policies = {row[0]: (row[1], row[-1]) for row in series.values}
    assert policies["greenpipe"] == ("8736h0m0s", True)  # 52 weeks, the default policy
    assert check(s).database == s.database
    s.close()


def test_retention_values() -> None:
    assert retention_seconds("") == 0
    assert retention_seconds("400d") == 400 * 86400
    assert retention_seconds("2w") == 1209600
    for bad in ("400 days", "1d; DROP DATABASE x", "30m"):
        with pytest.raises(ConfigError):
            retention_seconds(bad)


def test_check_reports_version_and_database(store: InfluxStore, influxdb: InfluxProcess) -> None:
    result = check(store)
    assert (result.version, result.api) == (influxdb.version, "v1")
    assert result.version.startswith("1.6.")


def test_check_missing_database(influxdb: InfluxProcess) -> None:
    s = InfluxStore(influxdb.store_url("no_such_db"))
    with pytest.raises(InfluxError,
                       match="no database named 'no_such_db'; run `greenpipe db init`"):
        check(s)


def test_check_wrong_url_and_wrong_token() -> None:
    def not_influx(_: Recorded) -> Reply:
        return 200, {"Content-Type": "text/html"}, b"<html>router</html>"

    with (recording_server(not_influx) as server,
          pytest.raises(InfluxError, match="not an InfluxDB server")):
        check(InfluxStore(server.store_url("db")))

    def auth_enabled(req: Recorded) -> Reply:
        if req.path == "/ping":
            return 204, {"X-Influxdb-Version": "1.6.7~rc0"}, b""
        return 401, {}, b'{"error":"authorization failed"}'

    with recording_server(auth_enabled) as server:
        with pytest.raises(InfluxError, match="rejected the token") as info:
            check(InfluxStore(server.store_url("db"), token="wrong:token"))
        assert "wrong:token" not in str(info.value)


def test_rollup_reads_equal_raw_reads(store: InfluxStore) -> None:
    store.write(_city())
    end = T0 + timedelta(days=2)
    assert rollup_hourly(store, T0, end) == 48 + 48
    for kwargs in ({"bucket": timedelta(hours=1)},
                   {"bucket": timedelta(hours=3), "group_by": "sector"},
                   {"bucket": timedelta(days=1), "offset": timedelta(hours=-9),
                    "group_by": "site"}):
        raw = store.read(T0, end, **kwargs)
        rolled = store.read_rollup(T0, end, **kwargs)
        assert list(rolled.columns) == list(raw.columns)
        assert rolled[rolled.columns[:2]].equals(raw[raw.columns[:2]])
        assert list(rolled["readings"]) == list(raw["readings"])
        for col in ("energy_kwh", "power_kw", "temp_air_c"):
            assert rolled[col].to_numpy() == pytest.approx(raw[col].to_numpy(), nan_ok=True)
    # Hand check of one hour: p-main readings i = 1..6 -> energy i % 7 = 1+2+3+4+5+6.
    first = store.read_rollup(T0, T0 + timedelta(hours=1), timedelta(hours=1), meters=["p-main"])
    assert first["energy_kwh"].tolist() == [21.0]
    assert first["readings"].tolist() == [6]
    with pytest.raises(ValueError, match="whole number of hours"):
        store.read_rollup(T0, end, timedelta(minutes=30))


def test_daily_rollup_answers_whole_jst_days(store: InfluxStore) -> None:
    """JST-day reads of whole days come from energy_1d (empty until the daily rollup ran),
    other whole-hour reads from energy_1h; both equal the raw read."""
    store.write(_city())
    assert store.day_offset == timedelta(hours=-9)
    start = datetime(2025, 3, 31, 15, tzinfo=UTC)  # JST midnight of 1 April
    end = start + timedelta(days=3)
    day, jst = timedelta(days=1), timedelta(hours=-9)
    rollup_hourly(store, start, end)
    assert store.read_rollup(start, end, day, offset=jst).empty
    # 2 meters at 2 sites in 2 sectors, 3 days with readings: meter-, site- and sector-days,
    # and the 2 meters' and the 2 sites' month (April JST).
    assert rollup_daily(store, start, end) == 3 * 2 * 3 + 2 + 2
    raw = store.read(start, end, day, offset=jst, group_by="sector")
    rolled = store.read_rollup(start, end, day, offset=jst, group_by="sector")
    assert rolled[["sector", "bucket", "readings"]].equals(raw[["sector", "bucket", "readings"]])
    assert rolled["energy_kwh"].to_numpy() == pytest.approx(raw["energy_kwh"].to_numpy())
    assert rolled["power_kw"].to_numpy() == pytest.approx(raw["power_kw"].to_numpy(),
                                                          nan_ok=True)
    # A range that does not start at JST midnight is answered from the hourly rollup.
    off_grid = store.read_rollup(T0, end, day, offset=jst)
    assert off_grid["readings"].sum() == store.read(T0, end, day, offset=jst)["readings"].sum()


def test_read_monthly_takes_covered_months_from_energy_1mo(store: InfluxStore) -> None:
    """Inside the rollup coverage, months come from energy_1mo (shown by deleting the raw
    points afterwards); after it, from the raw points; a re-run picks up a late reading."""
    store.write(_city(days=2))
    april, may = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 4, 30, 15, tzinfo=UTC)
    june = datetime(2025, 5, 31, 15, tzinfo=UTC)
    want = store.read_monthly(april, june, tz="Asia/Tokyo")
    assert want["bucket"].tolist() == [pd.Timestamp(april)] * 2
    # A backfill over April JST and a day of May (UTC), then a periodic catch-up run.
    run_rollups(store, hours=24 * 32, every_s=None, now=lambda: may + timedelta(hours=9))
    rolled = store.read_monthly(april, may, tz="Asia/Tokyo")
    pd.testing.assert_frame_equal(rolled, want, check_exact=False, rtol=1e-12)
    late = Reading("p-main", "plant", T0 + timedelta(days=2, hours=1), energy_kwh=100.0)
    store.write([late])
    run_rollups(store, hours=24 * 30, every_s=None, now=lambda: may + timedelta(hours=10))
    store.query(f"DROP MEASUREMENT {quote_ident('energy')}")
    after = store.read_monthly(april, june, tz="Asia/Tokyo")
    assert after["energy_kwh"].tolist() == pytest.approx(
        [want["energy_kwh"].iloc[0], want["energy_kwh"].iloc[1] + 100.0])
    assert after["readings"].tolist() == [want["readings"].iloc[0],
                                          want["readings"].iloc[1] + 1]
    # May lies outside the coverage: read raw, which is now gone.
    late_may = store.read_monthly(may, june, tz="Asia/Tokyo")
    assert late_may.empty


def test_rollup_rerun_is_idempotent_and_picks_up_late_data(store: InfluxStore) -> None:
    store.write(_city(days=1))
    rollup_hourly(store, T0, T0 + timedelta(days=1))
    rollup_hourly(store, T0, T0 + timedelta(days=1))
    day = timedelta(days=1)
    assert store.read_rollup(T0, T0 + day, day, meters=["p-main"])["readings"].tolist() == [144]
    late = Reading("p-main", "plant", T0 + timedelta(minutes=5), energy_kwh=100.0)
    store.write([late])
    before = store.read_rollup(T0, T0 + day, day, meters=["p-main"])["energy_kwh"].item()
    calls = iter([T0 + timedelta(minutes=30)])
    run_rollups(store, hours=1, every_s=None, now=lambda: next(calls))
    after = store.read_rollup(T0, T0 + day, day, meters=["p-main"])["energy_kwh"].item()
    assert after == before + 100.0
    assert after == store.read(T0, T0 + day, day, meters=["p-main"])["energy_kwh"].item()


def test_rollup_coverage_grows_with_contiguous_runs_and_restarts_after_a_gap(
        store: InfluxStore) -> None:
    """Readers use the rollups only where the job has run (``rollup_coverage``)."""
    assert store.rollup_coverage() is None  # never rolled up: read the raw points
    store.write(_city(days=1))
    h = timedelta(hours=1)
    runs = iter([T0 + 2 * h, T0 + 3 * h, T0 + 10 * h])
    run_rollups(store, hours=2, every_s=None, now=lambda: next(runs))
    assert store.rollup_coverage() == (T0, T0 + 2 * h)
    run_rollups(store, hours=2, every_s=None, now=lambda: next(runs))  # overlaps: extends
    assert store.rollup_coverage() == (T0, T0 + 3 * h)
    run_rollups(store, hours=2, every_s=None, now=lambda: next(runs))  # a gap: restarts
    assert store.rollup_coverage() == (T0 + 8 * h, T0 + 10 * h)


def test_stats_read_covered_days_from_the_rollup_and_the_rest_raw(store: InfluxStore) -> None:
    """With the rollup job's coverage, stats() counts whole covered days from energy_1d
    and scans only the points outside them: the same counts, energy and time spans."""
    store.write(_city(days=4))
    before = store.stats()
    # Coverage from 03:00 UTC of day 1 to 05:00 UTC of day 3: one whole JST day inside.
    runs = iter([T0 + timedelta(days=3, hours=5)])
    run_rollups(store, hours=24 * 2 + 2, every_s=None, now=lambda: next(runs))
    whole = store._whole_rollup_days()
    assert whole is not None and whole[1] - whole[0] == timedelta(days=1)
    assert store.stats() == before
    # A reading written after the job ran, after the covered days, is counted raw.
    late = Reading("p-main", "plant", T0 + timedelta(days=5), energy_kwh=9.0)
    store.write([late])
    after = {m.meter: m for m in store.stats().meters}
    assert after["p-main"].readings == {m.meter: m for m in before.meters}["p-main"].readings + 1
    assert after["p-main"].last_ts == late.ts


def test_short_reads_and_the_stats_edge_from_points_equal_the_grouped_answers(
        store: InfluxStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of at most two days (by meter, site, sector) and the unsealed edge of
    stats() sum the raw points in Python (``influx_points``) while they hold at most
    ``POINTS_MAX`` points: the frames and the StoreStats equal InfluxDB's grouped answers
    (forced with ``POINTS_MAX = 0``), with readings lacking energy, power or temperature,
    and the hand numbers of one hour."""
    weather = [Reading("h-weather", "hall", T0 + timedelta(hours=h, minutes=7),
                       temp_air_c=4.0 + h) for h in range(30, 40)]
    store.write([*_city(days=3), *weather])
    run_rollups(store, hours=24 * 2, every_s=None, now=lambda: T0 + timedelta(days=2, hours=5))
    used = _answered(monkeypatch, "raw_points")

    def answers() -> tuple[list[pd.DataFrame], Any]:
        day = T0 + timedelta(days=1, hours=3)
        return ([store.read(day, day + timedelta(days=1), H),
                 store.read(T0, T0 + timedelta(days=2), 3 * H, offset=H),
                 store.read(day, day + timedelta(days=1), H, meters=["o-main"]),
                 store.read(day, day + timedelta(hours=9), timedelta(days=1),
                            offset=timedelta(hours=-9), group_by="site"),
                 store.read(T0, day, 12 * H, group_by="sector", kinds=["electricity"])],
                store.stats())

    reads, stats = answers()
    assert used and all(used)  # every short read and the edge answered from points
    hour = reads[0][reads[0]["meter"] == "p-main"].iloc[0]  # (day, day + 1 h]: i = 163..168
    assert (hour["energy_kwh"], hour["readings"]) == (sum(i % 7 for i in range(163, 169)), 6)
    assert hour["power_kw"] == pytest.approx(sum((i % 5) * 6.0 for i in range(163, 169)) / 6)
    used.clear()
    monkeypatch.setattr(influx_points, "POINTS_MAX", 0)
    grouped, grouped_stats = answers()
    assert not any(used)
    for i, (got, want) in enumerate(zip(reads, grouped, strict=True)):
        assert len(got) > 0, i
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, obj=f"read {i}")
    assert [replace(m, energy_kwh=0.0) for m in stats.meters] == [
        replace(m, energy_kwh=0.0) for m in grouped_stats.meters]
    assert [m.energy_kwh for m in stats.meters] == pytest.approx(
        [m.energy_kwh for m in grouped_stats.meters], rel=1e-12)
    assert stats.dead_letters == grouped_stats.dead_letters


def test_meter_totals_grow_with_sealed_days_and_rebuild_after_a_gap(
        store: InfluxStore) -> None:
    """The periodic rollup job keeps one meter_totals point per meter over the whole
    covered days before its window; stats() and latest() equal the raw answers at every
    step."""
    store.write(_city(days=9))
    raw, raw_latest = store.stats(), store.latest()  # no coverage yet: every point
    day, hour = timedelta(days=1), timedelta(hours=1)
    run_rollups(store, hours=24 * 5, every_s=None, now=lambda: T0 + 5 * day)  # backfill
    assert read_totals(store) is None  # the backfill re-rolled every covered day
    assert store.stats() == raw and store.latest() == raw_latest
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + 5 * day)
    whole = store._whole_rollup_days()
    totals = read_totals(store)
    assert whole is not None and totals is not None
    # T0 is 09:00 JST: whole JST days from T0 + 15 h; sealed up to the day of 22:00 UTC.
    assert (totals.lo, totals.hi) == (T0 + 15 * hour, T0 + 4 * day + 15 * hour)
    in_span = [r for r in _city(days=9) if totals.lo < r.ts <= totals.hi]
    for meter, site in (("p-main", "plant"), ("o-main", "office")):
        mine = [r for r in in_span if r.meter_id == meter]
        n, energy, first, last = totals.series[(meter, site)]
        assert (n, first, last) == (len(mine), ms_of(mine[0].ts), ms_of(mine[-1].ts))
        assert energy == pytest.approx(sum(r.energy_kwh or 0.0 for r in mine), rel=1e-12)
    assert store.stats() == raw and store.latest() == raw_latest
    run_rollups(store, hours=26, every_s=None, now=lambda: T0 + 6 * day)  # seals no day
    assert read_totals(store) == totals
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + 6 * day)  # seals one
    grown = read_totals(store)
    assert grown is not None and (grown.lo, grown.hi) == (totals.lo, totals.hi + day)
    assert store.stats() == raw and store.latest() == raw_latest
    # A gap restarts the coverage: the totals are rebuilt over the new span.
    run_rollups(store, hours=40, every_s=None, now=lambda: T0 + 8 * day)
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + 8 * day)
    rebuilt = read_totals(store)
    assert rebuilt is not None
    assert (rebuilt.lo, rebuilt.hi) == (T0 + 6 * day + 15 * hour, T0 + 7 * day + 15 * hour)
    assert store.stats() == raw and store.latest() == raw_latest


def _daily(days: int) -> list[Reading]:
    """Two meters with one reading a day (01:00 UTC), varying energy and power."""
    return [r for d in range(1, days + 1) for r in (
        Reading("p-main", "plant", T0 + timedelta(days=d, hours=1), energy_kwh=float(d % 7),
                power_kw=float(d % 5) * 6.0),
        Reading("o-main", "office", T0 + timedelta(days=d, hours=1), energy_kwh=0.5 * d,
                temp_air_c=20.0 + d % 3))]


@pytest.mark.parametrize("sparse", [True, False], ids=["daily", "10-minute"])
def test_latest_reads_a_sparse_unsealed_edge_as_points(
        store: InfluxStore, monkeypatch: pytest.MonkeyPatch, sparse: bool) -> None:
    """With current meter_totals of meters sending at most two readings a day, latest()
    takes the newest point per meter of the unsealed edge from the points
    (``influx_points.newest_points``) while it holds at most ``POINTS_MAX``; denser meters
    keep the grouped read. Always the same readings as before any rollup, and as the
    grouped answer (forced with ``POINTS_MAX = 0``); a meter silent since the sealed days
    is still read."""
    weather = [Reading("h-weather", "hall", T0 + timedelta(hours=h, minutes=7),
                       temp_air_c=4.0 + h) for h in (30, 39)]
    readings = _daily(days=9) if sparse else _city(days=9)
    store.write([*readings, *weather])
    raw_latest = store.latest()  # no coverage yet: every point, grouped
    run_rollups(store, hours=24 * 5, every_s=None, now=lambda: T0 + timedelta(days=5))
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + timedelta(days=5))
    totals = read_totals(store)
    assert totals is not None and totals.lo < weather[-1].ts <= totals.hi
    assert influx_points.sparse(totals) is sparse
    used = _answered(monkeypatch, "newest_points")
    latest = store.latest()
    assert used == ([True] if sparse else []) and latest == raw_latest
    last = max((r for r in readings if r.meter_id == "p-main"), key=lambda r: r.ts)
    assert latest["p-main"] == last and last.ts > totals.hi
    assert latest["h-weather"] == weather[-1]
    used.clear()
    monkeypatch.setattr(influx_points, "POINTS_MAX", 0)
    assert store.latest() == raw_latest and used == ([False] if sparse else [])


def test_rollup_state_is_read_once_a_second_and_after_this_stores_writes(
        store: InfluxStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold dashboard page checks the rollup coverage a dozen times: the state point is
    queried once per STATE_CACHE_S, and again at once after this store writes or
    deletes (a rollup run in this process), so its own new coverage is never missed."""
    store.write(_city(days=2))
    reads: list[str] = []
    original = store.query

    def counted(statements: str) -> Any:
        reads.extend(one for one in statements.split("; ") if "rollup_state" in one)
        return original(statements)

    monkeypatch.setattr(store, "query", counted)
    assert store.rollup_coverage() is None
    assert store.rollup_coverage() is None and store.monthly_coverage() is None
    assert len(reads) == 1
    run_rollups(store, hours=24, every_s=None, now=lambda: T0 + timedelta(days=2))
    assert store.rollup_coverage() == (T0 + timedelta(days=1), T0 + timedelta(days=2))
    reads.clear()
    store.rollup_coverage()
    assert reads == []
    store.query(f"DELETE FROM {quote_ident('rollup_state')}")
    assert store.rollup_coverage() is None
    monkeypatch.setattr(influx, "STATE_CACHE_S", 0.0)
    n = len(reads)
    store.rollup_coverage()
    assert len(reads) == n + 1


def test_stats_ignore_totals_whose_spans_disagree(store: InfluxStore) -> None:
    """A run that stopped while rewriting meter_totals leaves mixed spans: stats() then
    counts from energy_1d, and the next run rebuilds the totals."""
    store.write(_city(days=4))
    raw = store.stats()
    run_rollups(store, hours=24 * 4, every_s=None, now=lambda: T0 + timedelta(days=4))
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + timedelta(days=4))
    assert read_totals(store) is not None
    # Newer than the run's points: what a run that stopped half-way leaves behind.
    stopped_at = ms_of(datetime.now(UTC))
    store.write_lines([f'{TOTALS_MEASUREMENT},meter=p-main,site=plant readings=1.0,'
                       f'energy_kwh=1.0,first_ms=1.0,last_ms=1.0,from_ms=0.0,until_ms=0.0 '
                       f'{stopped_at}'])
    assert read_totals(store) is None
    assert store.stats() == raw
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + timedelta(days=4))
    assert read_totals(store) is not None and store.stats() == raw


def test_meter_totals_are_read_once_per_rollup_state_point(
        store: InfluxStore, influxdb: InfluxProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dashboard process (its own store) reads meter_totals once for stats(), latest()
    and has_readings() of one cold run. The rollup job's next state point (seen once the
    store's STATE_CACHE_S memo of the state has expired) makes it read them again, so a
    late reading in a sealed day that the job re-rolled is counted; past TOTALS_CACHE_S
    they are read again without a new state point."""
    readings = _city(days=6)
    store.write(readings)
    day = timedelta(days=1)
    run_rollups(store, hours=24 * 6, every_s=None, now=lambda: T0 + 6 * day)  # backfill
    run_rollups(store, hours=2, every_s=None, now=lambda: T0 + 6 * day)
    assert read_totals(store) is not None
    dashboard = InfluxStore(influxdb.store_url(store.database), CATALOG)
    totals_reads: list[str] = []
    original = dashboard.query

    def counted(statements: str) -> Any:
        totals_reads.extend(one for one in statements.split("; ")
                            if one.startswith("SELECT") and TOTALS_MEASUREMENT in one)
        return original(statements)

    monkeypatch.setattr(dashboard, "query", counted)

    def got() -> list[tuple[str, str, int, datetime | None, datetime | None, float]]:
        return [(m.meter, m.site, m.readings, m.first_ts, m.last_ts,
                 pytest.approx(m.energy_kwh)) for m in dashboard.stats().meters]

    try:
        assert got() == _hand_meter_stats(readings)
        newest = {r.meter_id: r for r in readings}
        assert dashboard.latest() == newest and dashboard.has_readings()
        assert len(totals_reads) == 1
        # A late reading 2 days back (sealed in the totals): the job re-rolls 4 days.
        on_time = next(r for r in readings
                       if r.meter_id == "p-main" and r.ts >= T0 + 2 * day + 5 * H)
        late = replace(on_time, ts=on_time.ts + timedelta(minutes=3), energy_kwh=5.0)
        sealed = read_totals(store)
        assert sealed is not None and sealed.lo < late.ts <= sealed.hi
        store.write([late])
        run_rollups(store, hours=96, every_s=None, now=lambda: T0 + 6 * day)
        monkeypatch.setattr(influx, "STATE_CACHE_S", 0.0)  # as a second later
        assert got() == _hand_meter_stats(sorted([*readings, late], key=lambda r: r.ts))
        assert len(totals_reads) == 2
        assert dashboard.latest() == newest and len(totals_reads) == 2
        monkeypatch.setattr(influx_totals, "TOTALS_CACHE_S", 0.0)  # as 30 s later
        assert dashboard.has_readings() and len(totals_reads) == 3
    finally:
        dashboard.close()


def test_rollup_job_runs_under_the_retention_policy_db_init_sets(
        influxdb: InfluxProcess) -> None:
    """``db init`` sets a retention policy (400 days by default), which refuses points
    older than it: the job's state and totals points are stamped with the run's clock,
    so the job runs and readers find the newest state."""
    store = InfluxStore(influxdb.store_url(_db()), CATALOG)
    init(store, "400d")
    now = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)  # JST noon
    day = timedelta(days=1)
    start = now - 4 * day
    store.write([replace(r, ts=r.ts - T0 + start) for r in _city(days=4)])
    raw, raw_latest = store.stats(), store.latest()
    run_rollups(store, hours=24 * 4, every_s=None, now=lambda: now)  # backfill
    assert store.rollup_coverage() == (now - 4 * day, now)
    run_rollups(store, hours=2, every_s=None, now=lambda: now + timedelta(minutes=10))
    assert store.rollup_coverage() == (now - 4 * day, now + timedelta(minutes=10))
    totals = read_totals(store)
    assert totals is not None and totals.series.keys() == {("p-main", "plant"),
                                                           ("o-main", "office")}
    assert store.stats() == raw and store.latest() == raw_latest
    # A day later (one run extends the coverage, the next seals one more day): new totals
    # are written and the previous run's deleted.
    run_rollups(store, hours=26, every_s=None, now=lambda: now + day)
    run_rollups(store, hours=2, every_s=None, now=lambda: now + day + timedelta(minutes=10))
    grown = read_totals(store)
    assert grown is not None and (grown.lo, grown.hi) == (totals.lo, totals.hi + day)
    (series,) = store.query(f"SELECT COUNT(readings) FROM {quote_ident(TOTALS_MEASUREMENT)}")[0]
    assert series.values[0][1] == 2  # one point per (meter, site)
    assert store.stats() == raw and store.latest() == raw_latest
    store.close()


def test_int_values_are_stored_as_floats(store: InfluxStore) -> None:
    # An int would become an integer field and make every later float a type conflict.
    store.write([Reading("p-main", "plant", T0 + timedelta(minutes=1), energy_kwh=3)])
    store.write([Reading("p-main", "plant", T0 + timedelta(minutes=2), energy_kwh=2.5)])
    assert store.stats().meters[0].energy_kwh == 5.5


def test_open_store_with_config_token_and_timeout(influxdb: InfluxProcess, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("admin:secret-from-file\n")
    monkeypatch.delenv("GREENPIPE_INFLUX_TOKEN", raising=False)
    cfg = load_config(EXAMPLE_CONFIG, env={
        "GREENPIPE_STORE_URL": influxdb.store_url("cfg_db"),
        "GREENPIPE_STORE_TOKEN_FILE": str(token_file),
        "GREENPIPE_STORE_API": "v1",
        "GREENPIPE_STORE_TIMEOUT_S": "5",
        "GREENPIPE_STORE_ORG": "city",
    })
    assert cfg.store.token == "admin:secret-from-file"
    assert "secret" not in repr(cfg.store)
    s = open_store(cfg.store.url, Catalog.of(cfg.meters, cfg.sites), cfg.store)
    assert isinstance(s, InfluxStore)
    assert (s.api, s.org, s.database) == ("v1", "city", "cfg_db")
    assert "secret" not in repr(s)
    s.close()
    env_cfg = load_config(EXAMPLE_CONFIG, env={"GREENPIPE_INFLUX_TOKEN": "from-env",
                                               "GREENPIPE_STORE_TOKEN_FILE": str(token_file)})
    assert env_cfg.store.token == "from-env"
    with pytest.raises(ConfigError, match="GREENPIPE_INFLUX_TOKEN"):
        from greenpipe.config import config_from_dict
        config_from_dict({"store": {"token": "x"}}, env={})
    with pytest.raises(ConfigError, match="never put credentials in the URL"):
        open_store("influxdb://admin:secret@127.0.0.1:8086/db")


def test_cli_db_init_check_and_store_stats(influxdb: InfluxProcess,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = influxdb.store_url(_db())
    assert main(["db", "check", "--config", str(EXAMPLE_CONFIG), "--store", url]) == 2
    assert "run `greenpipe db init`" in capsys.readouterr().err
    assert main(["db", "init", "--config", str(EXAMPLE_CONFIG), "--store", url]) == 0
    assert main(["db", "check", "--config", str(EXAMPLE_CONFIG), "--store", url]) == 0
    out = capsys.readouterr().out
    assert f"InfluxDB {influxdb.version}" in out and "write API v1" in out
    cfg = load_config(EXAMPLE_CONFIG, env={})
    s = open_store(url, Catalog.of(cfg.meters, cfg.sites))
    s.write([Reading("f1-main", "factory-1", T0 + timedelta(minutes=30 * i), energy_kwh=1.5)
             for i in range(1, 5)])
    s.close()
    assert main(["store", "stats", "--json", "--config", str(EXAMPLE_CONFIG),
                 "--store", url]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"meter": "f1-main", "site": "factory-1", "readings": 4,
         "first_ts": "2025-04-01T00:30:00+00:00", "last_ts": "2025-04-01T02:00:00+00:00",
         "energy_kwh": 6.0, "upstream_lost": 0},
        {"dead_letters": 0, "upstream_lost": 0, "broker_dropped": {}},
    ]
    assert main(["db", "rollup", "--hours", "1", "--config", str(EXAMPLE_CONFIG),
                 "--store", url]) == 0



def _hand_meter_stats(readings: list[Reading]) -> list[tuple[str, str, int, datetime, datetime,
                                                             float]]:
    """(meter, site, readings, first, last, energy) per meter of ``readings``, by hand."""
    by_meter: dict[str, list[Reading]] = {}
    for r in readings:
        by_meter.setdefault(r.meter_id, []).append(r)
    return [(m, rs[0].site_id, len(rs), min(r.ts for r in rs), max(r.ts for r in rs),
             sum(r.energy_kwh or 0.0 for r in rs)) for m, rs in sorted(by_meter.items())]


def test_totals_and_coverage_follow_the_retention_policy_when_a_shard_expires(
        influxdb: InfluxProcess) -> None:
    """Under db init's retention policy InfluxDB drops whole shard groups (7 days for 400
    days) once they end before now minus its duration. While none has, the coverage is as
    recorded (the data just starts at the oldest shard group). After the policy shrinks and
    the oldest group is dropped (``DROP SHARD``, what the retention service does), the
    rollup coverage starts where the stored points start,
    and stats(), latest() and read_monthly() equal the readings still stored: before the
    next rollup run (the totals no longer match the coverage and are ignored) and after it
    (the totals trimmed to the days still stored)."""
    store = InfluxStore(influxdb.store_url(_db()), CATALOG)
    init(store, "400d")
    now = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)  # JST noon
    day = timedelta(days=1)
    start = now - 21 * day
    readings = [replace(r, ts=r.ts - T0 + start) for r in _city(days=21)]
    store.write(readings)
    run_rollups(store, hours=24 * 21, every_s=None, now=lambda: now)  # backfill
    run_rollups(store, hours=2, every_s=None, now=lambda: now + timedelta(minutes=10))
    before = read_totals(store)
    assert before is not None

    def got() -> list[tuple[str, str, int, datetime | None, datetime | None, float]]:
        return [(m.meter, m.site, m.readings, m.first_ts, m.last_ts,
                 pytest.approx(m.energy_kwh)) for m in store.stats().meters]

    assert got() == _hand_meter_stats(readings)
    (shards,) = [s for s in store.query("SHOW SHARDS")[0] if s.name == store.database]
    cols = shards.columns
    oldest = min(shards.values, key=lambda row: str(row[cols.index("start_time")]))
    cut = datetime.fromisoformat(str(oldest[cols.index("end_time")]).replace("Z", "+00:00"))
    assert start < cut < now  # the oldest shard group holds some of the readings
    store._horizon_memo.clear()  # as 60 s later
    assert store.rollup_coverage() == (now - 21 * day, now + timedelta(minutes=10))
    # The policy shrinks to 14 days: the oldest shard group (ended more than 14 days ago)
    # expires, and the retention service drops it (done here at once, as it would within
    # its 30-minute check interval).
    store.query(f"ALTER RETENTION POLICY {quote_ident('greenpipe')} ON "
                f"{quote_ident(store.database)} DURATION 14d")
    store.query(f"DROP SHARD {int(oldest[cols.index('id')])}")
    store._horizon_memo.clear()  # as 60 s later
    kept = [r for r in readings if r.ts >= cut]
    newest = {r.meter_id: r for r in sorted(kept, key=lambda r: r.ts)}
    covered = store.rollup_coverage()
    assert covered is not None and covered[0] == cut
    assert got() == _hand_meter_stats(kept)  # the totals are ignored until the next run
    assert store.latest() == newest
    run_rollups(store, hours=2, every_s=None, now=lambda: now + timedelta(minutes=20))
    trimmed = read_totals(store)
    assert trimmed is not None and trimmed.hi == before.hi
    jst_midnight = timedelta(hours=15)  # 00:00 JST in UTC
    assert trimmed.lo == cut + (jst_midnight - (cut - datetime(1970, 1, 1, tzinfo=UTC))) % day
    assert got() == _hand_meter_stats(kept)
    assert store.latest() == newest
    jst = ZoneInfo("Asia/Tokyo")
    first = start.astimezone(jst).replace(day=1, hour=0)
    months = store.read_monthly(first.astimezone(UTC),
                                (first + timedelta(days=62)).replace(day=1).astimezone(UTC),
                                tz="Asia/Tokyo")
    assert months["readings"].sum() == len(kept)
    assert months["energy_kwh"].sum() == pytest.approx(sum(r.energy_kwh or 0.0 for r in kept))
    store.close()


def test_one_bucket_rollup_reads_sum_whole_months_from_energy_1mo(store: InfluxStore) -> None:
    """A rollup read whose one bucket spans its range (a fiscal year's site totals) takes
    its whole months from energy_site_1mo (by meter: energy_1mo) and only the days around
    them from the daily rollups (shown by deleting those site-days), and equals the raw
    read. A coverage recorded before energy_site_1mo existed is answered from energy_1mo,
    one recorded before energy_1mo existed (no ``months_from_ms``) from the days alone."""
    start = datetime(2025, 3, 20, 15, tzinfo=UTC)  # 2025-03-21 00:00 JST
    end = datetime(2025, 6, 9, 15, tzinfo=UTC)  # 2025-06-10 00:00 JST: April, May whole
    readings = [Reading(m, site, start + timedelta(hours=h), energy_kwh=0.5 + (h % 7),
                        power_kw=float(h % 5))
                for h in range(1, int((end - start) / H) + 1)
                for m, site in (("p-main", "plant"), ("o-main", "office")) if h % 11]
    store.write(readings)
    run_rollups(store, hours=(end - start) / H + 24, every_s=None,
                now=lambda: end + timedelta(hours=1))
    assert store.monthly_coverage() is not None
    width = end - start
    offset = (start - datetime(1970, 1, 1, tzinfo=UTC)) % width

    def both(group: str, kinds: list[str] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
        kw: dict[str, Any] = {"group_by": group, "offset": offset, "kinds": kinds}
        return (store.read_rollup(start, end, width, **kw), store.read(start, end, width, **kw))

    for group in ("meter", "site", "sector"):
        for kinds in (None, ["electricity"]):
            rolled, raw = both(group, kinds)
            pd.testing.assert_frame_equal(rolled, raw, check_exact=False, rtol=1e-12,
                                          check_dtype=False)
            assert len(raw) == 2 and raw["bucket"].tolist() == [pd.Timestamp(start)] * 2
    # Without April's and May's site-days the answer is unchanged: they come from months.
    may_end = datetime(2025, 5, 31, 15, tzinfo=UTC)
    store.query(f"DELETE FROM {quote_ident('energy_site_1d')} WHERE "
                f"time > '2025-03-31T15:00:00Z' AND time <= '{may_end.isoformat()}'")
    rolled, raw = both("site", None)
    pd.testing.assert_frame_equal(rolled, raw, check_exact=False, rtol=1e-12, check_dtype=False)
    # A state point from before energy_site_1mo (no site_months_from_ms): site and sector
    # totals take their months from energy_1mo.
    state = store._rollup_state()
    assert state is not None and state[2] is not None and state[3] == state[2]
    assert store.site_monthly_coverage() == store.monthly_coverage()
    store.write_lines([f"rollup_state from_ms={float(ms_of(state[0]))},"
                       f"until_ms={float(ms_of(state[1]))},"
                       f"months_from_ms={float(ms_of(state[2]))} {ms_of(datetime.now(UTC))}"])
    assert store.site_monthly_coverage() is None and store.monthly_coverage() is not None
    store.query(f"DROP MEASUREMENT {quote_ident('energy_site_1mo')}")
    for group in ("site", "sector"):
        rolled, raw = both(group, None)
        pd.testing.assert_frame_equal(rolled, raw, check_exact=False, rtol=1e-12,
                                      check_dtype=False)
    # A state point from before energy_1mo: no months_from_ms, so no month is trusted.
    store.write_lines([f"rollup_state from_ms={float(ms_of(start))},"
                       f"until_ms={float(ms_of(end))} {ms_of(datetime.now(UTC)) + 2}"])
    assert store.monthly_coverage() is None and store.rollup_coverage() == (start, end)
    store.query(f"DROP MEASUREMENT {quote_ident('energy_1mo')}")
    rolled, raw = both("meter", None)
    pd.testing.assert_frame_equal(rolled, raw, check_exact=False, rtol=1e-12, check_dtype=False)
