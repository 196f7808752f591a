"""The delivery channels: apprise URLs built from ``[alerts]``, and sends with retries.

Every channel is an ``apprise`` service, not a hand-written client:

- ``webhook``: a Slack-compatible incoming webhook. The configured ``https://`` URL becomes
  apprise's ``jsons://`` service with its payload remapped to Slack's shape, one JSON
  object ``{"text": "..."}`` (Slack, Mattermost, Rocket.Chat and most chat tools accept it).
- ``email``: apprise's ``mailto://`` (``mailtos://`` for STARTTLS or implicit TLS).
- ``line``: apprise's ``line://`` service, which pushes through the LINE Messaging API
  (``POST https://api.line.me/v2/bot/message/push``); LINE Notify closed in March 2025.

Secrets (the webhook URL, the SMTP password, the LINE channel access token) exist only
inside the apprise URL held by a ``Channel`` (hidden from its repr), and a logging filter
on apprise's logger masks them, so neither greenpipe nor apprise logs them, even at debug.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlsplit

from greenpipe.config import AlertsConfig
from greenpipe.errors import ConfigError

log = logging.getLogger(__name__)

MASK = "***"
_SLACK_REMAP = ":message=text&:title=&:version=&:attachments=&:type="
"""apprise JSON payload mapping: rename ``message`` to ``text``, drop the other keys."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One configured delivery channel."""

    name: str
    """``webhook``, ``email`` or ``line``: what results and the state file call it."""
    url: str = field(repr=False)
    """The apprise URL; holds the secret, so it is never printed or logged."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Strings to mask in any log line (the secret and its URL-quoted form)."""
    has_subject: bool = False
    """True when the channel shows a separate title (e-mail subject)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened when one alert went to one channel."""

    channel: str
    ok: bool
    attempts: int
    error: str | None = None
    """Why the last attempt failed (apprise's warning, secrets masked)."""


def _secret_forms(*secrets: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for s in secrets:
        if s:
            out.extend({s, quote(s, safe="")})
    return tuple(sorted(out, key=len, reverse=True))


def webhook_channel(url: str, timeout_s: float) -> Channel:
    """Return the Slack-compatible webhook channel posting ``{"text": ...}`` to ``url``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("GREENPIPE_ALERTS_WEBHOOK_URL / alerts.webhook_url_file", MASK,
                          "use the webhook's http(s):// URL, e.g. "
                          "https://hooks.slack.com/services/...")
    scheme = "jsons" if parts.scheme == "https" else "json"
    netloc = parts.netloc
    # The webhook's own query parameters pass through as apprise GET parameters ("-key").
    extra = "".join(f"&-{quote(k, safe='')}={quote(v, safe='')}"
                    for k, v in parse_qsl(parts.query, keep_blank_values=True))
    path = parts.path or "/"
    apprise_url = (f"{scheme}://{netloc}{path}?{_SLACK_REMAP}&cto={timeout_s:g}"
                   f"&rto={timeout_s:g}{extra}")
    # The whole URL is the credential (Slack's token is its path); mask it and its parts.
    secrets = _secret_forms(url.strip(), parts.path if len(parts.path) > 1 else None,
                            parts.query or None, parts.password,
                            *parts.path.strip("/").split("/")[-1:])
    return Channel("webhook", apprise_url, secrets)


def email_channel(a: AlertsConfig) -> Channel:
    """Return the SMTP channel for ``alerts.email_to``; raises ConfigError without a secret."""
    if a.smtp_user and not a.smtp_password:
        raise ConfigError("alerts.smtp_password_file", a.smtp_password_file,
                          "alerts.smtp_user is set but no SMTP password was found; set "
                          "GREENPIPE_ALERTS_SMTP_PASSWORD or alerts.smtp_password_file")
    scheme = "mailto" if a.smtp_security == "none" else "mailtos"
    auth = ""
    if a.smtp_user:
        auth = f"{quote(a.smtp_user, safe='')}:{quote(a.smtp_password or '', safe='')}@"
    to = ",".join(x.strip() for x in a.email_to.split(",") if x.strip())
    query = (f"from={quote(a.email_from, safe='')}&to={quote(to, safe='@,')}"
             f"&smtp={quote(a.smtp_host, safe='')}&format=text&cto={a.timeout_s:g}")
    if scheme == "mailtos":
        query += f"&mode={a.smtp_security}"
    url = f"{scheme}://{auth}{a.smtp_host}:{a.smtp_port}?{query}"
    return Channel("email", url, _secret_forms(a.smtp_password), has_subject=True)


def line_channel(a: AlertsConfig) -> Channel:
    """Return the LINE Messaging API push channel; raises ConfigError without a token."""
    if not a.line_token:
        raise ConfigError("alerts.line_token_file", a.line_token_file,
                          "alerts.line_to is set but no LINE channel access token was found; "
                          "set GREENPIPE_ALERTS_LINE_TOKEN or alerts.line_token_file")
    targets = "/".join(quote(x.strip(), safe="") for x in a.line_to.split(",") if x.strip())
    url = (f"line://{quote(a.line_token, safe='')}/{targets}?image=no"
           f"&cto={a.timeout_s:g}&rto={a.timeout_s:g}")
    return Channel("line", url, _secret_forms(a.line_token))


def build_channels(a: AlertsConfig) -> list[Channel]:
    """Return the channels ``[alerts]`` turns on, in the order webhook, email, line."""
    out: list[Channel] = []
    if a.webhook_url:
        out.append(webhook_channel(a.webhook_url, a.timeout_s))
    if a.email_to.strip():
        out.append(email_channel(a))
    if a.line_to.strip():
        out.append(line_channel(a))
    return out


class _Redact(logging.Filter):
    """Masks secrets in apprise's log records (its debug lines print full URLs)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = text
        for s in self.secrets:
            masked = masked.replace(s, MASK)
        if masked != text:
            record.msg, record.args = masked, None
        return True


_SENDER_LOGGERS = ("apprise", "urllib3.connectionpool")
"""Loggers that see channel URLs: apprise's, and urllib3's (its debug line has the path)."""


@contextmanager
def masked_apprise_logs(secrets: Sequence[str]) -> Iterator[None]:
    """Mask ``secrets`` in everything apprise and urllib3 log inside the block."""
    flt = _Redact(secrets)
    loggers = [logging.getLogger(name) for name in _SENDER_LOGGERS]
    for lg in loggers:
        lg.addFilter(flt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(flt)


def send(channel: Channel, title: str, body: str, *, retries: int, backoff_s: float,
         sleep: Callable[[float], None] = time.sleep) -> SendResult:
    """Send one message on one channel, retrying up to ``retries`` times; never raises.

    Waits ``backoff_s`` × 2^(n-1) before retry n. [s] Hand-written loop because apprise's
    own ``retry=`` waits a fixed time and reports only the final outcome, while we want
    exponential backoff, a log line per failed attempt and the attempt count.
    """
    import apprise

    if not channel.has_subject:
        body, title = f"{title}\n{body}", ""
    error: str | None = None
    attempts = 0
    with masked_apprise_logs(channel.secrets):
        service = apprise.Apprise()
        if not service.add(channel.url):
            log.error("alert channel %s: apprise rejected its configuration", channel.name)
            return SendResult(channel.name, False, 0, "apprise rejected the channel's URL")
        for attempt in range(retries + 1):
            attempts = attempt + 1
            if attempt:
                sleep(backoff_s * 2 ** (attempt - 1))
            try:
                with apprise.LogCapture(level=logging.WARNING) as captured:
                    ok = bool(service.notify(body=body, title=title))
                error = _last_line(captured.getvalue()) or "apprise reported a failure"
            except Exception as exc:  # a channel must never crash the run
                ok, error = False, f"{type(exc).__name__}: {exc}"
            if ok:
                return SendResult(channel.name, True, attempts)
            error = _mask(error, channel.secrets)
            log.warning("alert channel %s: attempt %d of %d failed: %s",
                        channel.name, attempts, retries + 1, error)
    return SendResult(channel.name, False, attempts, error)


def _last_line(text: str) -> str:
    lines = [line.split(" - ", 2)[-1] for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _mask(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        text = text.replace(s, MASK)
    return text
