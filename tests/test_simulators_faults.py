"""Tests for simulators.faults and ``greenpipe simulate --faults`` (fault test 5).

The injected faults go through the real collector pipeline into a real SqliteStore, and
every fault shows up where the collector's quality handling should put it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.decoders import DecodeContext
from collector.pipeline import Inbound, Pipeline, default_routes
from collector.registers import RegisterTracker
from greenpipe.config import Config
from greenpipe.model import MeterKind
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from simulators.faults import KINDS, SKEW, FaultInjector
from simulators.fleet import Fleet
from tests.conftest import REPO, BrokerProcess

NOW = datetime(2026, 6, 1, tzinfo=UTC)


class FixedClock(datetime):
    @classmethod
    def now(cls, tz: object = None) -> FixedClock:  # type: ignore[override]
        return cls(2026, 6, 1, tzinfo=UTC)


def steps(cfg: Config, n: int) -> list[list[tuple[str, bytes]]]:
    fleet = Fleet(cfg, 3)
    start = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    first = fleet.start(start)
    out = [fleet.messages(first, 0)]
    for i, step in enumerate(fleet.advance([start + 1800 * k for k in range(1, n)])):
        out.append(fleet.messages(step, i + 1))
    return out


def test_rate_zero_changes_nothing_and_rate_is_checked(example_config: Config) -> None:
    injector = FaultInjector(0.0, 1)
    batch = steps(example_config, 3)
    assert [injector.apply(m) for m in batch] == batch
    assert injector.summary() == "dropout 0, reset 0, duplicate 0, malformed 0, skew 0"
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultInjector(1.5, 1)


def test_each_kind_does_what_it_says(example_config: Config) -> None:
    injector = FaultInjector(1.0, 11, clock=FixedClock)  # every message gets a fault
    originals = [m for step in steps(example_config, 40) for m in step]
    out = injector.apply(originals)
    assert set(injector.counts) == set(KINDS)
    # Weather and production messages that drew a reset or skew stay unchanged (they have
    # no register).
    no_register = sum(1 for _, payload in originals if b"register_kwh" not in payload)
    assert len(originals) - no_register <= sum(injector.counts.values()) <= len(originals)
    published = len(originals) - injector.counts["dropout"] + injector.counts["duplicate"]
    assert len(out) == published
    malformed = skewed = 0
    for _, payload in out:
        try:
            body = json.loads(payload)
        except ValueError:
            malformed += 1
            continue
        if body["ts"] == (NOW + SKEW).isoformat():
            skewed += 1
    assert (malformed, skewed) == (injector.counts["malformed"], injector.counts["skew"])


def test_faulty_stream_through_the_collector_pipeline(
    example_config: Config, tmp_path: Path,
) -> None:
    # Register faults only: production meters (no register) would shift the random draws.
    example_config = replace(example_config, meters=tuple(
        m for m in example_config.meters if m.kind != MeterKind.PRODUCTION))
    injector = FaultInjector(0.05, 7, clock=FixedClock)
    store = SqliteStore(tmp_path / "faults.db", Catalog.of(example_config.meters,
                                                             example_config.sites))
    tracker = RegisterTracker(rated_max_kw={m.id: m.rated_max_power_kw
                                            for m in example_config.meters},
                              gap_after=timedelta(hours=1))
    pipeline = Pipeline(store, DecodeContext.from_config(example_config), tracker,
                        default_routes(example_config), batch_size=500,
                        future_tolerance=timedelta(days=1))
    register_dups = 0
    sent = 0
    for step in steps(example_config, 200):
        out = injector.apply(step)
        register_dups += sum(1 for a, b in itertools.pairwise(out)
                             if a == b and b"register_kwh" in a[1])
        for topic, payload in out:
            pipeline.handle(Inbound(topic, payload, NOW))
            sent += 1
    assert pipeline.flush()
    report = pipeline.report(sent)
    counts = injector.counts
    assert all(counts[k] > 0 for k in KINDS), counts
    assert report.rejected == {"payload.bad_json": counts["malformed"],
                               "quality.future_timestamp": counts["skew"]}
    assert report.duplicates == register_dups
    assert report.quality["quality.counter_reset"] == counts["reset"]
    assert report.quality["quality.gap"] > 0  # dropouts
    assert "quality.spike" not in report.quality  # resets never become fake spikes
    frame = store.read(datetime(2026, 3, 1, tzinfo=UTC), NOW, timedelta(days=1))
    assert (frame["energy_kwh"].dropna() >= 0).all()
    store.close()


@pytest.mark.integration
def test_cli_flag_injects_faults(mosquitto: BrokerProcess, tmp_path: Path) -> None:
    env = dict(os.environ, GREENPIPE_CONFIG=str(REPO / "config" / "example.toml"))
    result = subprocess.run(
        [sys.executable, "-m", "greenpipe", "simulate", "--broker",
         f"{mosquitto.host}:{mosquitto.port}", "--backfill-days", "1", "--no-live",
         "--no-progress", "--faults", "0.2"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "faults injected (rate 0.2): dropout " in result.stderr
