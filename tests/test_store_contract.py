"""One contract suite for every Store: SqliteStore and InfluxStore on a real influxd 1.6.7.

Every expectation is hand-computed from the readings written; both stores must produce
exactly the same results (read semantics: range ``start < ts <= end``, buckets
``(b, b + w]`` labelled ``b``, aligned to the epoch plus ``offset``).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from greenpipe.model import DeadLetter, Meter, MeterKind, Reading, Sector, Site
from greenpipe.stores import Catalog, GroupBy, Store
from greenpipe.stores.base import READ_COLUMNS, empty_read_frame
from greenpipe.stores.sqlite import SqliteStore

T0 = datetime(2025, 4, 1, tzinfo=UTC)
H = timedelta(hours=1)
M30 = timedelta(minutes=30)

CATALOG = Catalog.of(
    [
        Meter("p-main", "plant", MeterKind.ELECTRICITY, "kWh"),
        Meter("p-gas", "plant", MeterKind.GAS, "kWh"),
        Meter("o-main", "office", MeterKind.ELECTRICITY, "kWh"),
        Meter("h-weather", "hall", MeterKind.WEATHER, "degC", cumulative=False),
    ],
    [
        Site("plant", "工場 A", Sector.INDUSTRY, "Asia/Tokyo", "tepco"),
        Site("office", "Office", Sector.COMMERCIAL, "Asia/Tokyo", "tepco"),
        Site("hall", "City hall", Sector.PUBLIC, "Asia/Tokyo", "tepco"),
    ],
)


def _r(meter: str, site: str, ts: datetime, **kw: Any) -> Reading:
    return Reading(meter_id=meter, site_id=site, ts=ts, **kw)


CITY = [
    _r("p-main", "plant", T0 + M30, energy_kwh=1.0, register_kwh=101.0, power_kw=10.0),
    _r("p-main", "plant", T0 + 2 * M30, energy_kwh=2.0, register_kwh=103.0, power_kw=20.0),
    _r("p-main", "plant", T0 + 3 * M30, energy_kwh=3.0, register_kwh=106.0, power_kw=30.0),
    _r("p-main", "plant", T0 + 4 * M30, energy_kwh=4.0, register_kwh=110.0, power_kw=40.0,
       quality=frozenset({"quality.interval_form", "quality.counter_reset"})),
    _r("p-gas", "plant", T0 + H, energy_kwh=5.0),
    _r("p-gas", "plant", T0 + 2 * H, energy_kwh=7.0),
    _r("o-main", "office", T0 + M30, energy_kwh=0.5, power_kw=1.0),
    _r("o-main", "office", T0 + H, energy_kwh=0.25, power_kw=3.0),
    _r("h-weather", "hall", T0 + H, temp_air_c=10.0),
    _r("h-weather", "hall", T0 + 2 * H, temp_air_c=14.0),
]
NAN = float("nan")


@pytest.fixture(params=["sqlite", "influx"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind, catalogued with the small test city."""
    if request.param == "sqlite":
        s: Store = SqliteStore(tmp_path / "contract.db", CATALOG)
    else:
        from greenpipe.stores.influx import InfluxStore
        from greenpipe.stores.influx_admin import init

        server = request.getfixturevalue("influxdb")
        influx = InfluxStore(server.store_url(f"contract_{uuid.uuid4().hex[:12]}"), CATALOG)
        init(influx)
        s = influx
    yield s
    s.close()


def rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Frame rows as tuples, NaN as None, buckets as ISO strings (for exact comparison)."""
    assert list(frame.columns[1:]) == list(READ_COLUMNS)
    out = []
    for rec in frame.itertuples(index=False):
        values: list[Any] = []
        for v in rec:
            if isinstance(v, float) and math.isnan(v):
                values.append(None)
            elif isinstance(v, pd.Timestamp):
                values.append(v.isoformat())
            else:
                values.append(v)
        out.append(tuple(values))
    return out


def iso(ts: datetime) -> str:
    return pd.Timestamp(ts).isoformat()


def check_dtypes(frame: pd.DataFrame) -> None:
    assert isinstance(frame["bucket"].dtype, pd.DatetimeTZDtype)
    assert str(frame["bucket"].dt.tz) == "UTC"
    for c in ("energy_kwh", "power_kw", "temp_air_c"):
        assert frame[c].dtype == "float64"
    assert frame["readings"].dtype == "int64"


pytestmark = pytest.mark.integration


def test_empty_store(store: Store) -> None:
    frame = store.read(T0, T0 + H, H)
    assert list(frame.columns) == list(empty_read_frame(GroupBy.METER).columns)
    assert frame.empty
    assert store.read(T0, T0 + H, H, group_by="sector").columns[0] == "sector"
    assert store.latest() == {}
    stats = store.stats()
    assert stats.meters == () and stats.dead_letters == 0
    assert store.read_dead_letters() == []
    assert store.write([]) == 0


def test_read_by_meter_hand_computed(store: Store) -> None:
    assert store.write(CITY) == len(CITY)
    frame = store.read(T0, T0 + 2 * H, H)
    check_dtypes(frame)
    assert rows(frame) == [
        ("h-weather", iso(T0), None, None, 10.0, 1),
        ("h-weather", iso(T0 + H), None, None, 14.0, 1),
        ("o-main", iso(T0), 0.75, 2.0, None, 2),
        ("p-gas", iso(T0), 5.0, None, None, 1),
        ("p-gas", iso(T0 + H), 7.0, None, None, 1),
        ("p-main", iso(T0), 3.0, 15.0, None, 2),
        ("p-main", iso(T0 + H), 7.0, 35.0, None, 2),
    ]


def test_read_by_site_and_sector(store: Store) -> None:
    store.write(CITY)
    by_site = store.read(T0, T0 + 2 * H, H, group_by=GroupBy.SITE)
    assert rows(by_site) == [
        ("hall", iso(T0), None, None, 10.0, 1),
        ("hall", iso(T0 + H), None, None, 14.0, 1),
        ("office", iso(T0), 0.75, 2.0, None, 2),
        ("plant", iso(T0), 8.0, 15.0, None, 3),
        ("plant", iso(T0 + H), 14.0, 35.0, None, 3),
    ]
    by_sector = store.read(T0, T0 + 2 * H, 2 * H, group_by="sector")
    assert rows(by_sector) == [
        ("commercial", iso(T0), 0.75, 2.0, None, 2),
        ("industry", iso(T0), 22.0, 25.0, None, 6),
        ("public", iso(T0), None, None, 12.0, 2),
    ]


def test_filters(store: Store) -> None:
    store.write(CITY)
    day = timedelta(days=1)
    frame = store.read(T0, T0 + day, day, meters=["p-main", "o-main"], sites=["plant"])
    assert rows(frame) == [("p-main", iso(T0), 10.0, 25.0, None, 4)]
    frame = store.read(T0, T0 + day, day, group_by="site", sectors=["public"])
    assert rows(frame) == [("hall", iso(T0), None, None, 12.0, 2)]
    frame = store.read(T0, T0 + day, day, group_by="sector", meters=["o-main", "p-gas"])
    assert rows(frame) == [
        ("commercial", iso(T0), 0.75, 2.0, None, 2),
        ("industry", iso(T0), 12.0, None, None, 2),
    ]
    assert store.read(T0, T0 + day, day, meters=[]).empty
    assert store.read(T0, T0 + day, day, sites=["nowhere"]).empty


def test_range_is_start_exclusive_end_inclusive(store: Store) -> None:
    store.write(CITY)
    frame = store.read(T0 + M30, T0 + 3 * M30, H)
    assert rows(frame) == [
        ("h-weather", iso(T0), None, None, 10.0, 1),
        ("o-main", iso(T0), 0.25, 3.0, None, 1),
        ("p-gas", iso(T0), 5.0, None, None, 1),
        ("p-main", iso(T0), 2.0, 20.0, None, 1),
        ("p-main", iso(T0 + H), 3.0, 30.0, None, 1),
    ]


def test_bucket_edges_belong_to_the_interval_they_end(store: Store) -> None:
    ms = timedelta(milliseconds=1)
    store.write([
        _r("p-main", "plant", T0, energy_kwh=1.0),            # ends bucket (T0-1h, T0]
        _r("p-main", "plant", T0 + ms, energy_kwh=2.0),       # first instant of (T0, T0+1h]
        _r("p-main", "plant", T0 + H - ms, energy_kwh=4.0),
        _r("p-main", "plant", T0 + H, energy_kwh=8.0),        # last instant of (T0, T0+1h]
        _r("p-main", "plant", T0 + H + ms, energy_kwh=16.0),
    ])
    frame = store.read(T0 - H, T0 + 2 * H, H)
    assert rows(frame) == [
        ("p-main", iso(T0 - H), 1.0, None, None, 1),
        ("p-main", iso(T0), 14.0, None, None, 3),
        ("p-main", iso(T0 + H), 16.0, None, None, 1),
    ]
    # 15-minute buckets aligned to :05, :20, :35, :50.
    quarter = timedelta(minutes=15)
    frame = store.read(T0 - H, T0 + 2 * H, quarter, offset=timedelta(minutes=5))
    assert rows(frame) == [
        ("p-main", iso(T0 - timedelta(minutes=10)), 3.0, None, None, 2),
        ("p-main", iso(T0 + timedelta(minutes=50)), 28.0, None, None, 3),
    ]


def test_jst_daily_buckets(store: Store) -> None:
    store.write([
        _r("p-main", "plant", datetime(2025, 4, 1, 14, 30, tzinfo=UTC), energy_kwh=1.0),  # 23:30
        _r("p-main", "plant", datetime(2025, 4, 1, 15, 0, tzinfo=UTC), energy_kwh=2.0),   # 00:00
        _r("p-main", "plant", datetime(2025, 4, 1, 15, 30, tzinfo=UTC), energy_kwh=4.0),  # 00:30
        _r("o-main", "office", datetime(2025, 4, 2, 14, 59, tzinfo=UTC), energy_kwh=8.0),
    ])
    jst_day = timedelta(days=1)
    frame = store.read(datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 4, 3, 15, tzinfo=UTC),
                       jst_day, offset=timedelta(hours=-9))
    # JST 2025-04-01 starts at 2025-03-31T15:00Z; the reading at 00:00 JST ends that day.
    assert rows(frame) == [
        ("o-main", "2025-04-01T15:00:00+00:00", 8.0, None, None, 1),
        ("p-main", "2025-03-31T15:00:00+00:00", 3.0, None, None, 2),
        ("p-main", "2025-04-01T15:00:00+00:00", 4.0, None, None, 1),
    ]
    by_sector = store.read(datetime(2025, 3, 31, 15, tzinfo=UTC),
                           datetime(2025, 4, 3, 15, tzinfo=UTC), jst_day,
                           group_by="sector", offset=timedelta(hours=15))
    assert rows(by_sector) == [
        ("commercial", "2025-04-01T15:00:00+00:00", 8.0, None, None, 1),
        ("industry", "2025-03-31T15:00:00+00:00", 3.0, None, None, 2),
        ("industry", "2025-04-01T15:00:00+00:00", 4.0, None, None, 1),
    ]


def test_same_meter_and_timestamp_twice_keeps_the_last(store: Store) -> None:
    ts = T0 + M30
    store.write([_r("p-main", "plant", ts, energy_kwh=1.0, power_kw=5.0)])
    store.write([_r("p-main", "plant", ts, energy_kwh=9.0, power_kw=6.0)])
    store.write([_r("p-main", "plant", ts + M30, energy_kwh=1.0),
                 _r("p-main", "plant", ts + M30, energy_kwh=2.5)])
    stats = store.stats()
    assert [(m.meter, m.readings, m.energy_kwh) for m in stats.meters] == [("p-main", 2, 11.5)]
    assert rows(store.read(T0, T0 + H, H)) == [("p-main", iso(T0), 11.5, 6.0, None, 2)]


def test_latest(store: Store) -> None:
    store.write(CITY)
    latest = store.latest()
    assert sorted(latest) == ["h-weather", "o-main", "p-gas", "p-main"]
    assert latest["p-main"] == CITY[3]
    assert latest["p-gas"] == CITY[5]
    assert latest["o-main"] == CITY[7]
    assert latest["h-weather"] == CITY[9]
    assert isinstance(latest["p-main"].energy_kwh, float)


def test_stats(store: Store) -> None:
    assert store.has_readings() is False
    store.write_dead_letters([DeadLetter(T0, "t", b"x", "payload.bad_json", "bad")])
    assert store.has_readings() is False  # a dead letter is not a reading
    store.write(CITY)
    assert store.has_readings() is True
    stats = store.stats()
    got = [(m.meter, m.site, m.readings, m.first_ts, m.last_ts, m.energy_kwh) for m in stats.meters]
    assert got == [
        ("h-weather", "hall", 2, T0 + H, T0 + 2 * H, 0.0),
        ("o-main", "office", 2, T0 + M30, T0 + H, 0.75),
        ("p-gas", "plant", 2, T0 + H, T0 + 2 * H, 12.0),
        ("p-main", "plant", 4, T0 + M30, T0 + 2 * H, 10.0),
    ]
    assert stats.dead_letters == 1


def test_dead_letters_round_trip(store: Store) -> None:
    # Received times are kept to the millisecond at least; letters of the same instant
    # come back newest-written first.
    letters = [
        DeadLetter(T0 + timedelta(milliseconds=123), "greenpipe/v1/plant/p-main",
                   bytes(range(256)), "payload.bad_json", "not JSON: \"\\x00\"\nline 2"),
        DeadLetter(T0 + timedelta(seconds=1), "topic with spaces/工場", b"",
                   "payload.empty", "空のペイロード"),
        DeadLetter(T0 + timedelta(seconds=1), "same/instant", b'{"v": 1}\n',
                   "payload.schema", "missing key 'ts'; commas, = and spaces"),
        DeadLetter(T0 + timedelta(seconds=2), "t", b"\xff\xfe\x00", "payload.bad_utf8", "x"),
    ]
    store.write_dead_letters(letters[:2])
    store.write_dead_letters(letters[2:])
    store.write_dead_letters([])
    got = store.read_dead_letters()
    assert got == [letters[3], letters[2], letters[1], letters[0]]
    assert store.read_dead_letters(limit=2) == [letters[3], letters[2]]
    assert store.stats().dead_letters == 4


def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2025, 4, 1)
    with pytest.raises(ValueError, match="no UTC offset"):
        store.read(naive, T0 + H, H)
    with pytest.raises(ValueError, match="no UTC offset"):
        store.read(T0, naive + 2 * H, H)
    with pytest.raises(ValueError):
        _r("p-main", "plant", naive, energy_kwh=1.0)


HOSTILE_METERS = [
    'a" OR "1"="1',
    "x' OR ''='",
    "工場 1,= メーター",
    '"); DROP MEASUREMENT energy; --',
    "semi;colon WHERE time > 0",
]


def test_hostile_and_non_ascii_names_round_trip(store: Store) -> None:
    sites = ["site 'quoted'", 'サイト,="x"', "plant"]
    readings = [
        _r(meter, sites[i % len(sites)], T0 + M30 * (i + 1), energy_kwh=float(2 ** i))
        for i, meter in enumerate(HOSTILE_METERS)
    ]
    store.write(readings)
    day = timedelta(days=1)
    frame = store.read(T0, T0 + day, day)
    assert rows(frame) == sorted(
        (m, iso(T0), float(2 ** i), None, None, 1) for i, m in enumerate(HOSTILE_METERS))
    for i, meter in enumerate(HOSTILE_METERS):
        only = store.read(T0, T0 + day, day, meters=[meter])
        assert rows(only) == [(meter, iso(T0), float(2 ** i), None, None, 1)]
    by_site = store.read(T0, T0 + day, day, group_by="site", sites=[sites[1]])
    assert rows(by_site) == [(sites[1], iso(T0), 2.0 + 16.0, None, None, 2)]
    assert sorted(store.latest()) == sorted(HOSTILE_METERS)
    assert {r.site_id for r in store.latest().values()} == set(sites)
    assert [m.meter for m in store.stats().meters] == sorted(HOSTILE_METERS)
    # The data is intact after all those names went through queries.
    assert store.stats().meters and sum(m.readings for m in store.stats().meters) == 5


def test_forecast_and_savings_records(store: Store) -> None:
    from dataclasses import replace

    from greenpipe.results import ForecastRecord, SavingsRecord

    site = ForecastRecord("run-a", T0, "site", '工場 "x",=1', 2025, 1.0, 2.0, 3.0,
                          target_fy=2030, base_fy=2013, probability_meeting=0.25,
                          model='{"method": "prophet"}', warnings=("a.b", "c.d"))
    city = ForecastRecord("run-a", T0, "city", "city", 2025, 4.0, 5.0, 6.0, target_fy=2030)
    assert store.read_forecasts() == []
    assert store.write_forecasts([site, city]) == 2
    store.write_forecasts([replace(city, co2_t_p50=5.5)])  # same run and key: replaces
    assert store.read_forecasts() == [replace(city, co2_t_p50=5.5), site]
    # A run created at the same instant: the greater run id is the newest.
    store.write_forecasts([replace(city, run_id="run-b")])
    assert store.read_forecasts() == [replace(city, run_id="run-b")]
    assert store.read_forecasts("run-a") == [replace(city, co2_t_p50=5.5), site]
    assert store.read_forecasts("x' OR ''='") == []
    null_test = SavingsRecord("run-s", T0, "o-main", "office", "", "daily", T0 - 400 * H,
                              T0 - 35 * H, T0 - 35 * H, T0, 9.0, 10.0, 1.0, 0.5, 1.5, 0.9,
                              passes_ashrae=True)
    assert store.write_savings([null_test]) == 1
    assert store.read_savings() == [null_test]


def test_records_with_every_optional_number_missing_round_trip(store: Store) -> None:
    """Issue 14: a savings record of NaNs was written without those fields to InfluxDB and
    could not be read back (``SavingsRecord.__init__() missing 5 required ...``)."""
    import math
    from dataclasses import fields

    from greenpipe.results import BaselinePoint, ForecastRecord, SavingsRecord, record_to_row

    nan = math.nan
    savings = SavingsRecord("run-nan", T0, "o-main", "office", "", "daily", T0 - 400 * H,
                            T0 - 35 * H, T0 - 35 * H, T0, nan, nan, nan, nan, nan, nan)
    forecast = ForecastRecord("run-nan", T0, "site", "office", 2025, nan, nan, nan)
    point = BaselinePoint("run-nan", T0, "o-main", "office", "", T0 - 24 * H,
                          nan, nan, nan, nan)
    assert store.write_savings([savings]) == 1
    assert store.write_forecasts([forecast]) == 1
    assert store.write_baseline_points([point]) == 1
    for written, read in ((savings, store.read_savings()), (forecast, store.read_forecasts()),
                          (point, store.read_baseline_points())):
        assert len(read) == 1
        # NaN != NaN: compare the flat rows, where NaN and None are both None.
        assert record_to_row(read[0]) == record_to_row(written)
        for f in fields(written):
            value, sent = getattr(read[0], f.name), getattr(written, f.name)
            if isinstance(sent, float) and math.isnan(sent):
                assert isinstance(value, float) and math.isnan(value), f.name
            else:
                assert value == sent, f.name


def test_baseline_points_round_trip(store: Store) -> None:
    from dataclasses import replace

    from greenpipe.results import BaselinePoint

    day = timedelta(days=1)
    jst_midnight = T0 - 9 * H  # 2025-04-01 00:00 JST

    def point(run: str, meter: str, measure: str, i: int, created: datetime = T0
              ) -> BaselinePoint:
        return BaselinePoint(run, created, meter, "plant" if meter.startswith("p") else "office",
                             measure, jst_midnight + i * day, 100.0 + i, 110.25 + i,
                             104.5 + i, 116.125 + i)

    assert store.read_baseline_points() == []
    led = [point("run-a", "p-main", "工場 LED, \"x\"=1", i) for i in (1, 0)]
    null = [point("run-a", "o-main", "", i) for i in range(3)]
    assert store.write_baseline_points([*led, *null]) == 5
    # Sorted by meter, measure, then day; an empty measure (null test) round-trips as "".
    assert store.read_baseline_points() == [*null, led[1], led[0]]
    assert store.read_baseline_points(meter_ids=["p-main"]) == [led[1], led[0]]
    assert store.read_baseline_points(meter_ids=["p-main", "o-main"]) == [*null, led[1], led[0]]
    assert store.read_baseline_points(meter_ids=[]) == []
    # Same run, meter, measure and day: replaces.
    store.write_baseline_points([replace(null[1], observed_kwh=0.5, predicted_kwh_upper=1e6)])
    got = store.read_baseline_points(meter_ids=["o-main"])
    assert got == [null[0], replace(null[1], observed_kwh=0.5, predicted_kwh_upper=1e6), null[2]]
    # A later run is the newest by created_at; the older one stays readable by id.
    later = [point("run-0", "o-main", "", 0, created=T0 + H)]
    store.write_baseline_points(later)
    assert store.read_baseline_points() == later
    assert store.read_baseline_points("run-a", ["p-main"]) == [led[1], led[0]]
    # Created at the same instant: the greater run id is the newest.
    tied = [point("run-z", "p-main", "", 5, created=T0 + H)]
    store.write_baseline_points(tied)
    assert store.read_baseline_points() == tied
    assert store.read_baseline_points("x' OR ''='") == []
    assert store.read_baseline_points("run-a", ["x' OR ''='"]) == []


def test_forecast_without_a_target_is_replaced_too(store: Store) -> None:
    from dataclasses import replace

    from greenpipe.results import ForecastRecord

    city = ForecastRecord("run-a", T0, "city", "city", 2025, 4.0, 5.0, 6.0)  # no target
    store.write_forecasts([city])
    store.write_forecasts([replace(city, co2_t_p50=5.5)])
    assert store.read_forecasts() == [replace(city, co2_t_p50=5.5)]


def test_findings_round_trip_and_replace_by_id(store: Store) -> None:
    from dataclasses import replace

    from greenpipe.finding import Finding, finding_id

    jst = T0 - 9 * H
    waste = Finding(finding_id("waste.off_hours_base_load", "p-main"),
                    "waste.off_hours_base_load", "plant", "p-main", jst, jst + 24 * H,
                    12345.5, 5.987, 2.5e5, "high", "週末のコンプレッサー停止", "Stop compressors",
                    evidence={"excess_kw": 40.25, "floor_kw": 100.0, "since": "2025-03-01",
                              "note": '工場 "x",=1\\'},
                    first_seen=T0, last_seen=T0 + H)
    spike = Finding(finding_id("demand.peak", "o-main"), "demand.peak", "office", "o-main",
                    jst, jst + H, 0.0, 0.0, 1.2e5, "low", "起動の分散", "Stagger start-ups",
                    key="2025-04", first_seen=T0 + H, last_seen=T0 + H)
    assert store.read_findings() == []
    assert store.write_findings([spike, waste]) == 2
    assert store.read_findings() == sorted([waste, spike], key=lambda f: f.id)
    # Same id: the new status (who, when, note) replaces the stored finding.
    acked = replace(waste, status="acknowledged", status_by="tanaka", status_at=T0 + 2 * H,
                    status_note="修理手配済み", annual_kwh=13000.0)
    store.write_findings([acked])
    assert sorted(store.read_findings(), key=lambda f: f.id) == sorted(
        [acked, spike], key=lambda f: f.id)
    assert store.read_findings(status="acknowledged") == [acked]
    assert store.read_findings(status="new") == [spike]
    assert store.read_findings(status="x' OR ''='") == []


def test_every_store_implements_the_protocol_exactly(store: Store) -> None:
    import inspect

    assert isinstance(store, Store)
    for name, member in vars(Store).items():
        if name.startswith("_") or not callable(member):
            continue
        expected = inspect.signature(member)
        actual = inspect.signature(getattr(type(store), name))
        assert list(actual.parameters) == list(expected.parameters), name
        for p_name, param in expected.parameters.items():
            got = actual.parameters[p_name]
            assert (got.kind, got.default) == (param.kind, param.default), (name, p_name)


def test_sequence_states_round_trip_and_the_last_wins(store: Store) -> None:
    from dataclasses import replace

    from greenpipe.model import SequenceState

    assert store.read_sequence_states() == {}
    a = SequenceState("o-main", "office", 41, T0, T0 - 3 * H, messages=40, lost=3,
                      restarts=1, holes=((2, 3), (40, 40)), old_holes=((7, 7),))
    b = SequenceState('工場 "x",=1', "factory", 0, T0, T0)
    store.write_sequence_states([a, b])
    assert store.read_sequence_states() == {a.meter_id: a, b.meter_id: b}
    newer = replace(a, high_seq=42, messages=41, lost=2, holes=((2, 2), (40, 40)))
    store.write_sequence_states([newer])
    assert store.read_sequence_states() == {a.meter_id: newer, b.meter_id: b}


def test_broker_status_round_trips_and_the_last_wins(store: Store) -> None:
    from greenpipe.model import BrokerStatus

    assert store.read_broker_status() == []
    a = BrokerStatus("collector-a", T0, 760, "mosquitto version 2.0.11")
    b = BrokerStatus("collector-b", T0, None)
    store.write_broker_status(a)
    store.write_broker_status(b)
    assert store.read_broker_status() == [a, b]
    later = BrokerStatus("collector-a", T0 + H, 800, "mosquitto version 2.0.11")
    store.write_broker_status(later)
    assert store.read_broker_status() == [later, b]


def test_production_is_stored_apart_from_energy(store: Store) -> None:
    from greenpipe.model import ProductionRecord

    recs = [
        ProductionRecord("p-out", "plant", T0 + H, 10.0),
        ProductionRecord("p-out", "plant", T0 + 2 * H, 12.5),
        ProductionRecord("p-out", "plant", T0 + 3 * H, 7.0),
        ProductionRecord("o-out", "office", T0 + H, 1.0),
    ]
    assert store.write_production(recs) == 4
    # Same meter and time again: the last value wins.
    store.write_production([ProductionRecord("p-out", "plant", T0 + 3 * H, 8.0)])
    frame = store.read_production(T0, T0 + 3 * H, 2 * H)
    assert list(frame.columns) == ["meter", "site", "bucket", "quantity", "records"]
    assert frame["quantity"].dtype == "float64" and frame["records"].dtype == "int64"
    got = [(r.meter, r.site, r.bucket.isoformat(), r.quantity, r.records)
           for r in frame.itertuples(index=False)]
    # Buckets (b, b + 2h]: T0+1h and T0+2h fall in (T0, T0+2h]; T0+3h in (T0+2h, T0+4h].
    assert got == [("o-out", "office", iso(T0), 1.0, 1),
                   ("p-out", "plant", iso(T0), 22.5, 2),
                   ("p-out", "plant", iso(T0 + 2 * H), 8.0, 1)]
    only = store.read_production(T0, T0 + 4 * H, 4 * H, sites=["plant"])
    assert only["quantity"].tolist() == [30.5]
    assert store.read_production(T0, T0 + 4 * H, H, meters=[]).empty
    # Production never shows up as energy.
    assert store.read(T0, T0 + 4 * H, H).empty


# ---------------------------------------------------------------- rollups equal raw sums

_METERS = (("p-main", "plant", "industry"), ("p-gas", "plant", "industry"),
           ("o-main", "office", "commercial"))


def _fresh(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if kind == "sqlite":
        return SqliteStore(tmp_path / f"rollup-{uuid.uuid4().hex[:8]}.db", CATALOG)
    from greenpipe.stores.influx import InfluxStore
    from greenpipe.stores.influx_admin import init

    server = request.getfixturevalue("influxdb")
    influx = InfluxStore(server.store_url(f"rollup_{uuid.uuid4().hex[:12]}"), CATALOG)
    init(influx)
    return influx


_SECTOR_OF = {"plant": "industry", "office": "commercial"}


def _expected(last: dict[tuple[str, int], Reading], group: str, width: timedelta,
              offset: timedelta, kinds: list[str] | None = None
              ) -> dict[tuple[str, datetime], tuple[float, float, int]]:
    """Hand aggregation of the readings that won (energy sum, power mean, count)."""
    acc: dict[tuple[str, datetime], list[Reading]] = {}
    for (meter, _), r in last.items():
        if kinds is not None and CATALOG.kind_of(meter) not in kinds:
            continue
        key = {"meter": meter, "site": r.site_id, "sector": _SECTOR_OF[r.site_id]}[group]
        n = (r.ts - timedelta(microseconds=1) - offset - datetime(1970, 1, 1, tzinfo=UTC)) // width
        b = datetime(1970, 1, 1, tzinfo=UTC) + n * width + offset
        acc.setdefault((key, b), []).append(r)
    return {k: (sum(x.energy_kwh or 0.0 for x in v),
                sum(x.power_kw or 0.0 for x in v) / len(v), len(v)) for k, v in acc.items()}


def _assert_sums(frame: pd.DataFrame, group: str,
                 want: dict[tuple[str, datetime], tuple[float, float, int]], case: object
                 ) -> None:
    """The frame's (group, bucket) rows equal the hand sums: energy, power mean, count."""
    got = {(g, b.to_pydatetime()): (e, p, n) for g, b, e, p, n in zip(
        frame[group], frame["bucket"], frame["energy_kwh"], frame["power_kw"],
        frame["readings"], strict=True)}
    assert sorted(got) == sorted(want), case
    for key, (e, p, n) in want.items():
        assert got[key][2] == n
        assert got[key][0] == pytest.approx(e, rel=1e-9, abs=1e-9)
        assert got[key][1] == pytest.approx(p, rel=1e-9, abs=1e-9)


_reading_st = st.tuples(st.sampled_from(range(len(_METERS))),
                        st.integers(min_value=1, max_value=4 * 48),  # 30-min steps, 4 days
                        st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
                        st.floats(min_value=0.0, max_value=500.0, allow_nan=False),
                        st.booleans())  # True: the reading names the other site (moved)


def _write_batches(store: Store, kind: str,
                   batches: list[list[tuple[int, int, float, float, bool]]],
                   t0: datetime) -> dict[tuple[str, int], Reading]:
    """Write each batch of ``_reading_st`` tuples (meter index, 30-min step after ``t0``,
    energy, power, moved) as one store write; return the reading that won per (meter, step).
    A moved reading names the meter's other site: SQLite keys readings by (meter, ts); on
    InfluxDB the site is a tag, so a moved reading would be a second series, and it is not
    moved there."""
    last: dict[tuple[str, int], Reading] = {}
    for batch in batches:
        readings = []
        for i, step, energy, power, moved in batch:
            meter, site, _ = _METERS[i]
            if moved and kind == "sqlite":
                site = {"plant": "office", "office": "plant"}[site]
            r = _r(meter, site, t0 + step * M30, energy_kwh=energy, power_kw=power)
            readings.append(r)
            last[(meter, step)] = r
        store.write(readings)
    return last


@pytest.mark.parametrize("kind", ["sqlite", "influx"])
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_reading_st, min_size=1, max_size=25), min_size=1,
                        max_size=4))
def test_rollups_equal_raw_sums_over_late_and_duplicate_readings(
        kind: str, batches: list[list[tuple[int, int, float, float, bool]]],
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Batches arrive out of order and repeat (meter, ts) with new values (corrections):
    hourly and JST-daily reads and rollup reads (SQLite: kept in the write transaction;
    InfluxDB: energy_1h/energy_1d after `db rollup`) equal the hand sums of the readings
    that won, by meter, site and sector, for all meter kinds and for one. Daily reads by
    site and sector come from the per-site and per-sector daily rollups; a correction that
    moves a meter's reading to another site moves it between those groups."""
    store = _fresh(kind, request, tmp_path)
    try:
        last = _write_batches(store, kind, batches, T0)
        end = T0 + timedelta(days=5)
        start = T0 - timedelta(hours=9)  # JST midnight: the daily rollup's grid
        if kind == "influx":  # InfluxDB's rollups are the `greenpipe db rollup` job
            from greenpipe.stores.influx_admin import rollup_daily, rollup_hourly

            rollup_hourly(store, start, end + timedelta(days=1))  # type: ignore[arg-type]
            rollup_daily(store, start, end + timedelta(days=1))  # type: ignore[arg-type]
        for (width, offset), how in itertools.product(
                ((H, timedelta(0)), (timedelta(days=1), timedelta(hours=-9))),
                (store.read, store.read_rollup)):
            for group, kinds in itertools.product(("meter", "site", "sector"),
                                                  (None, ["electricity"])):
                frame = how(start, end + offset + timedelta(days=1), width,
                            group_by=group, offset=offset, kinds=kinds)
                _assert_sums(frame, group, _expected(last, group, width, offset, kinds),
                             (width, group, kinds))
        # A day by meter, site and sector (the dashboard's reads of today; on InfluxDB
        # summed from the raw points in Python).
        day = start + timedelta(days=1)
        for group, width in (("meter", H), ("site", 6 * H), ("sector", timedelta(days=1))):
            _assert_sums(store.read(day, day + timedelta(days=1), width, group_by=group),
                         group, _expected({k: r for k, r in last.items()
                                           if day < r.ts <= day + timedelta(days=1)},
                                          group, width, timedelta(0)), ("one day", group))
    finally:
        store.close()


def test_sqlite_reads_aligned_ranges_from_the_rollups(tmp_path: Path) -> None:
    """The SQLite store answers hour- and JST-day-aligned reads from the rollup tables
    (read with the raw rows deleted, to show where the answer comes from)."""
    from greenpipe.stores import sqlite_rollup

    s = SqliteStore(tmp_path / "r.db", CATALOG)
    s.write(CITY)
    assert s.day_offset_ms == -9 * 3_600_000
    day, hour, jst = 86_400_000, 3_600_000, -9 * 3_600_000
    # UTC days are not on the JST-day grid: they come from the hourly rollup.
    assert sqlite_rollup.plan(0, 2 * day, day, 0, jst) == [("rollup_1h", 0, 2 * day)]
    # JST days from the daily rollup, the hours around them hourly, the minutes raw.
    lo, hi = 15 * hour - 90 * 60_000, 15 * hour + day + 2 * hour + 60_000
    assert sqlite_rollup.plan(lo, hi, day, jst, jst) == [
        ("readings", lo, 14 * hour), ("rollup_1h", 14 * hour, 15 * hour),
        ("rollup_1d", 15 * hour, 15 * hour + day),
        ("rollup_1h", 15 * hour + day, 17 * hour + day), ("readings", 17 * hour + day, hi)]
    assert sqlite_rollup.plan(0, hour, 1800_000, 0, jst) == []  # 30-min buckets: raw only
    start = datetime(2025, 3, 31, 15, tzinfo=UTC)
    daily_before = rows(s.read(start, start + timedelta(days=1), timedelta(days=1),
                               offset=timedelta(hours=-9)))
    by_group = {g: rows(s.read(start, start + timedelta(days=1), timedelta(days=1),
                               offset=timedelta(hours=-9), group_by=g, kinds=["electricity"]))
                for g in ("site", "sector")}
    s._conn.execute("DELETE FROM readings")
    daily = rows(s.read(start, start + timedelta(days=1), timedelta(days=1),
                        offset=timedelta(hours=-9)))
    assert daily == daily_before
    # Daily reads by site and by sector come from their own rollups, not from meter-days.
    assert sqlite_rollup.daily_table("sector", False, False) == "rollup_sector_1d"
    assert sqlite_rollup.daily_table("sector", False, True) == "rollup_site_1d"
    assert sqlite_rollup.daily_table("site_id", True, False) == "rollup_1d"
    s._conn.execute("DELETE FROM rollup_1d")
    for g, before in by_group.items():
        assert rows(s.read(start, start + timedelta(days=1), timedelta(days=1),
                           offset=timedelta(hours=-9), group_by=g,
                           kinds=["electricity"])) == before
    assert ("plant", "2025-03-31T15:00:00+00:00", 10.0, 25.0, None, 4) in by_group["site"]
    assert daily[0] == ("h-weather", "2025-03-31T15:00:00+00:00", None, None, 12.0, 2)
    assert ("p-main", "2025-03-31T15:00:00+00:00", 10.0, 25.0, None, 4) in daily
    assert rows(s.read(T0, T0 + H, H)) == [("h-weather", iso(T0), None, None, 10.0, 1),
                                            ("o-main", iso(T0), 0.75, 2.0, None, 2),
                                            ("p-gas", iso(T0), 5.0, None, None, 1),
                                            ("p-main", iso(T0), 3.0, 15.0, None, 2)]
    # An unaligned read takes its whole hour from the rollup, its edge from the (now
    # empty) raw rows: p-main 3.0 + 4.0 kWh at T0+90 min and T0+2 h, p-gas 7.0 at T0+2 h.
    assert rows(s.read(T0 + M30, T0 + 2 * H, H)) == [
        ("h-weather", iso(T0 + H), None, None, 14.0, 1),
        ("p-gas", iso(T0 + H), 7.0, None, None, 1),
        ("p-main", iso(T0 + H), 7.0, 35.0, None, 2)]
    s.close()
    # Reopening an old file without rollups (or with another day) rebuilds them once.
    again = SqliteStore(tmp_path / "r.db", CATALOG, day_offset=timedelta(0))
    assert again.day_offset_ms == 0
    assert again.read(T0, T0 + timedelta(days=1), timedelta(days=1)).empty
    again.close()


def test_sqlite_store_from_before_site_and_sector_rollups_gets_them_on_open(
        tmp_path: Path) -> None:
    """A version-1 file (hourly and daily rollups only) gains the per-site and per-sector
    days from its rollup_1d on the next open, without rebuilding from the raw rows."""
    s = SqliteStore(tmp_path / "v1.db", CATALOG)
    s.write(CITY)
    start = datetime(2025, 3, 31, 15, tzinfo=UTC)
    args = (start, start + timedelta(days=2), timedelta(days=1))
    want = rows(s.read(*args, offset=timedelta(hours=-9), group_by="sector"))
    s._conn.executescript("DELETE FROM rollup_site_1d; DELETE FROM rollup_sector_1d; "
                          "DELETE FROM readings; "  # shows that the migration reads rollup_1d
                          "UPDATE meta SET value = '1:-32400000' WHERE key = 'rollup';")
    s.close()
    again = SqliteStore(tmp_path / "v1.db", CATALOG)
    assert rows(again.read(*args, offset=timedelta(hours=-9), group_by="sector")) == want
    assert want and again._conn.execute(
        "SELECT value FROM meta WHERE key = 'rollup'").fetchone()[0] == "4:-32400000"
    again.close()


def test_sqlite_store_from_before_monthly_rollups_gets_them_on_open(tmp_path: Path) -> None:
    """A version-2 file (no ``rollup_1mo``) gains the months from its rollup_1d on open."""
    s = SqliteStore(tmp_path / "v2.db", CATALOG)
    s.write(CITY)
    start, end = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 4, 30, 15, tzinfo=UTC)
    want = rows(s.read_monthly(start, end, tz="Asia/Tokyo"))
    s._conn.executescript("DELETE FROM rollup_1mo; DELETE FROM readings; "
                          "UPDATE meta SET value = '2:-32400000' WHERE key = 'rollup';")
    s.close()
    again = SqliteStore(tmp_path / "v2.db", CATALOG)
    assert want and rows(again.read_monthly(start, end, tz="Asia/Tokyo")) == want
    again.close()


def test_sqlite_store_from_before_site_months_gets_them_on_open(tmp_path: Path) -> None:
    """A version-3 file (no ``rollup_site_1mo``) gains the site months from its rollup_1mo
    on open: a one-bucket read over whole months by site is the same as before."""
    s = SqliteStore(tmp_path / "v3.db", CATALOG)
    s.write(CITY)
    start, end = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 4, 30, 15, tzinfo=UTC)
    offset = (start - datetime(1970, 1, 1, tzinfo=UTC)) % (end - start)
    want = rows(s.read(start, end, end - start, group_by="site", offset=offset))
    s._conn.executescript("DELETE FROM rollup_site_1mo; DELETE FROM readings; "
                          "DELETE FROM rollup_1d; DELETE FROM rollup_site_1d; "
                          "UPDATE meta SET value = '3:-32400000' WHERE key = 'rollup';")
    s.close()
    again = SqliteStore(tmp_path / "v3.db", CATALOG)
    assert want and rows(again.read(start, end, end - start, group_by="site",
                                    offset=offset)) == want
    again.close()


# Four days around the JST month end: 2025-04-29 00:00 JST to 2025-05-03 00:00 JST.
_MONTH_T0 = datetime(2025, 4, 28, 15, tzinfo=UTC)


def _expected_months(last: dict[tuple[str, int], Reading], group: str, tz: str,
                     kinds: list[str] | None = None
                     ) -> dict[tuple[str, datetime], tuple[float, float, int]]:
    """Hand sums per local month of ``tz`` (the month of ``ts - 1 µs``: the interval that
    ends at local midnight on the 1st belongs to the month before)."""
    zone = ZoneInfo(tz)
    acc: dict[tuple[str, datetime], list[Reading]] = {}
    for (meter, _), r in last.items():
        if kinds is not None and CATALOG.kind_of(meter) not in kinds:
            continue
        key = {"meter": meter, "site": r.site_id, "sector": _SECTOR_OF[r.site_id]}[group]
        local = (r.ts - timedelta(microseconds=1)).astimezone(zone)
        month = datetime(local.year, local.month, 1, tzinfo=zone).astimezone(UTC)
        acc.setdefault((key, month), []).append(r)
    return {k: (sum(x.energy_kwh or 0.0 for x in v),
                sum(x.power_kw or 0.0 for x in v) / len(v), len(v)) for k, v in acc.items()}


@pytest.mark.parametrize("kind", ["sqlite", "influx"])
@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_reading_st, min_size=1, max_size=25), min_size=1,
                        max_size=4))
def test_monthly_rollup_equals_raw_sums_over_late_and_duplicate_readings(
        kind: str, batches: list[list[tuple[int, int, float, float, bool]]],
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Batches around a month end arrive out of order and repeat (meter, ts) with new values;
    ``read_monthly`` (SQLite: rollup_1mo kept in the write transaction; InfluxDB: energy_1mo
    after `db rollup`, and raw months outside its coverage) equals the hand sums per local
    month, by meter, site and sector, including a reading at local midnight on the 1st
    (it closes April). A zone with DST (London) is answered by one read per month.
    One-bucket reads over whole months by site and sector (SQLite: rollup_site_1mo in the
    same transaction; InfluxDB: energy_site_1mo by the job) equal the hand sums too."""
    store = _fresh(kind, request, tmp_path)
    try:
        boundary = [(0, 96, 7.5, 1.0, False)]  # 2025-05-01 00:00 JST exactly
        last = _write_batches(store, kind, [*batches, boundary], _MONTH_T0)
        start, end = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 6, 30, 15, tzinfo=UTC)
        if kind == "influx":  # InfluxDB's rollups are the `greenpipe db rollup` job
            from greenpipe.stores.influx_admin import record_coverage, rollup_daily, rollup_hourly

            rollup_hourly(store, start, end)  # type: ignore[arg-type]
            rollup_daily(store, start, end)  # type: ignore[arg-type]
            # Covered up to mid-May: April from energy_1mo, May and June from raw reads.
            record_coverage(store, start, datetime(2025, 5, 15, tzinfo=UTC))  # type: ignore[arg-type]
        cases: list[tuple[str, datetime, datetime]] = [("Asia/Tokyo", start, end)]
        cases.append(("Europe/London", datetime(2025, 3, 31, 23, tzinfo=UTC),
                      datetime(2025, 5, 31, 23, tzinfo=UTC)))
        for (tz, lo, hi), group, kinds in itertools.product(
                cases, ("meter", "site", "sector"), (None, ["electricity"])):
            frame = store.read_monthly(lo, hi, tz=tz, group_by=group, kinds=kinds)
            assert list(frame.columns) == [group, *READ_COLUMNS]
            _assert_sums(frame, group, _expected_months(last, group, tz, kinds),
                         (tz, group, kinds))
        # One bucket over whole JST months (a fiscal year's totals: SQLite rollup_site_1mo
        # by site and sector, InfluxDB energy_site_1mo where covered) and over April
        # without its first day (the days around the months from the daily rollups).
        for lo, group, kinds in itertools.product(
                (start, start + timedelta(days=1)), ("meter", "site", "sector"),
                (None, ["electricity"])):
            offset = (lo - datetime(1970, 1, 1, tzinfo=UTC)) % (end - lo)
            frame = store.read_rollup(lo, end, end - lo, group_by=group, offset=offset,
                                      kinds=kinds)
            _assert_sums(frame, group, _expected(last, group, end - lo, offset, kinds),
                         (lo, group, kinds))
    finally:
        store.close()


def test_read_monthly_refuses_ranges_off_the_month_starts(store: Store) -> None:
    """Month reads take local midnights on the 1st; anything else is a ValueError."""
    with pytest.raises(ValueError, match="not a month start in Asia/Tokyo"):
        store.read_monthly(T0, datetime(2025, 4, 30, 15, tzinfo=UTC), tz="Asia/Tokyo")
    with pytest.raises(ValueError, match="must be after start"):
        store.read_monthly(datetime(2025, 4, 30, 15, tzinfo=UTC),
                           datetime(2025, 3, 31, 15, tzinfo=UTC), tz="Asia/Tokyo")


def _hand_stats(readings: list[Reading]) -> list[tuple[str, str, int, datetime, datetime, float]]:
    """Per-meter (meter, site, readings, first, last, energy) of distinct readings, by hand."""
    by_meter: dict[str, list[Reading]] = {}
    for r in readings:
        by_meter.setdefault(r.meter_id, []).append(r)
    return [(m, rs[0].site_id, len(rs), min(r.ts for r in rs), max(r.ts for r in rs),
             sum(r.energy_kwh or 0.0 for r in rs)) for m, rs in sorted(by_meter.items())]


def test_stats_after_rollup_runs_equal_the_raw_numbers(store: Store) -> None:
    """stats() and latest() after the rollup job (InfluxDB: `db rollup` every 6 h, so the
    per-meter totals of sealed days grow run by run) equal the hand numbers of every reading,
    including one written after the last run and a late one inside the covered span that
    a later run's window covers."""
    readings = [_r(meter, site, T0 + k * M30, energy_kwh=0.25 * (k % 9))
                for k in range(1, 4 * 48 + 1)
                for meter, site in (("p-main", "plant"), ("o-main", "office")) if k % 5]
    store.write(readings)

    def job(at: datetime, hours: float) -> None:
        if isinstance(store, SqliteStore):
            return  # SQLite keeps its rollups in the write transaction
        from greenpipe.stores.influx_admin import run_rollups

        run_rollups(store, hours=hours, every_s=None, now=lambda: at)  # type: ignore[arg-type]

    job(T0 + timedelta(days=2), 24 * 3)  # a backfill, then the periodic job
    for step in range(1, 9):
        job(T0 + timedelta(days=2) + step * 6 * H, 6)
    want = _hand_stats(readings)

    def got() -> list[tuple[str, str, int, datetime | None, datetime | None, float]]:
        return [(m.meter, m.site, m.readings, m.first_ts, m.last_ts, m.energy_kwh)
                for m in store.stats().meters]

    def check(expected: list[tuple[str, str, int, datetime, datetime, float]]) -> None:
        actual = got()
        assert [row[:5] for row in actual] == [row[:5] for row in expected]
        assert_allclose([row[5] for row in actual], [row[5] for row in expected], rtol=1e-12)
        assert store.has_readings() is True
        newest = {m: r.ts for m, r in store.latest().items()}
        assert newest == {row[0]: row[4] for row in expected}

    check(want)
    after = _r("p-main", "plant", T0 + timedelta(days=5, minutes=1), energy_kwh=7.5)
    store.write([after])  # after the last run, after the covered span
    check(_hand_stats([*readings, after]))
    late = _r("o-main", "office", T0 + timedelta(days=1, minutes=1), energy_kwh=3.25)
    before = _r("o-main", "office", T0 - timedelta(days=3), energy_kwh=1.0)  # before coverage
    gone = _r("h-weather", "hall", T0 + timedelta(days=1, hours=1), temp_air_c=4.0)  # silent since
    store.write([late, before, gone])
    job(T0 + timedelta(days=4, hours=6), 24 * 3 + 6)  # a catch-up run over the late reading
    check(_hand_stats([*readings, after, late, before, gone]))
    job(T0 + timedelta(days=4, hours=6), 6)  # the next periodic run seals up to day 4
    check(_hand_stats([*readings, after, late, before, gone]))
    assert store.latest()["o-main"] == max((r for r in readings if r.meter_id == "o-main"),
                                            key=lambda r: r.ts)


def test_sqlite_one_bucket_reads_take_whole_months_from_the_monthly_rollups(
        tmp_path: Path) -> None:
    """A read whose one bucket spans its range (a fiscal year's site totals) sums the
    range's whole months from rollup_site_1mo (by site or sector; rollup_1mo by meter) and
    only the days around them from the daily rollups: equal to the raw read, and unchanged
    when April's and May's days are gone."""
    from greenpipe.stores import sqlite_rollup

    s = SqliteStore(tmp_path / "m.db", CATALOG)
    start = datetime(2025, 3, 20, 15, tzinfo=UTC)  # 2025-03-21 00:00 JST
    end = datetime(2025, 6, 9, 15, tzinfo=UTC)  # 2025-06-10 00:00 JST
    s.write([_r(m, site, start + k * H, energy_kwh=0.5 + k % 7, power_kw=float(k % 5))
             for k in range(1, int((end - start) / H) + 1)
             for m, site, _ in _METERS if k % 11])
    width = end - start
    offset = (start - datetime(1970, 1, 1, tzinfo=UTC)) % width
    april, june = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 5, 31, 15, tzinfo=UTC)
    ms = [round(t.timestamp() * 1000) for t in (start, april, june, end)]
    width_ms, offset_ms = round(width.total_seconds() * 1000), round(offset.total_seconds() * 1000)
    pieces = sqlite_rollup.plan(ms[0], ms[3], width_ms, offset_ms, s.day_offset_ms,
                                "rollup_site_1d")
    assert sqlite_rollup.with_months(pieces, ms[0], ms[3], width_ms, offset_ms, s.day_offset_ms,
                                     "rollup_site_1d") == [
        ("rollup_site_1d", ms[0], ms[1]), ("rollup_site_1mo", ms[1], ms[2]),
        ("rollup_site_1d", ms[2], ms[3])]
    want = {g: rows(s.read(start, end, width, group_by=g, offset=offset))
            for g in ("meter", "site", "sector")}
    s._conn.execute("DELETE FROM readings")
    s._conn.execute("DELETE FROM rollup_1d WHERE b_ms >= ? AND b_ms < ?", ms[1:3])
    s._conn.execute("DELETE FROM rollup_site_1d WHERE b_ms >= ? AND b_ms < ?", ms[1:3])
    s._conn.execute("DELETE FROM rollup_sector_1d WHERE b_ms >= ? AND b_ms < ?", ms[1:3])
    for g, before in want.items():
        got = rows(s.read(start, end, width, group_by=g, offset=offset))
        assert [r[:2] + r[-1:] for r in got] == [r[:2] + r[-1:] for r in before]
        assert_allclose([r[2:4] for r in got], [r[2:4] for r in before], rtol=1e-12)
    assert len(want["site"]) == 2 and want["site"][0][1] == start.isoformat()
    s.close()


def test_sqlite_site_months_follow_a_meter_month_that_moves_site(tmp_path: Path) -> None:
    """Every April reading of a meter corrected to name another site (the same meter and
    instants, replaced): the whole month leaves the old site's rollup_site_1mo row."""
    s = SqliteStore(tmp_path / "moved.db", CATALOG)
    start, end = datetime(2025, 3, 31, 15, tzinfo=UTC), datetime(2025, 4, 30, 15, tzinfo=UTC)
    offset = (start - datetime(1970, 1, 1, tzinfo=UTC)) % (end - start)
    instants = [start + k * timedelta(days=3) for k in range(1, 10)]
    s.write([_r("p-main", "plant", ts, energy_kwh=2.0) for ts in instants])
    s.write([_r("p-main", "office", ts, energy_kwh=3.0) for ts in instants])
    got = rows(s.read(start, end, end - start, group_by="site", offset=offset))
    assert [(r[0], r[2], r[-1]) for r in got] == [("office", 27.0, 9)]
    s.close()
