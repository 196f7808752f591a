"""``greenpipe store stats``: what a store holds per meter, as a table or JSON lines.

Each meter's upstream loss (messages it numbered with ``seq`` that never reached the
collector, ``collector.sequence``) is read from the store next to its readings, so the
CLI and the dashboard show what the collector counted; so is what each collector last
saw of the broker's own drop counter (``$SYS``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from greenpipe.model import BrokerStatus, SequenceState
from greenpipe.stores.base import MeterStats, StoreStats


def energy_text(energy_kwh: float) -> str:
    """Format an energy for a table: 0.1 kWh resolution from 100 kWh, else 4 significant
    digits (a 0.0123 kWh meter must not print as 0.0). [kWh]"""
    if energy_kwh == 0:
        return "0"
    if abs(energy_kwh) >= 100:
        return f"{energy_kwh:,.1f}"
    return f"{energy_kwh:.4g}"


def _rows(stats: StoreStats, seq: Mapping[str, SequenceState]) -> list[MeterStats]:
    """The store's meters plus any meter with a ``seq`` state but no reading stored."""
    rows = list(stats.meters)
    held = {m.meter for m in rows}
    rows += [MeterStats(meter=s.meter_id, site=s.site_id, readings=0, first_ts=None,
                        last_ts=None, energy_kwh=0.0)
             for s in seq.values() if s.meter_id not in held]
    return sorted(rows, key=lambda m: m.meter)


def json_lines(stats: StoreStats, seq: Mapping[str, SequenceState],
               brokers: Sequence[BrokerStatus] = ()) -> list[str]:
    """One JSON object per meter (with ``upstream_lost``), then the totals: dead letters,
    upstream loss and each collector's view of the broker's drop counter."""
    out = []
    for m in _rows(stats, seq):
        out.append(json.dumps({
            "meter": m.meter,
            "site": m.site,
            "readings": m.readings,
            "first_ts": m.first_ts.isoformat() if m.first_ts else None,
            "last_ts": m.last_ts.isoformat() if m.last_ts else None,
            "energy_kwh": round(m.energy_kwh, 6),
            "upstream_lost": seq[m.meter].lost if m.meter in seq else 0,
        }, ensure_ascii=False))
    out.append(json.dumps({"dead_letters": stats.dead_letters,
                           "upstream_lost": sum(s.lost for s in seq.values()),
                           "broker_dropped": {b.client_id: b.dropped for b in brokers}},
                          ensure_ascii=False))
    return out


def table_lines(stats: StoreStats, seq: Mapping[str, SequenceState],
                brokers: Sequence[BrokerStatus] = ()) -> list[str]:
    """A table sized to the longest meter and site ids, then totals and a loss warning."""
    rows = _rows(stats, seq)
    out = []
    if rows:
        mw = max(5, *(len(m.meter) for m in rows))
        sw = max(4, *(len(m.site) for m in rows))
        energies = [energy_text(m.energy_kwh) for m in rows]
        ew = max(10, *(len(e) for e in energies))
        out.append(f"{'meter':<{mw}} {'site':<{sw}} {'readings':>9} {'first (UTC)':<17} "
                   f"{'last (UTC)':<17} {'days':>6} {'energy kWh':>{ew}} {'lost':>6}")
        for m, energy in zip(rows, energies, strict=True):
            days = ((m.last_ts - m.first_ts).total_seconds() / 86400
                    if m.first_ts and m.last_ts else 0.0)
            first = m.first_ts.strftime("%Y-%m-%d %H:%M") if m.first_ts else "-"
            last = m.last_ts.strftime("%Y-%m-%d %H:%M") if m.last_ts else "-"
            lost = seq[m.meter].lost if m.meter in seq else 0
            out.append(f"{m.meter:<{mw}} {m.site:<{sw}} {m.readings:>9} {first:<17} "
                       f"{last:<17} {days:>6.1f} {energy:>{ew}} {lost:>6}")
    out.append(f"dead letters: {stats.dead_letters}")
    for b in brokers:
        dropped = "not published" if b.dropped is None else str(b.dropped)
        out.append(f"broker dropped messages (seen by {b.client_id} at "
                   f"{b.seen_at.strftime('%Y-%m-%d %H:%M')} UTC): {dropped}")
    total = sum(s.lost for s in seq.values())
    if total:
        out.append(f"UPSTREAM LOSS: {total} messages numbered by the meters (seq) never "
                   "reached the collector; see docs/mqtt.md#broker-requirements "
                   "(max_queued_messages)")
    return out
