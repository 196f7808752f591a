"""Alerts: deliver alert events (new findings, offline meters, a stalled collector) through
the channels set in ``[alerts]``: a Slack-compatible webhook, e-mail (SMTP) and LINE
(Messaging API), all through ``apprise``.

Layers, pure first: ``events`` (the frozen ``AlertEvent`` and the finding adapter),
``detect`` (offline meters and collector stalls from store data), ``dedupe`` (what was
sent when, persisted in a small SQLite file), ``channels`` (apprise URLs from config, sends
with bounded retries), ``deliver`` (the orchestration) and ``commands`` (the CLI).
"""

from __future__ import annotations

from alerts.events import AlertEvent, AlertKind, FindingLike, Severity, from_finding

__all__ = ["AlertEvent", "AlertKind", "FindingLike", "Severity", "from_finding"]
