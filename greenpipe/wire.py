"""The MQTT wire contract shared by meters (simulators) and the collector.

Topics::

    <prefix>/<site>/<meter>/reading   JSON reading, QoS 1
    <prefix>/<site>/<meter>/status    retained "online"; last will "offline"
    <prefix>/_gateway/<client>/status  a multi-meter gateway's retained status and last will

The default prefix is ``greenpipe/v1``. Payloads are documented in ``docs/mqtt.md``.
This module only builds topics and encodes payloads; decoding lives in the collector's
decoder registry.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

READING_SUFFIX = "reading"
STATUS_SUFFIX = "status"
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"


def reading_topic(prefix: str, site_id: str, meter_id: str) -> str:
    """Return the topic a meter publishes its readings on."""
    return f"{prefix}/{site_id}/{meter_id}/{READING_SUFFIX}"


def status_topic(prefix: str, site_id: str, meter_id: str) -> str:
    """Return the topic a meter publishes its retained online/offline status on."""
    return f"{prefix}/{site_id}/{meter_id}/{STATUS_SUFFIX}"


def gateway_status_topic(prefix: str, client_id: str) -> str:
    """Return the status topic of a gateway that publishes for several meters.

    MQTT allows one last will per connection, so a process that carries many meters (the
    simulator, a site gateway) registers its will here. Site ids cannot start with ``_``,
    so this never collides with a meter's status topic.
    """
    return f"{prefix}/_gateway/{client_id}/{STATUS_SUFFIX}"


def reading_subscription(prefix: str) -> str:
    """Return the MQTT subscription that matches every meter's reading topic."""
    return f"{prefix}/+/+/{READING_SUFFIX}"


def parse_reading_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """Return ``(site_id, meter_id)`` for a reading topic, or None if it is not one."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 3 or parts[2] != READING_SUFFIX or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def epoch_ms(ts: datetime) -> int:
    """Return milliseconds since the Unix epoch for an aware datetime."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no UTC offset")
    return round(ts.timestamp() * 1000)


def encode_reading(
    ts: datetime,
    register_kwh: float,
    power_kw: float | None = None,
    seq: int | None = None,
) -> bytes:
    """Encode a cumulative-register reading as greenpipe JSON.

    ``register_kwh`` is rounded to 1 Wh, the resolution of a typical revenue meter, so the
    collector's interval energies add up exactly to the register delta.
    """
    if not math.isfinite(register_kwh):
        raise ValueError(f"register_kwh must be finite, got {register_kwh!r}")
    body: dict[str, object] = {"ts": ts.isoformat(), "register_kwh": round(register_kwh, 3)}
    if power_kw is not None:
        body["power_kw"] = round(power_kw, 3)
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode()


def encode_interval(ts: datetime, energy_kwh: float, power_kw: float | None = None) -> bytes:
    """Encode an interval-energy reading (for meters that send deltas) as greenpipe JSON."""
    body: dict[str, object] = {"ts": ts.isoformat(), "energy_kwh": round(energy_kwh, 3)}
    if power_kw is not None:
        body["power_kw"] = round(power_kw, 3)
    return json.dumps(body, separators=(",", ":")).encode()


def encode_weather(ts: datetime, temp_air_c: float, seq: int | None = None) -> bytes:
    """Encode a weather-station reading as greenpipe JSON (``seq``: see encode_reading)."""
    body: dict[str, object] = {"ts": ts.isoformat(), "temp_air_c": round(temp_air_c, 2)}
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode()


def encode_production(ts: datetime, quantity: float, seq: int | None = None) -> bytes:
    """Encode a production meter's output in the interval ending at ``ts`` as greenpipe JSON.

    ``quantity`` is in the meter's configured unit (``t``, ``units`` ...), never kWh; it is
    rounded to 0.001 of that unit.
    """
    if not math.isfinite(quantity) or quantity < 0:
        raise ValueError(f"quantity must be a finite number >= 0, got {quantity!r}")
    body: dict[str, object] = {"ts": ts.isoformat(), "quantity": round(quantity, 3)}
    if seq is not None:
        body["seq"] = seq
    return json.dumps(body, separators=(",", ":")).encode()
