"""Upstream-loss counting from each meter's ``seq`` (collector.sequence)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from collector.sequence import MAX_HOLES, observe
from greenpipe.model import SequenceState

T0 = datetime(2025, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)


def _run(messages: list[tuple[int, int]], state: SequenceState | None = None) -> SequenceState:
    """Feed ``(seq, slot)`` pairs (slot: the meter's clock in steps) to one meter."""
    for seq, slot in messages:
        state = observe(state, "m1", "s1", seq, T0 + slot * STEP)
    assert state is not None
    return state


def _in_order(first: int, last: int, offset: int = 0) -> list[tuple[int, int]]:
    return [(s, s + offset) for s in range(first, last + 1)]


def test_in_order_messages_lose_nothing() -> None:
    state = _run(_in_order(0, 99))
    assert (state.lost, state.high_seq, state.messages, state.holes) == (0, 99, 100, ())


def test_gaps_are_counted_exactly() -> None:
    kept = [m for m in _in_order(0, 99) if m[0] not in {5, 6, 7, 50}]
    state = _run(kept)
    assert state.lost == 4
    assert state.holes == ((5, 7), (50, 50))


def test_duplicates_change_nothing() -> None:
    msgs = _in_order(0, 9)
    state = _run(msgs + msgs[3:6] + msgs)  # at-least-once redelivery, twice
    assert (state.lost, state.high_seq, state.restarts) == (0, 9, 0)


def test_out_of_order_messages_fill_their_hole() -> None:
    msgs = _in_order(0, 49)
    random.Random(7).shuffle(msgs)
    first = min(msgs)  # the count starts at the first message seen: put seq 0 first
    msgs.remove(first)
    state = _run([first, *msgs])
    assert state.lost == 0 and state.holes == ()
    late_gap = _run([(0, 0), (1, 1), (4, 4), (3, 3)])
    assert late_gap.lost == 1 and late_gap.holes == ((2, 2),)


def test_meter_restart_starts_a_new_run_without_false_loss() -> None:
    before = _in_order(0, 20)
    after = _in_order(0, 9, offset=30)  # seq back to 0, clock went on
    state = _run(before + after)
    assert (state.lost, state.restarts, state.high_seq) == (0, 1, 9)


def test_loss_at_the_start_of_a_new_run_is_counted() -> None:
    state = _run(_in_order(0, 20) + _in_order(3, 9, offset=30))  # 0, 1, 2 of run 2 lost
    assert (state.lost, state.restarts) == (3, 1)
    # ... and they still fill when they arrive late.
    assert _run([(1, 31)], state).lost == 2


def test_late_message_of_the_run_before_a_restart_fills_the_old_hole() -> None:
    first = [m for m in _in_order(0, 20) if m[0] != 15]
    state = _run(first + _in_order(0, 5, offset=30))
    assert state.lost == 1
    state = _run([(15, 15)], state)  # old run's seq 15, older than the restart
    assert (state.lost, state.high_seq) == (0, 5)
    assert _run([(3, 3)], state).lost == 0  # an old-run duplicate: nothing


def test_messages_older_than_the_first_one_seen_are_not_counted() -> None:
    state = _run([(10, 10), (11, 11), (4, 4)])
    assert (state.lost, state.high_seq) == (0, 11)


def test_counts_equal_sent_minus_received_for_random_faults() -> None:
    """Random drops, duplicates and local reordering: lost == distinct numbers missing."""
    rng = random.Random(20250401)
    sent = _in_order(0, 1999)
    received = [m for m in sent if m[0] == 0 or rng.random() > 0.1]
    received += rng.sample(received, 200)  # redeliveries
    for i in range(1, len(received) - 1, 7):  # swap neighbours: out-of-order delivery
        received[i], received[i + 1] = received[i + 1], received[i]
    state = _run(received)
    distinct = {s for s, _ in received}
    assert state.lost == max(distinct) + 1 - len(distinct)


def test_hole_ranges_are_bounded_and_stay_counted() -> None:
    msgs = list(itertools.chain.from_iterable(
        [(2 * k, 2 * k)] for k in range(MAX_HOLES + 10)))  # every odd number missing
    state = _run(msgs)
    assert len(state.holes) == MAX_HOLES
    assert state.lost == MAX_HOLES + 9
