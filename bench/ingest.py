"""Benchmark: Mosquitto -> collector -> store, against a bare paho subscriber, same broker.

Starts a real Mosquitto (and influxd 1.x for the InfluxDB store) on free loopback ports.

* **Sustained throughput.** ``--messages`` QoS 1 readings are queued in the broker for a
  persistent session, then the consumer connects and drains them; the rate is messages /
  (time of the last one handled - time of the first one received). Consumers: a bare paho
  subscriber that only counts (auto-ack), and the collector (manual acks after the durable
  write) into SQLite and into InfluxDB. Ratio = collector / bare subscriber. Run for each
  in-flight bound (Mosquitto ``max_inflight_messages`` = ``collector.max_inflight``), plus
  one run where the collector does not flush at the in-flight bound (only every
  ``flush_interval_s``), to show why it must.
* **End-to-end latency.** With the collector running, readings are published at
  ``--rate`` msg/s; latency = the instant the store write holding the reading returned
  (the reading is readable from then on) - the instant it was handed to paho. p50 / p99.

    .venv/bin/python bench/ingest.py [--messages 20000] [--rate 200] [--latency-messages 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.service import Collector  # noqa: E402
from greenpipe.config import Config, load_config  # noqa: E402
from greenpipe.model import MeterKind, Reading  # noqa: E402
from greenpipe.stores import Catalog, Store, open_configured_store  # noqa: E402
from greenpipe.stores.influx import InfluxStore  # noqa: E402
from greenpipe.stores.influx_admin import init  # noqa: E402
from greenpipe.wire import encode_reading, reading_topic  # noqa: E402
from tests.conftest import (  # noqa: E402
    BrokerProcess,
    start_influxd,
    stop_process,
    wait_for_port,
)

T0 = datetime(2020, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)


def start_broker(workdir: Path, inflight: int) -> BrokerProcess:
    """Mosquitto with ``max_inflight_messages`` = ``inflight``, unbounded queues."""
    import os
    import subprocess

    from greenpipe.net import free_loopback_port
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    + ("user root\n" if os.geteuid() == 0 else "")
                    + f"max_queued_messages 0\nmax_inflight_messages {inflight}\n"
                    "log_dest stderr\nlog_type error\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    return BrokerProcess("127.0.0.1", port, proc)


def messages(cfg: Config, n: int, offset: int = 0) -> list[tuple[str, bytes]]:
    """``n`` register readings round-robin over the example's energy meters."""
    meters = [m for m in cfg.meters if m.kind not in (MeterKind.WEATHER, MeterKind.PRODUCTION)]
    out = []
    for k in range(n):
        m = meters[k % len(meters)]
        i = offset + k // len(meters)
        out.append((reading_topic("greenpipe/v1", m.site, m.id),
                    encode_reading(T0 + i * STEP, 1000.0 + 0.5 * i)))
    return out


def publish(broker: BrokerProcess, msgs: Sequence[tuple[str, bytes]],
            rate: float | None = None, sent_at: list[float] | None = None) -> None:
    """Publish at QoS 1 (optionally paced at ``rate`` msg/s) and wait for every PUBACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    start = time.perf_counter()
    infos = []
    for k, (topic, payload) in enumerate(msgs):
        if rate is not None:
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        if sent_at is not None:
            sent_at.append(time.time())
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def subscribe_session(broker: BrokerProcess, client_id: str, topic: str) -> None:
    """Create a persistent session subscribed at QoS 1, then leave (the broker queues)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect(broker.host, broker.port)
    c.loop_start()
    c.subscribe(topic, qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def bare_drain(broker: BrokerProcess, n: int) -> float:
    """Drain ``n`` queued messages with a counting paho subscriber; return msg/s."""
    client_id = "bench-bare"
    subscribe_session(broker, client_id, "greenpipe/v1/+/+/reading")
    publish(broker, messages(load_config(REPO / "config" / "example.toml", env={}), n))
    count, first, last = [0], [0.0], [0.0]
    done = threading.Event()

    def on_message(c: Any, u: Any, msg: Any) -> None:
        if count[0] == 0:
            first[0] = time.perf_counter()
        count[0] += 1
        if count[0] == n:
            last[0] = time.perf_counter()
            done.set()

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    done.wait(600)
    c.disconnect()
    c.loop_stop()
    return n / (last[0] - first[0])


def collector_config(base: Config, broker: BrokerProcess, url: str, inflight: int,
                     client_id: str) -> Config:
    cfg = replace(base, broker=replace(base.broker, host=broker.host, port=broker.port),
                  store=replace(base.store, url=url))
    return replace(cfg, collector=replace(cfg.collector, client_id=client_id,
                                          max_inflight=inflight, spool_path="",
                                          summary_interval_s=3600.0))


class TimedStore:
    """Wraps a store; records the instant each reading's write returned."""

    def __init__(self, inner: Store, readable_at: dict[tuple[str, datetime], float]) -> None:
        self._inner = inner
        self._readable_at = readable_at

    def write(self, readings: Sequence[Reading]) -> int:
        n = self._inner.write(readings)
        now = time.time()
        for r in readings:
            self._readable_at.setdefault((r.meter_id, r.ts), now)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def collector_drain(base: Config, broker: BrokerProcess, url: str, n: int, inflight: int,
                    run: int) -> float:
    """Drain ``n`` queued messages through the collector into ``url``; return msg/s."""
    client_id = f"bench-collector-{run}"
    cfg = collector_config(base, broker, url, inflight, client_id)
    subscribe_session(broker, client_id, "greenpipe/v1/+/+/reading")
    publish(broker, messages(base, n))
    collector = Collector(cfg)
    collector.start()
    first = None
    try:
        while True:
            report = collector.report()
            if first is None and report.received:
                first = time.perf_counter()
            if report.written + report.duplicates + report.rejected_total >= n:
                last = time.perf_counter()
                break
            time.sleep(0.002)
    finally:
        collector.stop()
    assert first is not None and report.written == n and not report.rejected, report
    return n / (last - first)


def latency(base: Config, broker: BrokerProcess, url: str, n: int, rate: float,
            inflight: int, run: int) -> tuple[float, float]:
    """Publish ``n`` readings at ``rate`` msg/s through a running collector; p50, p99 [ms]."""
    readable_at: dict[tuple[str, datetime], float] = {}
    cfg = collector_config(base, broker, url, inflight, f"bench-latency-{run}")
    factory: Callable[[Config], Any] = lambda c: TimedStore(  # noqa: E731
        open_configured_store(c), readable_at)
    collector = Collector(cfg, store_factory=factory)
    collector.start()
    collector.wait_ready(30)
    sent_at: list[float] = []
    msgs = messages(base, n, offset=10_000)
    try:
        publish(broker, msgs, rate=rate, sent_at=sent_at)
        deadline = time.monotonic() + 120
        while len(readable_at) < n and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        collector.stop()
    meters = [m for m in base.meters if m.kind not in (MeterKind.WEATHER, MeterKind.PRODUCTION)]
    lat = []
    for k in range(n):
        m = meters[k % len(meters)]
        ts = T0 + (10_000 + k // len(meters)) * STEP
        lat.append((readable_at[(m.id, ts)] - sent_at[k]) * 1000.0)
    q = statistics.quantiles(lat, n=100)
    return q[49], q[98]


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--inflight", type=int, nargs="+", default=[20, 500])
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--latency-messages", type=int, default=2_000)
    args = ap.parse_args()
    base = load_config(REPO / "config" / "example.toml", env={})
    catalog = Catalog.of(base.meters, base.sites)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        influx = start_influxd(tmp_path / "influxd")
        try:
            rows = []
            run = 0
            for inflight in args.inflight:
                broker = start_broker(tmp_path / f"broker-{inflight}", inflight)
                try:
                    bare = bare_drain(broker, args.messages)
                    sqlite_url = f"sqlite:///{tmp_path}/bench-{inflight}.db"
                    influx_url = influx.store_url(f"bench_{inflight}")
                    init(InfluxStore(influx_url, catalog))
                    for name, url in (("SQLite", sqlite_url), ("InfluxDB 1.6", influx_url)):
                        run += 1
                        rate = collector_drain(base, broker, url, args.messages, inflight, run)
                        run += 1
                        p50, p99 = latency(base, broker, url, args.latency_messages,
                                           args.rate, inflight, run)
                        rows.append((inflight, name, bare, rate, p50, p99))
                        print(f"in-flight {inflight}: bare {bare:,.0f} msg/s, collector -> "
                              f"{name} {rate:,.0f} msg/s ({rate / bare:.2f}x), latency p50 "
                              f"{p50:.0f} ms p99 {p99:.0f} ms", flush=True)
                finally:
                    stop_process(broker.process)
            # Without the in-flight flush the broker's window of 20 waits for flush_interval_s.
            broker = start_broker(tmp_path / "broker-noflush", 20)
            try:
                n = 400
                bare_nf = bare_drain(broker, n)
                run += 1
                slow = collector_drain(base, broker, f"sqlite:///{tmp_path}/noflush.db", n,
                                       1_000_000, run)
                print(f"in-flight 20, no flush at the bound: bare {bare_nf:,.0f} msg/s, "
                      f"collector -> SQLite {slow:,.1f} msg/s ({slow / bare_nf:.4f}x)",
                      flush=True)
            finally:
                stop_process(broker.process)
        finally:
            stop_process(influx.process)
    print("\n| broker in-flight = collector.max_inflight | store | bare subscriber msg/s | "
          "collector msg/s | ratio | latency p50 | latency p99 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for inflight, name, bare, rate, p50, p99 in rows:
        print(f"| {inflight} | {name} | {bare:,.0f} | {rate:,.0f} | {rate / bare:.2f}x | "
              f"{p50:.0f} ms | {p99:.0f} ms |")
    print(f"| 20, no flush at the bound ({n} messages) | SQLite | {bare_nf:,.0f} | "
          f"{slow:,.1f} | {slow / bare_nf:.4f}x | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
