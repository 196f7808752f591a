"""Fault test 4: 10,000 fuzzed payloads through the real pipeline and a real SqliteStore.

Zero crashes, no internal errors, and every message has exactly one outcome: readings, a
recognised duplicate, or a dead letter whose code is a published reason code and whose
reason explains it. Hypothesis runs derandomised (a fixed seed) so CI is reproducible.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.codes import QualityCode, RejectCode
from collector.decoders import DecodeContext
from collector.pipeline import Inbound, Pipeline, default_routes
from collector.registers import RegisterTracker
from greenpipe.config import Config
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

RECEIVED = datetime(2026, 4, 2, tzinfo=UTC)
CODES = {c.value for c in RejectCode}
TOPICS = ["greenpipe/v1/factory-1/f1-main/reading", "greenpipe/v1/factory-3/f3-main/reading",
          "greenpipe/v1/city-hall/weather-hitachi/reading",
          "greenpipe/v1/bus-depot/bus-depot-chargers/reading",
          "greenpipe/v1/factory-1/ghost/reading", "greenpipe/v1/x/f1-main/reading",
          "tele/f1-main/SENSOR", "tele/f1-main/STATE", "f1-main/status/switch:0",
          "f1-main/events/rpc", "f1-main/status/switch:x"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["2026-04-01T09:00:00+09:00", "2026-04-01T09:00:00", "1e400", "Z",
                     "9999-12-31T23:59:59+14:00", "2026-04-01T00:30:00.1234567Z"]),
    st.integers(946684800000, 4102444800000),  # epoch ms in range
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
KEYS = ["ts", "register_kwh", "energy_kwh", "temp_air_c", "power_kw", "seq", "Time",
        "ENERGY", "Total", "Power", "aenergy", "total", "apower", "method", "params"]
objects = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
payloads = st.one_of(
    objects.map(lambda o: json.dumps(o).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    objects.map(lambda o: json.dumps(o).encode()[: max(0, len(json.dumps(o)) - 3)]),
    st.fixed_dictionaries({"method": st.just("NotifyStatus"), "params": st.fixed_dictionaries(
        {"ts": scalars, "switch:0": st.dictionaries(st.sampled_from(["aenergy", "apower"]),
                                                    json_values)})}).map(
        lambda o: json.dumps(o).encode()),
)


def test_ten_thousand_fuzzed_payloads_never_crash_and_always_explain(
    example_config: Config, tmp_path: Path,
) -> None:
    cfg = replace(example_config, collector=replace(
        example_config.collector, routes="tasmota tele/+/SENSOR; tasmota tele/+/STATE; "
        "shelly_gen2 +/status/+; shelly_gen2 +/events/rpc"))
    store = SqliteStore(tmp_path / "fuzz.db", Catalog.of(cfg.meters, cfg.sites))
    tracker = RegisterTracker(rated_max_kw={m.id: m.rated_max_power_kw for m in cfg.meters})
    pipeline = Pipeline(store, DecodeContext.from_config(cfg), tracker, default_routes(cfg),
                        batch_size=500, future_tolerance=None)
    seen = [0]

    @settings(max_examples=10_000, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(topic=st.sampled_from(TOPICS), payload=payloads)
    def one(topic: str, payload: bytes) -> None:
        def outcomes() -> tuple[int, int, int]:
            report = pipeline.report(0)
            return pipeline.pending_records, report.duplicates, report.skipped

        before = outcomes()
        pipeline.handle(Inbound(topic, payload, RECEIVED))
        # Every message has an outcome: a reading, a dead letter, a duplicate, or skipped
        # (a device message without energy, e.g. a Shelly status/sys, is counted).
        assert outcomes() != before
        seen[0] += 1
        if pipeline.batch_full():
            assert pipeline.flush()

    one()
    assert pipeline.flush()
    report = pipeline.report(seen[0])
    assert seen[0] == 10_000
    assert RejectCode.INTERNAL_ERROR.value not in report.rejected
    assert set(report.rejected) <= CODES
    assert report.dead_letters == report.rejected_total > 0
    letters = store.read_dead_letters(limit=report.dead_letters + 1)
    assert len(letters) == report.dead_letters
    assert all(d.code in CODES and len(d.reason) > 10 for d in letters)
    assert set(report.quality) <= {q.value for q in QualityCode} | {
        "quality.first_reading", "quality.counter_reset", "quality.interval_form"}
    assert sum(m.readings for m in store.stats().meters) <= report.written
    store.close()
