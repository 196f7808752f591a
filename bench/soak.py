"""Soak benchmark: 10,000 meters, one reading a minute, through Mosquitto and the collector.

Starts a real Mosquitto on a free loopback port and runs the collector (into SQLite in a
temporary directory) in this process, with a configuration of ``--meters`` electricity
meters spread over the example city's sites. A publisher in a child process (its own GIL)
publishes every meter's reading once per simulated minute for ``--minutes`` minutes,
spread evenly over each minute, with simulated time running ``--speed`` times faster than
real time (30 minutes at 10x take 3 minutes). It reports:

* readings lost: published but not in the store after the drain (target 0);
* the collector process's RSS once every meter has its first reading, at every fifth
  simulated minute, and at the end (target: growth under 10 %). The register tracker keeps
  the last 32 readings per meter (late-reading re-split, duplicate detection), so RSS
  grows for the first 32 minutes and is flat after; run ``--minutes 45`` to see the plateau;
* latency p50 / p99: the instant the store write holding a reading returned minus the
  instant its publish was scheduled (target p99 under 1 s).

The per-reading "readable at" instants live in one array allocated before the first RSS
sample, so the measurement itself does not grow the heap. Run:

    .venv/bin/python bench/soak.py [--meters 10000] [--minutes 30] [--speed 10]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import collector_config, start_broker  # noqa: E402

from collector.service import Collector  # noqa: E402
from greenpipe.config import Config, load_config  # noqa: E402
from greenpipe.model import Meter, MeterKind, Reading  # noqa: E402
from greenpipe.stores import Store, open_configured_store  # noqa: E402
from tests.conftest import stop_process  # noqa: E402

T0 = datetime(2026, 4, 1, tzinfo=UTC)
INFLIGHT = 200


def meter_ids(n: int) -> list[str]:
    """The soak meters' ids."""
    return [f"soak-{i:05d}" for i in range(n)]


def soak_config(base: Config, n: int) -> Config:
    """The example config with ``n`` electricity meters spread over its sites."""
    sites = [s.id for s in base.sites]
    meters = tuple(Meter(m, sites[i % len(sites)], MeterKind.ELECTRICITY, "kWh")
                   for i, m in enumerate(meter_ids(n)))
    return replace(base, meters=meters, measures=())


def publisher(host: str, port: int, n: int, minutes: int, speed: float, t0: float) -> None:
    """Publish every meter's reading once per simulated minute, spread over the minute."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from greenpipe.wire import encode_reading, reading_topic

    base = load_config(REPO / "config" / "example.toml", env={})
    cfg = soak_config(base, n)
    topics = [reading_topic("greenpipe/v1", m.site, m.id) for m in cfg.meters]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-pub")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    minute_s = 60.0 / speed
    infos = []
    for k in range(minutes + 1):
        ts = T0 + timedelta(minutes=k)
        for i, topic in enumerate(topics):
            delay = t0 + (k + i / n) * minute_s - time.time()
            if delay > 0:
                time.sleep(delay)
            infos.append(client.publish(topic, encode_reading(ts, 1000.0 + 0.5 * k + i % 7),
                                        qos=1))
        infos = [info for info in infos if not info.is_published()]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


class TimedStore:
    """Wraps a store; records when each reading's write returned, in a preallocated array."""

    def __init__(self, inner: Store, index: dict[str, int], readable_at: np.ndarray) -> None:
        self._inner = inner
        self._index = index
        self._n = len(index)
        self._readable_at = readable_at

    def write(self, readings: Sequence[Reading]) -> int:
        n = self._inner.write(readings)
        now = time.time()
        for r in readings:
            k = int((r.ts - T0) // timedelta(minutes=1))
            self._readable_at[k * self._n + self._index[r.meter_id]] = now
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def rss_mib() -> float:
    """This process's resident set size. [MiB]"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    """Run the soak and print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--publisher", nargs=3, metavar=("HOST", "PORT", "T0"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publisher:
        host, port, t0 = args.publisher
        publisher(host, int(port), args.meters, args.minutes, args.speed, float(t0))
        return 0

    base = soak_config(load_config(REPO / "config" / "example.toml", env={}), args.meters)
    ids = meter_ids(args.meters)
    index = {m: i for i, m in enumerate(ids)}
    expected = args.meters * (args.minutes + 1)
    readable_at = np.full(expected, np.nan)
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp) / "broker", INFLIGHT)
        url = f"sqlite:///{tmp}/soak.db"
        cfg = collector_config(base, broker, url, INFLIGHT, "soak-collector")
        collector = Collector(cfg, store_factory=lambda c: TimedStore(
            open_configured_store(c), index, readable_at))
        collector.start()
        collector.wait_ready(30)
        t0 = time.time() + 2.0
        pub = subprocess.Popen([sys.executable, __file__, "--meters", str(args.meters),
                                "--minutes", str(args.minutes), "--speed", str(args.speed),
                                "--publisher", broker.host, str(broker.port), repr(t0)])
        rss_start = None
        rss_by_minute: dict[int, float] = {}
        try:
            deadline = time.time() + (args.minutes + 1) * 60 / args.speed + 120
            while time.time() < deadline:
                stored = int(np.count_nonzero(~np.isnan(readable_at)))
                if rss_start is None and stored >= args.meters:
                    rss_start = rss_mib()
                minute = stored // args.meters
                if minute % 5 == 0 and minute not in rss_by_minute:
                    rss_by_minute[minute] = rss_mib()
                if stored >= expected:
                    break
                time.sleep(0.5)
            pub.wait(120)
            rss_end = rss_mib()
            report = collector.report()
        finally:
            collector.stop()
            stop_process(pub)
            stop_process(broker.process)
        store = open_configured_store(cfg)
        try:
            in_store = sum(m.readings for m in store.stats().meters)
        finally:
            store.close()
    scheduled = np.array([t0 + (k + i / args.meters) * 60 / args.speed
                          for k in range(args.minutes + 1) for i in range(args.meters)])
    latency_ms = (readable_at - scheduled)[~np.isnan(readable_at)] * 1000.0
    p50, p99 = np.percentile(latency_ms, [50, 99])
    growth = (rss_end - rss_start) / rss_start if rss_start else float("nan")
    print(f"soak: {args.meters:,} meters x {args.minutes + 1} readings "
          f"({args.minutes} simulated minutes at {args.speed:g}x), "
          f"{expected / ((args.minutes + 1) * 60 / args.speed):,.0f} msg/s")
    if pub.returncode != 0:
        print(f"THE PUBLISHER FAILED (exit {pub.returncode}): this machine could not publish "
              f"{args.meters:,} readings per {60 / args.speed:g} s; lower --speed. The counts "
              "below are not a collector result.")
    print(f"readings lost: {expected - in_store} (published {expected:,}, stored {in_store:,}, "
          f"dead letters {report.dead_letters})")
    print(f"collector RSS: {rss_start:.1f} MiB after the first minute, {rss_end:.1f} MiB at "
          f"the end ({growth:+.1%})")
    print(f"latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print("RSS by simulated minute stored: " + ", ".join(
        f"{m}: {v:.0f} MiB" for m, v in sorted(rss_by_minute.items())))
    return 0 if expected == in_store and pub.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
