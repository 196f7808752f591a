"""``greenpipe report energy-act|ghg`` and ``greenpipe import production``.

``greenpipe.app.cli`` calls ``add_parsers`` while building its parser; this module imports only
argparse at load time, and the report machinery (pandas, openpyxl) when a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from greenpipe.errors import GreenpipeError

Loader = Callable[[argparse.Namespace], Any]
"""``greenpipe.app.cli._load``: reads --config and applies --store."""


def add_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                load: Loader) -> None:
    """Add ``report`` and ``import`` with their subcommands to the CLI's sub-parsers."""
    p = sub.add_parser("report", help="statutory reports: Energy Conservation Act and GHG (SHK)")
    rep_sub = p.add_subparsers(dest="report_command", required=True, metavar="REPORT")
    for name, helptext in (("energy-act", "省エネ法 periodic-report figures: GJ, kL, intensity, "
                                          "class, non-fossil share, 1,500 kL test"),
                           ("ghg", "温対法 SHK figures: CO2 by source, basic and adjusted")):
        s = rep_sub.add_parser(name, parents=[common], help=helptext)
        s.add_argument("--fy", type=int, required=True, help="fiscal year, e.g. 2025 (April-March)")
        s.add_argument("--company", help="only this company's sites ([[companies]] id)")
        s.add_argument("--site", help="only this site")
        s.add_argument("--store", help="store URL, overrides store.url")
        s.add_argument("--format", choices=("xlsx", "csv", "json"), required=True)
        s.add_argument("--out", required=True,
                       help="output file (csv writes one file per part plus PATH.metadata.json)")
        s.set_defaults(func=lambda a, kind=name: report_command(a, load(a), kind))
    p = sub.add_parser("import", help="import data from files")
    imp_sub = p.add_subparsers(dest="import_command", required=True, metavar="WHAT")
    s = imp_sub.add_parser("production", parents=[common],
                           help="production output from CSV (timestamp,meter_id,quantity[,unit])")
    s.add_argument("--csv", required=True, help="the CSV file")
    s.add_argument("--meter", help="production meter id when the CSV has no meter_id column")
    s.add_argument("--naive-tz", help="time zone of timestamps without offset, e.g. Asia/Tokyo")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.set_defaults(func=lambda a: import_production_command(a, load(a)))


def report_command(args: argparse.Namespace, cfg: Any, kind: str) -> int:
    """Build the report of ``--fy`` from the store and write it; prints a summary."""
    from greenpipe.stores import open_configured_store
    from reports.build import build_reports
    from reports.export import write_report

    if args.company and args.site:
        raise GreenpipeError("give --company or --site, not both")
    store = open_configured_store(cfg)
    try:
        rs = build_reports(cfg, store, args.fy, company=args.company, site=args.site)
    finally:
        store.close()
    files = write_report(rs, kind, args.format, args.out)
    total = rs.total()
    print(f"{kind} FY{args.fy}: {len(rs.sites)} sites, {total['crude_oil_kl']:,.1f} kL, "
          f"CO2 basic {total['co2_basic_t']:,.1f} t / adjusted {total['co2_adjusted_t']:,.1f} t"
          f"{' (partial year)' if total['partial'] else ''}; wrote "
          f"{', '.join(str(f) for f in files)}")
    for w in rs.warnings:
        print(f"warning {w.code} [{w.scope}]: {w.message}")
    return 0


def import_production_command(args: argparse.Namespace, cfg: Any) -> int:
    """Import a production CSV; exit 1 when any row was rejected (they are dead letters)."""
    from greenpipe.stores import open_configured_store
    from reports.production_import import import_production, summary

    store = open_configured_store(cfg)
    try:
        stored, rejected = import_production(args.csv, cfg, store, meter=args.meter,
                                             naive_tz=args.naive_tz)
    finally:
        store.close()
    print(summary(stored, rejected))
    return 1 if rejected else 0
