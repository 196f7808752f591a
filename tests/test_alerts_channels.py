"""Channels: apprise URLs from config, and real sends to local webhook and SMTP servers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts.channels import (
    build_channels,
    email_channel,
    line_channel,
    send,
    webhook_channel,
)
from alerts.events import AlertEvent, AlertKind, Severity
from greenpipe.config import AlertsConfig
from greenpipe.errors import ConfigError
from greenpipe.net import free_loopback_port
from tests.alerts_endpoints import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

LINE_USER = "U" + "0123456789abcdef" * 2
LINE_TOKEN = "LineChannelAccessToken+/abc=="
SMTP_PASSWORD = "p@ss/w:rd!secret"
NOW = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)

EVENT = AlertEvent(
    kind=AlertKind.NEW_FINDING, key="finding:f-1", severity=Severity.WARNING,
    title_ja="新しい課題 waste.off_hours_base_load (factory-1)",
    title_en="New finding waste.off_hours_base_load (factory-1)",
    body_ja="年間 123.4 t-CO2、5,678,900 円の損失の可能性。",
    body_en="About 123.4 t-CO2 and JPY 5,678,900 a year at stake.",
    ts=NOW, site="factory-1", link="http://dashboard.example/findings",
)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    yield r
    r.stop()


# ---------------------------------------------------------------- URL building (no network)


def test_line_channel_builds_a_messaging_api_push_url() -> None:
    """LINE cannot be reached from tests: we check the URL apprise gets and how it reads it."""
    import apprise

    cfg = AlertsConfig(line_to=f"{LINE_USER}, C{'f' * 32}", line_token=LINE_TOKEN)
    ch = line_channel(cfg)
    assert ch.url.startswith("line://LineChannelAccessToken%2B%2Fabc%3D%3D/")
    service: Any = apprise.Apprise.instantiate(ch.url)
    assert service is not None
    assert type(service).__name__ == "NotifyLine"
    assert service.notify_url == "https://api.line.me/v2/bot/message/push"
    assert service.token == LINE_TOKEN
    assert sorted(service.targets) == ["C" + "f" * 32, LINE_USER]
    assert LINE_TOKEN not in repr(ch)


def test_line_without_token_names_the_environment_variable() -> None:
    with pytest.raises(ConfigError, match="GREENPIPE_ALERTS_LINE_TOKEN"):
        line_channel(AlertsConfig(line_to=LINE_USER))


def test_email_channel_url_carries_server_recipients_and_quoted_password() -> None:
    import apprise

    cfg = AlertsConfig(email_to="a@example.jp, b@example.jp", email_from="gp@example.jp",
                       smtp_host="smtp.example.jp", smtp_port=587, smtp_user="bot",
                       smtp_password=SMTP_PASSWORD)
    ch = email_channel(cfg)
    service: Any = apprise.Apprise.instantiate(ch.url)
    assert service is not None
    assert service.password == SMTP_PASSWORD
    assert service.user == "bot"
    assert (service.host, service.port, service.secure_mode) == ("smtp.example.jp", 587,
                                                                 "starttls")
    assert [t[1] for t in service.targets] == ["a@example.jp", "b@example.jp"]
    assert SMTP_PASSWORD not in repr(ch)
    with pytest.raises(ConfigError, match="GREENPIPE_ALERTS_SMTP_PASSWORD"):
        email_channel(replace(cfg, smtp_password=None))


def test_webhook_channel_maps_to_slack_text_payload_and_rejects_other_schemes() -> None:
    ch = webhook_channel("https://hooks.example.com/services/T/B/xyz", 5.0)
    assert ch.url.startswith("jsons://hooks.example.com/services/T/B/xyz?:message=text")
    assert {"https://hooks.example.com/services/T/B/xyz", "/services/T/B/xyz", "xyz"} <= set(
        ch.secrets)
    with_auth = webhook_channel("https://bot:pw-123@hooks.example.com/in?key=k-9", 5.0)
    assert {"pw-123", "key=k-9"} <= set(with_auth.secrets)
    assert with_auth.url.endswith("&-key=k-9")  # the webhook's own query passes through
    with pytest.raises(ConfigError, match="WEBHOOK_URL"):
        webhook_channel("ftp://hooks.example.com/x", 5.0)


def test_build_channels_turns_on_only_configured_ones() -> None:
    assert build_channels(AlertsConfig()) == []
    chans = build_channels(AlertsConfig(webhook_url="http://127.0.0.1:9/x", line_to=LINE_USER,
                                        line_token="t"))
    assert [c.name for c in chans] == ["webhook", "line"]


# ---------------------------------------------------------------- real deliveries


@pytest.mark.integration
def test_webhook_receives_slack_compatible_json_in_both_languages(
        webhook: WebhookReceiver) -> None:
    ch = webhook_channel(webhook.url(), 5.0)
    result = send(ch, EVENT.title(), EVENT.body(), retries=0, backoff_s=0)
    assert result.ok and result.attempts == 1
    [(path, payload)] = webhook.received
    assert path == "/services/T000/B000/s3cretWebhookToken"
    assert list(payload) == ["text"]
    text = payload["text"]
    assert text.startswith("[greenpipe] 新しい課題 waste.off_hours_base_load (factory-1) / "
                           "New finding waste.off_hours_base_load (factory-1)\n")
    assert "年間 123.4 t-CO2、5,678,900 円" in text
    assert "About 123.4 t-CO2 and JPY 5,678,900 a year" in text
    assert text.index("年間") < text.index("About")  # Japanese first
    assert "http://dashboard.example/findings" in text


@pytest.mark.integration
def test_email_arrives_with_bilingual_subject_and_body_after_login() -> None:
    smtp = SmtpReceiver(login=("bot", SMTP_PASSWORD)).start()
    try:
        cfg = AlertsConfig(email_to="ops@example.jp,eng@example.jp",
                           email_from="greenpipe@example.jp", smtp_host="127.0.0.1",
                           smtp_port=smtp.port, smtp_security="none", smtp_user="bot",
                           smtp_password=SMTP_PASSWORD)
        result = send(email_channel(cfg), EVENT.title(), EVENT.body(), retries=0,
                      backoff_s=0)
        assert result.ok, result.error
        assert smtp.logins == ["bot"]
        assert len(smtp.messages) >= 1
        assert sorted(r for rs in smtp.recipients for r in rs) == ["eng@example.jp",
                                                                  "ops@example.jp"]
        msg = smtp.messages[0]
        assert msg["Subject"] == EVENT.title()
        assert "greenpipe@example.jp" in msg["From"]
        body = msg.get_content()
        assert "年間 123.4 t-CO2、5,678,900 円の損失の可能性。" in body
        assert "About 123.4 t-CO2 and JPY 5,678,900 a year at stake." in body
    finally:
        smtp.stop()


@pytest.mark.integration
def test_failing_then_recovering_webhook_is_retried_with_exponential_backoff() -> None:
    webhook = WebhookReceiver(fail_first=2).start()
    waits: list[float] = []
    try:
        result = send(webhook_channel(webhook.url(), 5.0), "t", "b", retries=3,
                      backoff_s=0.5, sleep=waits.append)
    finally:
        webhook.stop()
    assert result.ok and result.attempts == 3
    assert waits == [0.5, 1.0]
    assert webhook.attempts == 3 and len(webhook.received) == 1


@pytest.mark.integration
def test_closed_port_fails_bounded_logged_and_never_raises(
        caplog: pytest.LogCaptureFixture) -> None:
    closed = free_loopback_port()  # nothing listens there
    waits: list[float] = []
    ch = webhook_channel(f"http://127.0.0.1:{closed}/services/T/B/closedPortSecret", 1.0)
    with caplog.at_level(logging.DEBUG):
        result = send(ch, "t", "b", retries=2, backoff_s=0.25, sleep=waits.append)
    assert not result.ok
    assert result.attempts == 3
    assert waits == [0.25, 0.5]
    assert result.error and "Connection error" in result.error
    failures = [r for r in caplog.records
                if r.name == "alerts.channels" and "attempt" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.WARNING] * 3
    assert "closedPortSecret" not in caplog.text


@pytest.mark.integration
def test_secrets_never_reach_the_logs_even_at_debug(
        webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture) -> None:
    smtp = SmtpReceiver(login=("bot", SMTP_PASSWORD)).start()
    try:
        cfg = AlertsConfig(
            webhook_url=webhook.url(), email_to="ops@example.jp",
            email_from="greenpipe@example.jp", smtp_host="127.0.0.1", smtp_port=smtp.port,
            smtp_security="none", smtp_user="bot", smtp_password=SMTP_PASSWORD,
            line_to=LINE_USER, line_token=LINE_TOKEN)
        with caplog.at_level(logging.DEBUG):
            chans = build_channels(cfg)
            results = [send(c, "t", "b", retries=0, backoff_s=0) for c in chans
                       if c.name != "line"]
            # Wrong password: apprise logs the failure; the password must still not show.
            bad = email_channel(replace(cfg, smtp_password=SMTP_PASSWORD + "X"))
            results.append(send(bad, "t", "b", retries=0, backoff_s=0))
    finally:
        smtp.stop()
    assert [r.ok for r in results] == [True, True, False]
    assert "apprise" in {r.name.split(".")[0] for r in caplog.records}  # apprise did log
    # Everything our side logs (greenpipe, apprise, urllib3); mail.log is the test server's.
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    for secret in ("s3cretWebhookToken", SMTP_PASSWORD, "p%40ss%2Fw%3Ard", LINE_TOKEN):
        assert secret not in ours
        assert all(secret not in (r.error or "") for r in results)
