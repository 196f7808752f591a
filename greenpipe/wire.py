"""The MQTT wire contract shared by meters (simulators) and the collector.

Topics::

    <prefix>/<site>/<meter>/reading   JSON reading, QoS 1
    <prefix>/<site>/<meter>/readings  JSON array of readings (gateway batch upload), QoS 1
    <prefix>/<site>/<meter>/status    retained "online"; last will "offline"
    <prefix>/_gateway/<client>/status  a multi-meter gateway's retained status and last will

The default prefix is ``greenpipe/v1``. Payloads are documented in ``docs/mqtt.md``.
This module only builds topics and encodes payloads; decoding lives in the collector's
decoder registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime

READING_SUFFIX = "reading"
BATCH_SUFFIX = "readings"
MAX_BATCH_READINGS = 5_000
"""Most readings one batch message may carry (a week of 1-minute readings is 10,080: send
one day per message). A larger batch is dead-lettered whole, with this reason."""
MAX_BATCH_BYTES = 1_048_576
"""Largest batch payload the collector decodes. [bytes]"""
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


def batch_topic(prefix: str, site_id: str, meter_id: str) -> str:
    """Return the topic a meter or gateway uploads a batch of its readings on."""
    return f"{prefix}/{site_id}/{meter_id}/{BATCH_SUFFIX}"


def batch_subscription(prefix: str) -> str:
    """Return the MQTT subscription that matches every meter's batch topic."""
    return f"{prefix}/+/+/{BATCH_SUFFIX}"


def reading_subscription(prefix: str) -> str:
    """Return the MQTT subscription that matches every meter's reading topic."""
    return f"{prefix}/+/+/{READING_SUFFIX}"


def parse_reading_topic(prefix: str, topic: str,
                        suffix: str = READING_SUFFIX) -> tuple[str, str] | None:
    """Return ``(site_id, meter_id)`` for a reading topic, or None if it is not one.

    ``suffix=BATCH_SUFFIX`` reads a batch topic instead.
    """
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 3 or parts[2] != suffix or not parts[0] or not parts[1]:
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


def encode_batch(readings: Sequence[bytes]) -> bytes:
    """Join encoded readings (``encode_reading``, ...) into one batch payload, a JSON array.

    Raises ValueError beyond ``MAX_BATCH_READINGS`` or ``MAX_BATCH_BYTES``: split the batch.
    """
    if len(readings) > MAX_BATCH_READINGS:
        raise ValueError(f"a batch carries at most {MAX_BATCH_READINGS} readings, got "
                         f"{len(readings)}; send several batches")
    body = b"[" + b",".join(readings) + b"]"
    if len(body) > MAX_BATCH_BYTES:
        raise ValueError(f"a batch payload is at most {MAX_BATCH_BYTES} bytes, got "
                         f"{len(body)}; send several batches")
    return body
