"""Real local endpoints for alert delivery tests, each on a free loopback port.

``WebhookReceiver``: a stdlib HTTP server in a thread that records every POSTed JSON body
and can be told to answer the first N requests with HTTP 500. ``SmtpReceiver``: an
``aiosmtpd`` server that records every message and can require a login.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from greenpipe.net import free_loopback_port


@dataclass
class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that records POSTed JSON bodies."""

    fail_first: int = 0
    """Answer this many requests with HTTP 500 before accepting."""
    received: list[tuple[str, Any]] = field(default_factory=list)
    """(path, decoded JSON) of every accepted request."""
    attempts: int = 0

    def start(self) -> WebhookReceiver:
        """Start serving in a daemon thread."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.attempts += 1
                if receiver.attempts <= receiver.fail_first:
                    self.send_response(500)
                else:
                    receiver.received.append((self.path, json.loads(body)))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str = "/services/T000/B000/s3cretWebhookToken") -> str:
        """Return the webhook URL (its path plays the secret part of a Slack URL)."""
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """Stop the server."""
        self._server.shutdown()
        self._server.server_close()


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@dataclass
class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1; with ``login`` set, it requires that login."""

    login: tuple[str, str] | None = None
    logins: list[str] = field(default_factory=list)
    """User names that authenticated successfully."""

    def start(self) -> SmtpReceiver:
        """Start the server on a free loopback port."""
        self.port = free_loopback_port()
        self._handler = _Handler()
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            kwargs = {"authenticator": self._authenticate, "auth_required": True,
                      "auth_require_tls": False}
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port,
                                      **kwargs)
        self._controller.start()
        return self

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.login is not None:
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if (user, password) == self.login:
                self.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received, parsed."""
        return self._handler.messages

    @property
    def recipients(self) -> list[list[str]]:
        """The envelope recipients of each message."""
        return self._handler.recipients

    def stop(self) -> None:
        """Stop the server."""
        self._controller.stop()
