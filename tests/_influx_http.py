"""A local HTTP endpoint that records requests and answers as a test tells it to.

Used for protocol and error-classification tests of the InfluxDB client code where no real
server of that kind can run here (InfluxDB 2.x, an overloaded server, a proxy answering
413). It is a protocol double, not a database: tests that need data use the real influxd.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request as the endpoint received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]
Responder = Callable[[Recorded], Reply]


@dataclass
class RecordingServer:
    """The running endpoint: its base URL and the requests seen so far."""

    host: str
    port: int
    requests: list[Recorded] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://{self.host}:{self.port}"

    def store_url(self, database: str) -> str:
        """Store URL of ``database`` on this endpoint."""
        return f"influxdb://{self.host}:{self.port}/{database}"


def ok_204(_: Recorded) -> Reply:
    """Answer like a healthy InfluxDB write."""
    return 204, {}, b""


@contextmanager
def recording_server(responder: Responder = ok_204) -> Iterator[RecordingServer]:
    """Run the endpoint on a free loopback port for the duration of the block."""
    state = RecordingServer("127.0.0.1", 0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rec = Recorded(
                method=self.command,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k: v for k, v in self.headers.items()},
                body=body,
            )
            with lock:
                state.requests.append(rec)
            status, headers, reply = responder(rec)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            if reply:
                self.wfile.write(reply)

        do_GET = do_POST = _handle  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
