"""What the collector can see of the broker: its ``$SYS`` drop counter, version and session.

A broker drops QoS 1 messages of a connected-but-slow or offline client once that
client's queue is full; Mosquitto's default ``max_queued_messages`` is 1000, which a
backfill or a collector restart overflows in seconds. The collector cannot read the
broker's configuration, so it watches what the broker publishes and what it answers:

* ``$SYS/broker/publish/messages/dropped`` (Mosquitto): messages dropped since the broker
  started, every ``sys_interval`` (default 10 s). Any value above 0 at start-up, and every
  increase, is logged as a WARNING naming ``max_queued_messages``.
* ``$SYS/broker/version`` (Mosquitto) and ``$SYS/brokers/<node>/version`` (EMQX, which
  publishes no drop counter on ``$SYS``; use its Prometheus ``emqx_messages_dropped``):
  logged at start-up with what the broker needs. HiveMQ publishes no ``$SYS`` tree.
* CONNACK ``session present``: when the collector has stored data before (or reconnects)
  but the broker has no session for it, everything published meanwhile was not queued.

Subscriptions here are QoS 0 and never acknowledged or stored; a broker or ACL that
refuses ``$SYS`` only costs this watch (logged once), never the collector.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from greenpipe.errors import StoreError
from greenpipe.model import BrokerStatus
from greenpipe.stores.base import Store

log = logging.getLogger(__name__)

MOSQUITTO_DROPPED = "$SYS/broker/publish/messages/dropped"
MOSQUITTO_VERSION = "$SYS/broker/version"
EMQX_VERSION = "$SYS/brokers/+/version"
SUBSCRIPTIONS = (MOSQUITTO_DROPPED, MOSQUITTO_VERSION, EMQX_VERSION)
"""The ``$SYS`` topic filters the collector subscribes to (QoS 0)."""
SYS_WAIT_S = 5.0
"""How long to wait for a ``$SYS`` message after subscribing before saying there is none. [s]"""

BROKER_NEEDS = (
    "the broker must queue every reading while the collector is slow or away: on Mosquitto "
    "set `max_queued_messages 0` (unbounded; or a bound above the largest backlog, e.g. "
    "meters x readings per outage), `persistence true` and `max_inflight_messages` at "
    "least collector.max_inflight (0: unbounded); see docs/mqtt.md#broker-requirements")


class BrokerWatch:
    """Follows the broker's ``$SYS`` messages and session flags; thread-safe reads."""

    def __init__(self, client_id: str, *, had_data: bool, sys_wait_s: float = SYS_WAIT_S
                 ) -> None:
        """``had_data``: the store already holds readings, so a session should exist."""
        self._client_id = client_id
        self._had_data = had_data
        self._sys_wait_s = sys_wait_s
        self._dropped: int | None = None
        self._version: str | None = None
        self._seen_sys = threading.Event()
        self._timer: threading.Timer | None = None

    @property
    def dropped(self) -> int | None:
        """The broker's count of dropped messages since it started, None if not seen."""
        return self._dropped

    @property
    def version(self) -> str | None:
        """The broker's version text from ``$SYS``, None if not seen."""
        return self._version

    @staticmethod
    def is_sys(topic: str) -> bool:
        """Return True for a ``$SYS`` topic (handled here, never by the pipeline)."""
        return topic.startswith("$SYS/")

    def on_connect(self, conn: int, session_present: bool | None) -> None:
        """Warn when the broker kept no session although one was expected."""
        if session_present is None or session_present:
            return
        if conn > 1:
            log.warning(
                "BROKER LOST THE SESSION of %s on reconnect: readings published while the "
                "collector was disconnected were not queued and are lost. The broker "
                "restarted without persistence or expired the session; %s",
                self._client_id, BROKER_NEEDS)
        elif self._had_data:
            log.warning(
                "the broker has no stored session for %s although the store holds readings: "
                "readings published while the collector was stopped were not queued (broker "
                "restarted without `persistence true`, session expired, or client id "
                "changed); %s", self._client_id, BROKER_NEEDS)

    def on_suback(self, granted: bool) -> None:
        """The ``$SYS`` subscription was answered; check later that something arrived."""
        if not granted:
            log.warning("the broker refused the $SYS subscription (ACL?): the collector cannot "
                        "see messages the broker drops; allow `topic read $SYS/#` for %s, or "
                        "watch the broker yourself. Meanwhile only the meters' seq shows "
                        "loss; %s", self._client_id, BROKER_NEEDS)
            return
        if self._timer is None and not self._seen_sys.is_set():
            self._timer = threading.Timer(self._sys_wait_s, self._check_seen)
            self._timer.daemon = True
            self._timer.start()

    def _check_seen(self) -> None:
        if not self._seen_sys.is_set():
            log.warning("the broker published no $SYS status within %.0f s, so the collector "
                        "cannot see messages it drops; only the meters' seq shows loss. Make "
                        "sure %s", self._sys_wait_s, BROKER_NEEDS)

    def on_message(self, topic: str, payload: bytes) -> None:
        """Take one ``$SYS`` message."""
        self._seen_sys.set()
        text = payload.decode("utf-8", "replace").strip()
        if topic == MOSQUITTO_DROPPED:
            try:
                value = int(text)
            except ValueError:
                log.debug("unreadable %s payload %r", topic, text[:80])
                return
            previous, self._dropped = self._dropped, value
            if previous is None and value > 0:
                log.warning("BROKER DROPPED %d MESSAGES since it started (%s): a client's "
                            "queue overflowed; if it was this collector, readings are lost. "
                            "%s", value, topic, BROKER_NEEDS)
            elif previous is not None and value > previous:
                log.warning("BROKER DROPPED %d MORE MESSAGES (%d since it started, %s): "
                            "readings are being lost now. %s", value - previous, value,
                            topic, BROKER_NEEDS)
        elif topic.endswith("/version") and self._version is None:
            self._version = text[:200]
            log.info("broker: %s; %s", self._version, BROKER_NEEDS)

    def close(self) -> None:
        """Cancel the pending ``$SYS`` check."""
        if self._timer is not None:
            self._timer.cancel()


STATUS_RETRY_S = 30.0
"""Wait before storing the broker's status again after the store refused it. [s]"""


class BrokerStatusWriter:
    """Stores what the watch saw (drop count, version) whenever it changed.

    Used on the writer side (thread or process), which owns the store.
    """

    def __init__(self, client_id: str) -> None:
        """Write ``BrokerStatus`` rows for collector ``client_id``."""
        self._client_id = client_id
        self._written: tuple[int | None, str | None] = (None, None)
        self._retry_at = 0.0

    def write(self, store: Store, seen: tuple[int | None, str | None], now: float) -> None:
        """Store ``seen`` = (dropped, version) if it changed; ``now`` is monotonic. [s]"""
        if now < self._retry_at or seen == self._written:
            return
        try:
            store.write_broker_status(BrokerStatus(self._client_id, datetime.now(UTC),
                                                   seen[0], seen[1] or ""))
        except StoreError as exc:
            self._retry_at = now + STATUS_RETRY_S
            log.warning("cannot store the broker's $SYS status (%s); retrying in %.0f s",
                        exc, STATUS_RETRY_S)
            return
        self._written = seen
