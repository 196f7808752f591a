"""Payload decoders: MQTT topic + raw bytes -> validated samples, registered by name.

Decoding is separate from transport (Telegraf plugs parsers into inputs by name). A decoder
is a pure function ``(topic, payload, ctx) -> list[Sample]`` that raises
``greenpipe.errors.PayloadError`` with a stable code from ``collector.codes.RejectCode`` for
anything it cannot accept; it never raises anything else on bad input. The service picks a
decoder per subscription by name (``get_decoder``). This module ships the native
``greenpipe_json`` decoder (``docs/mqtt.md``); device decoders (Tasmota, Shelly, JSON-path)
register themselves the same way.

The helpers ``load_json_object``, ``parse_timestamp``, ``number_field`` and
``resolve_meter`` are shared by all decoders so every format validates alike.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from collector.codes import RejectCode
from greenpipe.config import Config
from greenpipe.errors import ConfigError, PayloadError
from greenpipe.model import Meter, MeterKind
from greenpipe.wire import MAX_BATCH_BYTES, MAX_BATCH_READINGS, parse_reading_topic

GREENPIPE_JSON = "greenpipe_json"
"""Name of the native decoder (the wire contract in ``docs/mqtt.md``)."""

EARLIEST_TS = datetime(2000, 1, 1, tzinfo=UTC)
"""Readings before this instant are refused: they come from a meter whose clock was never set."""
LATEST_TS = datetime(2100, 1, 1, tzinfo=UTC)
"""Readings at or after this instant are refused as implausible."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_MS = round((EARLIEST_TS - _EPOCH) / timedelta(milliseconds=1))
_LATEST_MS = round((LATEST_TS - _EPOCH) / timedelta(milliseconds=1))
_FORMS = ("register_kwh", "energy_kwh", "temp_air_c", "quantity")
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


@dataclass(frozen=True, slots=True)
class Sample:
    """One decoded, validated measurement, before register-to-interval conversion.

    Exactly one of ``register_kwh``, ``energy_kwh``, ``temp_air_c`` and ``quantity`` is set.
    """

    meter_id: str
    site_id: str
    ts: datetime
    """Instant of the measurement, timezone-aware UTC, truncated to the millisecond."""
    register_kwh: float | None = None
    """Cumulative register, never negative. [kWh]"""
    energy_kwh: float | None = None
    """Energy of the interval ending at ``ts`` (interval form). [kWh]"""
    power_kw: float | None = None
    """Power at ``ts``. [kW]"""
    temp_air_c: float | None = None
    """Outdoor air temperature (weather stations). [°C]"""
    seq: int | None = None
    """The meter's message sequence number, if it sends one."""
    quantity: float | None = None
    """Production in the interval ending at ``ts`` (production meters), never negative.
    [the meter's configured unit]"""


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder needs to know besides the message: the topic prefix and the meters."""

    topic_prefix: str
    meters: Mapping[str, Meter]
    received_at: datetime | None = None
    """When the message being decoded was received (set per message by the pipeline)."""

    def at(self, received_at: datetime) -> DecodeContext:
        """Return this context for a message received at ``received_at``.

        Per message, so the constructor rather than ``dataclasses.replace`` (12 µs): a new
        field must be passed on here too.
        """
        return DecodeContext(self.topic_prefix, self.meters, received_at)

    @classmethod
    def from_config(cls, cfg: Config) -> DecodeContext:
        """Build the context from a validated configuration."""
        return cls(topic_prefix=cfg.broker.topic_prefix, meters=cfg.meters_by_id())


class Decoder(Protocol):
    """A payload decoder: returns samples or raises PayloadError, nothing else."""

    def __call__(self, topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
        """Decode one MQTT message into samples."""
        ...


_REGISTRY: dict[str, Decoder] = {}


def register_decoder(name: str, decoder: Decoder, *, replace: bool = False) -> None:
    """Register ``decoder`` under ``name``; refuses to overwrite unless ``replace`` is True."""
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"decoder name {name!r} must be letters, digits and '_'")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a decoder named {name!r} is already registered; pass replace=True")
    _REGISTRY[name] = decoder


def get_decoder(name: str) -> Decoder:
    """Return the decoder registered as ``name``; ConfigError names the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            "collector.decoder", name, f"choose one of: {', '.join(decoder_names())}"
        ) from None


def decoder_names() -> list[str]:
    """Return the names of all registered decoders, sorted."""
    return sorted(_REGISTRY)


# ---------------------------------------------------------------- shared validation helpers


def load_json_object(payload: bytes) -> dict[str, Any]:
    """Parse a UTF-8 JSON object, raising PayloadError (not_utf8, bad_json, not_object).

    orjson parses the common case (about 5x faster than ``json``); anything it refuses
    (invalid UTF-8, a BOM, NaN, deep nesting, bad JSON) goes the ``json`` way below, so what
    is accepted and every rejection's code and reason stay as they were. orjson reads an
    integer beyond 64 bits as a float where ``json`` keeps it exact, so a payload with a
    run of 19 or more digits goes the ``json`` way too.
    """
    return _require_object(_parse_json(payload))


def _parse_json(payload: bytes) -> Any:
    if _LONG_DIGITS.search(payload) is None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return _parse_json_slow(payload)


def _require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PayloadError(
            RejectCode.NOT_OBJECT,
            f"payload is a JSON {_json_type(body)}, not an object; send "
            '{"ts": ..., "register_kwh": ...}',
        )
    return body


def load_json_array(payload: bytes) -> list[Any]:
    """Parse a batch upload: a UTF-8 JSON array within the size bounds of ``greenpipe.wire``.

    Raises PayloadError (batch_too_large, not_utf8, bad_json, not_array).
    """
    if len(payload) > MAX_BATCH_BYTES:
        raise PayloadError(
            RejectCode.BATCH_TOO_LARGE,
            f"batch payload is {len(payload)} bytes, more than the {MAX_BATCH_BYTES} the "
            "collector takes in one message; split it (e.g. one day of readings per message)",
        )
    body = _parse_json(payload)
    if not isinstance(body, list):
        raise PayloadError(
            RejectCode.NOT_ARRAY,
            f"batch payload is a JSON {_json_type(body)}, not an array; send "
            '[{"ts": ..., "register_kwh": ...}, ...] or use the .../reading topic',
        )
    if len(body) > MAX_BATCH_READINGS:
        raise PayloadError(
            RejectCode.BATCH_TOO_LARGE,
            f"batch carries {len(body)} readings, more than the {MAX_BATCH_READINGS} the "
            "collector takes in one message; split it (e.g. one day of readings per message)",
        )
    return body


def _parse_json_slow(payload: bytes) -> Any:
    try:
        text = bytes(payload).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            RejectCode.NOT_UTF8,
            f"payload is not UTF-8 (invalid byte at offset {exc.start}); "
            "publish readings as UTF-8 JSON",
        ) from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise PayloadError(
            RejectCode.BAD_JSON, "payload JSON is nested too deeply; send a flat JSON object"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and ints beyond Python's digit limit
        raise PayloadError(
            RejectCode.BAD_JSON, f"payload is not valid JSON ({exc}); send a JSON object"
        ) from None
    return body


def parse_timestamp(value: object, field: str = "ts") -> datetime:
    """Return a UTC timestamp (millisecond resolution) from ISO-8601 with offset or epoch ms.

    A naive ISO timestamp is refused (``payload.naive_timestamp``): greenpipe never guesses
    a time zone. Epoch milliseconds must be an integer.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(
            RejectCode.WRONG_TYPE,
            f"{field} is a JSON {_json_type(value)}; send an ISO-8601 string with a UTC offset "
            "(e.g. 2025-04-01T09:30:00+09:00) or integer epoch milliseconds",
        )
    if isinstance(value, int):
        if not _EARLIEST_MS <= value < _LATEST_MS:
            raise PayloadError(
                RejectCode.TIMESTAMP_OUT_OF_RANGE,
                f"{field} {value} (epoch ms) is outside {EARLIEST_TS.year}-{LATEST_TS.year}; "
                "check that the meter's clock is set and that it sends milliseconds",
            )
        return _EPOCH + timedelta(milliseconds=value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(
            RejectCode.BAD_TIMESTAMP,
            f"{field} {_clip(value)!r} is not an ISO-8601 timestamp; send e.g. "
            "2025-04-01T09:30:00+09:00",
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PayloadError(
            RejectCode.NAIVE_TIMESTAMP,
            f"{field} {_clip(value)!r} has no UTC offset; add one (e.g. +09:00 or Z) — "
            "greenpipe never guesses a time zone",
        )
    try:
        ts = parsed.astimezone(UTC)
    except OverflowError:
        ts = None
    if ts is None or not EARLIEST_TS <= ts < LATEST_TS:
        raise PayloadError(
            RejectCode.TIMESTAMP_OUT_OF_RANGE,
            f"{field} {_clip(value)!r} is outside {EARLIEST_TS.year}-{LATEST_TS.year}; "
            "check that the meter's clock is set",
        )
    # The store keys readings on (meter, millisecond); keep the collector's view identical.
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)


def number_field(body: Mapping[str, Any], field: str, *, null_is_absent: bool = False
                 ) -> float | None:
    """Return ``body[field]`` as a finite float, None when absent; PayloadError otherwise."""
    if field not in body:
        return None
    value = body[field]
    if value is None and null_is_absent:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(
            RejectCode.WRONG_TYPE,
            f"{field} is a JSON {_json_type(value)} ({_clip(repr(value))}); send a number",
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise PayloadError(
            RejectCode.NOT_FINITE,
            f"{field} is {_clip(repr(value))}; send a finite number (no NaN or Infinity)",
        )
    return number


def resolve_meter(ctx: DecodeContext, site_id: str, meter_id: str) -> Meter:
    """Return the configured meter, checking that the topic's site is the meter's site."""
    meter = ctx.meters.get(meter_id)
    if meter is None:
        raise PayloadError(
            RejectCode.UNKNOWN_METER,
            f"meter {_clip(meter_id)!r} is not in the configuration; add a [[meters]] entry "
            "or fix the meter's topic",
        )
    if meter.site != site_id:
        raise PayloadError(
            RejectCode.SITE_MISMATCH,
            f"topic names site {_clip(site_id)!r} but meter {meter_id!r} belongs to site "
            f"{meter.site!r}; fix the meter's topic or its site in the configuration",
        )
    return meter


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- greenpipe JSON


def decode_greenpipe_json(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
    """Decode the native wire format: ``<prefix>/<site>/<meter>/reading`` + a JSON object.

    See ``docs/mqtt.md``. Returns exactly one sample; raises PayloadError otherwise.
    """
    parsed = parse_reading_topic(ctx.topic_prefix, topic)
    if parsed is None:
        raise PayloadError(
            RejectCode.BAD_TOPIC,
            f"topic {_clip(topic)!r} is not {ctx.topic_prefix}/<site>/<meter>/reading",
        )
    site_id, meter_id = parsed
    meter = resolve_meter(ctx, site_id, meter_id)
    body = load_json_object(payload)

    if "ts" not in body:
        raise PayloadError(
            RejectCode.MISSING_FIELD,
            f"payload has no ts (keys: {_keys(body)}); add the reading time, ISO-8601 with "
            "offset or epoch ms",
        )
    ts = parse_timestamp(body["ts"])
    forms = [name for name in _FORMS if name in body]
    if not forms:
        raise PayloadError(
            RejectCode.MISSING_FIELD,
            f"payload has none of register_kwh, energy_kwh, temp_air_c, quantity "
            f"(keys: {_keys(body)}); "
            "send exactly one",
        )
    if len(forms) > 1:
        raise PayloadError(
            RejectCode.AMBIGUOUS_FORM,
            f"payload has {' and '.join(forms)}; send exactly one of register_kwh, "
            "energy_kwh, temp_air_c, quantity",
        )
    form = forms[0]
    expected = {MeterKind.WEATHER: "temp_air_c", MeterKind.PRODUCTION: "quantity"}.get(
        meter.kind, "register_kwh or energy_kwh")
    if form not in expected.split(" or "):
        raise PayloadError(
            RejectCode.WRONG_FORM,
            f"meter {meter_id!r} is of kind {meter.kind.value} but sent {form}; "
            f"it should send {expected}",
        )
    value = number_field(body, form)
    if value is None:  # the key is there but null
        raise PayloadError(RejectCode.WRONG_TYPE, f"{form} is null; send a number")
    if form == "register_kwh" and value < 0:
        raise PayloadError(
            RejectCode.NEGATIVE_REGISTER,
            f"register_kwh is {value!r}; a cumulative register is never negative",
        )
    if form == "quantity" and value < 0:
        raise PayloadError(
            RejectCode.NEGATIVE_REGISTER,
            f"quantity is {value!r}; production in an interval is never negative",
        )
    power_kw = number_field(body, "power_kw", null_is_absent=True)
    seq = body.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise PayloadError(
            RejectCode.WRONG_TYPE,
            f"seq is {_clip(repr(seq))}; send a non-negative integer or leave it out",
        )
    return [
        Sample(
            meter_id=meter_id,
            site_id=site_id,
            ts=ts,
            register_kwh=value if form == "register_kwh" else None,
            energy_kwh=value if form == "energy_kwh" else None,
            temp_air_c=value if form == "temp_air_c" else None,
            power_kw=power_kw,
            seq=seq,
            quantity=value if form == "quantity" else None,
        )
    ]


def _keys(body: Mapping[str, Any]) -> str:
    return _clip(", ".join(sorted(body)) or "none")


register_decoder(GREENPIPE_JSON, decode_greenpipe_json)
