"""Stateless scale-out: any collector takes any message; the store's write puts them in order.

With ``collector.share_group`` set and ``collector.share_members`` empty, every member
subscribes to ``$share/<group>/...`` and Mosquitto hands each message to any of them
(round robin), so a meter's readings are spread over the members. A member keeps no
register state: ``PendingRegisters`` turns a register sample into a *pending* reading (its
register, no energy yet), and at flush ``OrderedWriter`` writes the batch through
``SqliteStore.write_ordered``: inside the store's write transaction, which no other member
can interleave, each meter's stored neighbours around the batch are read, a fresh
``RegisterTracker`` is seeded with them, and the batch's samples are resolved in arrival
order with the usual rules (first reading, counter reset and rollover, spikes, gaps,
duplicates, late readings re-splitting their interval). What the rules return (the new
readings and the rewritten next ones) is written in the same transaction, so the energy
is exact whatever order the members commit in. The ``seq`` upstream-loss state is folded
the same way (``SqliteStore.update_sequence_states``).

Needs a store that serialises writes and can read inside them: SQLite. InfluxDB has no
transactions, so grouped collectors writing to it keep ownership forwarding
(``collector.sharing``; ``docs/collector.md`` has the measurements behind the choice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from collector.codes import QualityCode
from collector.decoders import Sample
from collector.registers import DERIVED, RegisterTracker, duplicate_conflict, is_baseline
from collector.sequence import observe
from greenpipe.errors import PayloadError
from greenpipe.model import Reading, SequenceState


@runtime_checkable
class OrderedStore(Protocol):
    """A store that can derive and write inside its own write serialisation (SqliteStore)."""

    def write_ordered(
        self, spans: Mapping[str, tuple[datetime, datetime]],
        derive: Callable[[Mapping[str, list[Reading]]], Sequence[Reading]],
        is_baseline: Callable[[Reading], bool],
    ) -> int:
        """See ``SqliteStore.write_ordered``."""

    def update_sequence_states(
        self, meter_ids: Sequence[str],
        update: Callable[[Mapping[str, SequenceState]], Sequence[SequenceState]],
    ) -> None:
        """See ``SqliteStore.update_sequence_states``."""


class PendingRegisters(RegisterTracker):
    """The member's resolver: register samples become pending readings, nothing is held.

    Power checks, interval-form and weather samples are handled exactly as by
    ``RegisterTracker``; a register sample becomes a reading with its register and power
    and no energy, which ``OrderedWriter`` resolves in the store's write transaction.
    """

    def resolve(self, sample: Sample) -> list[Reading]:
        """Return the sample as one reading; a register reading's energy is left pending."""
        if sample.register_kwh is None or sample.energy_kwh is not None or \
                sample.temp_air_c is not None:
            return super().resolve(sample)
        power_kw, flags = self._check_power(sample)
        return [Reading(meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                        register_kwh=sample.register_kwh, power_kw=power_kw, quality=flags)]


@dataclass(slots=True)
class Outcome:
    """What one ordered write did."""

    written: list[Reading] = field(default_factory=list)
    """Readings written: the batch's and the stored ones rewritten by a late reading."""
    duplicates: int = 0
    """Samples already stored at their instant with the same register."""
    rejected: list[tuple[int, PayloadError]] = field(default_factory=list)
    """(index in the batch, reason) of samples the register rules refused."""


class OrderedWriter:
    """Writes pending readings through ``OrderedStore.write_ordered`` with the register rules."""

    def __init__(self, store: OrderedStore, *,
                 rated_max_kw: Mapping[str, float | None] | None = None,
                 gap_after: timedelta | None = None) -> None:
        """Write to ``store``; spike and gap rules as for ``RegisterTracker``."""
        self._store = store
        self._rated = dict(rated_max_kw or {})
        self._gap_after = gap_after

    def write(self, batch: Sequence[Reading]) -> Outcome:
        """Resolve and write ``batch`` (pending register readings and finished ones).

        Raises StoreError like ``Store.write``; on success the outcome says what was
        written, which samples were duplicates and which the rules refused.
        """
        by_meter: dict[str, list[int]] = {}
        for i, reading in enumerate(batch):
            if reading.register_kwh is not None:
                by_meter.setdefault(reading.meter_id, []).append(i)
        spans = {m: (min(batch[i].ts for i in idx), max(batch[i].ts for i in idx))
                 for m, idx in by_meter.items()}
        result = Outcome()

        def derive(context: Mapping[str, list[Reading]]) -> list[Reading]:
            nonlocal result
            result = Outcome()  # a retried transaction starts over
            for meter_id, idx in by_meter.items():
                self._replay(batch, idx, spans[meter_id][0], context.get(meter_id, []),
                             result)
            result.written.extend(r for r in batch if r.register_kwh is None)
            return result.written

        self._store.write_ordered(spans, derive, is_baseline)
        return result

    def _replay(self, batch: Sequence[Reading], idx: Sequence[int], lo: datetime,
                stored: Sequence[Reading], result: Outcome) -> None:
        """Merge one meter's batch readings into its stored ones and re-derive in time order.

        The stored readings before ``lo`` are the baseline; from ``lo`` on, stored and new
        readings are resolved together in time order by a fresh ``RegisterTracker``, as if
        one collector had received them in order. New readings and stored ones whose energy
        or flags change are written; a new reading earlier than a stored one is flagged
        ``quality.late``. A second register at a stored (or earlier-in-batch) instant is a
        duplicate when equal and ``quality.duplicate_conflict`` otherwise.
        """
        meter_id = batch[idx[0]].meter_id
        tracker = RegisterTracker(history=len(stored) + len(idx) + 1,
                                  rated_max_kw=self._rated, gap_after=self._gap_after)
        tracker.seed(meter_id, [r for r in stored if r.ts < lo])
        held = {r.ts: r for r in stored if r.ts >= lo}
        newest = max((r.ts for r in stored), default=None)
        fresh: dict[datetime, Reading] = {}
        for i in idx:
            pending = batch[i]
            first = held.get(pending.ts) or fresh.get(pending.ts)
            if first is not None:
                assert first.register_kwh is not None and pending.register_kwh is not None
                if first.register_kwh == pending.register_kwh:
                    result.duplicates += 1
                else:
                    result.rejected.append((i, duplicate_conflict(
                        meter_id, pending.ts, first.register_kwh, pending.register_kwh)))
                continue
            fresh[pending.ts] = pending
        for ts in sorted(held.keys() | fresh.keys()):
            old = held.get(ts)
            reading = old if old is not None else fresh[ts]
            (out,) = tracker.resolve(Sample(meter_id, reading.site_id, ts,
                                            register_kwh=reading.register_kwh,
                                            power_kw=reading.power_kw))
            if old is None:  # a pending reading carries only its power check's flags
                kept = reading.quality
                if newest is not None and ts < newest:
                    kept |= {QualityCode.LATE.value}
            else:
                kept = old.quality - DERIVED
                if QualityCode.SPIKE.value in old.quality and is_baseline(old):
                    kept |= {QualityCode.SPIKE.value}  # power_kw above rating, not the register
                if QualityCode.LATE.value in old.quality:
                    kept |= {QualityCode.LATE.value}
            out = replace(out, quality=out.quality | kept)
            if old is None or (out.energy_kwh, out.quality) != (old.energy_kwh, old.quality):
                result.written.append(out)

    def fold_sequences(self, observed: Sequence[tuple[str, str, int, datetime]]
                       ) -> dict[str, SequenceState]:
        """Fold ``(meter, site, seq, ts)`` observations into the stored states; return them."""
        meters = sorted({m for m, _, _, _ in observed})
        merged: dict[str, SequenceState] = {}

        def update(stored: Mapping[str, SequenceState]) -> list[SequenceState]:
            merged.clear()
            merged.update(stored)
            for meter_id, site_id, seq, ts in observed:
                merged[meter_id] = observe(merged.get(meter_id), meter_id, site_id, seq, ts)
            return [merged[m] for m in meters]

        self._store.update_sequence_states(meters, update)
        return dict(merged)
