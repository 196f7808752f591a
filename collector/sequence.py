"""Upstream loss: count the messages a meter sent that never reached the collector, by ``seq``.

A meter that sends ``seq`` (``docs/mqtt.md``) numbers its reading messages 0, 1, 2, ...
from its (re)start. The collector keeps one ``SequenceState`` per meter and counts a
message as lost when its number is skipped. The rule, in order, for a message with
number ``seq`` and timestamp ``ts`` (the meter's own clock):

1. First message ever seen of the meter: the count starts here. Whatever the meter sent
   before the collector first heard of it is not counted (a meter running for a year and
   a meter that lost its first messages look the same).
2. ``ts`` before ``epoch_ts`` (the meter restarted since): a late message of the run
   before the restart. If its number is one of that run's holes it fills it (lost - 1);
   otherwise it is a duplicate.
3. ``seq > high_seq``: in order. The numbers skipped between are holes (lost + gap).
4. ``seq <= high_seq`` and ``ts > high_ts``: the number went back while time went on, so
   the meter restarted (or its counter wrapped) and counts from 0 again: a new run starts,
   ``0 .. seq-1`` are its holes, and the old run's holes are kept as ``old_holes``.
5. Otherwise (``seq <= high_seq``, ``ts <= high_ts``): a redelivery (at-least-once, same
   number) or a late, out-of-order message. If its number is a hole it fills it
   (lost - 1); otherwise it is a duplicate and changes nothing.

So duplicates never count, late messages un-count their hole, and the state is stored
with the readings in the same flush (``Store.write_sequence_states``) before the MQTT
messages are acknowledged, so a collector restart continues exactly where it stopped
(redelivered messages are then duplicates, not new numbers).

What ``seq`` cannot see, and the broker's ``$SYS`` drop counter covers: messages lost at
the tail of a run (nothing newer arrived yet, or the meter restarted right after), and a
restart whose first surviving number is above the last run's highest. At most
``MAX_HOLES`` ranges per run are remembered; older ones stay counted as lost.

Hand-written because no library tracks MQTT sequence gaps; it is a few pure functions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from greenpipe.model import SequenceState

MAX_HOLES = 256
"""Missing ``seq`` ranges remembered per meter run (older ones stay counted as lost)."""
_MS = timedelta(milliseconds=1)

Holes = tuple[tuple[int, int], ...]


def observe(state: SequenceState | None, meter_id: str, site_id: str, seq: int,
            ts: datetime) -> SequenceState:
    """Return the meter's state after a message numbered ``seq`` at ``ts`` (module rule)."""
    if state is None:
        return SequenceState(meter_id, site_id, seq, ts, ts)
    n = state.messages + 1
    if ts < state.epoch_ts:
        old, filled = _fill(state.old_holes, seq)
        if filled:
            return replace(state, messages=n, lost=state.lost - 1, old_holes=old)
        return replace(state, messages=n)
    if seq == state.high_seq + 1:  # the usual case, built directly: replace() is slower
        return SequenceState(state.meter_id, site_id, seq, ts, state.epoch_ts, n, state.lost,
                             state.restarts, state.holes, state.old_holes)
    if seq > state.high_seq:
        gap = seq - state.high_seq - 1
        holes = _bounded((*state.holes, (state.high_seq + 1, seq - 1))) if gap else state.holes
        return replace(state, site_id=site_id, messages=n, high_seq=seq, high_ts=ts,
                       lost=state.lost + gap, holes=holes)
    if ts > state.high_ts:  # restart: the new run's messages are all later than the old's
        return replace(state, site_id=site_id, messages=n, high_seq=seq, high_ts=ts,
                       epoch_ts=state.high_ts + _MS, lost=state.lost + seq,
                       restarts=state.restarts + 1,
                       holes=((0, seq - 1),) if seq > 0 else (), old_holes=state.holes)
    holes, filled = _fill(state.holes, seq)
    if filled:
        return replace(state, messages=n, lost=state.lost - 1, holes=holes)
    return replace(state, messages=n)


def _fill(holes: Holes, seq: int) -> tuple[Holes, bool]:
    """Remove ``seq`` from the hole ranges; return them and whether it was a hole."""
    for i in range(len(holes) - 1, -1, -1):  # late messages are usually recent ones
        lo, hi = holes[i]
        if lo <= seq <= hi:
            split = tuple(r for r in ((lo, seq - 1), (seq + 1, hi)) if r[0] <= r[1])
            return holes[:i] + split + holes[i + 1:], True
    return holes, False


def _bounded(holes: Holes) -> Holes:
    return holes[-MAX_HOLES:]
