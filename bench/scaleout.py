"""Benchmark: drain a backlog queued in Mosquitto with one collector, then with two.

Scale-out (``docs/collector.md``, "Scale-out and register state") must be faster than one
process. This starts a real Mosquitto on a free loopback port (MQTT 5, unbounded queues,
``max_inflight_messages`` = ``collector.max_inflight``) and, for each run:

1. primes the members' persistent sessions: each collector process starts, subscribes
   (on ``$share/<group>/...`` when grouped) and stops cleanly, so the broker queues for it;
2. publishes ``--days`` days of half-hourly register readings of every energy meter of the
   example city at QoS 1 (the backlog, e.g. after a broker-side outage of the collectors);
3. starts the collector processes (each its own interpreter, as in production) and
   measures the drain rate: readings / (instant all are stored - instant the first is
   stored), polling the SQLite store;
4. checks the result: every reading stored once, no dead letters, and each meter's
   interval energies adding up exactly to its register delta.

Modes: ``one`` (one plain collector, the baseline, measured in the same run), ``stateless``
(two collectors on ``$share/<group>/...`` with no ``share_members``: any member takes any
message and the store derives energy in its write transaction) and ``owner`` (two
collectors with ``share_members``: ownership forwarding, the design this replaces).
Runs alternate between modes so drift on the shared machine hits all of them alike.

    .venv/bin/python bench/scaleout.py [--days 60] [--runs 3] [--modes one stateless owner]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import publish, start_broker  # noqa: E402

from greenpipe.config import Config, load_config  # noqa: E402
from greenpipe.model import MeterKind  # noqa: E402
from greenpipe.wire import encode_reading, reading_topic  # noqa: E402
from tests.conftest import BrokerProcess, stop_process  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)
INFLIGHT = 200
MODES = ("one", "stateless", "owner")
STALL_S = 10.0
"""No new reading for this long ends a drain (the rest became dead letters). [s]"""


def energy_meters(cfg: Config) -> list[tuple[str, str]]:
    """(site, meter) of every register meter of the example city."""
    return [(m.site, m.id) for m in cfg.meters
            if m.kind not in (MeterKind.WEATHER, MeterKind.PRODUCTION)]


def register_kwh(i: int, k: int) -> float:
    """Register of meter ``k`` at step ``i``: uneven steps so a wrong split shows. [kWh]"""
    return 1000.0 + 10.0 * k + 0.25 * i + 0.125 * (i % 3)


def backlog(cfg: Config, days: int) -> list[tuple[str, bytes]]:
    """Every meter's half-hourly readings over ``days`` days, in time order."""
    meters = energy_meters(cfg)
    return [(reading_topic("greenpipe/v1", site, meter),
             encode_reading(T0 + i * STEP, register_kwh(i, k)))
            for i in range(days * 48) for k, (site, meter) in enumerate(meters)]


def member_config(base: Config, host: str, port: int, db: str, client_id: str, mode: str,
                  members: str) -> Config:
    """A collector of the run: MQTT 5, SQLite store, grouped unless ``mode`` is ``one``."""
    cfg = replace(base, broker=replace(base.broker, host=host, port=port, protocol="5"),
                  store=replace(base.store, url=f"sqlite:///{db}"))
    return replace(cfg, collector=replace(
        cfg.collector, client_id=client_id, max_inflight=INFLIGHT, spool_path="",
        summary_interval_s=3600.0,
        share_group="" if mode == "one" else "bench",
        share_members=members if mode == "owner" else ""))


def member(host: str, port: int, db: str, client_id: str, mode: str, members: str,
           prime: bool) -> int:
    """Child process: run one collector until SIGTERM (or only subscribe, when priming)."""
    import threading

    from collector.service import Collector

    base = load_config(REPO / "config" / "example.toml", env={})
    collector = Collector(member_config(base, host, port, db, client_id, mode, members))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector.start()
    try:
        if not collector.wait_ready(30):
            return 2
        if not prime:
            print("ready", flush=True)
            stop.wait()
    finally:
        report = collector.stop()
    import resource
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    if prime:
        print(f"{client_id}: start + subscribe + stop CPU {cpu.ru_utime + cpu.ru_stime:.1f} s",
              file=sys.stderr, flush=True)
    else:
        print(f"{client_id}: received {report.received}, written {report.written}, "
              f"forwarded {report.forwarded}, duplicates {report.duplicates}, rejected "
              f"{report.rejected_total}, CPU {cpu.ru_utime + cpu.ru_stime:.1f} s",
              file=sys.stderr, flush=True)
    return 0


def _spawn(broker: BrokerProcess, db: Path, client_id: str, mode: str, members: str,
           prime: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--member", broker.host, str(broker.port), str(db),
            client_id, mode, members] + (["--prime"] if prime else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE)


def _count(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def cpu_s(pid: int) -> float:
    """User + system CPU time a process has used so far. [s]"""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check(db: Path, cfg: Config, days: int) -> None:
    """Every reading once, no dead letters, each meter's energy exact; AssertionError if not."""
    n = days * 48
    conn = sqlite3.connect(db)
    try:
        dead = conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        assert dead == 0, f"{dead} dead letters"
        for k, (_, meter) in enumerate(energy_meters(cfg)):
            count, energy = conn.execute(
                "SELECT COUNT(*), SUM(energy_kwh) FROM readings WHERE meter_id = ?",
                (meter,)).fetchone()
            assert count == n, f"{meter}: {count} readings, expected {n}"
            want = register_kwh(n - 1, k) - register_kwh(0, k)
            assert abs(energy - want) < 1e-6, f"{meter}: energy {energy} kWh, expected {want}"
            # Each interval exact, not only the sum.
            bad = conn.execute(
                "SELECT COUNT(*) FROM (SELECT energy_kwh, register_kwh - LAG(register_kwh) "
                "OVER (ORDER BY ts_ms) AS d FROM readings WHERE meter_id = ?) "
                "WHERE d IS NOT NULL AND ABS(energy_kwh - d) > 1e-6", (meter,)).fetchone()[0]
            assert bad == 0, f"{meter}: {bad} intervals differ from the register delta"
    finally:
        conn.close()


def run(mode: str, days: int, run_no: int, tmp: Path, cfg: Config) -> tuple[float, str]:
    """One drain of the backlog in ``mode``; return readings/s and what was wrong ("")."""
    broker = start_broker(tmp / f"broker-{mode}-{run_no}", INFLIGHT)
    db = tmp / f"{mode}-{run_no}.db"
    ids = [f"{mode}-{run_no}-a"] if mode == "one" else [f"{mode}-{run_no}-a",
                                                         f"{mode}-{run_no}-b"]
    members = ",".join(ids)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for cid in ids:  # prime the persistent sessions (the broker queues the backlog)
            p = _spawn(broker, db, cid, mode, members, prime=True)
            assert p.wait(120) == 0, f"priming {cid} failed"
        msgs = backlog(cfg, days)
        publish(broker, msgs)
        procs = [_spawn(broker, db, cid, mode, members, prime=False) for cid in ids]
        first = None
        deadline = time.monotonic() + 900
        last_n, last_change = 0, time.monotonic()
        while True:
            n = _count(db)
            now = time.perf_counter()
            if first is None and n:
                first = now
            if n != last_n:
                last_n, last_change, last_at = n, time.monotonic(), now
            if n >= len(msgs) or time.monotonic() > deadline or any(
                    p.poll() is not None for p in procs):
                break
            if n and time.monotonic() - last_change > STALL_S:  # some were dead-lettered
                now = last_at
                break
            time.sleep(0.05)
        rate = n / (now - first) if first is not None and now > first else 0.0
        print(f"  {mode}: broker CPU {cpu_s(broker.process.pid):.1f} s (publish + drain)",
              file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                stop_process(p)
        stop_process(broker.process)
    try:
        check(db, cfg, days)
    except AssertionError as exc:
        return rate, str(exc)
    return rate, ""


def main() -> int:
    """Run the benchmark and print the rates and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--member", nargs=6, metavar=("HOST", "PORT", "DB", "ID", "MODE", "MEMBERS"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--prime", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.member:
        host, port, db, cid, mode, members = args.member
        return member(host, int(port), db, cid, mode, members, args.prime)
    cfg = load_config(REPO / "config" / "example.toml", env={})
    n = args.days * 48 * len(energy_meters(cfg))
    print(f"scale-out: {args.days} days x {len(energy_meters(cfg))} meters = {n:,} readings "
          f"queued in Mosquitto, drained into SQLite, max_inflight {INFLIGHT}, "
          f"{os.cpu_count()} cores", flush=True)
    rates: dict[str, list[float]] = {m: [] for m in args.modes}
    wrong: dict[str, list[str]] = {m: [] for m in args.modes}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.runs):
            line = []
            for mode in args.modes:
                rate, error = run(mode, args.days, r, Path(tmp), cfg)
                rates[mode].append(rate)
                if error:
                    wrong[mode].append(error)
                line.append(f"{mode} {rate:,.0f}/s" + (f" WRONG ({error})" if error else ""))
            base = rates["one"][-1] if "one" in rates else None
            ratios = "" if base is None else " | " + ", ".join(
                f"{m} {rates[m][-1] / base:.2f}x" for m in args.modes if m != "one")
            print(f"run {r + 1}: " + ", ".join(line) + ratios, flush=True)
    if "one" in rates:
        print("\n| mode | readings/s (median) | ratio to one collector, per run | result |")
        print("| --- | ---: | --- | --- |")
        for mode in args.modes:
            per_run = ", ".join(f"{a / b:.2f}x" for a, b in zip(rates[mode], rates["one"],
                                                                 strict=True))
            result = f"WRONG in {len(wrong[mode])} runs: {wrong[mode][0]}" if wrong[mode] \
                else "exact"
            print(f"| {mode} | {statistics.median(rates[mode]):,.0f} | {per_run} | {result} |")
    return 1 if any(wrong[m] for m in args.modes if m != "owner") else 0


if __name__ == "__main__":
    sys.exit(main())
