"""Benchmark: ``greenpipe simulate`` with 1,000 meters against a bare paho publish loop.

Starts a real Mosquitto on a free loopback port, then alternates, ``--repeat`` times:

* baseline: one paho client publishing pre-encoded payloads (same topics, same sizes) at
  QoS 1 with the same paho in-flight limit, then waiting for every PUBACK;
* simulator: ``run_simulator`` backfilling ``--slots`` half-hour slots for a generated
  1,000-meter city (profiles cycled over 100 sites), computing, encoding and publishing
  every reading and waiting for every PUBACK.

It reports messages/s of each and their ratio (median over repeats), plus the rate of the
simulation alone (fleet maths and JSON encoding, no MQTT). Run:

    .venv/bin/python bench/simulate.py [--meters 1000] [--slots 48] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from greenpipe.config import Config, config_from_dict
from greenpipe.net import free_loopback_port
from simulators.fleet import Fleet
from simulators.publisher import DEFAULT_INFLIGHT
from simulators.runner import SimulateOptions, run_simulator

PROFILES = ("continuous_process", "process_gas", "two_shift", "sme_workshop", "office",
            "retail", "city_hall", "office_heating_gas", "pv", "ev_depot")
KIND = {"process_gas": "gas", "office_heating_gas": "gas", "pv": "pv",
        "ev_depot": "ev_charging"}
NOW = datetime(2025, 11, 3, 3, 30, tzinfo=UTC)


def city_config(n_meters: int, port: int) -> Config:
    """Return a config with ``n_meters`` simulated meters (one weather station) on 100 sites."""
    n_sites = max(1, min(100, n_meters // 10))
    sites = [{"id": f"site-{s:03d}", "name": f"Site {s}", "sector": "industry",
              "timezone": "Asia/Tokyo", "grid_region": "tepco"} for s in range(n_sites)]
    meters: list[dict[str, object]] = [
        {"id": "weather-0", "site": "site-000", "kind": "weather", "profile": "weather"}]
    for i in range(n_meters - 1):
        profile = PROFILES[i % len(PROFILES)]
        meters.append({"id": f"m-{i:05d}", "site": f"site-{i % n_sites:03d}",
                       "kind": KIND.get(profile, "electricity"), "profile": profile,
                       "nominal_kw": 50.0 + (i * 37) % 950})
    raw: dict[str, object] = {"broker": {"host": "127.0.0.1", "port": port},
           "simulator": {"client_id": "bench-sim"}, "sites": sites, "meters": meters}
    return config_from_dict(raw, env={})


def _start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_loopback_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_inflight_messages 0\nmax_queued_messages 0\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


def baseline(cfg: Config, messages: list[tuple[str, bytes]]) -> float:
    """Publish pre-encoded messages with a bare paho loop; return messages/s incl. all acks."""
    done = threading.Event()
    acked = 0
    total = len(messages)

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1
        if acked == total:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline")
    client.max_inflight_messages_set(DEFAULT_INFLIGHT)  # as the simulator
    client.on_publish = on_publish
    client.connect(cfg.broker.host, cfg.broker.port)
    client.loop_start()
    t0 = time.perf_counter()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1)
    if not done.wait(300):
        raise SystemExit(f"baseline: only {acked} of {total} acknowledged")
    elapsed = time.perf_counter() - t0
    client.loop_stop()
    client.disconnect()
    return total / elapsed


def simulator(cfg: Config, slots: int) -> tuple[float, int]:
    """Run the simulator's backfill; return (readings/s incl. connect and acks, readings)."""
    days = slots * cfg.simulator.interval_s / 86400
    options = SimulateOptions(seed=1, backfill_days=days, live=False, progress=False)
    report = run_simulator(cfg, options, now=NOW, out=io.StringIO())
    return report.messages_per_s, report.readings


def compute_only(cfg: Config, slots: int) -> float:
    """Return readings/s of fleet maths plus JSON encoding alone (no MQTT)."""
    fleet = Fleet(cfg, 1)
    t0 = time.perf_counter()
    start = int(NOW.timestamp()) - slots * cfg.simulator.interval_s
    n = len(fleet.messages(fleet.start(start), 0))
    ends = [start + k * cfg.simulator.interval_s for k in range(1, slots + 1)]
    for i in range(0, len(ends), 48):
        for step in fleet.advance(ends[i:i + 48]):
            n += len(fleet.messages(step, 1))
    return n / (time.perf_counter() - t0)


def main(argv: list[str]) -> int:
    """Run the benchmark and print a markdown section with the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start_mosquitto(Path(tmp))
        try:
            cfg = city_config(args.meters, port)
            fleet = Fleet(cfg, 1)
            step = fleet.start(int(NOW.timestamp()))
            one_slot = fleet.messages(step, 123)
            pre_encoded = one_slot * (args.slots + 1)
            base_rates, sim_rates = [], []
            readings = 0
            for _ in range(args.repeat):
                base_rates.append(baseline(cfg, pre_encoded))
                rate, readings = simulator(cfg, args.slots)
                sim_rates.append(rate)
            compute = compute_only(cfg, args.slots)
        finally:
            proc.terminate()
            proc.wait(10)
    ratios = [s / b for s, b in zip(sim_rates, base_rates, strict=True)]
    base, sim, ratio = (statistics.median(x) for x in (base_rates, sim_rates, ratios))
    print(f"## simulate: {args.meters:,} meters, {args.slots + 1} instants "
          f"({readings:,} readings per run), median of {args.repeat}\n")
    print(f"Date {datetime.now(UTC):%Y-%m-%d}, Mosquitto on loopback, QoS 1, "
          f"paho in-flight limit {DEFAULT_INFLIGHT} for both.\n")
    print("| what | messages/s | ratio to baseline |")
    print("|---|---:|---:|")
    print(f"| baseline: bare paho loop, pre-encoded payloads | {base:,.0f} | 1.00 |")
    print(f"| `run_simulator` backfill (compute + encode + publish + acks) | {sim:,.0f} | "
          f"{ratio:.2f} |")
    print(f"| fleet maths + JSON encoding only (no MQTT) | {compute:,.0f} | "
          f"{compute / base:.2f} |")
    print(f"\nPer-run ratios: {', '.join(f'{r:.2f}' for r in ratios)}. "
          f"Command: `.venv/bin/python bench/simulate.py --meters {args.meters} "
          f"--slots {args.slots} --repeat {args.repeat}`\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
