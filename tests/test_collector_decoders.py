"""Tests for collector.decoders: the greenpipe JSON decoder, its rejections and the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import decoders
from collector.codes import RejectCode
from collector.decoders import (
    GREENPIPE_JSON,
    DecodeContext,
    Sample,
    decode_greenpipe_json,
    get_decoder,
    register_decoder,
)
from greenpipe.config import Config
from greenpipe.errors import ConfigError, PayloadError

F1 = "greenpipe/v1/factory-1/f1-main/reading"
BUS = "greenpipe/v1/bus-depot/bus-depot-chargers/reading"
WEATHER = "greenpipe/v1/city-hall/weather-hitachi/reading"
TS_ISO = "2025-04-01T09:30:00+09:00"
TS_UTC = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
TS_MS = 1_743_467_400_000
"""2025-04-01T00:30:00Z: 2025-04-01T00:00Z is 1 743 465 600 s after the epoch, plus 1800 s."""


@pytest.fixture(scope="module")
def ctx(example_config: Config) -> DecodeContext:
    return DecodeContext.from_config(example_config)


def _decode(ctx: DecodeContext, body: object, topic: str = F1) -> list[Sample]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decode_greenpipe_json(topic, payload, ctx)


# ---------------------------------------------------------------- valid payloads


def test_register_with_jst_offset(ctx: DecodeContext) -> None:
    samples = _decode(ctx, {"ts": TS_ISO, "register_kwh": 123456.789, "power_kw": 812.4,
                            "seq": 1042})
    assert samples == [Sample(meter_id="f1-main", site_id="factory-1", ts=TS_UTC,
                              register_kwh=123456.789, power_kw=812.4, seq=1042)]
    assert samples[0].ts.tzinfo is UTC


def test_epoch_milliseconds(ctx: DecodeContext) -> None:
    (sample,) = _decode(ctx, {"ts": TS_MS, "register_kwh": 5})
    assert sample.ts == TS_UTC
    assert sample.register_kwh == 5.0 and isinstance(sample.register_kwh, float)
    (sample,) = _decode(ctx, {"ts": TS_MS + 123, "register_kwh": 5})
    assert sample.ts == datetime(2025, 4, 1, 0, 30, 0, 123000, tzinfo=UTC)


def test_z_suffix_and_sub_millisecond_truncation(ctx: DecodeContext) -> None:
    (sample,) = _decode(ctx, {"ts": "2025-04-01T00:30:00.123987Z", "register_kwh": 1.0})
    # The store keys on milliseconds; the collector keeps the same resolution.
    assert sample.ts == datetime(2025, 4, 1, 0, 30, 0, 123000, tzinfo=UTC)


def test_interval_form(ctx: DecodeContext) -> None:
    (sample,) = _decode(ctx, {"ts": "2025-04-01T00:30:00Z", "energy_kwh": 12.5,
                              "power_kw": 25.0}, topic=BUS)
    assert sample == Sample(meter_id="bus-depot-chargers", site_id="bus-depot", ts=TS_UTC,
                            energy_kwh=12.5, power_kw=25.0)


def test_weather(ctx: DecodeContext) -> None:
    (sample,) = _decode(ctx, {"ts": TS_ISO, "temp_air_c": -3.25}, topic=WEATHER)
    assert sample == Sample(meter_id="weather-hitachi", site_id="city-hall", ts=TS_UTC,
                            temp_air_c=-3.25)


def test_optional_fields_may_be_null_or_absent_and_unknown_keys_are_ignored(
    ctx: DecodeContext,
) -> None:
    (sample,) = _decode(ctx, {"ts": TS_ISO, "register_kwh": 0, "power_kw": None, "seq": None,
                              "firmware": "1.2"})
    assert sample == Sample(meter_id="f1-main", site_id="factory-1", ts=TS_UTC,
                            register_kwh=0.0)


def test_utf8_bom_is_tolerated(ctx: DecodeContext) -> None:
    payload = b"\xef\xbb\xbf" + json.dumps({"ts": TS_ISO, "register_kwh": 1.5}).encode()
    assert _decode(ctx, payload)[0].register_kwh == 1.5


# ---------------------------------------------------------------- rejections

_OK = {"ts": TS_ISO, "register_kwh": 10.0}

REJECTIONS = [
    # (id, topic, payload, code, fragment of the message)
    ("bad_json", F1, b'{"ts": "2025-04-01T09:30:00+09:00", "register_kwh": ',
     RejectCode.BAD_JSON, "payload is not valid JSON"),
    ("deep_json", F1, b"[" * 100_000, RejectCode.BAD_JSON, "nested too deeply"),
    ("huge_int", F1, b'{"ts": 1, "register_kwh": ' + b"9" * 5000 + b"}",
     RejectCode.BAD_JSON, "payload is not valid JSON"),
    ("not_utf8", F1, b'{"ts": "\xff"}', RejectCode.NOT_UTF8,
     "payload is not UTF-8 (invalid byte at offset 8)"),
    ("array", F1, b"[1, 2]", RejectCode.NOT_OBJECT, "payload is a JSON array, not an object"),
    ("number", F1, b"42", RejectCode.NOT_OBJECT, "payload is a JSON number, not an object"),
    ("string", F1, b'"hi"', RejectCode.NOT_OBJECT, "payload is a JSON string, not an object"),
    ("naive_ts", F1, {"ts": "2025-04-01T09:30:00", "register_kwh": 1.0},
     RejectCode.NAIVE_TIMESTAMP,
     "ts '2025-04-01T09:30:00' has no UTC offset; add one (e.g. +09:00 or Z)"),
    ("date_only", F1, {"ts": "2025-04-01", "register_kwh": 1.0}, RejectCode.NAIVE_TIMESTAMP,
     "has no UTC offset"),
    ("bad_ts", F1, {"ts": "yesterday", "register_kwh": 1.0}, RejectCode.BAD_TIMESTAMP,
     "ts 'yesterday' is not an ISO-8601 timestamp"),
    ("float_epoch", F1, {"ts": 1743467400.0, "register_kwh": 1.0}, RejectCode.WRONG_TYPE,
     "integer epoch milliseconds"),
    ("bool_ts", F1, {"ts": True, "register_kwh": 1.0}, RejectCode.WRONG_TYPE,
     "ts is a JSON boolean"),
    ("epoch_seconds", F1, {"ts": 1743467400, "register_kwh": 1.0},
     RejectCode.TIMESTAMP_OUT_OF_RANGE, "ts 1743467400 (epoch ms) is outside 2000-2100"),
    ("epoch_zero", F1, {"ts": 0, "register_kwh": 1.0}, RejectCode.TIMESTAMP_OUT_OF_RANGE,
     "check that the meter's clock is set"),
    ("year_1", F1, {"ts": "0001-01-01T00:00:00+09:00", "register_kwh": 1.0},
     RejectCode.TIMESTAMP_OUT_OF_RANGE, "is outside 2000-2100"),
    ("year_2100", F1, {"ts": "2100-01-01T00:00:00Z", "register_kwh": 1.0},
     RejectCode.TIMESTAMP_OUT_OF_RANGE, "is outside 2000-2100"),
    ("nan", F1, b'{"ts": "2025-04-01T09:30:00+09:00", "register_kwh": NaN}',
     RejectCode.NOT_FINITE, "register_kwh is nan; send a finite number"),
    ("infinity", F1, b'{"ts": "2025-04-01T09:30:00+09:00", "register_kwh": 1, '
     b'"power_kw": -Infinity}', RejectCode.NOT_FINITE, "power_kw is -inf"),
    ("overflow", F1, b'{"ts": "2025-04-01T09:30:00+09:00", "energy_kwh": 1e999}',
     RejectCode.NOT_FINITE, "energy_kwh is inf"),
    ("negative_register", F1, {"ts": TS_ISO, "register_kwh": -0.001},
     RejectCode.NEGATIVE_REGISTER, "register_kwh is -0.001; a cumulative register is never"),
    ("unknown_meter", "greenpipe/v1/factory-1/ghost/reading", _OK, RejectCode.UNKNOWN_METER,
     "meter 'ghost' is not in the configuration"),
    ("site_mismatch", "greenpipe/v1/factory-2/f1-main/reading", _OK, RejectCode.SITE_MISMATCH,
     "topic names site 'factory-2' but meter 'f1-main' belongs to site 'factory-1'"),
    ("status_topic", "greenpipe/v1/factory-1/f1-main/status", _OK, RejectCode.BAD_TOPIC,
     "is not greenpipe/v1/<site>/<meter>/reading"),
    ("other_prefix", "acme/v1/factory-1/f1-main/reading", _OK, RejectCode.BAD_TOPIC,
     "topic 'acme/v1/factory-1/f1-main/reading' is not"),
    ("empty_level", "greenpipe/v1//f1-main/reading", _OK, RejectCode.BAD_TOPIC, "is not"),
    ("missing_ts", F1, {"register_kwh": 1.0}, RejectCode.MISSING_FIELD,
     "payload has no ts (keys: register_kwh)"),
    ("missing_value", F1, {"ts": TS_ISO, "register_kWh": 1.0}, RejectCode.MISSING_FIELD,
     "payload has none of register_kwh, energy_kwh, temp_air_c, quantity (keys: register_kWh, "
     "ts)"),
    ("ambiguous", F1, {"ts": TS_ISO, "register_kwh": 1.0, "energy_kwh": 1.0},
     RejectCode.AMBIGUOUS_FORM, "payload has register_kwh and energy_kwh"),
    ("temp_from_energy_meter", F1, {"ts": TS_ISO, "temp_air_c": 1.0}, RejectCode.WRONG_FORM,
     "meter 'f1-main' is of kind electricity but sent temp_air_c; it should send "
     "register_kwh or energy_kwh"),
    ("register_from_weather", WEATHER, {"ts": TS_ISO, "register_kwh": 1.0},
     RejectCode.WRONG_FORM, "it should send temp_air_c"),
    ("string_register", F1, {"ts": TS_ISO, "register_kwh": "12.5"}, RejectCode.WRONG_TYPE,
     "register_kwh is a JSON string ('12.5'); send a number"),
    ("bool_register", F1, {"ts": TS_ISO, "register_kwh": True}, RejectCode.WRONG_TYPE,
     "register_kwh is a JSON boolean"),
    ("null_register", F1, {"ts": TS_ISO, "register_kwh": None}, RejectCode.WRONG_TYPE,
     "register_kwh is a JSON null"),
    ("list_ts", F1, {"ts": [2025, 4, 1], "register_kwh": 1.0}, RejectCode.WRONG_TYPE,
     "ts is a JSON array"),
    ("object_power", F1, {"ts": TS_ISO, "register_kwh": 1.0, "power_kw": {"v": 1}},
     RejectCode.WRONG_TYPE, "power_kw is a JSON object"),
    ("negative_seq", F1, {"ts": TS_ISO, "register_kwh": 1.0, "seq": -1},
     RejectCode.WRONG_TYPE, "seq is -1; send a non-negative integer"),
    ("string_seq", F1, {"ts": TS_ISO, "register_kwh": 1.0, "seq": "7"},
     RejectCode.WRONG_TYPE, "seq is '7'"),
]


@pytest.mark.parametrize(("topic", "payload", "code", "fragment"),
                         [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_rejections_carry_stable_code_and_clear_message(
    ctx: DecodeContext, topic: str, payload: object, code: RejectCode, fragment: str
) -> None:
    with pytest.raises(PayloadError) as info:
        _decode(ctx, payload, topic=topic)
    assert info.value.code == code
    assert fragment in str(info.value)


def test_every_payload_code_is_exercised() -> None:
    payload_codes = {c for c in RejectCode if c.value.startswith("payload.")}
    tested = {r[3] for r in REJECTIONS}
    # internal_error comes from the pipeline, not from a decoder (tested there); the batch
    # codes come from batch uploads (tests/test_collector_pipeline_batch.py).
    assert payload_codes - tested == {RejectCode.INTERNAL_ERROR, RejectCode.BATCH_TOO_LARGE,
                                      RejectCode.NOT_ARRAY}


# ---------------------------------------------------------------- registry


def test_registry_returns_native_decoder_and_names_known_ones() -> None:
    assert get_decoder(GREENPIPE_JSON) is decode_greenpipe_json
    with pytest.raises(ConfigError) as info:
        get_decoder("tasmota-ish")
    assert info.value.key == "collector.decoder"
    assert "choose one of: greenpipe_json" in str(info.value)


def test_register_decoder_refuses_silent_overwrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders, "_REGISTRY", dict(decoders._REGISTRY))

    def constant(topic: str, payload: bytes, ctx: DecodeContext) -> list[Sample]:
        return []

    register_decoder("constant", constant)
    assert get_decoder("constant") is constant
    assert "constant" in decoders.decoder_names()
    with pytest.raises(ValueError, match="already registered"):
        register_decoder("constant", decode_greenpipe_json)
    register_decoder("constant", decode_greenpipe_json, replace=True)
    assert get_decoder("constant") is decode_greenpipe_json
    with pytest.raises(ValueError, match="letters, digits"):
        register_decoder("bad/name", constant)


# ---------------------------------------------------------------- fuzzing

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
_field_values = (
    _json_values
    | st.sampled_from([TS_ISO, "2025-04-01T09:30:00", "2025-13-01T00:00:00Z", TS_MS, -1,
                       10**30])
    | st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat())
    | st.integers(min_value=-(10**16), max_value=10**16)
)
_bodies = st.dictionaries(
    st.sampled_from(["ts", "register_kwh", "energy_kwh", "temp_air_c", "power_kw", "seq", "x"]),
    _field_values,
    max_size=5,
)
_topics = st.sampled_from([F1, BUS, WEATHER, "greenpipe/v1/factory-2/f1-main/reading",
                           "greenpipe/v1/a/b/reading"]) | st.text(max_size=60)


def _check(ctx: DecodeContext, topic: str, payload: bytes) -> None:
    try:
        samples = decode_greenpipe_json(topic, payload, ctx)
    except PayloadError as exc:
        assert exc.code in set(RejectCode)
        assert str(exc)
        return
    assert len(samples) == 1
    s = samples[0]
    assert s.ts.tzinfo is UTC and s.ts.microsecond % 1000 == 0
    assert sum(v is not None for v in (s.register_kwh, s.energy_kwh, s.temp_air_c)) == 1
    assert s.register_kwh is None or s.register_kwh >= 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(topic=_topics, payload=st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_payload_error(
    example_config: Config, topic: str, payload: bytes
) -> None:
    _check(DecodeContext.from_config(example_config), topic, payload)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(topic=_topics, body=_bodies | _json_values)
def test_arbitrary_json_only_ever_raises_payload_error(
    example_config: Config, topic: str, body: object
) -> None:
    _check(DecodeContext.from_config(example_config), topic, json.dumps(body).encode())


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.text(max_size=6), _json_values, max_size=5),
       bom=st.booleans(), nan=st.booleans())
def test_orjson_fast_path_accepts_and_parses_exactly_what_json_does(
        body: dict[str, object], bom: bool, nan: bool) -> None:
    text = json.dumps({**body, **({"x": float("nan")} if nan else {})})
    payload = (("\ufeff" if bom else "") + text).encode()
    expected = json.loads(text)
    got = decoders.load_json_object(payload)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
