"""Building paho-mqtt clients from the broker config (shared by simulators and collector).

Paho objects stay inside the modules that use them; this module only creates and connects
clients with the configured protocol, TLS and credentials, and never logs the password.
"""

from __future__ import annotations

import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from greenpipe.config import BrokerConfig
from greenpipe.errors import GreenpipeError


class BrokerUnavailableError(GreenpipeError):
    """The MQTT broker could not be reached or refused the connection."""


def make_client(
    broker: BrokerConfig,
    client_id: str,
    *,
    clean_session: bool = True,
    will: tuple[str, bytes] | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    """Return an unconnected paho client (callback API v2) configured from ``broker``.

    ``will`` is an optional ``(topic, payload)`` last will, published retained at QoS 1.
    ``clean_session=False`` asks for a persistent session on MQTT 3.1.1; on MQTT 5 the
    session is chosen at connect time (``connect_and_start(session_expiry_s=...)``).
    ``manual_ack=True`` leaves acknowledging QoS 1 messages to the caller (``client.ack``).
    """
    protocol = mqtt.MQTTv5 if broker.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        # MQTT 5 replaces clean_session with clean_start on connect(); paho wants None here.
        clean_session=None if protocol == mqtt.MQTTv5 else clean_session,
        manual_ack=manual_ack,
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(
            ca_certs=broker.ca_file,
            certfile=broker.cert_file,
            keyfile=broker.key_file,
            cert_reqs=ssl.CERT_REQUIRED,
        )
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    return client


def connect_and_start(
    client: mqtt.Client,
    broker: BrokerConfig,
    *,
    timeout_s: float = 15.0,
    session_expiry_s: int | None = None,
    receive_maximum: int | None = None,
) -> None:
    """Connect, start paho's network thread and wait until the broker accepts us.

    ``session_expiry_s`` (MQTT 5 only) connects with clean start off and a
    SessionExpiryInterval, so the broker keeps the session and queues QoS 1 messages while
    the client is away (MQTT 3.1.1 uses ``make_client(clean_session=False)`` instead).
    ``receive_maximum`` (MQTT 5 only) caps the unacknowledged QoS 1 messages the broker
    sends us (MQTT 5 section 3.1.2.11.3). Raises BrokerUnavailableError with the host, port
    and reason when the connection fails within ``timeout_s``.
    """
    host = broker.host or "127.0.0.1"
    connected = threading.Event()
    outcome: dict[str, object] = {}
    previous: Any = client.on_connect

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                   props: Any = None) -> None:
        outcome["reason"] = reason
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)

    client.on_connect = on_connect
    kwargs: dict[str, Any] = {}
    if broker.protocol == "5" and (session_expiry_s is not None or receive_maximum is not None):
        props = Properties(PacketTypes.CONNECT)
        if session_expiry_s is not None:
            kwargs["clean_start"] = False
            props.SessionExpiryInterval = session_expiry_s
        if receive_maximum is not None:
            props.ReceiveMaximum = receive_maximum
        kwargs["properties"] = props
    try:
        client.connect(host, broker.port, keepalive=broker.keepalive_s, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerUnavailableError(
            f"cannot reach MQTT broker {host}:{broker.port}: {exc}; "
            "check broker.host/broker.port and that the broker is running"
        ) from None
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        raise BrokerUnavailableError(
            f"MQTT broker {host}:{broker.port} did not answer CONNECT within {timeout_s:.0f} s"
        )
    client.on_connect = previous
    reason = outcome["reason"]
    if getattr(reason, "is_failure", False):
        client.loop_stop()
        raise BrokerUnavailableError(
            f"MQTT broker {host}:{broker.port} refused the connection: {reason}; "
            f"check {credentials_hint(broker)}"
        )


def credentials_hint(broker: BrokerConfig) -> str:
    """Name where the credentials the client used come from (never the password itself)."""
    user = f"broker.username ({broker.username!r})" if broker.username else \
        "broker.username (not set: connecting anonymously)"
    if broker.password_file:
        secret = (f"the password in broker.password_file ({broker.password_file}); "
                  "GREENPIPE_BROKER_PASSWORD overrides that file when set")
    elif broker.password:
        secret = "the password in GREENPIPE_BROKER_PASSWORD"
    else:
        secret = "the password (none set: use GREENPIPE_BROKER_PASSWORD or broker.password_file)"
    return f"{user} and {secret}"


def wait_for_publish(info: mqtt.MQTTMessageInfo, timeout_s: float = 30.0) -> None:
    """Wait until a QoS 1 publish is acknowledged, raising BrokerUnavailableError on failure."""
    deadline = time.monotonic() + timeout_s
    while not info.is_published():
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            raise BrokerUnavailableError(f"publish failed: {mqtt.error_string(info.rc)}")
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(f"publish not acknowledged within {timeout_s:.0f} s")
        time.sleep(0.005)
