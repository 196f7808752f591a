"""The ``greenpipe`` command line.

The CLI is the composition root: it is the one place in the core that imports the
collector, simulators, forecasting and dashboard packages, and it does so lazily inside
each command so that ``greenpipe store stats`` never pays for Prophet or Streamlit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from greenpipe import __version__
from greenpipe.config import Config, load_config
from greenpipe.errors import ConfigError, GreenpipeError
from greenpipe.stores import open_configured_store

log = logging.getLogger("greenpipe")

Command = Callable[[argparse.Namespace], int]


def _load(args: argparse.Namespace) -> Config:
    """Load the config named by --config and apply --store / --broker overrides."""
    cfg = load_config(args.config)
    store = getattr(args, "store", None)
    if store:
        from greenpipe.stores.url import parse_store_url

        parse_store_url(store, key="--store")
        cfg = replace(cfg, store=replace(cfg.store, url=store))
    broker = getattr(args, "broker", None)
    if broker:
        host, _, port = broker.rpartition(":")
        if not host or not port.isdigit():
            raise GreenpipeError(f"--broker {broker!r} is not HOST:PORT; e.g. 127.0.0.1:1883")
        cfg = replace(cfg, broker=replace(cfg.broker, host=host, port=int(port)))
    return cfg


# ---------------------------------------------------------------- commands


def _cmd_broker(args: argparse.Namespace) -> int:
    from greenpipe.app.broker import run_embedded_broker
    from greenpipe.net import free_loopback_port

    port = args.port or free_loopback_port()
    print(f"embedded MQTT broker (amqtt) on 127.0.0.1:{port}; Ctrl-C stops it", flush=True)
    run_embedded_broker(port)
    return 0


def _continue_from(path: str | None) -> dict[str, tuple[int, float]] | None:
    """Read ``--continue-from``: JSON {meter id: [epoch seconds, register kWh]}."""
    if path is None:
        return None
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(m): (int(v[0]), float(v[1])) for m, v in raw.items()}
    except (OSError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise ConfigError("--continue-from", path, f"cannot read it ({exc}); give a JSON "
                          'file like {"f1-main": [1743465600, 1234.5]}') from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.runner import SimulateOptions, run_simulator

    cfg = _load(args)
    if not cfg.broker.host:
        raise GreenpipeError(
            "no MQTT broker configured; set broker.host (or --broker HOST:PORT), "
            "or run `greenpipe demo`, which starts the embedded one"
        )
    options = SimulateOptions(
        seed=cfg.simulator.seed if args.seed is None else args.seed,
        backfill_days=args.backfill_days,
        live=args.live,
        speed=cfg.simulator.speed if args.speed is None else args.speed,
        duration_s=args.duration,
        progress=not args.no_progress,
        faults=args.faults,
        continue_from=_continue_from(args.continue_from),
    )
    run_simulator(cfg, options)
    return 0


def _cmd_collect(args: argparse.Namespace) -> int:
    from collector.service import run_collector

    cfg = _load(args)
    if not cfg.broker.host:
        raise GreenpipeError(
            "no MQTT broker configured; set broker.host (or --broker HOST:PORT), "
            "or run `greenpipe demo`, which starts the embedded one"
        )
    run_collector(cfg, ready_file=Path(args.ready_file) if args.ready_file else None)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from greenpipe.app.demo import DemoOptions, run_demo

    cfg = _load(args)
    run_demo(
        cfg,
        DemoOptions(
            config_path=args.config,
            backfill_days=args.backfill_days,
            speed=args.speed,
            dashboard=args.dashboard,
            dashboard_port=args.dashboard_port,
            forecast=args.forecast,
            forecast_every_s=args.forecast_every_min * 60.0,
        ),
    )
    return 0


def _cmd_store_stats(args: argparse.Namespace) -> int:
    from greenpipe import store_stats

    cfg = _load(args)
    store = open_configured_store(cfg)
    try:
        stats = store.stats()
        seq = store.read_sequence_states()
        brokers = store.read_broker_status()
    finally:
        store.close()
    if args.json:
        print("\n".join(store_stats.json_lines(stats, seq, brokers)))
        return 0
    if not stats.meters:
        print(f"store {cfg.store.url} holds no readings yet — is the collector running?")
    print("\n".join(store_stats.table_lines(stats, seq, brokers)))
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.launch import run_dashboard

    cfg = _load(args)  # validate before starting Streamlit, so errors read like the CLI's
    if args.as_of:
        from dashboard.data import parse_as_of

        parse_as_of(args.as_of)
    print(f"dashboard on http://{args.address}:{args.port}/ (store {cfg.store.url}); "
          "Ctrl-C stops it", flush=True)
    return run_dashboard(args.config, cfg.store.url, args.port, args.address, args.as_of)


def _cmd_config_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    print(f"config {cfg.source}: OK — {len(cfg.sites)} sites, {len(cfg.meters)} meters, "
          f"{len(cfg.measures)} measures; store {cfg.store.url}; broker "
          f"{cfg.broker.host or '(embedded in demo)'}:{cfg.broker.port}")
    return 0


def _db_store(args: argparse.Namespace) -> tuple[Config, Any, bool]:
    """Load the config and open its store; returns (config, store, is_influx)."""
    cfg = _load(args)
    store = open_configured_store(cfg)
    from greenpipe.stores.influx import InfluxStore

    return cfg, store, isinstance(store, InfluxStore)


def _cmd_db_init(args: argparse.Namespace) -> int:
    cfg, store, influx = _db_store(args)
    try:
        if not influx:
            print(f"store {cfg.store.url}: SQLite schema ready (created if it was missing)")
            return 0
        from greenpipe.stores.influx_admin import init

        for line in init(store, cfg.store.retention):
            print(line)
    finally:
        store.close()
    return 0


def _cmd_db_check(args: argparse.Namespace) -> int:
    cfg, store, influx = _db_store(args)
    try:
        if not influx:
            stats = store.stats()
            print(f"store {cfg.store.url}: SQLite OK, {len(stats.meters)} meters, "
                  f"{sum(m.readings for m in stats.meters)} readings")
            return 0
        from greenpipe.stores.influx_admin import check

        result = check(store)
        print(f"InfluxDB {result.version} at {result.url}: reachable, token accepted, "
              f"database {result.database!r} present, write API {result.api}")
    finally:
        store.close()
    return 0


def _cmd_db_rollup(args: argparse.Namespace) -> int:
    cfg, store, influx = _db_store(args)
    try:
        if not influx:
            raise GreenpipeError(
                f"store {cfg.store.url} is SQLite; hourly rollups are an InfluxDB feature "
                "(SQLite reads aggregate fast enough), so there is nothing to do"
            )
        from greenpipe.stores.influx_admin import run_rollups

        written = run_rollups(store, hours=args.hours, every_s=args.every)
        print(f"rolled up {written} hourly points over the last {args.hours:g} h")
    finally:
        store.close()
    return 0


def _cmd_savings(args: argparse.Namespace) -> int:
    from forecasting.commands import savings_command

    return savings_command(args)


def _cmd_forecast_run(args: argparse.Namespace) -> int:
    from forecasting.commands import forecast_run_command

    return forecast_run_command(args, _load(args))


def _cmd_forecast_export(args: argparse.Namespace) -> int:
    from forecasting.commands import forecast_export_command

    return forecast_export_command(args, _load(args))


def _add_forecasting_parsers(sub: argparse._SubParsersAction,
                             common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("savings", help="avoided energy of a meter CSV (IPMVP Option C)")
    p.add_argument("--meter-csv", required=True,
                   help="interval energy: start,value (OpenEEmeter) or timestamp,energy_kwh")
    p.add_argument("--temperature-csv", help="outdoor temperature: timestamp,temperature")
    p.add_argument("--temperature-unit", choices=("C", "F"), default=None,
                   help="default: F for a tempF/temp_f column, else C")
    p.add_argument("--baseline", required=True, metavar="START:END",
                   help="baseline period, END exclusive; dates are local midnights")
    p.add_argument("--reporting", required=True, metavar="START:END")
    p.add_argument("--granularity", choices=("daily", "hourly"), default="daily")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--force", action="store_true", help="analyse disqualified data anyway")
    p.add_argument("--tz", default=None, help="local time zone of days and holidays "
                   "(default: --naive-tz if given, else Asia/Tokyo)")
    p.add_argument("--naive-tz", metavar="ZONE",
                   help="read timestamps without a UTC offset as wall-clock time in ZONE")
    p.add_argument("--country", help="public holidays of this ISO code (default: from --tz)")
    p.add_argument("--shutdowns", default="none", metavar="none|jp|FILE",
                   help="plant shutdowns: none, jp (Golden Week, Obon, New Year) or a CSV")
    p.add_argument("--time-column", help="meter CSV timestamp column (default: start/timestamp)")
    p.add_argument("--value-column", help="meter CSV energy column (default: energy_kwh/value)")
    p.add_argument("--temperature-time-column")
    p.add_argument("--temperature-column")
    p.add_argument("--timestamp-marks", choices=("start", "end"), default=None,
                   help="meter timestamps mark interval start or end (default: start for a "
                        "'start' column, else end)")
    p.add_argument("--interval-level", type=float, default=0.9)
    p.add_argument("--hdd-base-c", type=float, default=None,
                   help="fixed heating degree base [°C] (default: chosen from the data)")
    p.add_argument("--cdd-base-c", type=float, default=None,
                   help="fixed cooling degree base [°C] (default: chosen from the data)")
    p.add_argument("--samples", type=int, default=300,
                   help="unused since savings intervals are closed-form; kept for old scripts")
    p.add_argument("--cv-folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_savings)

    p = sub.add_parser("forecast", help="baselines, savings and goal projections for the fleet")
    fc_sub = p.add_subparsers(dest="forecast_command", required=True, metavar="SUBCOMMAND")
    s = fc_sub.add_parser("run", parents=[common],
                          help="fit every site and meter, write forecast and savings results")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--workers", type=int, default=None,
                   help="process-pool size (default: forecasting.workers, 0 = one per core)")
    s.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                   help="run the fits on a Dask cluster instead of the local pool")
    s.add_argument("--as-of", help="treat this date/datetime as now (default: latest reading)")
    s.add_argument("--force", action="store_true", help="analyse disqualified data anyway")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_forecast_run)
    s = fc_sub.add_parser("export", parents=[common],
                          help="write the latest results as analyst-ready tidy tables")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--format", choices=("csv", "parquet", "json", "xlsx"), required=True)
    s.add_argument("--out", required=True, help="output file (csv also writes PATH.metadata.json)")
    s.add_argument("--run-id", help="export this run (default: the latest)")
    s.set_defaults(func=_cmd_forecast_export)


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every ``greenpipe`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="greenpipe",
        description="Energy-monitoring pipeline for green-industry programmes.",
    )
    parser.add_argument("--version", action="version", version=f"greenpipe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=None,
                        help="TOML config (default: $GREENPIPE_CONFIG or the example city)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from brokerauth.commands import add_parsers as add_broker_parsers  # argparse only

    add_broker_parsers(sub, common, _load, _cmd_broker)

    p = sub.add_parser("simulate", parents=[common], help="publish simulated meter readings")
    p.add_argument("--broker", help="HOST:PORT, overrides broker.host/port")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: config)")
    p.add_argument("--backfill-days", type=float, default=0.0,
                   help="publish this many days of history first, as fast as the broker takes")
    p.add_argument("--live", action=argparse.BooleanOptionalAction, default=True,
                   help="after any backfill, keep publishing in (accelerated) real time")
    p.add_argument("--speed", type=float, default=None,
                   help="live mode: simulated seconds per real second")
    p.add_argument("--duration", type=float, default=None,
                   help="live mode: stop after this many real seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--faults", type=float, nargs="?", const=0.01, default=0.0,
                   metavar="RATE", help="inject field faults (dropouts, counter resets, "
                   "duplicates, malformed payloads, clock skew) into this share of messages "
                   "(default when given: 0.01)")
    p.add_argument("--continue-from", metavar="FILE", default=None,
                   help="JSON {meter: [epoch s, register kWh]}: continue these registers")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("collect", parents=[common], help="ingest MQTT readings into the store")
    p.add_argument("--broker", help="HOST:PORT, overrides broker.host/port")
    p.add_argument("--store", help="store URL, overrides store.url")
    p.add_argument("--ready-file", help="touch this file once subscribed")
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("demo", parents=[common],
                       help="run broker, simulators and collector on one machine")
    p.add_argument("--broker", help="HOST:PORT of an existing broker (default: embedded)")
    p.add_argument("--store", help="store URL, overrides store.url")
    p.add_argument("--backfill-days", type=float, default=None,
                   help="history to publish first (default: simulator.backfill_days)")
    p.add_argument("--speed", type=float, default=None, help="live simulation speed-up")
    p.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=True,
                   help="serve the dashboard too (default: on)")
    p.add_argument("--dashboard-port", type=int, default=8501,
                   help="preferred dashboard port on 127.0.0.1 (a free one if taken)")
    p.add_argument("--forecast", action=argparse.BooleanOptionalAction, default=True,
                   help="run forecasting once history is in, then periodically")
    p.add_argument("--forecast-every-min", type=float, default=60.0,
                   help="minutes between forecast runs while live (default: 60)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("dashboard", parents=[common], help="serve the operators' dashboard")
    p.add_argument("--store", help="store URL, overrides store.url")
    p.add_argument("--port", type=int, default=8501, help="HTTP port (default: 8501)")
    p.add_argument("--address", default="127.0.0.1",
                   help="listen address (default: loopback only; 0.0.0.0 exposes it)")
    p.add_argument("--as-of", default=None,
                   help="pin the dashboard clock, e.g. 2025-10-01T12:00+09:00 (review the past)")
    p.set_defaults(func=_cmd_dashboard)

    p = sub.add_parser("store", help="inspect a store")
    store_sub = p.add_subparsers(dest="store_command", required=True, metavar="SUBCOMMAND")
    s = store_sub.add_parser("stats", parents=[common], help="readings per meter")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(func=_cmd_store_stats)

    p = sub.add_parser("config", help="configuration tools")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    s = config_sub.add_parser("check", parents=[common], help="validate a config file")
    s.set_defaults(func=_cmd_config_check)

    _add_forecasting_parsers(sub, common)
    from alerts.commands import add_alerts_parsers  # argparse only; commands import lazily

    add_alerts_parsers(sub, common, _load)
    from reports.commands import add_parsers as add_report_parsers

    add_report_parsers(sub, common, _load)
    from findings.commands import add_parsers as add_findings_parsers  # argparse only

    add_findings_parsers(sub, common, _load)

    p = sub.add_parser("db", help="create, check and roll up the store's database")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    s = db_sub.add_parser("init", parents=[common],
                          help="create the database/bucket, DBRP mapping and retention policy")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.set_defaults(func=_cmd_db_init)
    s = db_sub.add_parser("check", parents=[common],
                          help="report server version, reachability, token and database")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.set_defaults(func=_cmd_db_check)
    s = db_sub.add_parser("rollup", parents=[common],
                          help="recompute rollups (energy_1h, energy_1d) on InfluxDB")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--hours", type=float, default=48.0,
                   help="recompute the hours overlapping this look-back window (default 48)")
    s.add_argument("--every", type=float, default=None, metavar="SECONDS",
                   help="keep running, rolling up every SECONDS (for a scheduler service)")
    s.set_defaults(func=_cmd_db_rollup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``greenpipe`` CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except GreenpipeError as exc:
        print(f"greenpipe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
