"""Stateless scale-out: any collector takes any message; the store's write puts them in order.

With ``collector.share_group`` set and ``collector.share_members`` empty, every member
subscribes to ``$share/<group>/...`` and Mosquitto hands each message to any of them
(round robin), so a meter's readings are spread over the members. A member keeps no
register state: ``PendingRegisters`` turns a register sample into a *pending* reading (its
register, no energy yet), and at flush ``OrderedWriter`` writes the batch through
``SqliteStore.write_ordered``: inside the store's write transaction, which no other member
can interleave, each meter's stored readings around the batch are read, the batch is
merged into them (duplicates, conflicts and late readings that do not fit between their
neighbours are refused as for one collector), and a fresh ``RegisterTracker`` seeded with
the stored baseline re-derives the merged readings in time order with the usual rules
(first reading, counter reset and rollover, spikes, gaps). New readings and stored ones
whose energy or flags change are written in the same transaction, so the result is what
one collector receiving the readings in time order stores, whatever order the members
commit in. The ``seq`` upstream-loss state is folded the same way
(``SqliteStore.update_sequence_states``).

A single collector into SQLite uses the same writer for late readings only
(``TailRegisters``): it keeps each meter's newest reading in memory, nothing more.

Needs a store that serialises writes and can read inside them: SQLite. InfluxDB has no
transactions, so grouped collectors writing to it keep ownership forwarding
(``collector.sharing``; ``docs/collector.md`` has the measurements behind the choice).
Hand-written: the rules are the collector's own (``collector.registers``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from collector.codes import QualityCode, RejectCode
from collector.decoders import Sample
from collector.registers import DERIVED, RegisterTracker, duplicate_conflict, is_baseline
from collector.sequence import observe
from greenpipe.errors import PayloadError
from greenpipe.model import Reading, SequenceState

More = Callable[[str, datetime, int], list[Reading]]
"""``more(meter_id, after, limit)``: the meter's next stored register readings after
``after``, read inside the same write transaction."""
MAX_REPLAY_STEP = 32
"""Stored readings read at a time when a replay's change reaches past its context. [readings]"""


@runtime_checkable
class OrderedStore(Protocol):
    """A store that can derive and write inside its own write serialisation (SqliteStore)."""

    def write_ordered(
        self, spans: Mapping[str, tuple[datetime, datetime]],
        derive: Callable[[Mapping[str, list[Reading]], More], Sequence[Reading]],
        is_baseline: Callable[[Reading], bool],
    ) -> int:
        """See ``SqliteStore.write_ordered``."""

    def update_sequence_states(
        self, meter_ids: Sequence[str],
        update: Callable[[Mapping[str, SequenceState]], Sequence[SequenceState]],
    ) -> None:
        """See ``SqliteStore.update_sequence_states``."""


PENDING = "collector.pending"
"""Marks a reading whose energy the store's write transaction derives (never stored)."""
TAIL_HISTORY = 1
"""Readings a single collector with an ordered store keeps per meter: the newest, for the
in-order fast path; older (late) readings go to the store. [readings]"""


def _pending(sample: Sample, power_kw: float | None, flags: frozenset[str]) -> Reading:
    return Reading(meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                   register_kwh=sample.register_kwh, power_kw=power_kw,
                   quality=flags | {PENDING})


class PendingRegisters(RegisterTracker):
    """A group member's resolver: register samples become pending readings, nothing is held.

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
        return [_pending(sample, power_kw, flags)]

    def adopt(self, meter_id: str, source: RegisterTracker) -> None:
        """Keep nothing: a member's next reading of the meter is resolved by the store."""


class TailRegisters(RegisterTracker):
    """A single collector's resolver with an ordered store: only each meter's newest reading.

    In-order readings (the usual case) are resolved here, from memory, as by
    ``RegisterTracker``; a reading older than the meter's newest (late, or a redelivery
    after a restart) becomes pending and is resolved by ``OrderedWriter`` against the
    stored readings, however late it is. Memory stays one reading per meter.
    """

    def __init__(self, latest: Mapping[str, Reading] | None = None, *,
                 rated_max_kw: Mapping[str, float | None] | None = None,
                 gap_after: timedelta | None = None) -> None:
        """Start from ``latest`` (``Store.latest()``); rules as for ``RegisterTracker``."""
        super().__init__(latest, history=TAIL_HISTORY, rated_max_kw=rated_max_kw,
                         gap_after=gap_after)

    def _late(self, sample: Sample, state: object, power_kw: float | None,
              flags: frozenset[str]) -> list[Reading]:
        return [_pending(sample, power_kw, flags)]


@dataclass(slots=True)
class Outcome:
    """What one ordered write did."""

    written: list[Reading] = field(default_factory=list)
    """Readings written: the batch's and the stored ones rewritten by a late reading."""
    duplicates: int = 0
    """Samples already stored at their instant with the same register."""
    rejected: list[tuple[int, PayloadError]] = field(default_factory=list)
    """(index in the batch, reason) of samples the register rules refused."""
    trackers: dict[str, RegisterTracker] = field(default_factory=dict)
    """Per meter written, the replay's tracker: it holds the newest readings it replayed."""


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
            if PENDING in reading.quality:
                by_meter.setdefault(reading.meter_id, []).append(i)
        spans = {m: (min(batch[i].ts for i in idx), max(batch[i].ts for i in idx))
                 for m, idx in by_meter.items()}
        result = Outcome()

        def derive(context: Mapping[str, list[Reading]], more: More) -> list[Reading]:
            nonlocal result
            result = Outcome()  # a retried transaction starts over
            for meter_id, idx in by_meter.items():
                result.trackers[meter_id] = self._replay(
                    batch, idx, spans[meter_id][0], context.get(meter_id, []), more, result)
            result.written.extend(r for r in batch if PENDING not in r.quality)
            return result.written

        self._store.write_ordered(spans, derive, is_baseline)
        return result

    def _replay(self, batch: Sequence[Reading], idx: Sequence[int], lo: datetime,
                stored: Sequence[Reading], more: More, result: Outcome) -> RegisterTracker:
        """Merge one meter's batch readings into its stored ones and re-derive in time order.

        The stored readings before ``lo`` are the baseline; from ``lo`` on, stored and new
        readings are resolved together in time order by a fresh ``RegisterTracker``, as if
        one collector had received them in order. New readings and stored ones whose energy
        or flags change are written; a new reading earlier than a stored one is flagged
        ``quality.late``. A second register at a stored (or earlier-in-batch) instant is a
        duplicate when equal and ``quality.duplicate_conflict`` otherwise. Returns the
        tracker, which then holds the newest readings it replayed.
        """
        meter_id = batch[idx[0]].meter_id
        tracker = RegisterTracker(history=len(stored) + len(idx) + 1,
                                  rated_max_kw=self._rated, gap_after=self._gap_after)
        tracker.seed(meter_id, [r for r in stored if r.ts < lo])
        held = {r.ts: r for r in stored if r.ts >= lo}
        newest = max((r.ts for r in stored), default=None)
        chain = [(r.ts, r.register_kwh) for r in stored if is_baseline(r)]
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
            late = bool(chain) and pending.ts < chain[-1][0]
            refusal = _misfit(chain, pending, tracker) if late else None
            if refusal is not None:
                result.rejected.append((i, refusal))
                continue
            fresh[pending.ts] = pending
            if late:  # it fits between two baselines; a newer one may yet be a spike
                bisect.insort(chain, (pending.ts, pending.register_kwh))
        settled = True
        order = sorted(held.keys() | fresh.keys())
        while order:
            for ts in order:
                old = held.get(ts)
                out = self._resolve(tracker, old if old is not None else fresh[ts], old,
                                    newest is not None and ts < newest)
                changed = old is None or (out.energy_kwh, out.quality) != (old.energy_kwh,
                                                                           old.quality)
                if changed:
                    result.written.append(out)
                # Once a stored reading comes out unchanged and a baseline, the state is
                # what it was when the readings after it were derived: they stand.
                settled = old is not None and not changed and is_baseline(out)
            if settled or ts not in held:
                break
            extra = more(meter_id, ts, MAX_REPLAY_STEP)  # the change reaches further
            held = {r.ts: r for r in extra}
            order = [r.ts for r in extra]
        return tracker

    @staticmethod
    def _resolve(tracker: RegisterTracker, reading: Reading, old: Reading | None,
                 late: bool) -> Reading:
        """Resolve one reading of the replay in time order; keep its own flags."""
        (out,) = tracker.resolve(Sample(reading.meter_id, reading.site_id, reading.ts,
                                        register_kwh=reading.register_kwh,
                                        power_kw=reading.power_kw))
        if old is None:  # a pending reading carries only its power check's flags
            kept = reading.quality - {PENDING}
            if late:
                kept |= {QualityCode.LATE.value}
        else:
            kept = old.quality - DERIVED
            if QualityCode.SPIKE.value in old.quality and is_baseline(old):
                kept |= {QualityCode.SPIKE.value}  # power_kw above rating, not the register
            if QualityCode.LATE.value in old.quality:
                kept |= {QualityCode.LATE.value}
        return replace(out, quality=out.quality | kept)

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


def _misfit(chain: list[tuple[datetime, float | None]], late: Reading,
            rules: RegisterTracker) -> PayloadError | None:
    """Refuse a late reading whose register does not fit between its neighbours in time.

    ``chain`` holds the meter's baseline registers in time order. A reading later than all
    of them is not late: the register rules judge it (reset, spike, ...). A late one must lie
    between its neighbours' registers, so a wrong register arriving late cannot turn the
    intervals around it into a fake reset and a fake surge, as ``RegisterTracker`` refuses
    it for a single collector. Where the register went back between the neighbours (a reset
    or rollover), it must lie on either side of the drop, and above it only as far as the
    meter's rating allows (``rules.plausible``), so a spike does not pass as a baseline.
    """
    register = late.register_kwh
    assert register is not None
    i = bisect.bisect_left(chain, late.ts, key=lambda item: item[0])
    if i == len(chain):
        return None
    if i == 0:
        return None  # the meter's earliest reading: the rules judge the next one from it
    nxt, prev = chain[i][1], chain[i - 1][1]
    assert nxt is not None and prev is not None
    if prev <= register <= nxt:
        return None
    # Where the register went back between the neighbours, either side of the drop fits.
    if nxt < prev and (register <= nxt or (register >= prev and rules.plausible(
            late.meter_id, register - prev, late.ts - chain[i - 1][0]))):
        return None
    around = f"{prev!r} kWh at {chain[i - 1][0].isoformat()}, {nxt!r} kWh at " \
        f"{chain[i][0].isoformat()}"
    return PayloadError(
        RejectCode.OUT_OF_ORDER,
        f"late reading of meter {late.meter_id} at {late.ts.isoformat()} ({register!r} kWh) "
        f"does not fit between its neighbours ({around}); it was not stored")
