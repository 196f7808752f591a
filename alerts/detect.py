"""Offline meters and a stalled collector, as pure functions over what the store holds.

The store exposes, per meter, the reading count and the first and last reading time
(``Store.stats``), and the receipt time of each dead letter. From these:

- a meter's reading interval is estimated as its stored span over its intervals,
  ``(last_ts - first_ts) / (readings - 1)``; a meter with fewer than two readings uses the
  configured default. Long gaps in the history stretch the estimate, which only makes
  the offline rule more patient, never noisier.
- a meter is offline when no reading arrived for ``offline_factor`` of its intervals
  (the same rule as the dashboard's meter health, scaled to each meter);
- the collector has stalled when nothing at all reached the store (no reading of any
  meter, no dead letter) for ``stall_after_s``. Readings carry the meter's time, dead
  letters the collector's receipt time; both stop advancing when the collector stops.

When the collector has stalled, every meter also looks offline; ``check_events`` then
reports the one stall, with the count of silent meters, instead of one alert per meter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.events import AlertEvent, AlertKind, Severity, format_duration, from_finding
from greenpipe.finding import CONFIDENCE_RANK, Confidence, Finding, FindingStatus
from greenpipe.model import require_utc
from greenpipe.stores.base import MeterStats


@dataclass(frozen=True, slots=True)
class MeterSilence:
    """A meter that has sent nothing for longer than its offline threshold."""

    meter: str
    site: str
    last_ts: datetime | None
    """Its newest stored reading, UTC; None when it was never seen."""
    interval_s: float
    """Estimated reading interval. [s]"""
    threshold_s: float
    """Silence after which it counts as offline. [s]"""
    silent_s: float | None
    """Time since its newest reading; None when it was never seen. [s]"""


def meter_interval_s(stats: MeterStats, default_interval_s: float) -> float:
    """Return a meter's mean reading interval from its stored span. [s]

    Falls back to ``default_interval_s`` when fewer than two readings (or no span) exist.
    """
    if stats.readings >= 2 and stats.first_ts is not None and stats.last_ts is not None:
        span_s = (stats.last_ts - stats.first_ts).total_seconds()
        if span_s > 0:
            return span_s / (stats.readings - 1)
    return float(default_interval_s)


def offline_meters(
    meters: Sequence[MeterStats], now: datetime, *, offline_factor: float,
    default_interval_s: float, expected: Mapping[str, str] | None = None,
) -> list[MeterSilence]:
    """Return the meters silent for more than ``offline_factor`` × their interval.

    ``expected`` maps configured meter ids to their sites; a configured meter the store
    has never seen is reported with ``last_ts=None``. Sorted by meter id.
    """
    now = require_utc(now, "now")
    out: list[MeterSilence] = []
    seen: set[str] = set()
    for m in meters:
        seen.add(m.meter)
        interval = meter_interval_s(m, default_interval_s)
        threshold = offline_factor * interval
        if m.last_ts is None:
            out.append(MeterSilence(m.meter, m.site, None, interval, threshold, None))
            continue
        silent = (now - m.last_ts).total_seconds()
        if silent > threshold:
            out.append(MeterSilence(m.meter, m.site, m.last_ts, interval, threshold, silent))
    for meter, site in (expected or {}).items():
        if meter not in seen:
            interval = float(default_interval_s)
            out.append(MeterSilence(meter, site, None, interval, offline_factor * interval,
                                    None))
    return sorted(out, key=lambda s: s.meter)


def last_write(meters: Iterable[MeterStats], dead_letter_times: Iterable[datetime]) -> (
        datetime | None):
    """Return the newest instant anything reached the store, or None for an empty store."""
    times = [m.last_ts for m in meters if m.last_ts is not None]
    times.extend(dead_letter_times)
    return max(times) if times else None


def collector_stalled(last: datetime | None, now: datetime, stall_after_s: float) -> bool:
    """Return True when nothing reached the store for more than ``stall_after_s``. [s]

    An empty store (``last`` None) is not a stall: nothing was ever collected.
    """
    if last is None:
        return False
    return (require_utc(now, "now") - last).total_seconds() > stall_after_s


def offline_event(s: MeterSilence, now: datetime, tz: str = "Asia/Tokyo") -> AlertEvent:
    """Return the ``meter_offline`` alert; its key names the meter and its last reading.

    A new outage (a later last reading) is a new key; the same outage is re-sent only
    after the de-duplication window, as a reminder.
    """
    if s.last_ts is None or s.silent_s is None:
        return AlertEvent(
            kind=AlertKind.METER_OFFLINE, key=f"meter_offline:{s.meter}:never",
            severity=Severity.WARNING,
            title_ja=f"メーター未受信: {s.meter} ({s.site})",
            title_en=f"Meter never seen: {s.meter} ({s.site})",
            body_ja=f"設定済みのメーター {s.meter} からの計測値がまだ一度も届いていません。",
            body_en=f"Configured meter {s.meter} has not sent a single reading yet.",
            ts=now, site=s.site, meter=s.meter,
            numbers={"interval_s": s.interval_s, "threshold_s": s.threshold_s},
        )
    last_local = s.last_ts.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")
    silent_ja, silent_en = format_duration(s.silent_s)
    interval_ja, interval_en = format_duration(s.interval_s)
    return AlertEvent(
        kind=AlertKind.METER_OFFLINE,
        key=f"meter_offline:{s.meter}:{s.last_ts.isoformat()}",
        severity=Severity.WARNING,
        title_ja=f"メーターがオフライン: {s.meter} ({s.site})",
        title_en=f"Meter offline: {s.meter} ({s.site})",
        body_ja=(f"{silent_ja}計測値がありません (通常の間隔 {interval_ja})。"
                 f"最後の計測: {last_local}"),
        body_en=(f"No reading for {silent_en} (usual interval {interval_en}). "
                 f"Last reading: {last_local}"),
        ts=now, site=s.site, meter=s.meter,
        numbers={"silent_s": s.silent_s, "interval_s": s.interval_s,
                 "threshold_s": s.threshold_s},
    )


def stall_event(last: datetime, now: datetime, silent_meters: int,
                tz: str = "Asia/Tokyo") -> AlertEvent:
    """Return the ``collector_stall`` alert; its key names the last write it saw."""
    now = require_utc(now, "now")
    silent_s = (now - last).total_seconds()
    silent_ja, silent_en = format_duration(silent_s)
    last_local = last.astimezone(ZoneInfo(tz)).isoformat(timespec="minutes")
    return AlertEvent(
        kind=AlertKind.COLLECTOR_STALL, key=f"collector_stall:{last.isoformat()}",
        severity=Severity.CRITICAL,
        title_ja="コレクター停止の疑い", title_en="Collector stalled",
        body_ja=(f"{silent_ja}の間、ストアに何も書き込まれていません "
                 f"(最後の書き込み {last_local}、無音のメーター {silent_meters} 台)。"
                 "コレクター、ブローカー、ストアを確認してください。"),
        body_en=(f"Nothing reached the store for {silent_en} (last write {last_local}, "
                 f"{silent_meters} meters silent). Check the collector, the broker and the store."),
        ts=now, numbers={"silent_s": silent_s, "silent_meters": float(silent_meters)},
    )


def check_events(
    meters: Sequence[MeterStats], dead_letter_times: Sequence[datetime], now: datetime, *,
    offline_factor: float, default_interval_s: float, stall_after_s: float,
    expected: Mapping[str, str] | None = None, tz: str = "Asia/Tokyo",
) -> list[AlertEvent]:
    """Return the alerts for the store's current state: one stall, or the offline meters.

    An empty store (nothing ever collected) gives no alert: there is no outage to report
    before the first reading, and every configured meter would otherwise be "never seen".
    """
    if not meters and not dead_letter_times:
        return []
    silences = offline_meters(meters, now, offline_factor=offline_factor,
                              default_interval_s=default_interval_s, expected=expected)
    last = last_write(meters, dead_letter_times)
    if last is not None and collector_stalled(last, now, stall_after_s):
        return [stall_event(last, now, len(silences), tz)]
    return [offline_event(s, now, tz) for s in silences]


def finding_events(findings: Iterable[Finding], now: datetime,
                   min_confidence: str = "medium") -> list[AlertEvent]:
    """Return a ``new_finding`` alert for every stored finding still ``new`` at or above
    ``min_confidence`` (low/medium/high), largest t-CO2 first.

    Acknowledged, resolved and dismissed findings are never alerted; a resolved finding that
    the finder reopens is ``new`` again and alerts again (after the de-duplication window).
    High-confidence findings are sent as warnings, the rest as information.
    """
    floor = CONFIDENCE_RANK[Confidence(min_confidence)]
    chosen = [f for f in findings if f.status == FindingStatus.NEW.value
              and CONFIDENCE_RANK[Confidence(f.confidence)] >= floor]
    chosen.sort(key=lambda f: (-f.annual_co2_t, f.id))
    return [from_finding(f, now, severity=Severity.WARNING if f.confidence == "high"
                         else Severity.INFO) for f in chosen]
