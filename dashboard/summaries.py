"""Pure functions that turn store results into the tables the pages show.

No Streamlit and no store access here, so each function is tested with hand-computed
values in ``tests/test_dashboard_summaries.py``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from greenpipe.model import DeadLetter, Meter, Reading
from greenpipe.stores import StoreStats
from greenpipe.wire import parse_reading_topic

ONLINE = "online"
OFFLINE = "offline"
NEVER = "never"


def meter_health(
    meters: Iterable[Meter],
    stats: StoreStats,
    latest: Mapping[str, Reading],
    hourly: pd.DataFrame,
    *,
    as_of: datetime,
    offline_after: timedelta,
    window: timedelta = timedelta(days=7),
) -> pd.DataFrame:
    """Return one row per configured meter (then any unknown stored meter) with its health.

    Columns: ``meter``, ``site``, ``kind``, ``status`` (online/offline/never), ``last_ts``
    (UTC or NaT), ``age_s``, ``readings``, ``gaps_h`` and ``quality`` (flags of the newest
    reading, comma-separated). ``hourly`` is ``Store.read(..., bucket=1 h, group_by=meter)``
    over ``(as_of - window, as_of]``; a gap hour is an hour of that window after the meter's
    first reading in which it sent nothing.
    """
    by_meter = {m.meter: m for m in stats.meters}
    # Only complete hours count: the current hour may legitimately have no reading yet.
    window_end = _floor_hour(as_of)
    done = hourly[hourly["bucket"] < pd.Timestamp(window_end)] if len(hourly) else hourly
    counts = done.groupby("meter")["bucket"].nunique() if len(done) else pd.Series()
    first_hour = done.groupby("meter")["bucket"].min() if len(done) else pd.Series()
    rows = []
    configured = list(meters)
    known = {m.id for m in configured}
    extra = [m for m in by_meter if m not in known]
    for meter_id, site, kind in [(m.id, m.site, m.kind.value) for m in configured] + [
        (m, by_meter[m].site, "unknown") for m in extra
    ]:
        st = by_meter.get(meter_id)
        last = st.last_ts if st else None
        if last is None:
            status = NEVER
        elif as_of - last > offline_after:
            status = OFFLINE
        else:
            status = ONLINE
        gaps = 0
        if meter_id in first_hour.index:
            first = first_hour[meter_id].to_pydatetime()
            hours = int((window_end - first) / timedelta(hours=1))
            gaps = max(0, hours - int(counts[meter_id]))
        reading = latest.get(meter_id)
        rows.append({
            "meter": meter_id,
            "site": site,
            "kind": kind,
            "status": status,
            "last_ts": pd.Timestamp(last) if last else pd.NaT,
            "age_s": (as_of - last).total_seconds() if last else float("nan"),
            "readings": st.readings if st else 0,
            "gaps_h": gaps,
            "quality": ", ".join(sorted(reading.quality)) if reading else "",
        })
    return pd.DataFrame(rows, columns=["meter", "site", "kind", "status", "last_ts", "age_s",
                                       "readings", "gaps_h", "quality"])


def _floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def dead_letters_by_meter(letters: Iterable[DeadLetter], topic_prefix: str) -> Counter[str]:
    """Count dead letters per meter id, for letters whose topic names a meter."""
    out: Counter[str] = Counter()
    for letter in letters:
        parsed = parse_reading_topic(topic_prefix, letter.topic)
        if parsed is not None:
            out[parsed[1]] += 1
    return out


def payload_text(payload: bytes, limit: int = 2000) -> str:
    """Show a raw payload as text when it is UTF-8, else as hex; long payloads are cut."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = "hex: " + payload.hex(" ")
    return text if len(text) <= limit else text[:limit] + f"… (+{len(text) - limit})"


def monthly(daily: pd.DataFrame, group: str) -> pd.DataFrame:
    """Roll daily totals (with a local ``day`` column) up to local months.

    Returns columns ``group``, ``month`` (first day of the month, a ``date``),
    ``energy_kwh`` and ``readings``. Months are calendar months of the local days, so JST
    month boundaries hold even though the store only knows fixed-width buckets.
    """
    if daily.empty:
        return pd.DataFrame({group: [], "month": [], "energy_kwh": [], "readings": []})
    frame = daily.assign(month=[date(d.year, d.month, 1) for d in daily["day"]])
    out = frame.groupby([group, "month"], as_index=False).agg(
        energy_kwh=("energy_kwh", "sum"), readings=("readings", "sum"))
    return out.sort_values([group, "month"]).reset_index(drop=True)

def change_pct(now: float, before: float) -> float | None:
    """Return the change from ``before`` to ``now`` in percent; None when ``before`` is 0."""
    if before == 0:
        return None
    return (now - before) / before * 100.0


def local_series(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Return ``frame`` with a ``local`` column: the bucket label in the display zone."""
    zone = ZoneInfo(tz)
    return frame.assign(local=frame["bucket"].dt.tz_convert(zone))


def annotate(frame: pd.DataFrame, meters: Mapping[str, Meter],
             sites: Mapping[str, object]) -> pd.DataFrame:
    """Add ``site``, ``kind``, ``sector`` and ``grid_region`` columns to a per-meter frame.

    Looks up each distinct meter once and maps the column (a year of 1,000 meters' days is
    365,000 rows but 1,000 look-ups).
    """
    def site_attr(meter_id: str, attr: str, default: str) -> str:
        m = meters.get(meter_id)
        s = sites.get(m.site) if m else None
        return str(getattr(s, attr)) if s is not None else default

    ids = frame["meter"].astype(str)
    distinct = ids.unique()
    columns = {
        "site": {i: meters[i].site if i in meters else "unknown" for i in distinct},
        "kind": {i: meters[i].kind.value if i in meters else "unknown" for i in distinct},
        "sector": {i: site_attr(i, "sector", "unknown") for i in distinct},
        "grid_region": {i: site_attr(i, "grid_region", "japan") for i in distinct},
    }
    return frame.assign(**{name: ids.map(lookup).astype(object)
                           for name, lookup in columns.items()})


def straight_line_target_t(base_co2_t: float, base_fy: int, target_fy: int,
                           reduction_pct: float, fy: int) -> float:
    """Return the emissions a straight-line path from base to target allows in ``fy``. [t-CO2]

    The path runs from ``base_co2_t`` in ``base_fy`` to ``base_co2_t`` × (1 − reduction/100)
    in ``target_fy``; years outside are clamped to the ends.
    """
    if target_fy <= base_fy:
        raise ValueError(f"target_fy {target_fy} must be after base_fy {base_fy}")
    share = min(1.0, max(0.0, (fy - base_fy) / (target_fy - base_fy)))
    return base_co2_t * (1.0 - reduction_pct / 100.0 * share)


def sector_for_target(sector: str) -> str:
    """Map a site sector to the target sector: public sites count as commercial.

    The Japanese inventory's 業務その他部門 (commercial and other) includes public buildings.
    """
    return "commercial" if sector == "public" else sector


def records_frame(records: Sequence[object], tz: str) -> pd.DataFrame:
    """One row per result record (forecast or savings), times in the display zone."""
    zone = ZoneInfo(tz)
    rows = []
    for record in records:
        row = {}
        for f in fields(record):  # type: ignore[arg-type]
            value = getattr(record, f.name)
            if isinstance(value, datetime):
                value = pd.Timestamp(value).tz_convert(zone)
            elif isinstance(value, tuple):
                value = ",".join(value)
            row[f.name] = value
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True, slots=True)
class Progress:
    """The overview's headline numbers for the fiscal year to date."""

    co2_t: float
    """Emissions of the consuming meters, FY to date. [t-CO2]"""
    co2_prev_t: float | None
    """The same span of last FY; None when the store does not cover it. [t-CO2]"""
    energy_mwh: float
    """Energy used, FY to date (PV generation not subtracted). [MWh]"""
    pv_mwh: float
    """PV generation, FY to date. [MWh]"""
    pv_avoided_t: float
    """PV generation × grid factor. [t-CO2]"""
    budget_t: float | None
    """What the nearest city target's straight-line path allows so far. [t-CO2]"""


def progress(now: pd.DataFrame, before: pd.DataFrame | None, budget_t: float | None
             ) -> Progress:
    """Sum ``data.sector_days`` (or ``meter_days``) frames into headlines.

    ``now`` is this FY to date, ``before`` last FY's same span.
    """
    use = now[now["kind"] != "pv"]
    pv = now[now["kind"] == "pv"]
    prev = None if before is None else before[before["kind"] != "pv"]["co2_kg"].sum() / 1000.0
    return Progress(
        co2_t=float(use["co2_kg"].sum()) / 1000.0,
        co2_prev_t=None if prev is None else float(prev),
        energy_mwh=float(use["energy_kwh"].sum()) / 1000.0,
        pv_mwh=float(pv["energy_kwh"].sum()) / 1000.0,
        pv_avoided_t=float(now["avoided_co2_kg"].sum()) / 1000.0,
        budget_t=budget_t,
    )


def nearest_target(targets: Iterable[Any], scope: str, scope_id: str | None, fy: int
                   ) -> Any | None:
    """The target of a scope with the nearest target year at or after ``fy`` (or None)."""
    found = [tg for tg in targets if tg.scope == scope and tg.target_fy >= fy
             and (scope_id is None or tg.id == scope_id)]
    return min(found, key=lambda tg: tg.target_fy) if found else None


def path_to_date_t(target: Any, fy: int, fraction: float) -> float:
    """The straight-line path's allowance for ``fy``, pro rata for the elapsed fraction. [t]"""
    return straight_line_target_t(target.base_co2_t, target.base_fy, target.target_fy,
                                  target.reduction_pct, fy) * fraction


def baseline_frames(points: Sequence[Any], tz: str
                    ) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    """Group ``BaselinePoint``s by (meter, measure) into frames sorted by day.

    Columns: ``day_start`` (UTC), ``day`` (local date in ``tz``), ``observed_kwh``,
    ``predicted_kwh``, ``predicted_kwh_lower``, ``predicted_kwh_upper``. [kWh per day]
    """
    if not points:
        return []
    frame = pd.DataFrame({
        "meter": [p.meter_id for p in points], "measure": [p.measure_id for p in points],
        "day_start": pd.to_datetime([p.day_start for p in points], utc=True),
        "observed_kwh": [p.observed_kwh for p in points],
        "predicted_kwh": [p.predicted_kwh for p in points],
        "predicted_kwh_lower": [p.predicted_kwh_lower for p in points],
        "predicted_kwh_upper": [p.predicted_kwh_upper for p in points],
    })
    frame["day"] = frame["day_start"].dt.tz_convert(ZoneInfo(tz)).dt.date
    out = []
    for (meter, measure), part in frame.groupby(["meter", "measure"], sort=True):
        out.append(((str(meter), str(measure)),
                    part.sort_values("day_start").drop(columns=["meter", "measure"])
                    .reset_index(drop=True)))
    return out
