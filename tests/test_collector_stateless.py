"""Stateless scale-out: readings written in any order and any batching end up as if one
collector had received them in time order (``collector.stateless``, a real SqliteStore)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from collector.codes import QualityCode, RejectCode
from collector.decoders import Sample
from collector.registers import RegisterTracker
from collector.service import Collector
from collector.stateless import OrderedWriter, PendingRegisters
from greenpipe.config import Config
from greenpipe.errors import ConfigError
from greenpipe.model import Reading
from greenpipe.stores.sqlite import SqliteStore

T0 = datetime(2026, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
RATED = {"m-rated": 10.0, "m-plain": None}
GAP = timedelta(hours=2)
LATE = QualityCode.LATE.value


def sample(meter: str, i: int, register: float, power: float | None = None) -> Sample:
    return Sample(meter, "site-1", T0 + i * STEP, register_kwh=register, power_kw=power)


def faulty_stream(rng: random.Random, meter: str, n: int) -> list[Sample]:
    """A meter's samples in time order with gaps, a reset, a rollover, spikes, power spikes.

    m-rated: one reset, at a random reading of the middle half; m-plain rolls over instead:
    a late reading from before a reset, arriving when the register has regrown past its
    old value, cannot be told from a wrong one and is refused; real registers take months
    to regrow. Spikes jump by a random amount, so two of them never look like a meter that
    really jumped (that rule depends on what arrived first).
    """
    out: list[Sample] = []
    register, i = 99_990.0 if meter == "m-plain" else 500.0, 0
    reset_at, spike_at = rng.randrange(n // 4, 3 * n // 4), rng.randrange(2, n // 4)
    while len(out) < n:
        i += 5 if rng.random() < 0.05 else 1  # a gap now and then
        if len(out) >= reset_at and meter == "m-rated":
            register, reset_at = rng.choice([0.5, 3.0]), n  # meter replaced / reset
        elif meter == "m-rated" and (len(out) == spike_at or rng.random() < 0.03):
            jump = round(rng.uniform(600.0, 50_000.0), 2)
            out.append(sample(meter, i, register + jump))  # an implausible jump: spike
            i += 1
        register = round(register + rng.choice([0.25, 0.5, 1.25, 2.0]), 3)
        if register >= 100_000.0:
            register = round(register - 100_000.0, 3)  # rollover of a 5-digit register
        power = 50.0 if rng.random() < 0.03 else 1.0
        out.append(sample(meter, i, register, power))
    return out


def in_order(samples: list[Sample]) -> dict[tuple[str, datetime], Reading]:
    """What one collector stores receiving ``samples`` in time order (last write wins)."""
    tracker = RegisterTracker(rated_max_kw=RATED, gap_after=GAP)
    stored: dict[tuple[str, datetime], Reading] = {}
    for s in sorted(samples, key=lambda s: s.ts):
        for r in tracker.resolve(s):
            stored[(r.meter_id, r.ts)] = r
    return stored


def from_store(store: SqliteStore) -> dict[tuple[str, datetime], Reading]:
    conn = store._conn  # the test reads the raw rows: energies, registers and flags
    rows = conn.execute("SELECT meter_id, ts_ms, energy_kwh, register_kwh, power_kw, quality "
                        "FROM readings").fetchall()
    return {(m, datetime.fromtimestamp(ts / 1000, UTC)): Reading(
        m, "site-1", datetime.fromtimestamp(ts / 1000, UTC), energy_kwh=e, register_kwh=r,
        power_kw=p, quality=frozenset(q for q in quality.split(",") if q))
        for m, ts, e, r, p, quality in rows}


def write_as_members(store: SqliteStore, samples: list[Sample], rng: random.Random,
                     members: int) -> tuple[int, list[tuple[str, datetime, str]]]:
    """Deal ``samples`` round-robin-ish to members, commit random batches in random order."""
    queues: list[list[Sample]] = [[] for _ in range(members)]
    for s in samples:
        queues[rng.randrange(members)].append(s)
    writer = OrderedWriter(store, rated_max_kw=RATED, gap_after=GAP)
    pending = PendingRegisters(rated_max_kw=RATED)
    duplicates, rejected = 0, []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        n = rng.randint(1, 12)
        batch, q[:n] = q[:n], []
        readings = [r for s in batch for r in pending.resolve(s)]
        outcome = writer.write(readings)
        duplicates += outcome.duplicates
        rejected += [(readings[i].meter_id, readings[i].ts, str(e.code))
                     for i, e in outcome.rejected]
    return duplicates, rejected


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("members", [2, 3])
def test_any_order_and_batching_stores_what_one_collector_in_order_stores(
    tmp_path: Path, seed: int, members: int,
) -> None:
    rng = random.Random(seed)
    samples = faulty_stream(rng, "m-rated", 80) + faulty_stream(rng, "m-plain", 80)
    redelivered = rng.sample(samples, 10)  # at-least-once: some arrive twice
    store = SqliteStore(tmp_path / "s.db")
    try:
        duplicates, rejected = write_as_members(store, samples + redelivered, rng, members)
        got = from_store(store)
    finally:
        store.close()
    want = in_order(samples)
    # The faults really happened (the comparison is not a trivial one).
    flags = set().union(*(w.quality for w in want.values()))
    assert {"quality.counter_reset", "quality.gap", QualityCode.SPIKE.value,
            QualityCode.ROLLOVER.value} <= flags
    # The one difference: a spike that arrives after its successor is stored does not fit
    # between its neighbours and is a dead letter, not a stored spike. The successor's
    # energy is the same either way (a spike never becomes the baseline).
    refused = {(meter, ts) for meter, ts, _ in rejected}
    assert {code for _, _, code in rejected} <= {RejectCode.OUT_OF_ORDER}
    for key in refused:
        assert want.pop(key).quality >= {QualityCode.SPIKE.value}
    # A redelivered copy is a duplicate, or refused again like its original.
    assert duplicates + len(rejected) - len(refused) == len(redelivered)
    assert sorted(got) == sorted(want)
    for key, w in want.items():
        g = got[key]
        assert (g.energy_kwh, g.register_kwh, g.power_kw) == (
            w.energy_kwh, w.register_kwh, w.power_kw), key
        assert g.quality - {LATE} == w.quality, key


def test_late_reading_resplits_its_interval(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    writer, pending = OrderedWriter(store), PendingRegisters()
    try:
        first = writer.write([r for s in (sample("m", 0, 100.0), sample("m", 2, 103.5))
                              for r in pending.resolve(s)])
        assert [r.energy_kwh for r in first.written] == [None, 3.5]
        late = writer.write(pending.resolve(sample("m", 1, 101.25)))
        got = from_store(store)
    finally:
        store.close()
    # The late reading gets 101.25 - 100; the next one is rewritten with 103.5 - 101.25.
    assert [(r.ts, r.energy_kwh) for r in late.written] == [(T0 + STEP, 1.25),
                                                          (T0 + 2 * STEP, 2.25)]
    assert_allclose([got[("m", T0 + i * STEP)].energy_kwh or 0.0 for i in range(3)],
                    [0.0, 1.25, 2.25])
    assert got[("m", T0 + STEP)].quality == {LATE}
    assert "quality.first_reading" in got[("m", T0)].quality


def test_duplicate_and_conflict_against_stored_readings(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    writer, pending = OrderedWriter(store), PendingRegisters()
    try:
        writer.write([r for i in range(3) for r in pending.resolve(sample("m", i, 10.0 + i))])
        outcome = writer.write([r for s in (sample("m", 1, 11.0), sample("m", 2, 99.0),
                                            sample("m", 3, 14.0))
                                for r in pending.resolve(s)])
        got = from_store(store)
    finally:
        store.close()
    assert outcome.duplicates == 1
    ((index, error),) = outcome.rejected
    assert index == 1 and error.code == RejectCode.DUPLICATE_CONFLICT
    assert "already reported register 12.0 kWh" in str(error)
    assert [r.energy_kwh for r in outcome.written] == [2.0]
    assert got[("m", T0 + 2 * STEP)].register_kwh == 12.0  # the first value stands


def test_stateless_group_refuses_a_store_without_ordered_writes(
    example_config: Config, tmp_path: Path,
) -> None:
    cfg = replace(example_config,
                  store=replace(example_config.store, url=f"sqlite:///{tmp_path / 's.db'}"),
                  collector=replace(example_config.collector, share_group="g",
                                    share_members="", spool_path=str(tmp_path / "spool.db")))
    with pytest.raises(ConfigError, match=r"collector\.share_members") as info:
        Collector(cfg).start()
    assert "InfluxDB has no transactions" in str(info.value)
