"""The embedded MQTT broker (amqtt) for ``greenpipe demo`` on a machine with nothing installed.

It listens on loopback only and allows anonymous clients, which is why it is for demos and
tests; production uses Mosquitto (see docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import logging

from amqtt.broker import Broker

from greenpipe.errors import GreenpipeError

log = logging.getLogger(__name__)


def embedded_broker_config(port: int) -> dict[str, object]:
    """Return the amqtt configuration for a loopback-only, anonymous broker on ``port``."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def serve_embedded_broker(port: int, stop: asyncio.Event) -> None:
    """Run the embedded broker on 127.0.0.1:``port`` until ``stop`` is set."""
    # amqtt logs every packet at INFO; keep the demo's console readable.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(embedded_broker_config(port))
    try:
        await broker.start()
    except Exception as exc:  # amqtt raises its own and OSError subclasses
        raise GreenpipeError(
            f"embedded MQTT broker could not listen on 127.0.0.1:{port}: {exc}; "
            "pick another port or configure broker.host to use an existing broker"
        ) from exc
    log.info("embedded amqtt broker listening on 127.0.0.1:%d", port)
    try:
        await stop.wait()
    finally:
        await broker.shutdown()


def run_embedded_broker(port: int) -> None:
    """Run the embedded broker in the foreground until interrupted (Ctrl-C or SIGTERM)."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_embedded_broker(port, stop)

    asyncio.run(main())
