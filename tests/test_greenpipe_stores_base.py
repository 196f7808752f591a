"""``greenpipe.stores.base.Memo``: the time-bounded memo of the InfluxDB store's costly reads."""

from __future__ import annotations

from greenpipe.stores.base import Memo


def test_memo_answers_from_memory_while_key_and_age_match() -> None:
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    memo: Memo[int] = Memo()
    assert memo.get(read, 60.0, key="a") == 1
    assert memo.get(read, 60.0, key="a") == 1  # remembered: no second read
    assert reads == [1]
    assert memo.get(read, 60.0, key="b") == 2  # another key (a new state point): read anew
    assert memo.get(read, 0.0, key="b") == 3  # older than the bound: read anew
    memo.clear()
    assert memo.get(read, 60.0, key="b") == 4  # cleared (the store wrote): read anew
    assert memo.get(read, 60.0, key="b") == 4
    assert len(reads) == 4


def test_memo_remembers_none_answers() -> None:
    reads: list[None] = []
    memo: Memo[None] = Memo()
    assert memo.get(lambda: reads.append(None), 60.0) is None
    assert memo.get(lambda: reads.append(None), 60.0) is None
    assert reads == [None]
