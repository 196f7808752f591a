"""All store access of the dashboard: the one module pages call for data.

The store is opened once per process (``st.cache_resource``) and every query result is
cached (``st.cache_data``). Aggregation happens in the store (``Store.read`` with buckets),
so a year of data for 50+ meters arrives as a few thousand rows, never as raw readings.

Freshness: the dashboard clock (``Ctx.as_of``) is floored to ``dashboard.cache_ttl_s`` and
is part of every query's cache key, so a live panel gets new rows once per TTL while all
panels and sessions within that window share one query. Set ``GREENPIPE_DASHBOARD_AS_OF``
(``greenpipe dashboard --as-of``) to review the city as it was at a past instant.

Access: ``Ctx.scope`` (``greenpipe.access.Scope``, from ``dashboard/identity.py``) is
applied here, at every read: a company's users get only their own sites' rows, and other
organisations' sites merged per sector with small groups suppressed. Pages never see
what the scope does not allow, whatever they ask for.

Nothing here runs at import time; the first call opens the store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard.identity import session_scope
from dashboard.summaries import annotate, dead_letters_by_meter
from dashboard.summaries import meter_health as summarise_health
from greenpipe import access
from greenpipe.config import Config, load_config
from greenpipe.emissions import ENERGY_KINDS, FactorTable, co2_kg, load_factors
from greenpipe.errors import AccessDeniedError, ConfigError
from greenpipe.finding import Finding
from greenpipe.fiscal import fiscal_year, fiscal_year_bounds
from greenpipe.model import BrokerStatus, DeadLetter, Meter, MeterKind, Reading, Site
from greenpipe.results import BaselinePoint, ForecastRecord, SavingsRecord
from greenpipe.stores import GroupBy, MeterStats, Store, StoreStats, open_configured_store
from greenpipe.wire import parse_reading_topic
from reports.build import ReportSet, build_reports

AS_OF_ENV = "GREENPIPE_DASHBOARD_AS_OF"
"""Environment variable that pins the dashboard clock (ISO 8601 with offset)."""

CONSUMING_KINDS = (MeterKind.ELECTRICITY, MeterKind.GAS, MeterKind.EV_CHARGING, MeterKind.HEAT)
"""Meter kinds whose energy is consumption (PV is generation, weather is not energy)."""

_QUERY_TTL_S = 3600
"""Backstop TTL; freshness comes from ``as_of`` in the cache key (see module docstring)."""


@dataclass(frozen=True, slots=True)
class Ctx:
    """What every page needs: config, store location, clock, language."""

    cfg: Config
    config_path: str
    """Config file as given by ``GREENPIPE_CONFIG`` (empty: the default)."""
    store_url: str
    """Store URL the dashboard reads (after environment overrides)."""
    as_of: datetime
    """The dashboard's 'now', aware UTC, floored to the cache TTL."""
    lang: str
    scope: access.Scope = access.FULL
    """What the session's user may read (``greenpipe.access``); every query applies it."""

    @property
    def tz(self) -> str:
        """Display and fiscal-year time zone (the city's)."""
        return self.cfg.city.timezone

    @property
    def day_offset(self) -> timedelta:
        """``Store.read`` offset that aligns daily buckets to local midnight (-9 h for JST)."""
        off = self.as_of.astimezone(ZoneInfo(self.tz)).utcoffset() or timedelta(0)
        return -off

    @property
    def fy(self) -> int:
        """The fiscal year containing ``as_of``."""
        return fiscal_year(self.as_of, self.tz)


# ---------------------------------------------------------------- config, clock, store


@st.cache_resource(show_spinner=False)
def _config(config_path: str, store_url_env: str) -> Config:
    # store_url_env is part of the cache key only: load_config reads GREENPIPE_STORE_URL.
    del store_url_env
    return load_config(config_path or None)


@st.cache_resource(show_spinner=False)
def _store(config_path: str, store_url: str) -> Store:
    # store_url is part of the cache key; the config was loaded with the same URL.
    cfg = _config(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    return open_configured_store(cfg)


def parse_as_of(text: str) -> datetime:
    """Parse an ISO 8601 instant with offset (``2025-10-01T12:00+09:00``) to aware UTC."""
    try:
        ts = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(AS_OF_ENV, text, "use ISO 8601 such as 2025-10-01T12:00+09:00") from None
    if ts.tzinfo is None:
        raise ConfigError(AS_OF_ENV, text, "add a UTC offset, e.g. 2025-10-01T12:00+09:00")
    return ts.astimezone(UTC)


def context(lang: str | None = None, scope: access.Scope | None = None) -> Ctx:
    """Build the page context from the environment; raises ConfigError for bad settings.

    ``scope`` defaults to the session user's (``dashboard.identity.session_scope``).
    """
    config_path = os.environ.get("GREENPIPE_CONFIG", "")
    cfg = _config(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    pinned = os.environ.get(AS_OF_ENV, "")
    now = parse_as_of(pinned) if pinned else datetime.now(UTC)
    ttl = max(1, cfg.dashboard.cache_ttl_s)
    floored = datetime.fromtimestamp(int(now.timestamp()) // ttl * ttl, tz=UTC)
    return Ctx(cfg=cfg, config_path=config_path, store_url=cfg.store.url,
               as_of=floored if not pinned else now, lang=lang or cfg.city.language,
               scope=session_scope(cfg) if scope is None else scope)


def store(ctx: Ctx) -> Store:
    """Return the (process-wide, cached) store the context names."""
    return _store(ctx.config_path, ctx.store_url)


# ---------------------------------------------------------------- cached queries


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=512)
def _read(config_path: str, store_url: str, start: datetime, end: datetime, bucket_s: int,
          group_by: str, meters: tuple[str, ...] | None, sites: tuple[str, ...] | None,
          sectors: tuple[str, ...] | None, offset_s: int, kinds: tuple[str, ...] | None = None,
          rollup: bool = False) -> pd.DataFrame:
    """``Store.read``, or with ``rollup`` ``Store.read_rollup`` (closed local days: on
    InfluxDB the ``db rollup`` job's measurements where it has run, ``read`` elsewhere;
    on SQLite the same as ``read``)."""
    store = _store(config_path, store_url)
    if rollup:  # only where the rollups are current (InfluxDB: the `db rollup` job's span)
        covered = store.rollup_coverage()
        rollup = covered is not None and covered[0] <= start and end <= covered[1]
    how = store.read_rollup if rollup else store.read
    return how(
        start, end, timedelta(seconds=bucket_s), group_by=group_by,
        meters=None if meters is None else list(meters),
        sites=None if sites is None else list(sites),
        sectors=None if sectors is None else list(sectors),
        offset=timedelta(seconds=offset_s),
        kinds=None if kinds is None else list(kinds),
    )


def read(ctx: Ctx, start: datetime, end: datetime, bucket: timedelta, *,
         group_by: GroupBy | str = GroupBy.METER, meters: Sequence[str] | None = None,
         sites: Sequence[str] | None = None, sectors: Sequence[str] | None = None,
         offset: timedelta = timedelta(0), rollup: bool = False) -> pd.DataFrame:
    """Aggregate readings in the store (cached); see ``Store.read`` for the semantics.

    ``rollup``: the range is closed local days, read with ``Store.read_rollup`` where the
    store's rollups cover it (the same numbers, see ``_read``). A restricted scope reads
    only its own sites; per sector it gets its own plus the other organisations' sites
    merged, where at least ``access.MIN_OTHER_SITES`` contribute.
    """
    if ctx.scope.restricted and GroupBy(group_by) == GroupBy.SECTOR:
        return _scoped_sector_read(ctx, start, end, bucket, meters=meters, sites=sites,
                                   sectors=sectors, offset=offset)
    sites = access.restrict_ids(None if sites is None else list(sites), ctx.scope.sites)
    return _read(ctx.config_path, ctx.store_url, start, end, int(bucket.total_seconds()),
                 GroupBy(group_by).value,
                 None if meters is None else tuple(meters),
                 None if sites is None else tuple(sites),
                 None if sectors is None else tuple(sectors),
                 int(offset.total_seconds()), None, rollup).copy()


def _scoped_sector_read(ctx: Ctx, start: datetime, end: datetime, bucket: timedelta, *,
                        meters: Sequence[str] | None, sites: Sequence[str] | None,
                        sectors: Sequence[str] | None, offset: timedelta) -> pd.DataFrame:
    frame = _read(ctx.config_path, ctx.store_url, start, end, int(bucket.total_seconds()),
                  GroupBy.METER.value, None if meters is None else tuple(meters),
                  None if sites is None else tuple(sites),
                  None if sectors is None else tuple(sectors), int(offset.total_seconds()))
    frame = annotate(frame, ctx.cfg.meters_by_id(), ctx.cfg.sites_by_id())
    merged, suppressed = access.merge_others(frame, ctx.scope, by=("sector",),
                                             owners=access.site_owners(ctx.cfg))
    merged = merged[~merged["sector"].isin(suppressed)]
    out = merged.groupby(["sector", "bucket"], as_index=False).agg(
        energy_kwh=("energy_kwh", lambda x: x.sum(min_count=1)),
        power_kw=("power_kw", "mean"), temp_air_c=("temp_air_c", "mean"),
        readings=("readings", "sum"))
    out.attrs["suppressed_sectors"] = sorted(suppressed)
    return out


def read_days(ctx: Ctx, start_day: date, end_day: date, *, group_by: GroupBy | str,
              meters: Sequence[str] | None = None, sites: Sequence[str] | None = None,
              sectors: Sequence[str] | None = None) -> pd.DataFrame:
    """Daily totals for local days ``start_day``..``end_day`` (inclusive), labelled by day.

    Buckets are local (JST) days: the store aligns them with ``offset=-9 h``. Adds a ``day``
    column holding the local calendar date of each bucket.
    """
    zone = ZoneInfo(ctx.tz)
    start = datetime.combine(start_day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(),
                           zone).astimezone(UTC)
    frame = read(ctx, start, end, timedelta(days=1), group_by=group_by, meters=meters,
                 sites=sites, sectors=sectors, offset=ctx.day_offset)
    frame["day"] = [b.astimezone(zone).date() for b in frame["bucket"]]
    return frame


def fiscal_ytd(ctx: Ctx, fy: int | None = None) -> tuple[datetime, datetime]:
    """Return ``(start, end)`` of fiscal year ``fy`` up to the same point as ``as_of``.

    For the current fiscal year that is 1 April to ``as_of``; for an earlier one it is the
    same elapsed span, so "vs last year" compares like with like.
    """
    current = ctx.fy
    fy = current if fy is None else fy
    start_now, _ = fiscal_year_bounds(current, ctx.tz)
    start, end = fiscal_year_bounds(fy, ctx.tz)
    return start, min(end, start + (ctx.as_of - start_now))


# ``st.cache_data`` hands out an unpickled copy at every call, and unpickling slotted frozen
# dataclasses (``MeterStats``, ``Reading``) goes field by field through
# ``dataclasses.fields``: 1,000 ``MeterStats`` 2.2 ms, as plain tuples rebuilt here 1.0 ms;
# a cold Overview reads the stats five times (py-spy put the unpickling at 5-10 % of the
# InfluxDB Overview's cold run on the loaded bench machine). So they are cached as tuples.
_MeterStatsRow = tuple[str, str, int, datetime | None, datetime | None, float]
_ReadingRow = tuple[str, str, datetime, float | None, float | None, float | None, float | None,
                    frozenset[str]]


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _stats(config_path: str, store_url: str, as_of: datetime
           ) -> tuple[tuple[_MeterStatsRow, ...], int]:
    del as_of  # cache key only
    full = _store(config_path, store_url).stats()
    return (tuple((m.meter, m.site, m.readings, m.first_ts, m.last_ts, m.energy_kwh)
                  for m in full.meters), full.dead_letters)


def stats(ctx: Ctx) -> StoreStats:
    """Per-meter counts and time spans, and the dead-letter count (cached per TTL).

    A restricted scope gets its own meters and the count of its own dead letters.
    """
    rows, dead = _stats(ctx.config_path, ctx.store_url, ctx.as_of)
    full = StoreStats(meters=tuple(MeterStats(*row) for row in rows), dead_letters=dead)
    allowed = access.allowed_meters(ctx.cfg, ctx.scope)
    if allowed is None:
        return full
    return StoreStats(meters=tuple(m for m in full.meters if m.meter in allowed),
                      dead_letters=len(dead_letters(ctx, limit=max(full.dead_letters, 1))))


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _latest(config_path: str, store_url: str, as_of: datetime) -> tuple[_ReadingRow, ...]:
    del as_of
    return tuple((r.meter_id, r.site_id, r.ts, r.energy_kwh, r.register_kwh, r.power_kw,
                  r.temp_air_c, r.quality)
                 for r in _store(config_path, store_url).latest().values())


def latest(ctx: Ctx) -> dict[str, Reading]:
    """The newest reading of every meter the scope allows (cached per TTL)."""
    return {row[0]: Reading(*row) for row in _latest(ctx.config_path, ctx.store_url, ctx.as_of)
            if ctx.scope.allows_site(row[1])}


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _dead_letters(config_path: str, store_url: str, as_of: datetime,
                  limit: int) -> list[DeadLetter]:
    del as_of
    return _store(config_path, store_url).read_dead_letters(limit)


def dead_letters(ctx: Ctx, limit: int = 200) -> list[DeadLetter]:
    """The newest dead letters, newest first (cached per TTL).

    A restricted scope gets only letters whose topic names one of its sites.
    """
    letters = _dead_letters(ctx.config_path, ctx.store_url, ctx.as_of, limit)
    if not ctx.scope.restricted:
        return letters
    prefix = ctx.cfg.broker.topic_prefix
    return [d for d in letters
            if (p := parse_reading_topic(prefix, d.topic)) is not None
            and ctx.scope.allows_site(p[0])]


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _upstream(config_path: str, store_url: str, as_of: datetime
              ) -> tuple[dict[str, int], list[BrokerStatus]]:
    del as_of
    store = _store(config_path, store_url)
    lost = {m: s.lost for m, s in store.read_sequence_states().items()}
    return lost, store.read_broker_status()


def upstream_loss(ctx: Ctx) -> tuple[dict[str, int], list[BrokerStatus]]:
    """Messages lost upstream per meter (``seq`` gaps the collector counted) and what each
    collector last saw of the broker's own drop counter (cached per TTL). A restricted
    scope gets its own meters and no broker status (that is the city's infrastructure)."""
    lost, brokers = _upstream(ctx.config_path, ctx.store_url, ctx.as_of)
    allowed = access.allowed_meters(ctx.cfg, ctx.scope)
    if allowed is None:
        return lost, brokers
    return {m: n for m, n in lost.items() if m in allowed}, []


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _has_readings(config_path: str, store_url: str, as_of: datetime) -> bool:
    del as_of
    return _store(config_path, store_url).has_readings()


def has_data(ctx: Ctx) -> bool:
    """True when the store holds at least one reading (of the scope's meters).

    The city's view asks the store for one point (``Store.has_readings``), not for the
    per-meter ``stats`` that scan every reading on InfluxDB.
    """
    if ctx.scope.restricted:
        return bool(stats(ctx).meters)
    return _has_readings(ctx.config_path, ctx.store_url, ctx.as_of)


def visible_sites(ctx: Ctx) -> dict[str, Site]:
    """The configured sites the scope may read in full, by id (for pickers)."""
    return {s.id: s for s in ctx.cfg.sites if ctx.scope.allows_site(s.id)}


def visible_meters(ctx: Ctx) -> list[Meter]:
    """The configured meters the scope may read in full."""
    return [m for m in ctx.cfg.meters if ctx.scope.allows_site(m.site)]


def consuming_meters(ctx: Ctx, site: str | None = None) -> list[str]:
    """Ids of the visible meters whose energy is consumption (optionally at one site)."""
    return [m.id for m in visible_meters(ctx)
            if m.kind in CONSUMING_KINDS and (site is None or m.site == site)]


def pv_meters(ctx: Ctx, site: str | None = None) -> list[str]:
    """Ids of the visible PV meters (optionally at one site)."""
    return [m.id for m in visible_meters(ctx)
            if m.kind == MeterKind.PV and (site is None or m.site == site)]


@st.cache_resource(show_spinner=False)
def _factors(config_path: str, store_url_env: str) -> FactorTable:
    cfg = _config(config_path, store_url_env)
    return load_factors(overrides=cfg.emission_factors)


def factors(ctx: Ctx) -> FactorTable:
    """The emission-factor table: shipped defaults plus ``[[emission_factors]]`` overrides."""
    return _factors(ctx.config_path, os.environ.get("GREENPIPE_STORE_URL", ""))


def meter_days(ctx: Ctx, start: datetime, end: datetime, *,
               sites: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-meter local-day energy over ``(start, end]`` with site, kind, sector and CO2.

    Columns: ``meter``, ``bucket``, ``day`` (local date), ``energy_kwh``, ``readings``,
    ``site``, ``kind``, ``sector``, ``grid_region`` and ``co2_kg`` (energy × the factor of
    the bucket's fiscal year; 0 for PV, whose generation emits nothing) and
    ``avoided_co2_kg`` (PV only: generation × the grid electricity factor). Weather meters
    are left out: they carry no energy. Cached like the read it is built from.

    A restricted scope gets its own sites' rows plus, per sector, kind and day, one row
    (site and meter ``access.OTHERS``) merging the other organisations' sites, dropped
    where fewer than ``access.MIN_OTHER_SITES`` contribute; ``frame.attrs
    ["suppressed_sectors"]`` lists the sectors where that happened.
    """
    frame = _concat([_meter_days(ctx.config_path, ctx.store_url, a, b,
                                None if sites is None else tuple(sites), closed)
                    for a, b, closed in _closed_days_and_today(ctx, start, end)])
    merged, suppressed = access.merge_others(frame, ctx.scope,
                                             owners=access.site_owners(ctx.cfg))
    merged.attrs["suppressed_sectors"] = sorted(suppressed)
    return merged


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate cached frames into a new one (empty parts left out: dtypes stay)."""
    return pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)


def _closed_days_and_today(ctx: Ctx, start: datetime, end: datetime
                           ) -> list[tuple[datetime, datetime, bool]]:
    """Split ``(start, end]`` at the local midnight before ``end``: ``(a, b, closed)``.

    The closed days keep one cache key all day (refreshed by the hourly backstop TTL, which
    picks up late readings), so each TTL tick re-reads only today's rows. ``closed`` marks a
    part that ends on a local midnight: it is read from the rollups (``Store.read_rollup``).
    """
    zone = ZoneInfo(ctx.tz)
    local_end = end.astimezone(zone)
    midnight = datetime.combine(local_end.date(), datetime.min.time(), zone).astimezone(UTC)
    if start < midnight < end:
        return [(start, midnight, True), (midnight, end, False)]
    return [(start, end, end == midnight)]


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=256)
def _meter_days(config_path: str, store_url: str, start: datetime, end: datetime,
                sites: tuple[str, ...] | None, closed: bool = False) -> pd.DataFrame:
    cfg = _config(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    zone = ZoneInfo(cfg.city.timezone)
    offset = -(end.astimezone(zone).utcoffset() or timedelta(0))
    frame = _read(config_path, store_url, start, end, 86400, GroupBy.METER.value, None,
                  sites, None, int(offset.total_seconds()), None, closed)
    frame = annotate(frame, cfg.meters_by_id(), cfg.sites_by_id())
    frame = frame[frame["kind"].isin(ENERGY_KINDS)].reset_index(drop=True)
    return _with_day_and_co2(frame, cfg, config_path)


def _with_day_and_co2(frame: pd.DataFrame, cfg: Config, config_path: str) -> pd.DataFrame:
    """Add ``day`` (local date), ``co2_kg`` and ``avoided_co2_kg`` to a daily frame."""
    frame["day"] = frame["bucket"].dt.tz_convert(ZoneInfo(cfg.city.timezone)).dt.date
    table = _factors(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    basis = cfg.forecasting.emission_basis
    frame["co2_kg"] = co2_kg(frame, table=table, tz=cfg.city.timezone, basis=basis)
    # PV generation displaces grid electricity of the site's region and fiscal year.
    grid = co2_kg(frame.assign(kind="electricity"), table=table, tz=cfg.city.timezone,
                  basis=basis)
    frame["avoided_co2_kg"] = grid.where(frame["kind"] == "pv", 0.0)
    return frame


def sector_days(ctx: Ctx, start: datetime, end: datetime) -> pd.DataFrame:
    """Local-day energy and CO2 per sector, meter kind and grid region over ``(start, end]``.

    What the overview's daily series need, at a grain that does not grow with meters:
    meters of one kind in one grid region share the emission factor, so CO2 stays exact.
    Columns: ``sector``, ``kind``, ``grid_region``, ``bucket``, ``day`` (local date),
    ``energy_kwh``, ``readings``, ``co2_kg`` and ``avoided_co2_kg`` (PV only). Answered
    from the daily rollups, one ``group_by=sector`` read per (kind, region). A restricted
    scope (a company) gets them from its scoped ``meter_days`` instead, so other
    organisations' sites are merged and small groups suppressed exactly as there.
    """
    if ctx.scope.restricted:
        # A company's sector totals come from its scoped per-meter days, where the other
        # organisations' sites are merged and small groups suppressed (``meter_days``).
        days = meter_days(ctx, start, end)
        keys = ["sector", "kind", "grid_region", "bucket", "day"]
        out = days.groupby(keys, as_index=False, dropna=False)[
            ["energy_kwh", "readings", "co2_kg", "avoided_co2_kg"]].sum(min_count=1)
        out.attrs["suppressed_sectors"] = days.attrs.get("suppressed_sectors", [])
        return out
    return _concat([_by_kind_region(ctx.config_path, ctx.store_url, a, b, GroupBy.SECTOR.value,
                                    False, closed)
                    for a, b, closed in _closed_days_and_today(ctx, start, end)])


def site_totals(ctx: Ctx, start: datetime, end: datetime) -> pd.DataFrame:
    """Energy and CO2 per site and meter kind summed over ``(start, end]`` (one fiscal year).

    The same columns as ``sector_days`` with ``site`` and ``sector`` for the group, one row
    per site and kind (per part: closed days, today), for rankings such as top emitters.
    """
    frame = _concat([_by_kind_region(ctx.config_path, ctx.store_url, a, b, GroupBy.SITE.value,
                                     True, closed)
                     for a, b, closed in _closed_days_and_today(ctx, start, end)])
    # A restricted scope ranks only its own sites: other organisations' sites are not named.
    return frame if not ctx.scope.restricted else frame[
        frame["site"].map(ctx.scope.allows_site).astype(bool)].reset_index(drop=True)


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=128)
def _by_kind_region(config_path: str, store_url: str, start: datetime, end: datetime,
                    group: str, whole_range: bool, closed: bool = False) -> pd.DataFrame:
    """One store read per (meter kind, grid region), grouped by ``group``; daily buckets,
    or one bucket spanning ``(start, end]`` with ``whole_range``.

    The reads filter by kind (and, in a city spanning several grid regions, by the
    region's sites), never by meter, so the store answers whole days from its per-site
    and per-sector daily rollups: the cost does not grow with the number of meters.
    """
    cfg = _config(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    zone = ZoneInfo(cfg.city.timezone)
    sites = cfg.sites_by_id()
    if whole_range:
        bucket_s = max(1, int((end - start).total_seconds()))
        offset_s = int(start.timestamp()) % bucket_s
    else:
        bucket_s = 86400
        offset_s = int((-(end.astimezone(zone).utcoffset() or timedelta(0))).total_seconds())
    kinds = sorted({m.kind.value for m in cfg.meters if m.kind.value in ENERGY_KINDS})
    regions: dict[str, list[str]] = {}
    for site in cfg.sites:
        regions.setdefault(site.grid_region, []).append(site.id)
    # One region (a city): no site filter at all, so sectors come from the sector rollup.
    plans: list[tuple[str, tuple[str, ...] | None]] = (
        [(next(iter(regions), "japan"), None)] if len(regions) <= 1
        else [(r, tuple(ids)) for r, ids in sorted(regions.items())])
    parts = []
    for kind in kinds:
        for region, site_ids in plans:
            part = _read(config_path, store_url, start, end, bucket_s, group, None, site_ids,
                         None, offset_s, (kind,), closed)
            parts.append(part[[group, "bucket", "energy_kwh", "readings"]]
                         .assign(kind=kind, grid_region=region))
    frame = _concat(parts) if parts else pd.DataFrame(
        {c: [] for c in (group, "bucket", "energy_kwh", "readings", "kind", "grid_region")})
    if group == GroupBy.SITE.value:
        sector = {k: v.sector.value for k, v in sites.items()}
        frame["sector"] = frame["site"].map(sector).fillna("unknown")
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    return _with_day_and_co2(frame, cfg, config_path)


def meter_health(ctx: Ctx, window: timedelta = timedelta(days=7)) -> pd.DataFrame:
    """Health of every meter: status, last seen, gaps in ``window``, latest quality flags.

    The window's first hour counts whole (the hour containing ``as_of - window``).

    Adds ``dead_letters``: how many of the newest 200 dead letters came from the meter's
    topic, and ``upstream_lost``: messages the meter sent that never reached the collector.
    """
    # Whole local days up to midnight keep one cache key all day, so the live headline
    # fragment re-reads only today's hours each refresh, not a week of every meter's.
    start = ctx.as_of - window
    zone = ZoneInfo(ctx.tz)
    first_day = datetime.combine(start.astimezone(zone).date(), datetime.min.time(),
                                 zone).astimezone(UTC)
    # Closed days from the rollups where they are current (InfluxDB: energy_1h, not a raw
    # scan of every meter's week), today raw: the same numbers (``Store.read_rollup``).
    hourly = _concat([read(ctx, a, b, timedelta(hours=1), group_by=GroupBy.METER,
                           rollup=closed)
                      for a, b, closed in _closed_days_and_today(ctx, first_day, ctx.as_of)])
    first_hour = start.replace(minute=0, second=0, microsecond=0)
    hourly = hourly[hourly["bucket"] >= pd.Timestamp(first_hour)].reset_index(drop=True)
    health = summarise_health(
        visible_meters(ctx), stats(ctx), latest(ctx), hourly, as_of=ctx.as_of,
        offline_after=timedelta(seconds=ctx.cfg.dashboard.offline_after_s), window=window)
    per_meter = dead_letters_by_meter(dead_letters(ctx), ctx.cfg.broker.topic_prefix)
    health["dead_letters"] = [per_meter.get(m, 0) for m in health["meter"]]
    lost, _ = upstream_loss(ctx)
    health["upstream_lost"] = [lost.get(m, 0) for m in health["meter"]]
    return health


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _forecasts(config_path: str, store_url: str, as_of: datetime) -> list[ForecastRecord]:
    del as_of
    return _store(config_path, store_url).read_forecasts()


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _savings(config_path: str, store_url: str, as_of: datetime) -> list[SavingsRecord]:
    del as_of
    return _store(config_path, store_url).read_savings()


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _baseline_points(config_path: str, store_url: str, as_of: datetime,
                     meter_ids: tuple[str, ...] | None) -> list[BaselinePoint]:
    del as_of
    return _store(config_path, store_url).read_baseline_points(meter_ids=meter_ids)


def baseline_points(ctx: Ctx, meter_ids: Sequence[str] | None = None) -> list[BaselinePoint]:
    """Daily baseline vs actual of the newest ``greenpipe forecast run`` (empty: none yet).

    Sorted by meter, measure, then day; ``meter_ids`` narrows it to some meters (in the store).
    """
    allowed = access.allowed_meters(ctx.cfg, ctx.scope)
    ids = access.restrict_ids(None if meter_ids is None else list(meter_ids), allowed)
    return _baseline_points(ctx.config_path, ctx.store_url, ctx.as_of,
                            None if ids is None else tuple(ids))


def forecasts(ctx: Ctx) -> list[ForecastRecord]:
    """Projection records of the newest ``greenpipe forecast run`` (empty: none yet).

    A restricted scope gets the city's, its own sites' and those sectors' records in which
    at least ``access.MIN_OTHER_SITES`` other organisations' sites are configured.
    """
    records = _forecasts(ctx.config_path, ctx.store_url, ctx.as_of)
    if not ctx.scope.restricted:
        return records
    open_sectors = _open_sectors(ctx)
    return [r for r in records if r.scope == "city"
            or (r.scope == "sector" and r.scope_id in open_sectors)
            or (r.scope == "site" and ctx.scope.allows_site(r.scope_id))]


def _open_sectors(ctx: Ctx) -> set[str]:
    """Sectors with enough other organisations' sites for a company to see their totals
    (at least ``access.MIN_OTHER_SITES`` of at least two organisations) or none at all."""
    owners = access.site_owners(ctx.cfg)
    others: dict[str, set[str]] = {}
    for s in ctx.cfg.sites:
        if not ctx.scope.allows_site(s.id):
            others.setdefault(s.sector.value, set()).add(s.id)
    return {sector for sector, ids in others.items() if len(ids) >= access.MIN_OTHER_SITES
            and len({owners[i] for i in ids}) >= 2} | {
        s.sector.value for s in ctx.cfg.sites if s.sector.value not in others}


def savings(ctx: Ctx) -> list[SavingsRecord]:
    """Savings records of the newest ``greenpipe forecast run`` (empty: none yet), of the
    sites the scope allows."""
    return [r for r in _savings(ctx.config_path, ctx.store_url, ctx.as_of)
            if ctx.scope.allows_site(r.site_id)]


def forecast_for(records: Sequence[ForecastRecord], scope: str, scope_id: str | None,
                 fy: int) -> ForecastRecord | None:
    """The record of one scope in fiscal year ``fy`` against its nearest target, if any.

    A scope has one record per target (e.g. 2030 and 2050); the nearest target year is the
    one that decides "on track this year". Records without a target come last.
    ``scope_id=None`` matches any id (the city has one).
    """
    rows = [r for r in records if r.scope == scope and r.fiscal_year == fy
            and (scope_id is None or r.scope_id == scope_id)]
    rows.sort(key=lambda r: (r.target_fy is None, r.target_fy or 0))
    return rows[0] if rows else None


# ---------------------------------------------------------------- statutory reports


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=32)
def _reports(config_path: str, store_url: str, as_of: datetime, fy: int,
             site: str | None, company: str | None = None) -> ReportSet:
    ctx_cfg = _config(config_path, os.environ.get("GREENPIPE_STORE_URL", ""))
    return build_reports(ctx_cfg, _store(config_path, store_url), fy, site=site,
                         company=company)


def reports(ctx: Ctx, fy: int, site: str | None = None) -> ReportSet:
    """Return the ``reports.build.ReportSet`` of fiscal year ``fy`` (optionally one site).

    A restricted scope gets its organisation's sites only; another organisation's site
    raises ``AccessDeniedError``.
    """
    if not ctx.scope.restricted:
        return _reports(ctx.config_path, ctx.store_url, ctx.as_of, fy, site)
    if site is not None:
        _require_site(ctx, site)
        return _reports(ctx.config_path, ctx.store_url, ctx.as_of, fy, site)
    return _reports(ctx.config_path, ctx.store_url, ctx.as_of, fy, None,
                    ctx.scope.identity.organisation)


def _require_site(ctx: Ctx, site: str) -> None:
    if not ctx.scope.allows_site(site):
        raise AccessDeniedError(f"site {site!r} belongs to another organisation; "
                           "ask the city office for access")


# ---------------------------------------------------------------- findings (problems, proposals)


@st.cache_data(ttl=_QUERY_TTL_S, show_spinner=False, max_entries=64)
def _findings(config_path: str, store_url: str, as_of: datetime, generation: int
              ) -> list[Finding]:
    del as_of, generation  # cache key only
    return _store(config_path, store_url).read_findings()


_findings_generation = {"n": 0}
"""Bumped by every status change, so the next read is fresh (a cache key, not a clear())."""


def findings(ctx: Ctx) -> list[Finding]:
    """Every stored finding of ``greenpipe findings run`` (empty: none yet), cached per TTL,
    of the sites the scope allows."""
    return [f for f in _findings(ctx.config_path, ctx.store_url, ctx.as_of,
                                 _findings_generation["n"])
            if ctx.scope.allows_site(f.site)]


def set_finding_status(ctx: Ctx, finding_id: str, status: str, by: str,
                       note: str = "") -> Finding:
    """Acknowledge, resolve or dismiss a finding in the store; returns it as stored.

    Raises ``AccessDeniedError`` for a read-only role or another organisation's finding; the
    change goes to the audit log.
    """
    from findings.lifecycle import find_by_id, set_status

    s = store(ctx)
    found = find_by_id(s.read_findings(), finding_id)
    if not ctx.scope.can_act:
        raise AccessDeniedError("your role is read-only; ask your organisation's operator")
    _require_site(ctx, found.site)
    now = datetime.now(UTC)
    updated = set_status(found, status, by,
                         now.replace(microsecond=now.microsecond // 1000 * 1000), note)
    s.write_findings([updated])
    _findings_generation["n"] += 1
    audit(ctx, f"finding.{status}", finding_id)
    return updated


# ---------------------------------------------------------------- audit log


def audit(ctx: Ctx, action: str, detail: str) -> None:
    """Record who did ``action`` (e.g. ``export``, ``download``) on ``detail``, and when."""
    from dashboard import audit as audit_log

    who = ctx.scope.identity
    audit_log.record(audit_log.path_of(ctx.cfg), datetime.now(UTC), who.who or "(no login)",
                     who.organisation, who.role, action, detail)


def audited(ctx: Ctx, action: str, detail: str, payload: Callable[[], bytes]
            ) -> Callable[[], bytes]:
    """Wrap a download's lazy payload so that producing it is written to the audit log."""
    def produce() -> bytes:
        audit(ctx, action, detail)
        return payload()
    return produce


def audit_entries(ctx: Ctx, limit: int = 500) -> pd.DataFrame:
    """The newest audit-log entries (the city office only; others raise AccessDeniedError)."""
    from dashboard import audit as audit_log

    if not ctx.scope.can_audit:
        raise AccessDeniedError("the audit log is for the city office")
    return audit_log.read(audit_log.path_of(ctx.cfg), limit)
