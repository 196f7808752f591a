"""Benchmark: Mosquitto -> collector -> store, against a bare paho subscriber, same broker.

Starts a real Mosquitto (and influxd 1.x for the InfluxDB store) on free loopback ports.

* **Sustained throughput (drain a backlog).** ``--messages`` QoS 1 readings are published
  and queued in the broker for a persistent session *before* the consumer connects, so the
  consumer, not the publisher, is the bottleneck; the rate is messages / (time the last
  one was handled - time the first one was received). The consumers:

  - the **baseline**, a bare subscriber built exactly like the collector's client
    (``greenpipe.mqtt.make_client`` / ``connect_and_start``: paho callback API v2, the
    configured MQTT protocol, persistent session, QoS 1 subscription, manual acks). Its
    ``on_message`` only counts the message and acks it at once (``client.ack``) on paho's
    network thread: no copy, no queue, no decode, no store;
  - the **collector** (``collector.service.Collector``, in this process), which acks each
    message only after its readings are durably written (a flush at ``max_inflight``
    messages, ``batch_size`` readings or ``flush_interval_s``), into SQLite and into InfluxDB,
    once per ``--writers`` mode (``collector.writer``: ``thread``, or ``process`` with
    decoding and storing in a child process). Its end is the moment the acks of the last
    write were handed to paho (``Collector(on_durable=...)``).

  CPU per message is the consumer's process time (all threads) plus, in process mode, the
  writer process's (``/proc/<pid>/stat``), and separately the part in the process that runs
  paho; "run-queue wait" is how long the consumer's threads were runnable but had no CPU
  (``/proc/<pid>/task/*/schedstat``) per second: on a machine shared with other jobs it
  shows how much the load, not the code, set the rate.

  Baseline and collector runs are interleaved in pairs on the same broker, and the order
  inside a pair rotates (baseline first, then each writer mode first, ...), so
  drifting load on a shared machine hits both alike. Every collector run writes into a
  fresh database. Ratio = collector / baseline of the same pair; reported as the median
  over ``--pairs`` pairs with the min-max spread. Run for each in-flight bound (Mosquitto
  ``max_inflight_messages`` = ``collector.max_inflight``), plus one run where the collector
  does not flush at the in-flight bound (only every ``flush_interval_s``), to show why it
  must.
* **End-to-end latency.** With the collector running, readings are published at
  ``--rate`` msg/s; latency = the instant the store write holding the reading returned
  (the reading is readable from then on) - the instant it was handed to paho. p50 / p99.

    .venv/bin/python bench/ingest.py [--messages 20000] [--pairs 5] [--inflight 20 500]
        [--stores sqlite influx] [--writers thread process] [--rate 200]
        [--latency-messages 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from collector.service import Collector  # noqa: E402
from greenpipe.config import Config, load_config  # noqa: E402
from greenpipe.model import MeterKind  # noqa: E402
from greenpipe.mqtt import connect_and_start, make_client  # noqa: E402
from greenpipe.stores import Catalog  # noqa: E402
from greenpipe.stores.influx import InfluxStore  # noqa: E402
from greenpipe.stores.influx_admin import init  # noqa: E402
from greenpipe.wire import encode_reading, reading_topic  # noqa: E402
from tests.conftest import (  # noqa: E402
    BrokerProcess,
    InfluxProcess,
    start_influxd,
    stop_process,
    wait_for_port,
)

T0 = datetime(2020, 4, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
STORES = {"sqlite": "SQLite", "influx": "InfluxDB 1.6"}
WriterMode = Literal["thread", "process"]


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


def bare_drain(base: Config, broker: BrokerProcess, n: int, run: int, inflight: int) -> Drain:
    """Drain ``n`` queued messages with the baseline subscriber (module docstring).

    ``inflight`` is sent as Receive Maximum on MQTT 5, as the collector does.
    """
    client_id = f"bench-bare-{run}"
    subscribe_session(broker, client_id, "greenpipe/v1/+/+/reading")
    publish(broker, messages(base, n))
    count, first, last = [0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    done = threading.Event()

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        if count[0] == 0:
            first[:] = time.perf_counter(), time.process_time(), run_queue_wait_s(os.getpid())
        c.ack(msg.mid, msg.qos)
        count[0] += 1
        if count[0] == n:
            last[:] = time.perf_counter(), time.process_time(), run_queue_wait_s(os.getpid())
            done.set()

    bc = replace(base.broker, host=broker.host, port=broker.port)
    c = make_client(bc, client_id, clean_session=False, manual_ack=True)
    c.on_message = on_message
    connect_and_start(c, bc, session_expiry_s=base.collector.session_expiry_s,
                      receive_maximum=inflight)
    if not done.wait(600):
        raise RuntimeError(f"the baseline received {count[0]} of {n} messages in 600 s")
    c.disconnect()
    c.loop_stop()
    wall = last[0] - first[0]
    return Drain(n / wall, (last[1] - first[1]) / n * 1e6,
                 wait_share=(last[2] - first[2]) / wall)


def collector_config(base: Config, broker: BrokerProcess, url: str, inflight: int,
                     client_id: str, writer: WriterMode = "thread") -> Config:
    cfg = replace(base, broker=replace(base.broker, host=broker.host, port=broker.port),
                  store=replace(base.store, url=url))
    return replace(cfg, collector=replace(cfg.collector, client_id=client_id,
                                          max_inflight=inflight, spool_path="",
                                          summary_interval_s=3600.0, writer=writer))


def run_queue_wait_s(pid: int) -> float:
    """Time the threads of process ``pid`` were runnable but waited for a CPU (Linux
    ``/proc/<pid>/task/*/schedstat``, second field). [s]"""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):  # a thread that just ended
            continue
    return total / 1e9


def process_cpu_s(collector: Collector) -> tuple[float, float]:
    """CPU time of this process and of the collector's writer process (0 without). [s]"""
    pid = collector.writer_pid
    child = 0.0
    if pid is not None:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        child = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return time.process_time(), child


def consumer_wait_s(collector: Collector) -> float:
    """Run-queue wait of the collector's process and its writer process. [s]"""
    pid = collector.writer_pid
    return run_queue_wait_s(os.getpid()) + (0.0 if pid is None else run_queue_wait_s(pid))


def collector_drain(base: Config, broker: BrokerProcess, url: str, n: int, inflight: int,
                    run: int, writer: WriterMode = "thread") -> Drain:
    """Drain ``n`` queued messages through the collector (``collector.writer``) into ``url``."""
    client_id = f"bench-collector-{run}"
    cfg = collector_config(base, broker, url, inflight, client_id, writer)
    subscribe_session(broker, client_id, "greenpipe/v1/+/+/reading")
    publish(broker, messages(base, n))
    acked = [0]
    last: tuple[float, tuple[float, float], float] = (0.0, (0.0, 0.0), 0.0)
    done = threading.Event()
    holder: list[Collector] = []

    def on_durable(k: int) -> None:  # writer side, right after a durable write's acks
        acked[0] += k
        if acked[0] >= n and not done.is_set():
            nonlocal last
            last = time.perf_counter(), process_cpu_s(holder[0]), consumer_wait_s(holder[0])
            done.set()

    collector = Collector(cfg, on_durable=on_durable)
    holder.append(collector)
    collector.start()
    first = None
    try:
        # Poll (cheaply, and only until the first message) for the start; the end is
        # signalled by the acks, so no polling competes with the collector meanwhile.
        while first is None:
            if collector.received:
                first = (time.perf_counter(), process_cpu_s(collector),
                         consumer_wait_s(collector))
            else:
                time.sleep(0.001)
        if not done.wait(600):
            raise RuntimeError(f"the collector acked {acked[0]} of {n} messages in 600 s")
    finally:
        report = collector.stop()
    assert report.written == n and not report.rejected, report
    own = (last[1][0] - first[1][0]) / n * 1e6
    wall = last[0] - first[0]
    return Drain(n / wall, own + (last[1][1] - first[1][1]) / n * 1e6, own,
                 (last[2] - first[2]) / wall)


@dataclass(frozen=True)
class Drain:
    """One drain of the backlog."""

    rate: float
    """Messages handled per second of wall time. [1/s]"""
    cpu_us: float
    """CPU time of the consumer (all its threads, and its writer process if any; not the
    broker's or influxd's) per message. [µs]"""
    main_cpu_us: float | None = None
    """Of that, the collector's own process (paho's thread; all of it in thread mode). [µs]"""
    wait_share: float = 0.0
    """Time the consumer's threads waited for a CPU while runnable, per second of the
    drain (summed over threads and processes): how much the machine's load held it
    back. [s/s]"""


def fresh_store_url(kind: str, tmp: Path, influx: InfluxProcess, catalog: Catalog,
                    run: int) -> str:
    """A new, empty store of ``kind`` (``sqlite`` or ``influx``) for collector run ``run``."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/bench-{run}.db"
    url = influx.store_url(f"bench_{run}")
    init(InfluxStore(url, catalog))
    return url


def median_spread(ratios: Sequence[float]) -> str:
    """``0.81x (0.74-0.90x)``: median and range of per-pair ratios."""
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"


def latency(base: Config, broker: BrokerProcess, url: str, n: int, rate: float,
            inflight: int, run: int, writer: WriterMode = "thread") -> tuple[float, float]:
    """Publish ``n`` readings at ``rate`` msg/s through a running collector; p50, p99 [ms].

    A reading counts as stored when the acknowledgements of the write that held it were
    handed to paho (``Collector(on_durable=...)``); the broker delivers and the collector
    acknowledges in publication order, so the k-th acknowledged message is the k-th sent.
    """
    acked_at: list[float] = []

    def on_durable(k: int) -> None:
        now = time.time()
        acked_at.extend([now] * k)

    cfg = collector_config(base, broker, url, inflight, f"bench-latency-{run}", writer)
    collector = Collector(cfg, on_durable=on_durable)
    collector.start()
    collector.wait_ready(30)
    sent_at: list[float] = []
    msgs = messages(base, n, offset=10_000)
    try:
        publish(broker, msgs, rate=rate, sent_at=sent_at)
        deadline = time.monotonic() + 120
        while len(acked_at) < n and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        collector.stop()
    lat = [(acked_at[k] - sent_at[k]) * 1000.0 for k in range(n)]
    q = statistics.quantiles(lat, n=100)
    return q[49], q[98]


def main() -> int:
    """Run the benchmark and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--pairs", type=int, default=5,
                    help="interleaved baseline/collector pairs per row")
    ap.add_argument("--inflight", type=int, nargs="+", default=[20, 500])
    ap.add_argument("--stores", nargs="+", choices=sorted(STORES), default=list(STORES))
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--latency-messages", type=int, default=2_000,
                    help="0 skips the latency runs")
    ap.add_argument("--writers", nargs="+", choices=["thread", "process"],
                    default=["thread"],
                    help="collector.writer modes; each pair runs the baseline and every mode")
    ap.add_argument("--no-flush-row", action="store_true",
                    help="skip the run without the in-flight flush")
    args = ap.parse_args()
    base = load_config(REPO / "config" / "example.toml", env={})
    catalog = Catalog.of(base.meters, base.sites)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        influx = start_influxd(tmp_path / "influxd")
        try:
            run = 0
            for inflight in args.inflight:
                broker = start_broker(tmp_path / f"broker-{inflight}", inflight)
                try:
                    for kind in args.stores:
                        pairs: dict[WriterMode, list[tuple[Drain, Drain]]] = {
                            w: [] for w in args.writers}
                        for pair in range(args.pairs):
                            # The baseline and each writer mode, order rotating per pair.
                            order: list[WriterMode | None] = [None, *args.writers]
                            shift = pair % len(order)
                            order = order[shift:] + order[:shift]
                            drains: dict[WriterMode | None, Drain] = {}
                            for w in order:
                                run += 1
                                if w is None:
                                    drains[w] = bare_drain(base, broker, args.messages, run,
                                                           inflight)
                                else:
                                    url = fresh_store_url(kind, tmp_path, influx, catalog, run)
                                    drains[w] = collector_drain(base, broker, url,
                                                                args.messages, inflight, run, w)
                            bare = drains[None]
                            for w in args.writers:
                                rate = drains[w]
                                pairs[w].append((bare, rate))
                                print(f"in-flight {inflight}, {STORES[kind]}, writer {w}, "
                                      f"pair {pair + 1}: baseline {bare.rate:,.0f} msg/s "
                                      f"({bare.cpu_us:.0f} µs CPU/msg, run-queue wait "
                                      f"{bare.wait_share:.2f} s/s), collector "
                                      f"{rate.rate:,.0f} msg/s ({rate.cpu_us:.0f} µs CPU/msg, "
                                      f"{rate.main_cpu_us:.0f} in its MQTT process, "
                                      f"run-queue wait {rate.wait_share:.2f} s/s) "
                                      f"({rate.rate / bare.rate:.2f}x)", flush=True)
                        for w in args.writers:
                            p50 = p99 = float("nan")
                            if args.latency_messages:
                                run += 1
                                url = fresh_store_url(kind, tmp_path, influx, catalog, run)
                                p50, p99 = latency(base, broker, url, args.latency_messages,
                                                   args.rate, inflight, run, w)
                            rows.append((inflight, f"{STORES[kind]}, {w}", pairs[w], p50, p99))
                            print(f"in-flight {inflight}, {STORES[kind]}, writer {w}: ratio "
                                  f"{median_spread([r.rate / b.rate for b, r in pairs[w]])}, "
                                  f"latency p50 {p50:.0f} ms p99 {p99:.0f} ms", flush=True)
                finally:
                    stop_process(broker.process)
            noflush = None
            if not args.no_flush_row:
                # Without the in-flight flush the broker's window of 20 waits for
                # flush_interval_s.
                broker = start_broker(tmp_path / "broker-noflush", 20)
                try:
                    n = 400
                    run += 1
                    bare_nf = bare_drain(base, broker, n, run, 20)
                    slow = collector_drain(base, broker, f"sqlite:///{tmp_path}/noflush.db",
                                           n, 1_000_000, run)
                    noflush = (n, bare_nf, slow)
                finally:
                    stop_process(broker.process)
        finally:
            stop_process(influx.process)
    print("\n| broker in-flight = collector.max_inflight | store, collector.writer | "
          "baseline msg/s (median) | "
          f"collector msg/s (median) | ratio: median ({args.pairs} pairs) and range | "
          "CPU µs/msg baseline / collector (its MQTT process) (medians) | latency p50 | "
          "latency p99 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for inflight, name, row, p50, p99 in rows:
        print(f"| {inflight} | {name} | {statistics.median(b.rate for b, _ in row):,.0f} | "
              f"{statistics.median(r.rate for _, r in row):,.0f} | "
              f"{median_spread([r.rate / b.rate for b, r in row])} | "
              f"{statistics.median(b.cpu_us for b, _ in row):.0f} / "
              f"{statistics.median(r.cpu_us for _, r in row):.0f} "
              f"({statistics.median(r.main_cpu_us or 0.0 for _, r in row):.0f}) | "
              f"{p50:.0f} ms | {p99:.0f} ms |")
    if noflush is not None:
        n, bare_nf, slow = noflush
        print(f"| 20, no flush at the bound ({n} messages, 1 pair) | SQLite | "
              f"{bare_nf.rate:,.0f} | {slow.rate:,.1f} | {slow.rate / bare_nf.rate:.4f}x | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
