"""InfluxDB administration: ``greenpipe db init``, ``db check`` and ``db rollup``.

``init`` creates the database (1.x, with a retention policy), or the bucket plus the DBRP
mapping that lets InfluxQL reach it (2.x), or the database (3.x). ``check`` reports the
server version and whether the token and database work. ``rollup`` computes hourly sums
into ``energy_1h``, then local-day sums of those into ``energy_1d``, each with an InfluxQL
SELECT whose result is written back through the normal write path: a client-side job that
behaves the same on 1.x, 2.x and 3.x (3.x has no continuous queries and 2.x runs them only
as Flux tasks).
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from greenpipe.errors import ConfigError, StoreError
from greenpipe.stores import line_protocol
from greenpipe.stores.base import month_of_day
from greenpipe.stores.influx import (
    DAILY_ROLLUP_MEASUREMENT,
    MEASUREMENT,
    MONTHLY_MEASUREMENT,
    ROLLUP_MEASUREMENT,
    ROLLUP_STATE_MEASUREMENT,
    SECTOR_DAILY_MEASUREMENT,
    SITE_DAILY_MEASUREMENT,
    SITE_MONTHLY_MEASUREMENT,
    InfluxStore,
    api_for_version,
    parse_version,
)
from greenpipe.stores.influx_totals import clip_to_retention, update_totals
from greenpipe.stores.influxql import (
    InfluxError,
    classify_http_error,
    ms_of,
    quote_ident,
    time_literal_ns,
)

log = logging.getLogger(__name__)

RETENTION_POLICY = "greenpipe"
"""Name of the retention policy ``db init`` creates on InfluxDB 1.x."""
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def retention_seconds(retention: str) -> int:
    """Return a retention duration such as ``400d`` in seconds; 0 (or empty/INF) is forever."""
    text = retention.strip()
    if text in ("", "0", "INF", "inf"):
        return 0
    m = _DURATION.match(text)
    if not m:
        raise ConfigError("store.retention", retention,
                          "use a duration such as 400d, 52w or 720h (empty keeps data forever)")
    seconds = int(int(m.group(1)) * _SECONDS[m.group(2)])
    if 0 < seconds < 3600:
        raise ConfigError("store.retention", retention, "use at least 1h")
    return seconds


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``db check`` found: the server version, the write API and the database."""

    url: str
    version: str
    api: str
    database: str


def check(store: InfluxStore) -> CheckResult:
    """Check reachability, version, token and database; raise StoreError saying what to fix."""
    version = store.http.ping()
    major, _ = parse_version(version)
    try:
        results = store.http.query(None, "SHOW DATABASES")
    except InfluxError as exc:
        if exc.status == 401:
            raise InfluxError(
                f"InfluxDB {version} at {store.base_url} rejected the token (HTTP 401); set "
                "GREENPIPE_INFLUX_TOKEN or store.token_file to a valid token "
                "(user:password on InfluxDB 1.x)", retryable=False, status=401) from exc
        raise
    names = {str(v[0]) for s in results[0] for v in s.values if v} if results else set()
    if store.database not in names:
        what = "bucket with a DBRP mapping" if major == 2 else "database"
        raise InfluxError(
            f"InfluxDB {version} at {store.base_url} has no {what} named {store.database!r}; "
            "run `greenpipe db init` (or fix the name in store.url)", retryable=False, status=404)
    api = store.api if store._api != "auto" else api_for_version(version)
    return CheckResult(store.base_url, version, api, store.database)


def init(store: InfluxStore, retention: str = "") -> list[str]:
    """Create the database or bucket (and DBRP mapping, retention); return what was done."""
    seconds = retention_seconds(retention)
    version = store.http.ping()
    major, _ = parse_version(version)
    if major == 2:
        return _init_v2(store, seconds)
    if major >= 3:
        return _init_v3(store)
    db = quote_ident(store.database)
    done = [f"InfluxDB {version}: database {store.database!r} created (or already present)"]
    results = store.http.query(None, f"CREATE DATABASE {db}; SHOW RETENTION POLICIES ON {db}")
    if seconds:
        names = {str(v[0]) for s in results[1] for v in s.values if v} if len(results) > 1 \
            else set()
        verb = "ALTER" if RETENTION_POLICY in names else "CREATE"
        store.http.query(None, f"{verb} RETENTION POLICY {quote_ident(RETENTION_POLICY)} ON "
                               f"{db} DURATION {seconds}s REPLICATION 1 DEFAULT")
        done.append(f"retention policy {RETENTION_POLICY!r} keeps {retention} (default)")
    return done


def _init_v2(store: InfluxStore, seconds: int) -> list[str]:
    from influxdb_client import BucketRetentionRules, InfluxDBClient
    from influxdb_client.domain.dbrp_create import DBRPCreate
    from influxdb_client.rest import ApiException
    from influxdb_client.service.dbr_ps_service import DBRPsService

    if not store.org:
        raise ConfigError("store.org", store.org, "InfluxDB 2.x needs the organisation name")
    done = []
    client = InfluxDBClient(url=store.base_url, token=store._token or "", org=store.org,
                            timeout=round(store._timeout_s * 1000))
    try:
        buckets = client.buckets_api()
        bucket = buckets.find_bucket_by_name(store.database)
        if bucket is None:
            rules = [BucketRetentionRules(type="expire", every_seconds=seconds)] if seconds else []
            bucket = buckets.create_bucket(bucket_name=store.database, org=store.org,
                                           retention_rules=rules)
            done.append(f"bucket {store.database!r} created")
        else:
            done.append(f"bucket {store.database!r} already present")
        dbrps = DBRPsService(client.api_client)
        existing = dbrps.get_dbr_ps(org=store.org, db=store.database).content or []
        if not existing:
            dbrps.post_dbrp(DBRPCreate(org=store.org, bucket_id=bucket.id,
                                       database=store.database, retention_policy="autogen",
                                       default=True))
            done.append(f"DBRP mapping {store.database}/autogen -> bucket created")
        else:
            done.append("DBRP mapping already present")
    except ApiException as exc:
        raise classify_http_error(int(exc.status or 0), exc.body, exc.headers,
                                  "InfluxDB 2.x setup") from exc
    finally:
        client.close()
    return done


def _init_v3(store: InfluxStore) -> list[str]:
    import json

    resp = store.http.request(
        "POST", "/api/v3/configure/database", "InfluxDB 3 database creation",
        body=json.dumps({"db": store.database}).encode(),
        headers={"Content-Type": "application/json"},
    )
    if resp.status == 409:
        return [f"database {store.database!r} already present"]
    if resp.status >= 300:
        raise classify_http_error(resp.status, resp.data, resp.headers,
                                  "InfluxDB 3 database creation")
    return [f"database {store.database!r} created (set retention with the influxdb3 CLI)"]


def _floor_hour(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC)
    return ts.replace(minute=0, second=0, microsecond=0)


def rollup_hourly(store: InfluxStore, start: datetime, end: datetime) -> int:
    """Recompute the hourly rollups of every hour overlapping ``(start, end]``.

    Each point of ``energy_1h`` is stamped at the *end* of its hour, like a reading whose
    interval is that hour, so ``read_rollup`` uses the same ``(b, b + w]`` semantics. It
    holds ``energy_kwh`` (sum), ``readings`` and sums and counts of power and temperature
    (so means stay exact). Re-running overwrites, so late data is picked up. Returns the
    number of rollup points written.
    """
    lo = _floor_hour(start)
    hi = _floor_hour(end)
    if hi < end:
        hi += _HOUR
    q = (
        'SELECT SUM("energy_kwh"), SUM("power_kw"), COUNT("power_kw"), SUM("temp_air_c"), '
        f'COUNT("temp_air_c"), COUNT("quality") FROM {quote_ident(MEASUREMENT)} '
        f"WHERE time > {time_literal_ns(lo)} AND time <= {time_literal_ns(hi)} "
        'GROUP BY time(3600000ms, 1ms), "meter", "site", "kind", "sector" fill(none)'
    )
    return _write_rollup(store, ROLLUP_MEASUREMENT, q, 3_600_000)


def _write_rollup(store: InfluxStore, measurement: str, q: str, width_ms: int) -> int:
    """Run a rollup SELECT (six sums per tag set and bucket) and write its points.

    InfluxQL labels a ``GROUP BY time(w, offset + 1ms)`` bucket ``b + 1 ms``; each point is
    stamped at the bucket's end ``b + w``, like a reading whose interval is that bucket.
    """
    lines: list[str] = []
    for series in store.query(q)[0]:
        for t, energy, p_sum, p_n, t_sum, t_n, n in series.values:
            fields: dict[str, Any] = {
                "energy_kwh": energy, "power_kw_sum": p_sum, "power_n": p_n,
                "temp_air_c_sum": t_sum, "temp_n": t_n, "readings": n,
            }
            # (t - 1 ms) is the bucket's start; stamp the point at the bucket's end.
            lines.append(line_protocol.encode_point(
                measurement, series.tags,
                {name: None if value is None else float(value) for name, value in fields.items()},
                int(t) - 1 + width_ms))
    for i in range(0, len(lines), 5000):
        store.write_lines(lines[i:i + 5000])
    return len(lines)


def rollup_daily(store: InfluxStore, start: datetime, end: datetime) -> int:
    """Recompute ``energy_1d`` for every local day overlapping ``(start, end]`` from
    ``energy_1h`` (run ``rollup_hourly`` over the same span first).

    Days start at local midnight (``store.day_offset``), points are stamped at the day's
    end and hold the same six fields as ``energy_1h``. Re-running overwrites. Returns the
    number of points written.
    """
    day = timedelta(days=1)
    lo = start - (start - _EPOCH - store.day_offset) % day
    hi = end + (-(end - _EPOCH - store.day_offset)) % day
    width_ms = 86_400_000
    shift_ms = (round(store.day_offset.total_seconds() * 1000) + 1) % width_ms
    q = (
        'SELECT SUM("energy_kwh"), SUM("power_kw_sum"), SUM("power_n"), '
        'SUM("temp_air_c_sum"), SUM("temp_n"), SUM("readings") '
        f"FROM {quote_ident(ROLLUP_MEASUREMENT)} "
        f"WHERE time > {time_literal_ns(lo)} AND time <= {time_literal_ns(hi)} "
        f'GROUP BY time({width_ms}ms, {shift_ms}ms), "meter", "site", "kind", "sector" '
        "fill(none)"
    )
    written = _write_rollup(store, DAILY_ROLLUP_MEASUREMENT, q, width_ms)
    # Per site and per sector, from the days just written (the same six sums), so a
    # city-wide read by sector does not scan meter-days. A group that lost all its points
    # (a corrected reading moved to another site) keeps its old point: InfluxDB 1.x cannot
    # overwrite with nothing, so such a day is deleted first.
    span = f"time > {time_literal_ns(lo)} AND time <= {time_literal_ns(hi)}"
    for measurement, tags in ((SITE_DAILY_MEASUREMENT, '"site", "kind", "sector"'),
                              (SECTOR_DAILY_MEASUREMENT, '"sector", "kind"')):
        store.query(f"DELETE FROM {quote_ident(measurement)} WHERE {span}")
        written += _write_rollup(store, measurement, (
            'SELECT SUM("energy_kwh"), SUM("power_kw_sum"), SUM("power_n"), '
            'SUM("temp_air_c_sum"), SUM("temp_n"), SUM("readings") '
            f"FROM {quote_ident(DAILY_ROLLUP_MEASUREMENT)} WHERE {span} "
            f"GROUP BY time({width_ms}ms, {shift_ms}ms), {tags} fill(none)"), width_ms)
    return written + rollup_monthly(store, lo, hi)


def rollup_monthly(store: InfluxStore, start: datetime, end: datetime) -> int:
    """Recompute ``energy_1mo`` for every month (of the ``day_offset`` grid: local calendar
    months in a city with one UTC offset) overlapping ``(start, end]``, from ``energy_1d``.

    Called by ``rollup_daily`` after its days. One point per (meter, site, kind, sector)
    and month, stamped at the month's end, with the six fields of ``energy_1d``. The
    month is deleted first (a series that lost all its points keeps no stale one) and
    summed in one ``GROUP BY time`` bucket as wide as the month. Then ``energy_site_1mo``
    the same way from the month's ``energy_1mo`` points, per (site, kind, sector), for the
    fiscal-year site totals. Returns the points written.
    """
    day = timedelta(days=1)
    lo = start - (start - _EPOCH - store.day_offset) % day
    months = [month_of_day(lo, store.day_offset)]
    while months[-1] < end:
        months.append(month_of_day(months[-1] + timedelta(days=32), store.day_offset))
    written = 0
    for a, b in itertools.pairwise(months):
        width_ms = ms_of(b) - ms_of(a)
        span = f"time > {time_literal_ns(a)} AND time <= {time_literal_ns(b)}"
        store.query(f"DELETE FROM {quote_ident(MONTHLY_MEASUREMENT)} WHERE {span}; "
                    f"DELETE FROM {quote_ident(SITE_MONTHLY_MEASUREMENT)} WHERE {span}")
        for measurement, source, tags in (
                (MONTHLY_MEASUREMENT, DAILY_ROLLUP_MEASUREMENT, '"meter", "site", "kind", '
                 '"sector"'),
                (SITE_MONTHLY_MEASUREMENT, MONTHLY_MEASUREMENT, '"site", "kind", "sector"')):
            written += _write_rollup(store, measurement, (
                'SELECT SUM("energy_kwh"), SUM("power_kw_sum"), SUM("power_n"), '
                'SUM("temp_air_c_sum"), SUM("temp_n"), SUM("readings") '
                f"FROM {quote_ident(source)} WHERE {span} "
                f"GROUP BY time({width_ms}ms, {(ms_of(a) + 1) % width_ms}ms), {tags} "
                "fill(none)"), width_ms)
    return written


def record_coverage(store: InfluxStore, start: datetime, end: datetime) -> None:
    """Record that the rollups are current over ``(start, end]`` (after rolling it up).

    Extends the recorded span when the new one meets or overlaps it, else starts a new
    span (a gap means the days in between may not be rolled up). Read by
    ``InfluxStore.rollup_coverage``, so readers use the rollups only where they are current.
    Then extends the per-meter totals (``influx_totals.update_totals``) by the days before
    ``start``'s day, which this run did not re-roll.
    """
    # A backfill reaching past the retention policy's horizon covers only what is stored.
    lo, hi = clip_to_retention(store, start, end) or (start, end)
    covered = store.rollup_coverage()
    # energy_1mo is current from the first month this run re-rolled (rollup_monthly
    # summed each month it touched from energy_1d), or from where it already was.
    # The same for energy_site_1mo (summed from energy_1mo in the same runs).
    first = months_from = site_from = month_of_day(lo, store.day_offset)
    if covered is not None and start <= covered[1] and end >= covered[0]:
        lo, hi = min(lo, covered[0]), max(hi, covered[1])
        kept, kept_sites = store.monthly_coverage(), store.site_monthly_coverage()
        months_from = kept[0] if kept is not None and kept[0] <= first else first
        site_from = kept_sites[0] if kept_sites is not None and kept_sites[0] <= first else first
    months_from, site_from = max(months_from, lo), max(site_from, lo)
    # Stamped with the wall clock of the run, not a fixed instant: a database with a
    # retention policy (``db init`` sets 400 days by default) refuses points older than it
    # ("points beyond retention policy dropped"). Readers take the newest state point.
    stamp_ms = ms_of(datetime.now(UTC))
    store.write_lines([line_protocol.encode_point(
        ROLLUP_STATE_MEASUREMENT, {}, {"from_ms": float(ms_of(lo)), "until_ms": float(ms_of(hi)),
                                       "months_from_ms": float(ms_of(months_from)),
                                       "site_months_from_ms": float(ms_of(site_from))},
        stamp_ms)])
    update_totals(store, start, stamp_ms)


def run_rollups(store: InfluxStore, hours: float, every_s: float | None,
                now: Any = None) -> int:
    """Roll up the last ``hours`` hours, once or every ``every_s`` seconds; return points."""
    clock = now or (lambda: datetime.now(UTC))
    while True:
        end = clock()
        try:
            written = rollup_hourly(store, end - timedelta(hours=hours), end)
            daily = rollup_daily(store, end - timedelta(hours=hours), end)
            record_coverage(store, end - timedelta(hours=hours), end)
            log.info("rolled up %d hourly and %d daily points over the last %g h", written,
                     daily, hours)
            written += daily
        except StoreError as exc:
            if every_s is None or not exc.retryable:
                raise
            log.warning("rollup failed, retrying in %g s: %s", every_s, exc)
            written = 0
        if every_s is None:
            return written
        time.sleep(every_s)
