"""Gateway batch uploads (``<prefix>/<site>/<meter>/readings``) through collector.pipeline."""

from __future__ import annotations

import json
import math

from collector.codes import RejectCode
from greenpipe.config import Config
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import (
    MAX_BATCH_READINGS,
    batch_topic,
    encode_batch,
    encode_reading,
    parse_reading_topic,
    reading_topic,
)
from tests.test_collector_pipeline import (
    STEP,
    T0,
    energies,
    make_pipeline,
    msg,
    reading_msg,
)

B1 = batch_topic("greenpipe/v1", "factory-1", "f1-main")
F1 = reading_topic("greenpipe/v1", "factory-1", "f1-main")


def _known(values: list[float]) -> list[float]:
    """The interval energies, without the first reading's unknown (NaN) one."""
    return [v for v in values if not math.isnan(v)]


def _batch(first: int, registers: list[float], seq0: int | None = None) -> bytes:
    return encode_batch([
        encode_reading(T0 + (first + k) * STEP, reg, seq=None if seq0 is None else seq0 + k)
        for k, reg in enumerate(registers)])


def test_batch_is_stored_like_single_readings_and_acked_after_the_flush(
        example_config: Config, sqlite_store: SqliteStore) -> None:
    durable: list = []
    p = make_pipeline(example_config, sqlite_store, durable=durable)
    m = msg(B1, _batch(0, [100.0, 100.5, 102.0, 102.25]), mid=7)
    p.handle(m)
    assert durable == []  # nothing is acked before the write
    assert p.flush()
    assert durable == [m]
    assert _known(energies(sqlite_store, "f1-main")) == [0.5, 1.5, 0.25]
    latest = sqlite_store.latest()["f1-main"]
    assert latest.register_kwh == 102.25 and latest.ts == T0 + 3 * STEP
    report = p.report(1)
    assert report.written == 4 and not report.rejected
    # Single readings continue the same meter's registers.
    p.handle(reading_msg(F1, 4, 103.0))
    p.flush()
    assert _known(energies(sqlite_store, "f1-main")) == [0.5, 1.5, 0.25, 0.75]


def test_a_bad_element_is_one_dead_letter_with_its_index_and_the_rest_is_stored(
        example_config: Config, sqlite_store: SqliteStore) -> None:
    durable: list = []
    p = make_pipeline(example_config, sqlite_store, durable=durable)
    good = [encode_reading(T0 + k * STEP, 100.0 + k) for k in range(4)]
    bad = b'{"ts": "2026-04-01T02:00:00", "register_kwh": 1.0}'  # naive timestamp
    m = msg(B1, encode_batch([good[0], good[1], bad, good[2], b"[1]", good[3]]), mid=9)
    p.handle(m)
    assert p.flush()
    assert durable == [m]
    assert _known(energies(sqlite_store, "f1-main")) == [1.0, 1.0, 1.0]
    letters = sorted(sqlite_store.read_dead_letters(), key=lambda d: d.reason)
    assert [d.code for d in letters] == [RejectCode.NAIVE_TIMESTAMP.value,
                                         RejectCode.NOT_OBJECT.value]
    assert letters[0].reason.startswith(f"batch element 2 of 6 from {B1}: ts ")
    assert letters[1].reason.startswith(f"batch element 4 of 6 from {B1}: payload is a JSON "
                                        "array")
    # Each dead letter holds just its element, on the single-reading topic: republishable.
    assert json.loads(letters[0].payload) == json.loads(bad)
    assert letters[0].topic == F1 and letters[1].payload == b"[1]"
    assert p.report(1).rejected == {RejectCode.NAIVE_TIMESTAMP.value: 1,
                                    RejectCode.NOT_OBJECT.value: 1}


def test_oversize_and_non_array_batches_are_dead_letters_with_a_clear_reason(
        example_config: Config, sqlite_store: SqliteStore) -> None:
    p = make_pipeline(example_config, sqlite_store)
    too_many = b"[" + b",".join([b"{}"] * (MAX_BATCH_READINGS + 1)) + b"]"
    p.handle(msg(B1, too_many))
    p.handle(msg(B1, b"[" + b" " * 1_100_000 + b"]"))
    p.handle(msg(B1, encode_reading(T0, 1.0)))
    p.flush()
    letters = sqlite_store.read_dead_letters()
    by_code = sorted((d.code, d.reason) for d in letters)
    assert [c for c, _ in by_code] == [RejectCode.BATCH_TOO_LARGE.value] * 2 + [
        RejectCode.NOT_ARRAY.value]
    assert f"more than the {MAX_BATCH_READINGS} the collector takes" in by_code[1][1] \
        or f"more than the {MAX_BATCH_READINGS} the collector takes" in by_code[0][1]
    assert any("bytes, more than the 1048576" in r for _, r in by_code)
    assert "not an array" in by_code[2][1]
    assert sqlite_store.latest() == {}


def test_seq_tracking_counts_batch_elements(example_config: Config,
                                            sqlite_store: SqliteStore) -> None:
    p = make_pipeline(example_config, sqlite_store)
    p.handle(msg(B1, _batch(0, [100.0, 101.0, 102.0], seq0=0)))
    # seq 3 and 4 never arrive; the next batch starts at 5.
    p.handle(msg(B1, _batch(5, [105.0, 106.0], seq0=5)))
    p.flush()
    assert p.report(2).upstream_lost == {"f1-main": 2}
    assert sqlite_store.read_sequence_states()["f1-main"].lost == 2


def test_redelivered_batch_is_recognised_as_duplicates(example_config: Config,
                                                       sqlite_store: SqliteStore) -> None:
    p = make_pipeline(example_config, sqlite_store)
    payload = _batch(0, [100.0, 100.5, 102.0])
    p.handle(msg(B1, payload, mid=1))
    p.flush()
    p.handle(msg(B1, payload, mid=2))
    p.flush()
    report = p.report(2)
    assert report.written == 3 and report.duplicates == 3
    assert _known(energies(sqlite_store, "f1-main")) == [0.5, 1.5]


def test_batch_topic_parses_and_encode_batch_refuses_oversize() -> None:
    assert parse_reading_topic("greenpipe/v1", B1, "readings") == ("factory-1", "f1-main")
    assert parse_reading_topic("greenpipe/v1", B1) is None
    try:
        encode_batch([b"{}"] * (MAX_BATCH_READINGS + 1))
    except ValueError as exc:
        assert "send several batches" in str(exc)
    else:
        raise AssertionError("encode_batch accepted an oversize batch")
