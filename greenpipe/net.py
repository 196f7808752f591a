"""Loopback networking helpers shared by the broker launcher, tests and benchmarks."""

from __future__ import annotations

import socket
from contextlib import closing


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
