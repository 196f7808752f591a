"""Device payload decoders (Tasmota, Shelly Gen2, generic JSON path) and unit normalisation.

Each decoder is registered by name in ``collector.decoders`` and chosen per topic filter
with ``collector.routes`` (``docs/collector.md``). They map a device to a configured meter
by name, normalise units to kWh / kW, and raise ``PayloadError`` with a stable code for
anything else, like the native decoder.

* ``tasmota``: ``tele/<meter>/SENSOR`` with ``ENERGY.Total`` [kWh] and ``ENERGY.Power`` [W]
  (Tasmota's ``Topic`` is set to the meter id). ``Time`` is the device's local time; it
  must carry a UTC offset (Tasmota ``SetOption52 1``) — greenpipe never guesses a zone.
* ``shelly_gen2``: ``<meter>/status/switch:<N>`` with ``aenergy.total`` [Wh] and ``apower``
  [W], stamped with the time the collector received it (the status carries no instant);
  and ``NotifyStatus`` on ``<meter>/events/rpc``, stamped with ``params.ts`` [s since
  epoch]. Channel 0 is meter ``<meter>``, channel N > 0 is meter ``<meter>-<N>``.
  A device message that carries no energy (``status/sys``, ``status/input:0``, a
  ``status/switch:0`` or ``NotifyStatus`` without ``aenergy``, ``NotifyEvent``) decodes
  to no sample: the pipeline skips and counts it (``skipped``), it is no dead letter. A
  status of another component that does carry ``aenergy`` (``cover:0``) is refused
  (``payload.bad_topic``), since its energy would otherwise be lost unseen.
* ``json_path:...``: a mapping with declared units, configured in the route itself, e.g.
  ``json_path:meter=1,ts=time,register=energy.total:Wh,power=power:W`` (meter id from
  topic level 1, zero-based; dotted paths into the JSON object).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collector.codes import RejectCode
from collector.decoders import (
    DecodeContext,
    Decoder,
    Sample,
    get_decoder,
    load_json_object,
    number_field,
    parse_timestamp,
    register_decoder,
    resolve_meter,
)
from greenpipe.errors import ConfigError, PayloadError
from greenpipe.model import Meter

ENERGY_UNITS_TO_KWH = {"Wh": -3, "kWh": 0, "MWh": 3}
"""Each accepted energy unit, as the power of ten that converts it to kWh."""
POWER_UNITS_TO_KW = {"W": -3, "kW": 0, "MW": 3}
"""Each accepted power unit, as the power of ten that converts it to kW."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHELLY_SWITCH = re.compile(r"^switch:(\d{1,3})$")


def to_kwh(value: float, unit: str) -> float:
    """Convert an energy in ``unit`` (Wh, kWh, MWh) to kWh; ValueError for other units."""
    try:
        return _scale(value, ENERGY_UNITS_TO_KWH[unit])
    except KeyError:
        raise ValueError(f"unknown energy unit {unit!r}; use one of "
                         f"{', '.join(ENERGY_UNITS_TO_KWH)}") from None


def to_kw(value: float, unit: str) -> float:
    """Convert a power in ``unit`` (W, kW, MW) to kW; ValueError for other units."""
    try:
        return _scale(value, POWER_UNITS_TO_KW[unit])
    except KeyError:
        raise ValueError(f"unknown power unit {unit!r}; use one of "
                         f"{', '.join(POWER_UNITS_TO_KW)}") from None


def _scale(value: float, exponent: int) -> float:
    # Divide for sub-units: 6532 / 1000 is exactly 6.532, 6532 * 0.001 is not.
    return value / 10.0 ** -exponent if exponent < 0 else value * 10.0 ** exponent


def resolve_decoder(name: str) -> Decoder:
    """Return the decoder a route names: a registered one, or ``json_path:<spec>``."""
    if name.startswith("json_path:"):
        return json_path_decoder(JsonPathSpec.parse(name.removeprefix("json_path:")))
    return get_decoder(name)


def _meter_by_id(ctx: DecodeContext, meter_id: str) -> Meter:
    meter = ctx.meters.get(meter_id)
    if meter is None:
        raise PayloadError(
            RejectCode.UNKNOWN_METER,
            f"meter {meter_id[:80]!r} is not in the configuration; add a [[meters]] entry "
            "with this id or rename the device",
        )
    return resolve_meter(ctx, meter.site, meter_id)


def _object(body: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = body.get(key)
    if value is None:
        raise PayloadError(RejectCode.MISSING_FIELD, f"payload has no {where}; expected an "
                           "object there")
    if not isinstance(value, dict):
        raise PayloadError(RejectCode.WRONG_TYPE, f"{where} is not a JSON object")
    return value


def _register(body: Mapping[str, Any], field: str, unit: str, where: str) -> float:
    value = number_field(body, field)
    if value is None:
        raise PayloadError(RejectCode.MISSING_FIELD, f"payload has no {where}")
    if value < 0:
        raise PayloadError(RejectCode.NEGATIVE_REGISTER,
                           f"{where} is {value!r}; a cumulative register is never negative")
    return _finite(to_kwh(value, unit), where)


def _power(body: Mapping[str, Any], field: str, unit: str) -> float | None:
    value = number_field(body, field, null_is_absent=True)
    return None if value is None else _finite(to_kw(value, unit), field)


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):  # e.g. 1e306 MWh overflows when converted to kWh
        raise PayloadError(RejectCode.NOT_FINITE, f"{where} is too large to represent")
    return value


def _received(ctx: DecodeContext) -> datetime:
    if ctx.received_at is None:
        raise ValueError("this decoder needs DecodeContext.received_at")
    ts = ctx.received_at
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)


# ---------------------------------------------------------------- Tasmota


def decode_tasmota(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
    """Decode Tasmota telemetry ``tele/<meter>/SENSOR`` (``ENERGY.Total`` kWh, ``Power`` W)."""
    levels = topic.split("/")
    if len(levels) != 3 or levels[0] != "tele" or levels[2] != "SENSOR" or not levels[1]:
        raise PayloadError(RejectCode.BAD_TOPIC,
                           f"topic {topic[:80]!r} is not tele/<meter>/SENSOR")
    meter = _meter_by_id(ctx, levels[1])
    body = load_json_object(payload)
    if "Time" not in body:
        raise PayloadError(RejectCode.MISSING_FIELD, "Tasmota payload has no Time")
    try:
        ts = parse_timestamp(body["Time"], "Time")
    except PayloadError as exc:
        if exc.code == RejectCode.NAIVE_TIMESTAMP:
            raise PayloadError(
                RejectCode.NAIVE_TIMESTAMP,
                f"{exc} (on Tasmota, `SetOption52 1` adds the offset to Time)") from None
        raise
    energy = _object(body, "ENERGY", "ENERGY")
    return [Sample(meter_id=meter.id, site_id=meter.site, ts=ts,
                   register_kwh=_register(energy, "Total", "kWh", "ENERGY.Total"),
                   power_kw=_power(energy, "Power", "W"))]


# ---------------------------------------------------------------- Shelly Gen2


def _shelly_meter_id(device: str, channel: int) -> str:
    return device if channel == 0 else f"{device}-{channel}"


def _shelly_sample(ctx: DecodeContext, device: str, channel: int,
                   status: Mapping[str, Any], ts: datetime, where: str) -> Sample:
    meter = _meter_by_id(ctx, _shelly_meter_id(device, channel))
    aenergy = _object(status, "aenergy", f"{where}.aenergy")
    return Sample(meter_id=meter.id, site_id=meter.site, ts=ts,
                  register_kwh=_register(aenergy, "total", "Wh", f"{where}.aenergy.total"),
                  power_kw=_power(status, "apower", "W"))


def decode_shelly_gen2(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
    """Decode Shelly Gen2 ``<id>/status/switch:N`` and ``NotifyStatus`` on ``<id>/events/rpc``."""
    levels = topic.split("/")
    if len(levels) == 3 and levels[1] == "status" and levels[0]:
        match = _SHELLY_SWITCH.match(levels[2])
        body = load_json_object(payload)
        if "aenergy" not in body:
            return []  # sys, input:N, wifi, a switch without metering: no energy
        if match is None:
            raise PayloadError(RejectCode.BAD_TOPIC,
                               f"topic {topic[:80]!r} carries aenergy but is not "
                               "<id>/status/switch:<N>; only switch components are metered")
        return [_shelly_sample(ctx, levels[0], int(match.group(1)), body, _received(ctx),
                               levels[2])]
    if len(levels) == 3 and levels[1:] == ["events", "rpc"] and levels[0]:
        body = load_json_object(payload)
        if body.get("method") != "NotifyStatus":
            return []  # other notifications (NotifyEvent, ...) carry no energy
        params = _object(body, "params", "params")
        seconds = number_field(params, "ts")
        if seconds is None:
            raise PayloadError(RejectCode.MISSING_FIELD, "NotifyStatus has no params.ts")
        if not math.isfinite(seconds * 1000):  # found by the fuzz test: 1e306 s overflows
            raise PayloadError(RejectCode.TIMESTAMP_OUT_OF_RANGE,
                               f"params.ts {seconds!r} s is not a plausible instant")
        ts = parse_timestamp(round(seconds * 1000), "params.ts")
        samples = []
        for key in sorted(params):
            match = _SHELLY_SWITCH.match(key)
            status = params[key]
            # Partial updates: only components that report their energy counter count.
            if match and isinstance(status, dict) and "aenergy" in status:
                samples.append(_shelly_sample(ctx, levels[0], int(match.group(1)), status,
                                              ts, f"params.{key}"))
        return samples
    raise PayloadError(RejectCode.BAD_TOPIC, f"topic {topic[:80]!r} is not "
                       "<id>/status/switch:<N> or <id>/events/rpc")


# ---------------------------------------------------------------- generic JSON path


@dataclass(frozen=True, slots=True)
class JsonPathSpec:
    """Where a generic JSON payload keeps each value, and in which unit."""

    meter_level: int
    """Zero-based topic level that holds the meter id."""
    ts_path: str | None
    """Dotted path of the timestamp (ISO-8601 with offset, or epoch ms); None: receipt time."""
    register_path: str
    register_unit: str
    power_path: str | None = None
    power_unit: str = "W"

    @classmethod
    def parse(cls, text: str) -> JsonPathSpec:
        """Parse ``meter=1,ts=time,register=energy.total:Wh,power=power:W``; ConfigError."""
        key = "collector.routes"
        parts: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = item.partition("=")
            if not sep or name not in ("meter", "ts", "register", "power"):
                raise ConfigError(key, text, f"{item!r}: use meter=, ts=, register=, power=")
            parts[name] = value
        if "meter" not in parts or "register" not in parts:
            raise ConfigError(key, text, "json_path needs meter=<topic level> and "
                              "register=<path>:<unit>")
        try:
            level = int(parts["meter"])
        except ValueError:
            raise ConfigError(key, text, "meter= is a zero-based topic level number") from None
        reg_path, _, reg_unit = parts["register"].partition(":")
        pow_path, _, pow_unit = parts.get("power", "").partition(":")
        if reg_unit not in ENERGY_UNITS_TO_KWH:
            raise ConfigError(key, text, f"register unit must be one of "
                              f"{', '.join(ENERGY_UNITS_TO_KWH)}")
        if pow_path and pow_unit not in POWER_UNITS_TO_KW:
            raise ConfigError(key, text, f"power unit must be one of "
                              f"{', '.join(POWER_UNITS_TO_KW)}")
        return cls(level, parts.get("ts") or None, reg_path, reg_unit, pow_path or None,
                   pow_unit or "W")


def _at_path(body: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], str]:
    """Return the object holding the last key of ``path`` and that key."""
    *parents, last = path.split(".")
    node: Mapping[str, Any] = body
    for i, part in enumerate(parents):
        node = _object(node, part, ".".join(parents[: i + 1]))
    return node, last


def json_path_decoder(spec: JsonPathSpec) -> Decoder:
    """Return a decoder for payloads laid out as ``spec`` declares."""

    def decode(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
        levels = topic.split("/")
        if spec.meter_level >= len(levels) or not levels[spec.meter_level]:
            raise PayloadError(RejectCode.BAD_TOPIC, f"topic {topic[:80]!r} has no level "
                               f"{spec.meter_level} naming the meter")
        meter = _meter_by_id(ctx, levels[spec.meter_level])
        body = load_json_object(payload)
        if spec.ts_path is None:
            ts = _received(ctx)
        else:
            holder, key = _at_path(body, spec.ts_path)
            if key not in holder:
                raise PayloadError(RejectCode.MISSING_FIELD, f"payload has no {spec.ts_path}")
            ts = parse_timestamp(holder[key], spec.ts_path)
        holder, key = _at_path(body, spec.register_path)
        register = _register(holder, key, spec.register_unit, spec.register_path)
        power = None
        if spec.power_path is not None:
            holder, key = _at_path(body, spec.power_path)
            power = _power(holder, key, spec.power_unit)
        if not math.isfinite(register):
            raise PayloadError(RejectCode.NOT_FINITE, f"{spec.register_path} is not finite")
        return [Sample(meter_id=meter.id, site_id=meter.site, ts=ts, register_kwh=register,
                       power_kw=power)]

    return decode


def epoch_s(ts: datetime) -> float:
    """Return seconds since the Unix epoch of an aware datetime (test and docs helper)."""
    return (ts - _EPOCH) / timedelta(seconds=1)


TASMOTA = "tasmota"
SHELLY_GEN2 = "shelly_gen2"
register_decoder(TASMOTA, decode_tasmota)
register_decoder(SHELLY_GEN2, decode_shelly_gen2)
