"""Tests for collector.pipeline: batching, dead letters and store-error handling.

Everything writes to a real SqliteStore. Retryable errors are real SQLite lock errors (a
second connection holds the write lock); a non-retryable refusal is injected by a
SqliteStore subclass, because SQLite has no way to refuse one well-formed row on its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector import decoders
from collector.codes import RejectCode
from collector.decoders import DecodeContext, Sample, register_decoder
from collector.pipeline import INITIAL_BACKOFF_S, Inbound, Pipeline, Route, default_routes
from collector.registers import RegisterTracker
from greenpipe.config import Config
from greenpipe.errors import StoreError
from greenpipe.model import QualityFlag, Reading
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from greenpipe.wire import encode_reading, reading_topic

T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)
RECEIVED = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)
F1 = reading_topic("greenpipe/v1", "factory-1", "f1-main")
F3 = reading_topic("greenpipe/v1", "factory-3", "f3-main")


def msg(topic: str, payload: bytes, mid: int = 0) -> Inbound:
    return Inbound(topic=topic, payload=payload, received_at=RECEIVED, mid=mid, qos=1)


def reading_msg(topic: str, i: int, register_kwh: float, mid: int = 0) -> Inbound:
    return msg(topic, encode_reading(T0 + i * STEP, register_kwh), mid)


def make_pipeline(cfg: Config, store: SqliteStore, *, batch_size: int = 100,
                  sleeps: list[float] | None = None, durable: list[Inbound] | None = None,
                  routes: Sequence[Route] | None = None) -> Pipeline:
    def sleep(s: float) -> None:
        if sleeps is not None:
            sleeps.append(s)

    return Pipeline(
        store, DecodeContext.from_config(cfg), RegisterTracker(store.latest()),
        routes or default_routes(cfg), batch_size=batch_size,
        on_durable=(durable.extend if durable is not None else None), sleep=sleep,
    )


def energies(store: SqliteStore, meter: str) -> list[float]:
    frame = store.read(T0 - STEP, T0 + 100 * STEP, STEP, meters=[meter])
    return list(frame["energy_kwh"])


def test_readings_and_dead_letters_are_batched_and_written(
    example_config: Config, sqlite_store: SqliteStore
) -> None:
    durable: list[Inbound] = []
    p = make_pipeline(example_config, sqlite_store, batch_size=4, durable=durable)
    messages = [
        reading_msg(F1, 0, 100.0, mid=1),
        msg(F1, b"not json", mid=2),
        reading_msg(F1, 1, 100.5, mid=3),
        reading_msg(F1, 1, 100.5, mid=4),  # duplicate: nothing new
        reading_msg(F1, 2, 102.0, mid=5),
    ]
    for m in messages[:3]:
        p.handle(m)
    assert p.pending_records == 3 and not p.batch_full()
    p.handle(messages[3])
    assert p.pending_records == 3 and p.pending_messages == 4
    p.handle(messages[4])
    assert p.batch_full()
    assert sqlite_store.stats().dead_letters == 0  # nothing written before the flush
    assert p.flush() is True
    assert [m.mid for m in durable] == [1, 2, 3, 4, 5]
    assert p.pending_records == 0 and p.pending_messages == 0

    assert energies(sqlite_store, "f1-main")[1:] == [0.5, 1.5]
    (letter,) = sqlite_store.read_dead_letters()
    assert (letter.topic, letter.payload, letter.code) == (F1, b"not json",
                                                           RejectCode.BAD_JSON.value)
    assert letter.received_at == RECEIVED
    assert letter.reason.startswith("payload is not valid JSON")
    report = p.report(received=5)
    assert (report.received, report.written, report.dead_letters, report.duplicates,
            report.unwritten) == (5, 3, 1, 1, 0)
    assert dict(report.rejected) == {"payload.bad_json": 1}
    assert report.rejected_total == 1


def test_out_of_order_becomes_a_dead_letter_with_reason(
    example_config: Config, sqlite_store: SqliteStore
) -> None:
    p = make_pipeline(example_config, sqlite_store)
    late = msg(F1, encode_reading(T0 - STEP / 2, 150.0))  # before the first, does not fit
    for m in (reading_msg(F1, 0, 100.0), reading_msg(F1, 1, 100.5), late):
        p.handle(m)
    p.flush()
    (letter,) = sqlite_store.read_dead_letters()
    assert letter.code == RejectCode.OUT_OF_ORDER.value
    assert letter.payload == late.payload
    assert "is older than the 2 recent readings the collector holds" in letter.reason


def test_late_reading_is_stored_and_the_next_interval_rewritten(
    example_config: Config, sqlite_store: SqliteStore
) -> None:
    p = make_pipeline(example_config, sqlite_store)
    for m in (reading_msg(F1, 0, 100.0), reading_msg(F1, 1, 100.5)):
        p.handle(m)
    p.flush()
    p.handle(msg(F1, encode_reading(T0 + STEP / 2, 100.125)))
    p.flush()
    frame = sqlite_store.read(T0, T0 + STEP, STEP / 2, meters=["f1-main"])
    assert frame["energy_kwh"].tolist() == [0.125, 0.375]
    assert sqlite_store.stats().meters[0].energy_kwh == 0.5
    assert p.report(3).quality == {"quality.first_reading": 1, "quality.late": 1}
    assert sqlite_store.read_dead_letters() == []


def test_unexpected_decoder_failure_is_an_internal_error_dead_letter(
    example_config: Config, sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoders, "_REGISTRY", dict(decoders._REGISTRY))

    def broken(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
        raise ZeroDivisionError("boom")

    register_decoder("broken", broken)
    routes = [Route("broken/#", "broken"), *default_routes(example_config)]
    p = make_pipeline(example_config, sqlite_store, routes=routes)
    p.handle(msg("broken/x", b"{}"))
    p.handle(msg("unrouted/topic", b"{}"))
    p.handle(Inbound(topic="greenpipe/v1/\ufffd", payload=b"x", received_at=RECEIVED,
                     topic_error="the topic is not valid UTF-8; publish on a UTF-8 topic"))
    p.handle(reading_msg(F1, 0, 1.0))  # and the pipeline carries on
    p.flush()
    letters = {d.topic: d for d in sqlite_store.read_dead_letters()}
    assert letters["broken/x"].code == RejectCode.INTERNAL_ERROR.value
    assert letters["broken/x"].reason == (
        "the collector failed on this message: ZeroDivisionError('boom'); please report it")
    assert letters["unrouted/topic"].code == RejectCode.BAD_TOPIC.value
    assert "no decoder is configured for topic 'unrouted/topic'" in letters[
        "unrouted/topic"].reason
    assert letters["greenpipe/v1/\ufffd"].code == RejectCode.BAD_TOPIC.value
    assert sqlite_store.stats().meters[0].readings == 1


def test_retryable_store_error_keeps_the_batch_until_it_clears(
    example_config: Config, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "locked.db",
                        Catalog.of(example_config.meters, example_config.sites))
    # Fail fast instead of SQLite's 30 s busy wait, so the lock error reaches the pipeline.
    store._conn.execute("PRAGMA busy_timeout=10")
    locker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 3:
            locker.execute("COMMIT")  # the store comes back after the third retry wait

    durable: list[Inbound] = []
    p = Pipeline(store, DecodeContext.from_config(example_config), RegisterTracker(),
                 default_routes(example_config), batch_size=10, on_durable=durable.extend,
                 sleep=sleep)
    for i, r in enumerate([10.0, 11.0, 13.0]):
        p.handle(reading_msg(F1, i, r))
    p.handle(msg(F1, b"{"))
    assert p.flush() is True
    assert sleeps == [INITIAL_BACKOFF_S, 2 * INITIAL_BACKOFF_S, 4 * INITIAL_BACKOFF_S]
    assert energies(store, "f1-main")[1:] == [1.0, 2.0]
    assert store.stats().dead_letters == 1
    assert len(durable) == 4
    report = p.report(received=4)
    assert (report.written, report.dead_letters, report.unwritten) == (3, 1, 0)
    locker.close()
    store.close()


def test_giving_up_at_shutdown_counts_what_was_not_stored(
    example_config: Config, tmp_path: Path
) -> None:
    store = SqliteStore(tmp_path / "down.db",
                        Catalog.of(example_config.meters, example_config.sites))
    store._conn.execute("PRAGMA busy_timeout=10")
    locker = sqlite3.connect(tmp_path / "down.db", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    durable: list[Inbound] = []
    p = Pipeline(store, DecodeContext.from_config(example_config), RegisterTracker(),
                 default_routes(example_config), batch_size=10, on_durable=durable.extend,
                 sleep=lambda s: None)
    p.handle(reading_msg(F1, 0, 10.0))
    p.handle(reading_msg(F1, 1, 11.0))
    p.handle(msg(F1, b"[]"))
    attempts = iter(range(100))
    assert p.flush(give_up=lambda: next(attempts) >= 2) is False
    report = p.report(received=3)
    assert (report.written, report.dead_letters, report.unwritten) == (0, 0, 3)
    assert durable == []  # nothing may be acknowledged that is not stored
    locker.execute("ROLLBACK")
    locker.close()
    assert store.stats().meters == ()
    store.close()


class _RefusingStore(SqliteStore):
    """A real SqliteStore that refuses readings of one meter as a server would reject a point."""

    def __init__(self, path: Path, catalog: Catalog, refused_meter: str) -> None:
        super().__init__(path, catalog)
        self.refused_meter = refused_meter
        self.batches: list[int] = []

    def write(self, readings: Sequence[Reading]) -> int:
        self.batches.append(len(readings))
        if any(r.meter_id == self.refused_meter for r in readings):
            raise StoreError(f"field type conflict for meter {self.refused_meter}",
                             retryable=False)
        return super().write(readings)


def test_non_retryable_refusal_isolates_the_refused_readings(
    example_config: Config, tmp_path: Path
) -> None:
    store = _RefusingStore(tmp_path / "refuse.db",
                           Catalog.of(example_config.meters, example_config.sites), "f3-main")
    p = make_pipeline(example_config, store)
    for i in range(3):
        p.handle(reading_msg(F1, i, 10.0 + i))
    bad = reading_msg(F3, 0, 5.0)
    p.handle(bad)
    assert p.flush() is True
    assert store.batches == [4, 1, 1, 1, 1]  # the batch, then one by one
    assert energies(store, "f1-main")[1:] == [1.0, 1.0]
    (letter,) = store.read_dead_letters()
    assert letter.code == RejectCode.STORE_REJECTED.value
    assert letter.payload == bad.payload and letter.topic == F3
    assert letter.reason == (
        "the store refused the reading of meter f3-main at 2026-04-01T00:00:00+00:00: "
        "field type conflict for meter f3-main")
    report = p.report(received=4)
    assert (report.written, report.dead_letters, dict(report.rejected)) == (
        3, 1, {"store.rejected": 1})
    store.close()


def test_restart_continues_from_the_store(example_config: Config,
                                          sqlite_store: SqliteStore) -> None:
    p = make_pipeline(example_config, sqlite_store)
    p.handle(reading_msg(F1, 0, 50.0))
    p.handle(reading_msg(F1, 1, 52.5))
    p.flush()
    again = make_pipeline(example_config, sqlite_store)  # seeded from store.latest()
    again.handle(reading_msg(F1, 1, 52.5))  # a redelivery after the restart
    again.handle(reading_msg(F1, 2, 53.0))
    again.flush()
    assert energies(sqlite_store, "f1-main")[1:] == [2.5, 0.5]
    assert again.report(received=2).duplicates == 1
    latest = sqlite_store.latest()["f1-main"]
    assert (latest.energy_kwh, latest.quality) == (0.5, frozenset())
    assert QualityFlag.FIRST_READING.value not in latest.quality


_payloads = st.one_of(
    st.binary(max_size=120),
    st.dictionaries(
        st.sampled_from(["ts", "register_kwh", "energy_kwh", "temp_air_c", "power_kw", "seq"]),
        st.one_of(st.none(), st.booleans(), st.integers(),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                  st.sampled_from(["2026-04-01T09:00:00+09:00", "2026-04-01T09:00:00Z"]),
                  st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)),
        max_size=4,
    ).map(lambda d: json.dumps(d).encode()),
)
_fuzz_topics = st.sampled_from([F1, F3, "greenpipe/v1/city-hall/weather-hitachi/reading",
                                "greenpipe/v1/bus-depot/bus-depot-chargers/reading",
                                "greenpipe/v1/x/y/reading"])


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(_fuzz_topics, _payloads), max_size=8))
def test_fuzzed_messages_never_crash_and_each_is_accounted_for(
    example_config: Config, sqlite_store: SqliteStore, batch: list[tuple[str, bytes]]
) -> None:
    p = make_pipeline(example_config, sqlite_store)
    before = sqlite_store.stats().dead_letters
    for topic, payload in batch:
        p.handle(msg(topic, payload))
    assert p.flush() is True
    report = p.report(received=len(batch))
    assert report.written + report.rejected_total + report.duplicates == len(batch)
    assert RejectCode.INTERNAL_ERROR.value not in report.rejected
    assert sqlite_store.stats().dead_letters - before == report.rejected_total


def test_upstream_loss_count_survives_a_collector_restart_without_false_loss(
        example_config: Config, sqlite_store: SqliteStore) -> None:
    """seq state is stored with the readings before the ack: redeliveries after a restart
    are duplicates, and a gap across the restart is counted once."""
    def seq_msg(i: int) -> Inbound:
        return msg(F1, encode_reading(T0 + i * STEP, 100.0 + i, seq=i))

    first = make_pipeline(example_config, sqlite_store)
    for i in (0, 1, 2, 4):  # 3 is lost
        first.handle(seq_msg(i))
    assert first.flush()
    assert sqlite_store.read_sequence_states()["f1-main"].lost == 1
    # Restart: the broker redelivers 2 and 4 (not acked in time), then 3 arrives late,
    # then the meter goes on after losing 5 and 6.
    second = Pipeline(sqlite_store, DecodeContext.from_config(example_config),
                      RegisterTracker(sqlite_store.latest()), default_routes(example_config),
                      batch_size=100, sequences=sqlite_store.read_sequence_states())
    for i in (2, 4, 3, 7):
        second.handle(seq_msg(i))
    assert second.flush()
    state = sqlite_store.read_sequence_states()["f1-main"]
    assert (state.lost, state.holes, state.high_seq) == (2, ((5, 6),), 7)
    assert dict(second.report(0).upstream_lost) == {"f1-main": 2}


def test_a_dead_lettered_message_is_not_also_upstream_loss(
        example_config: Config, sqlite_store: SqliteStore) -> None:
    pipeline = make_pipeline(example_config, sqlite_store)
    pipeline.handle(msg(F1, encode_reading(T0, 100.0, seq=0)))
    bad = json.dumps({"ts": (T0 + STEP).isoformat(), "register_kwh": -1.0, "seq": 1})
    pipeline.handle(msg(F1, bad.encode()))  # negative register: a dead letter, but it came
    pipeline.handle(msg(F1, b'{"ts": oops, "seq": 2}'))  # unreadable: its seq is unknown
    pipeline.handle(msg(F1, encode_reading(T0 + 3 * STEP, 103.0, seq=3)))
    assert pipeline.flush()
    state = sqlite_store.read_sequence_states()["f1-main"]
    assert (state.lost, state.holes) == (1, ((2, 2),))
    assert pipeline.report(0).rejected_total == 2


def test_production_messages_are_stored_apart_and_bad_ones_dead_lettered(
    example_config: Config, sqlite_store: SqliteStore
) -> None:
    from greenpipe.wire import encode_production

    out = reading_topic("greenpipe/v1", "factory-1", "f1-output")
    durable: list[Inbound] = []
    p = make_pipeline(example_config, sqlite_store, durable=durable)
    p.handle(msg(out, encode_production(T0 + STEP, 5.5, seq=1), mid=1))
    p.handle(msg(out, encode_production(T0 + 2 * STEP, 6.0, seq=2), mid=2))
    p.handle(msg(out, json.dumps({"ts": (T0 + 3 * STEP).isoformat(), "quantity": -1}).encode(),
                 mid=3))
    p.handle(msg(out, encode_reading(T0 + 4 * STEP, 10.0), mid=4))  # kWh from a production meter
    p.handle(msg(F1, json.dumps({"ts": T0.isoformat(), "quantity": 1.0}).encode(), mid=5))
    assert p.flush()
    assert [m.mid for m in durable] == [1, 2, 3, 4, 5]
    frame = sqlite_store.read_production(T0, T0 + 10 * STEP, 10 * STEP)
    assert frame[["meter", "quantity", "records"]].values.tolist() == [["f1-output", 11.5, 2]]
    assert sqlite_store.read(T0 - STEP, T0 + 10 * STEP, STEP).empty  # never energy
    codes = sorted(d.code for d in sqlite_store.read_dead_letters())
    assert codes == sorted([RejectCode.NEGATIVE_REGISTER.value, RejectCode.WRONG_FORM.value,
                            RejectCode.WRONG_FORM.value])
