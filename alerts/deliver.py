"""Delivery: each alert to each channel, at most once per de-duplication window.

This is the orchestration layer. The composition root (the CLI, later the findings run)
builds the events, ``channels.build_channels`` the channels and ``dedupe.DedupeState`` the
state, then calls ``deliver``. A failing channel is retried, logged and reported; it never
stops the other channels or the other alerts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.channels import Channel, SendResult, send
from alerts.dedupe import DedupeState, is_due
from alerts.events import AlertEvent
from greenpipe.model import require_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one alert."""

    event: AlertEvent
    results: tuple[SendResult, ...] = ()
    """One per channel it was sent on (after retries)."""
    deduplicated: tuple[str, ...] = ()
    """Channels that already delivered this key within the window."""
    dry_run: tuple[str, ...] = ()
    """Channels it would have been sent on (``--dry-run``)."""

    def as_json_dict(self) -> dict[str, object]:
        """Return the alert and its per-channel outcome as a JSON-ready dict."""
        return {
            **self.event.as_json_dict(),
            "channels": {
                **{r.channel: {"ok": r.ok, "attempts": r.attempts, "error": r.error}
                   for r in self.results},
                **{c: {"deduplicated": True} for c in self.deduplicated},
                **{c: {"dry_run": True} for c in self.dry_run},
            },
        }


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The outcome of one delivery run."""

    deliveries: tuple[Delivery, ...]

    @property
    def failed(self) -> list[SendResult]:
        """Every send that failed after all its retries."""
        return [r for d in self.deliveries for r in d.results if not r.ok]

    @property
    def sent(self) -> int:
        """How many (alert, channel) sends succeeded."""
        return sum(r.ok for d in self.deliveries for r in d.results)


def deliver(
    events: Sequence[AlertEvent], channels: Sequence[Channel], state: DedupeState | None,
    now: datetime, *, window_s: float, retries: int, backoff_s: float,
    dry_run: bool = False, sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send each event on each channel unless that channel sent its key within the window.

    ``state`` None turns de-duplication off (``greenpipe alerts test``). Successful sends
    are recorded at ``now``; failed ones are not, so the next run tries them again. A
    channel that still fails after its retries is not tried for the run's later alerts
    (reported with 0 attempts), so a dead channel costs one round of backoff, not one per
    alert.
    ``dry_run`` sends and records nothing.
    """
    now = require_utc(now, "now")
    if state is not None and not dry_run:
        state.prune(now - timedelta(seconds=window_s))
    out: list[Delivery] = []
    down: set[str] = set()  # channels that failed after retries: not tried again this run
    for event in events:
        results: list[SendResult] = []
        dedup: list[str] = []
        would: list[str] = []
        for channel in channels:
            last = state.last_sent(event.key, channel.name) if state is not None else None
            if not is_due(last, now, window_s):
                dedup.append(channel.name)
            elif dry_run:
                would.append(channel.name)
            elif channel.name in down:
                results.append(SendResult(channel.name, False, 0,
                                          "not tried: the channel failed earlier in this run"))
            else:
                result = send(channel, event.title(), event.body(), retries=retries,
                              backoff_s=backoff_s, sleep=sleep)
                results.append(result)
                if result.ok:
                    log.info("alert %s sent on %s", event.key, channel.name)
                    if state is not None:
                        state.record(event.key, channel.name, now)
                else:
                    down.add(channel.name)
                    log.error("alert %s NOT sent on %s after %d attempts: %s",
                              event.key, channel.name, result.attempts, result.error)
        out.append(Delivery(event, tuple(results), tuple(dedup), tuple(would)))
    return DeliveryReport(tuple(out))
