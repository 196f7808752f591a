"""The embedded MQTT broker (amqtt) for ``greenpipe demo`` on a machine with nothing installed.

It listens on loopback only and allows anonymous clients, which is why it is for demos and
tests; production uses Mosquitto (see docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import logging
import time

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


class LateAckSummary(logging.Filter):
    """Fold amqtt's per-message PUBACK-timeout noise into one summary line every 30 s.

    amqtt waits a fixed 5 s for a subscriber's PUBACK (not configurable), then logs a
    warning, an ERROR with a traceback, and later "PUBACK for unknown pending message" when
    the ack does arrive. The collector acknowledges only after the durable write, so while
    it drains a large backfill many acks come after 5 s. The messages were delivered (the
    PUBLISH went out before the wait), so this is not loss; but a demo user would otherwise
    see tens of thousands of alarming lines. Hand-written: amqtt offers no setting for it.
    """

    _MARKS = ("Timeout waiting for PUBACK", "PUBACK for unknown pending message")

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self.late = 0
        self._last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop amqtt's late-ack lines (counting them); pass everything else."""
        text = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if not (any(m in text for m in self._MARKS)
                or (isinstance(exc, TimeoutError) and "PUBACK" in str(exc))):
            return True
        if "Timeout waiting" in text:
            self.late += 1
        now = time.monotonic()
        if self.late and now - self._last >= self.every_s:
            self._last = now
            log.warning(
                "embedded broker: %d QoS 1 deliveries so far were acknowledged after amqtt's "
                "fixed 5 s PUBACK timeout (the collector acknowledges after the durable "
                "write, so a large backlog takes longer). They were delivered; amqtt does "
                "not redeliver them if the collector dies before storing them, so use "
                "Mosquitto in production (docs/mqtt.md#broker-requirements)", self.late)
        return False


async def serve_embedded_broker(port: int, stop: asyncio.Event) -> None:
    """Run the embedded broker on 127.0.0.1:``port`` until ``stop`` is set."""
    # amqtt logs every packet at INFO; keep the demo's console readable.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    summary = LateAckSummary()
    for name in ("amqtt.mqtt.protocol.handler", "amqtt.broker"):
        logging.getLogger(name).addFilter(summary)
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
