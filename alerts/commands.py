"""``greenpipe alerts check`` and ``greenpipe alerts test``: parsers and implementations.

``greenpipe.app.cli`` calls ``add_alerts_parsers`` with its config loader; nothing heavy is
imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alerts.deliver import DeliveryReport
    from greenpipe.config import Config

Loader = Callable[[argparse.Namespace], "Config"]


def add_alerts_parsers(sub: argparse._SubParsersAction, common: argparse.ArgumentParser,
                       load: Loader) -> None:
    """Add ``alerts check`` and ``alerts test`` to the ``greenpipe`` parser."""
    p = sub.add_parser("alerts", help="send alerts: offline meters, collector stalls, tests")
    alerts_sub = p.add_subparsers(dest="alerts_command", required=True, metavar="SUBCOMMAND")
    s = alerts_sub.add_parser("check", parents=[common],
                              help="new findings, offline meters, a stalled collector: send alerts")
    s.add_argument("--store", help="store URL, overrides store.url")
    s.add_argument("--as-of", help="treat this ISO-8601 datetime (with offset) as now")
    s.add_argument("--dry-run", action="store_true",
                   help="show what would be sent; send and remember nothing")
    s.add_argument("--json", action="store_true", help="one JSON object per alert")
    s.set_defaults(func=lambda args: check_command(args, load(args)))
    s = alerts_sub.add_parser("test", parents=[common],
                              help="send a test alert on every configured channel")
    s.add_argument("--json", action="store_true", help="one JSON object")
    s.set_defaults(func=lambda args: test_command(args, load(args)))


def _now(as_of: str | None, tz: str) -> datetime:
    if not as_of:
        return datetime.now(UTC)
    from greenpipe.timeparse import parse_instant

    return parse_instant(as_of, tz, "--as-of")


def check_command(args: argparse.Namespace, cfg: Config) -> int:
    """Run ``greenpipe alerts check``; exit 1 when a channel failed after its retries."""
    from alerts.channels import build_channels
    from alerts.dedupe import DedupeState, state_path_for
    from alerts.deliver import deliver
    from alerts.detect import check_events, finding_events
    from greenpipe.stores import open_configured_store

    a = cfg.alerts
    now = _now(args.as_of, cfg.city.timezone)
    channels = build_channels(a)
    store = open_configured_store(cfg)
    try:
        stats = store.stats()
        dead = [d.received_at for d in store.read_dead_letters(limit=1)]
        stored_findings = store.read_findings()
    finally:
        store.close()
    events = check_events(
        stats.meters, dead, now, offline_factor=a.offline_factor,
        default_interval_s=a.default_interval_s, stall_after_s=a.stall_after_s,
        expected={m.id: m.site for m in cfg.meters}, tz=cfg.city.timezone)
    events += finding_events(stored_findings, now, a.finding_min_confidence)
    state = DedupeState(state_path_for(a.state_path, cfg.store.url))
    try:
        report = deliver(events, channels, state, now, window_s=a.dedupe_window_s,
                         retries=a.retries, backoff_s=a.backoff_s, dry_run=args.dry_run)
    finally:
        state.close()
    quiet = (f"no alert: {len(stats.meters)} meters reporting, collector writing"
             if stats.meters else f"no alert: store {cfg.store.url} holds no readings yet")
    return _print_report(report, [c.name for c in channels], args.json, quiet)


def test_command(args: argparse.Namespace, cfg: Config) -> int:
    """Run ``greenpipe alerts test``: one test message per channel, no de-duplication."""
    from alerts.channels import build_channels
    from alerts.deliver import deliver
    from alerts.events import channel_test_event
    from greenpipe.errors import GreenpipeError

    a = cfg.alerts
    channels = build_channels(a)
    if not channels:
        raise GreenpipeError(
            "no alert channel is configured; set GREENPIPE_ALERTS_WEBHOOK_URL, "
            "alerts.email_to or alerts.line_to (see docs/alerts.md)")
    now = datetime.now(UTC)
    report = deliver([channel_test_event(now)], channels, None, now,
                     window_s=a.dedupe_window_s, retries=a.retries, backoff_s=a.backoff_s)
    return _print_report(report, [c.name for c in channels], args.json, "")


def _print_report(report: DeliveryReport, channels: list[str], as_json: bool,
                  quiet: str) -> int:
    if as_json:
        for d in report.deliveries:
            print(json.dumps(d.as_json_dict(), ensure_ascii=False))
        return 1 if report.failed else 0
    if not channels:
        print("no alert channel is configured (alerts are only listed); see docs/alerts.md")
    if not report.deliveries and quiet:
        print(quiet)
    for d in report.deliveries:
        print(f"{d.event.severity.value:<8} {d.event.title()}")
        for r in d.results:
            if r.ok:
                state = f"sent ({r.attempts} attempt{'s' if r.attempts > 1 else ''})"
            elif r.attempts:
                state = f"FAILED after {r.attempts} attempts: {r.error}"
            else:
                state = f"FAILED: {r.error}"
            print(f"         {r.channel}: {state}")
        for c in d.deduplicated:
            print(f"         {c}: already sent within the de-duplication window")
        for c in d.dry_run:
            print(f"         {c}: would send (dry run)")
    print(f"{report.sent} sent, {len(report.failed)} failed")
    return 1 if report.failed else 0
