"""``greenpipe demo``: the whole pipeline on one machine with nothing to install.

It runs each part as its own process, as production does, so two cores are used and a
crash in one part is visible rather than silent:

1. the embedded amqtt broker on a free loopback port (unless ``broker.host`` is set);
2. the collector, writing to the configured store (SQLite by default);
3. the simulators: a backfill of ``simulator.backfill_days`` of history, then live data;
4. the dashboard (Streamlit) on loopback port 8501, or a free port if 8501 is taken;
5. forecasting: ``greenpipe forecast run`` once the backfill has reached the present, and
   again every ``DemoOptions.forecast_every_s``; each successful run is followed by
   ``greenpipe findings run`` (problems and proposals, read by the dashboard).

Ctrl-C stops a running forecast, the dashboard and the simulators first (they publish
``offline``), then the collector (it flushes what it holds), then the broker.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from greenpipe.config import Config, default_config_path
from greenpipe.errors import GreenpipeError
from greenpipe.net import free_loopback_port

READY_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Command-line choices for ``greenpipe demo``."""

    config_path: str | None = None
    backfill_days: float | None = None
    """History to publish before going live; None means ``simulator.backfill_days``. [d]"""
    speed: float | None = None
    """Live simulation speed-up; None means ``simulator.speed``."""
    dashboard: bool = True
    """Serve the dashboard alongside the pipeline."""
    dashboard_port: int = 8501
    """Preferred dashboard port on 127.0.0.1; a free one is used if it is taken (or 0)."""
    forecast: bool = True
    """Run ``greenpipe forecast run`` once history is in, and then periodically."""
    forecast_every_s: float = 3600.0
    """How often forecasting reruns while the demo is live. [s]"""


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]


def _wait_for_broker(port: int, child: _Child, timeout_s: float = 30.0) -> None:
    """Wait until the broker on 127.0.0.1:``port`` accepts an MQTT connection.

    A real CONNECT rather than a bare TCP probe: amqtt logs an ERROR for a connection that
    closes without sending a packet, which would greet every demo user with a false alarm.
    """
    from greenpipe.config import BrokerConfig
    from greenpipe.mqtt import BrokerUnavailableError, connect_and_start, make_client

    broker = BrokerConfig(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout_s
    client = make_client(broker, "greenpipe-demo-probe")
    while True:
        try:
            connect_and_start(client, broker, timeout_s=5.0)
        except BrokerUnavailableError:
            if child.process.poll() is not None:
                raise GreenpipeError(
                    f"{child.name} exited with code {child.process.returncode}") from None
            if time.monotonic() > deadline:
                raise GreenpipeError(
                    f"{child.name} did not accept MQTT on 127.0.0.1:{port} in {timeout_s:.0f} s"
                ) from None
            time.sleep(0.2)
            continue
        client.disconnect()
        client.loop_stop()
        return


def _relay(prefix: str, stream: IO[bytes]) -> None:
    """Copy a child's output to our stdout, one prefixed line at a time."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            print(f"[{prefix}] {line}", flush=True)


def _spawn(name: str, argv: Sequence[str], env: dict[str, str], *, relay: bool) -> _Child:
    """Start a child in its own session so Ctrl-C reaches only the demo, which stops it."""
    proc = subprocess.Popen(
        list(argv),
        env=env,
        stdout=subprocess.PIPE if relay else None,
        stderr=subprocess.STDOUT if relay else None,
        start_new_session=True,
    )
    if relay and proc.stdout is not None:
        threading.Thread(target=_relay, args=(name, proc.stdout), daemon=True).start()
    return _Child(name, proc)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def backfill_has_arrived(cfg: Config, now: datetime) -> bool:
    """Return True once every energy meter's newest stored reading is within two intervals
    of ``now``: the history is in, so forecasting has something to fit."""
    from greenpipe.model import MeterKind
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)
    try:
        latest = store.latest()
    finally:
        store.close()
    horizon = 2 * max(cfg.simulator.interval_s, cfg.simulator.live_interval_s)
    for meter in cfg.meters:
        if meter.kind in (MeterKind.WEATHER, MeterKind.PRODUCTION) or not meter.profile:
            continue
        reading = latest.get(meter.id)
        if reading is None or (now - reading.ts).total_seconds() > horizon:
            return False
    return True


def _stop(child: _Child, timeout_s: float = 30.0) -> None:
    if child.process.poll() is not None:
        return
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        print(f"demo: {child.name} did not stop in {timeout_s:.0f} s; killing it", flush=True)
        child.process.kill()
        child.process.wait()


def _prepare_influx(store: object, cfg: Config) -> None:
    """Create the InfluxDB database (idempotent), as `greenpipe db init` would, for the demo."""
    from greenpipe.stores.influx import InfluxStore

    if isinstance(store, InfluxStore):
        from greenpipe.stores.influx_admin import init

        for line in init(store, cfg.store.retention):
            print(f"demo: {line}", flush=True)


def stored_registers(cfg: Config) -> dict[str, tuple[int, float]]:
    """Return each meter's newest stored register as (epoch seconds, kWh), for
    ``greenpipe simulate --continue-from``: a restarted demo continues the stored registers
    instead of starting the seeded ones again (which the collector would see as a counter
    reset on every meter)."""
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)
    try:
        latest = store.latest()
    finally:
        store.close()
    return {m: (int(r.ts.timestamp()), r.register_kwh) for m, r in sorted(latest.items())
            if r.register_kwh is not None}


def resume_backfill_days(cfg: Config, requested_days: float, now: datetime) -> float:
    """Return how many days of history still need publishing into the configured store.

    A store that already holds readings from an earlier demo run only needs the gap since
    its newest reading, so a second ``make demo`` neither republishes a year of history nor
    sends the collector readings older than the ones it holds.
    """
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)
    try:
        _prepare_influx(store, cfg)
        latest = store.latest()
    finally:
        store.close()
    if not latest:
        return requested_days
    newest = max(r.ts for r in latest.values())
    gap_days = (now - newest).total_seconds() / 86400.0
    # Stay one interval clear of the newest stored reading.
    gap_days -= cfg.simulator.interval_s / 86400.0
    return max(0.0, min(requested_days, math.floor(gap_days * 86400) / 86400))


def _tend_forecaster(forecaster: _Child | None, cfg: Config, env: dict[str, str],
                     python: list[str], options: DemoOptions) -> _Child | None:
    """Start a forecast run when history is in; report on one that has finished.

    A forecast run that succeeds is followed by ``greenpipe findings run``, which reads the
    baselines it stored; the returned child is then the finder.
    """
    if forecaster is not None:
        code = forecaster.process.poll()
        if code is not None:
            verdict = "done; the dashboard shows it" if code == 0 else f"failed (exit {code})"
            print(f"demo: {forecaster.name} run {verdict}", flush=True)
            if code == 0 and forecaster.name == "forecast":
                print("demo: running `greenpipe findings run`", flush=True)
                return _spawn("findings", [*python, "findings", "run", "--no-progress"], env,
                              relay=True)
        return forecaster
    if not backfill_has_arrived(cfg, datetime.now(UTC)):
        return None
    print("demo: history is in; running `greenpipe forecast run`", flush=True)
    return _spawn("forecast", [*python, "forecast", "run", "--no-progress"], env, relay=True)


def run_demo(cfg: Config, options: DemoOptions) -> None:
    """Run broker, collector and simulators until Ctrl-C; raises GreenpipeError on failure."""
    config_path = str(Path(options.config_path or default_config_path()).resolve())
    runtime = Path("var") / "demo"
    runtime.mkdir(parents=True, exist_ok=True)
    ready_file = runtime / "collector.ready"
    ready_file.unlink(missing_ok=True)

    env = dict(os.environ)
    env["GREENPIPE_CONFIG"] = config_path
    env["GREENPIPE_STORE_URL"] = cfg.store.url
    env["PYTHONUNBUFFERED"] = "1"
    python = [sys.executable, "-m", "greenpipe"]
    children: list[_Child] = []
    forecaster: _Child | None = None  # at most one run at a time; it may end on its own

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if cfg.broker.host:
            host, port = cfg.broker.host, cfg.broker.port
            broker_text = f"{host}:{port} (configured)"
        else:
            host, port = "127.0.0.1", free_loopback_port()
            broker = _spawn("broker", [*python, "broker", "--port", str(port)], env, relay=True)
            children.append(broker)
            _wait_for_broker(port, broker)
            broker_text = f"{host}:{port} (embedded amqtt)"
        env["GREENPIPE_BROKER_HOST"] = host
        env["GREENPIPE_BROKER_PORT"] = str(port)

        requested = cfg.simulator.backfill_days if options.backfill_days is None \
            else options.backfill_days
        backfill_days = resume_backfill_days(cfg, requested, datetime.now(UTC))

        collector = _spawn("collector", [*python, "collect", "--ready-file", str(ready_file)],
                           env, relay=True)
        children.append(collector)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready_file.exists():
            if collector.process.poll() is not None:
                raise GreenpipeError(
                    f"the collector exited with code {collector.process.returncode}; "
                    "see its [collector] lines above"
                )
            if stop.is_set():
                return
            if time.monotonic() > deadline:
                raise GreenpipeError(f"the collector did not subscribe within {READY_TIMEOUT_S} s")
            time.sleep(0.1)

        speed = cfg.simulator.speed if options.speed is None else options.speed
        sim_args = [*python, "simulate", "--backfill-days", f"{backfill_days:.6f}", "--live",
                    "--speed", str(speed)]
        registers = stored_registers(cfg)
        if registers:
            continue_file = runtime / "continue-from.json"
            continue_file.write_text(json.dumps(registers), encoding="utf-8")
            sim_args += ["--continue-from", str(continue_file)]
        simulator = _spawn("simulate", sim_args, env, relay=False)
        children.append(simulator)

        dashboard_text = "off (--no-dashboard)"
        if options.dashboard:
            preferred = options.dashboard_port
            dport = preferred if preferred > 0 and _port_is_free(preferred) \
                else free_loopback_port()
            dash = _spawn("dashboard", [*python, "dashboard", "--port", str(dport)], env,
                          relay=True)
            children.append(dash)
            dashboard_text = f"http://127.0.0.1:{dport}/"

        print(
            "\n".join([
                "",
                "greenpipe demo is running:",
                f"  config     {config_path}",
                f"  broker     {broker_text}",
                f"  store      {cfg.store.url}",
                f"  collector  pid {collector.process.pid}, subscribed to "
                f"{cfg.broker.topic_prefix}/+/+/reading",
                f"  simulator  pid {simulator.process.pid}: {len(cfg.meters)} meters, "
                f"backfill {backfill_days:.1f} days, then live at {speed:g}x",
                f"  dashboard  {dashboard_text}",
                "  forecast   " + (f"runs once the history is in, then every "
                                   f"{options.forecast_every_s / 60:g} min"
                                   if options.forecast else "off (--no-forecast)"),
                "",
                "Look at the data while it runs:",
                f"  greenpipe store stats --store {cfg.store.url}",
                "Ctrl-C stops everything cleanly.",
                "",
            ]),
            flush=True,
        )
        next_forecast_check = time.monotonic() + 5.0
        while not stop.is_set():
            for child in children:
                code = child.process.poll()
                if code is not None:
                    raise GreenpipeError(f"{child.name} exited unexpectedly with code {code}")
            if options.forecast and time.monotonic() >= next_forecast_check:
                next_forecast_check = time.monotonic() + 10.0
                forecaster = _tend_forecaster(forecaster, cfg, env, python, options)
                if forecaster is not None and forecaster.process.poll() is not None:
                    next_forecast_check = time.monotonic() + options.forecast_every_s
                    forecaster = None
            stop.wait(0.5)
        print("demo: stopping simulator, collector and broker ...", flush=True)
    finally:
        running = [forecaster] if forecaster is not None else []
        for child in [*running, *reversed(children)]:  # simulator, collector, ..., broker
            _stop(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo: stopped cleanly", flush=True)
