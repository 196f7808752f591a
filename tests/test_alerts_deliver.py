"""Delivery: de-duplication window on a fixed clock, per-channel outcomes, failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import webhook_channel
from alerts.dedupe import DedupeState
from alerts.deliver import deliver
from alerts.events import AlertEvent, AlertKind, Severity
from greenpipe.net import free_loopback_port
from tests.alerts_endpoints import WebhookReceiver

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, tzinfo=UTC)
WINDOW_S = 6 * 3600


def _event(key: str) -> AlertEvent:
    return AlertEvent(kind=AlertKind.METER_OFFLINE, key=key, severity=Severity.WARNING,
                      title_ja="メーターがオフライン", title_en="Meter offline",
                      body_ja="本文", body_en="body", ts=T0)


def _no_sleep(_: float) -> None:
    pass


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


def test_same_key_is_not_resent_within_the_window(webhook: WebhookReceiver,
                                                  tmp_path: Path) -> None:
    chans = [webhook_channel(webhook.url(), 5.0)]
    state = DedupeState(tmp_path / "state.db")

    def run(at: datetime, *keys: str) -> list[tuple[str, str]]:
        report = deliver([_event(k) for k in keys], chans, state, at, window_s=WINDOW_S,
                         retries=0, backoff_s=0, sleep=_no_sleep)
        return [(d.event.key, "sent" if d.results else "dedup") for d in report.deliveries]

    assert run(T0, "a") == [("a", "sent")]
    assert run(T0 + timedelta(hours=5, minutes=59), "a", "b") == [("a", "dedup"), ("b", "sent")]
    assert run(T0 + timedelta(hours=6), "a") == [("a", "sent")]  # window over: a reminder
    assert len(webhook.received) == 3
    # A fresh state object on the same file (a new process) remembers.
    state.close()
    state = DedupeState(tmp_path / "state.db")
    assert run(T0 + timedelta(hours=7), "a", "b") == [("a", "dedup"), ("b", "dedup")]
    state.close()


def test_failed_channel_is_reported_and_retried_next_run_while_others_stay_quiet(
        webhook: WebhookReceiver, tmp_path: Path) -> None:
    closed = free_loopback_port()
    good = webhook_channel(webhook.url(), 5.0)
    bad = webhook_channel(f"http://127.0.0.1:{closed}/hook", 1.0)
    bad = type(bad)("broken", bad.url, bad.secrets)
    state = DedupeState(tmp_path / "state.db")
    report = deliver([_event("k"), _event("k2")], [bad, good], state, T0, window_s=WINDOW_S,
                     retries=1, backoff_s=0, sleep=_no_sleep)
    d, d2 = report.deliveries
    assert [(r.channel, r.ok, r.attempts) for r in d.results] == [("broken", False, 2),
                                                                  ("webhook", True, 1)]
    # Once down, the channel is not retried for the run's later alerts.
    assert [(r.channel, r.ok, r.attempts) for r in d2.results] == [("broken", False, 0),
                                                                   ("webhook", True, 1)]
    assert [r.channel for r in report.failed] == ["broken", "broken"]
    assert report.sent == 2
    assert d.as_json_dict()["channels"]["broken"]["ok"] is False  # type: ignore[index]
    # Next run: only the failed channel is tried again.
    report = deliver([_event("k")], [bad, good], state, T0 + timedelta(minutes=5),
                     window_s=WINDOW_S, retries=0, backoff_s=0, sleep=_no_sleep)
    [d] = report.deliveries
    assert [r.channel for r in d.results] == ["broken"] and d.deduplicated == ("webhook",)
    assert len(webhook.received) == 2
    state.close()


def test_dry_run_sends_and_remembers_nothing(webhook: WebhookReceiver, tmp_path: Path) -> None:
    chans = [webhook_channel(webhook.url(), 5.0)]
    state = DedupeState(tmp_path / "state.db")
    report = deliver([_event("k")], chans, state, T0, window_s=WINDOW_S, retries=0,
                     backoff_s=0, dry_run=True)
    assert report.deliveries[0].dry_run == ("webhook",)
    assert webhook.received == [] and state.last_sent("k", "webhook") is None
    state.close()
