"""``greenpipe findings run|list|ack|resolve|dismiss``: parsers and command implementations.

``greenpipe.app.cli`` calls ``add_parsers`` to register the sub-commands; this module imports
only argparse-level code at import time, the detectors load when a command runs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from greenpipe.errors import GreenpipeError
from greenpipe.finding import Finding, FindingStatus

LoadConfig = Callable[[argparse.Namespace], Any]


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                load: LoadConfig) -> None:
    """Register ``findings`` and its sub-commands; ``load`` turns args into a Config."""
    p = sub.add_parser("findings", help="energy-waste findings with quantified proposals")
    f_sub = p.add_subparsers(dest="findings_command", required=True, metavar="SUBCOMMAND")
    s = f_sub.add_parser("run", parents=[common],
                         help="run every detector on every meter and store the findings")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--as-of", help="treat this date/datetime as now (default: latest reading)")
    s.add_argument("--json", action="store_true", help="print one finding per line as JSON")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=lambda a: run_command(a, load(a)))
    s = f_sub.add_parser("list", parents=[common], help="list the stored findings")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--status", choices=[x.value for x in FindingStatus])
    s.add_argument("--json", action="store_true", help="one finding per line as JSON")
    s.set_defaults(func=lambda a: list_command(a, load(a)))
    for action, helptext in (("ack", "acknowledge a finding (someone is on it)"),
                             ("resolve", "mark a finding resolved (fixed)"),
                             ("dismiss", "dismiss a finding (not a problem)")):
        s = f_sub.add_parser(action, parents=[common], help=helptext)
        s.add_argument("id", help="finding id (or a unique start of it)")
        s.add_argument("--note", default="", help="why (kept with the status)")
        s.add_argument("--by", default=None, help="who (default: the login name)")
        s.add_argument("--store", help="store URL, overrides store.url")
        s.set_defaults(func=lambda a, act=action: status_command(a, load(a), act))


def _sort_key(f: Finding) -> tuple[float, float]:
    return (-f.annual_cost_jpy, -f.annual_co2_t)


def run_command(args: argparse.Namespace, cfg: Any) -> int:
    """Run the finder on the configured store and write its findings."""
    from tqdm import tqdm

    from findings.runner import run_finder
    from forecasting.runner import latest_reading
    from greenpipe.stores import open_configured_store
    from greenpipe.timeparse import parse_instant

    store = open_configured_store(cfg)
    try:
        tz = cfg.city.timezone
        as_of = parse_instant(args.as_of, tz, "--as-of") if args.as_of else latest_reading(store)
        t0 = time.monotonic()
        n_meters = sum(1 for m in cfg.meters if m.kind.value != "weather")
        with tqdm(total=n_meters, desc="findings", unit="meter", file=sys.stderr,
                  disable=args.no_progress) as bar:
            result = run_finder(cfg, store, as_of, progress=bar.update)
        store.write_findings(list(result.findings))
    finally:
        store.close()
    if args.json:
        for f in sorted(result.findings, key=_sort_key):
            print(json.dumps(f.as_json_dict(tz), ensure_ascii=False))
        return 0
    from findings.lifecycle import newly_opened

    new = len(newly_opened(result.findings))
    print(f"findings run as of {result.as_of.isoformat()}: {len(result.findings)} findings "
          f"({new} new or reopened) on {result.meters} meters written to {cfg.store.url} in "
          f"{time.monotonic() - t0:.1f} s; {len(result.warnings)} data-sufficiency warnings")
    for w in result.warnings:
        print(f"warning {w.code} [{w.detector}]: {w.message}")
    return 0


def list_command(args: argparse.Namespace, cfg: Any) -> int:
    """Print the stored findings, the costliest first."""
    from greenpipe.stores import open_configured_store

    store = open_configured_store(cfg)
    try:
        found = sorted(store.read_findings(args.status), key=_sort_key)
    finally:
        store.close()
    tz = cfg.city.timezone
    if args.json:
        for f in found:
            print(json.dumps(f.as_json_dict(tz), ensure_ascii=False))
        return 0
    if not found:
        print("no findings stored" + (f" with status {args.status}" if args.status else "")
              + "; run `greenpipe findings run`")
        return 0
    print(f"{'id':<13} {'status':<12} {'code':<26} {'meter':<20} {'since':<10} "
          f"{'MWh/a':>8} {'t-CO2/a':>8} {'k¥/a':>8} conf")
    for f in found:
        since = f.as_json_dict(tz)["start"][:10]
        print(f"{f.id:<13} {f.status:<12} {f.code:<26} {f.meter:<20} {since:<10} "
              f"{f.annual_kwh / 1000:>8.1f} {f.annual_co2_t:>8.1f} "
              f"{f.annual_cost_jpy / 1000:>8.0f} {f.confidence}")
    return 0


def status_command(args: argparse.Namespace, cfg: Any, action: str) -> int:
    """Set a finding's status (ack, resolve, dismiss), with who, when and a note."""
    from findings.lifecycle import STATUS_OF_ACTION, find_by_id, set_status
    from greenpipe.stores import open_configured_store

    by = args.by or _login()
    store = open_configured_store(cfg)
    try:
        finding = find_by_id(store.read_findings(), args.id)
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        updated = set_status(finding, STATUS_OF_ACTION[action], by, now, args.note)
        store.write_findings([updated])
    finally:
        store.close()
    print(f"{updated.id} ({updated.code}, {updated.meter}) is now {updated.status} "
          f"(by {by})")
    return 0


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise GreenpipeError("cannot tell who you are; pass --by NAME") from None
