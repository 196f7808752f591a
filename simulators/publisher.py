"""A QoS 1 MQTT publisher with a bounded number of unacknowledged messages.

Paho objects stay inside this module. The publisher blocks the caller while too many
messages wait for PUBACK, so memory stays bounded however fast the simulator produces, and
``drain`` waits until the broker has acknowledged everything, so nothing is lost on exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from paho.mqtt.enums import MQTTErrorCode

from greenpipe.config import BrokerConfig
from greenpipe.mqtt import BrokerUnavailableError, connect_and_start, make_client

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 10_000
"""Messages handed to paho and not yet acknowledged before ``publish`` blocks. [messages]"""
DEFAULT_INFLIGHT = 100
"""Messages paho keeps on the wire awaiting PUBACK; the rest wait in paho's queue.

Measured on loopback Mosquitto (bench/simulate.py): an in-flight limit of 2,000 made paho
3x slower than 20-100, because the publishing thread then writes to the socket itself and
contends with the network thread; blocking the producer at a small window was 10x slower.
"""
ACK_STALL_TIMEOUT_S = 60.0
"""Give up when the broker acknowledges nothing for this long. [s]"""


class Publisher:
    """Publish at QoS 1 with at most ``window`` messages awaiting acknowledgement.

    ``inflight`` of them are on the wire at once; paho queues the others in memory.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        client_id: str,
        *,
        will: tuple[str, bytes] | None = None,
        announce: Sequence[tuple[str, bytes]] = (),
        window: int = DEFAULT_WINDOW,
        inflight: int = DEFAULT_INFLIGHT,
    ) -> None:
        self._broker = broker
        self._window = window
        self._client = make_client(broker, client_id, will=will)
        self._client.max_inflight_messages_set(inflight)
        self._client.on_publish = self._on_publish
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect = self._on_connect
        self._announce = list(announce)
        self._cond = threading.Condition()
        self._sent = 0
        self._acked = 0
        self._connected = False

    @property
    def sent(self) -> int:
        """Messages handed to the client so far."""
        return self._sent

    @property
    def acked(self) -> int:
        """Messages the broker has acknowledged so far."""
        return self._acked

    def _on_publish(self, client: object, userdata: object, mid: int, reason: object,
                    props: object) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def _on_disconnect(self, client: object, userdata: object, flags: object, reason: object,
                       props: object) -> None:
        if self._connected:
            log.warning("MQTT broker connection lost (%s); paho reconnects and resends", reason)

    def _on_connect(self, client: object, userdata: object, flags: object, reason: object,
                    props: object) -> None:
        """Publish the retained announcements (``online``) on every (re)connection.

        A broker without persistence forgets retained messages when it restarts. This runs
        on paho's network thread, so it must not wait for acknowledgements.
        """
        if getattr(reason, "is_failure", False):
            return
        for topic, payload in self._announce:
            with self._cond:
                self._sent += 1
            self._client.publish(topic, payload, qos=1, retain=True)

    def stop_announcing(self) -> None:
        """Do not re-announce on later reconnections (call before publishing ``offline``)."""
        self._announce = []

    def connect(self) -> None:
        """Connect and start the network thread; BrokerUnavailableError if it fails."""
        connect_and_start(self._client, self._broker)
        self._connected = True

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue one QoS 1 message, first waiting while the in-flight window is full."""
        with self._cond:
            if self._sent - self._acked >= self._window:
                self._wait_locked(self._sent - self._window // 2)
            self._sent += 1
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        # NO_CONN: paho keeps QoS 1 messages and sends them once it has reconnected.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise BrokerUnavailableError(f"publish to {topic} failed: rc={info.rc}")

    def _wait_locked(self, target_acked: int) -> None:
        last = self._acked
        deadline = time.monotonic() + ACK_STALL_TIMEOUT_S
        while self._acked < target_acked:
            self._cond.wait(0.5)
            if self._acked != last:
                last = self._acked
                deadline = time.monotonic() + ACK_STALL_TIMEOUT_S
            elif time.monotonic() > deadline:
                raise BrokerUnavailableError(
                    f"the MQTT broker acknowledged nothing for {ACK_STALL_TIMEOUT_S:.0f} s; "
                    f"{self._sent - self._acked} messages unacknowledged"
                )

    def drain(self) -> None:
        """Wait until every message handed over so far is acknowledged by the broker."""
        with self._cond:
            self._wait_locked(self._sent)

    def close(self) -> None:
        """Disconnect cleanly (the broker then discards the last will) and stop the thread."""
        self._connected = False
        self._client.disconnect()
        self._client.loop_stop()
