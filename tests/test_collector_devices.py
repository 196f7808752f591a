"""Tests for collector.devices: Tasmota, Shelly Gen2 and JSON-path decoders, unit handling.

Payloads are written as each device's documentation shows them (Tasmota "MQTT" and
"Power monitoring" pages; Shelly Gen2 API "Switch" component and "Notifications").
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from collector.codes import RejectCode
from collector.decoders import DecodeContext, Sample
from collector.devices import (
    JsonPathSpec,
    decode_shelly_gen2,
    decode_tasmota,
    json_path_decoder,
    resolve_decoder,
    to_kw,
    to_kwh,
)
from collector.pipeline import Inbound, Pipeline, Route, default_routes
from collector.registers import RegisterTracker
from greenpipe.config import Config
from greenpipe.errors import ConfigError, PayloadError
from greenpipe.model import Meter, MeterKind
from greenpipe.stores.sqlite import SqliteStore

RECEIVED = datetime(2026, 4, 1, 3, 0, 0, 123456, tzinfo=UTC)
SHELLY = "shellyplus1pm-a8032ab12345"

TASMOTA_DOC = (b'{"Time":"2019-12-05T21:47:51+01:00","ENERGY":{"TotalStartTime":'
               b'"2019-11-15T20:12:38","Total":16.493,"Yesterday":0.053,"Today":0.021,'
               b'"Period":0,"Power":3,"ApparentPower":11,"ReactivePower":10,"Factor":0.26,'
               b'"Voltage":230,"Current":0.046}}')
SHELLY_SWITCH_DOC = (b'{"id":0,"source":"init","output":true,"apower":8.9,"voltage":237.5,'
                     b'"current":0.068,"aenergy":{"total":6.532,"by_minute":[45.199,47.141,'
                     b'88.397],"minute_ts":1654511972},"temperature":{"tC":23.5,"tF":74.4}}')
SHELLY_NOTIFY_DOC = json.dumps({
    "src": SHELLY, "dst": f"{SHELLY}/events", "method": "NotifyStatus",
    "params": {"ts": 1654512060.02, "switch:0": {"id": 0, "aenergy": {
        "by_minute": [73.507, 47.141, 88.397], "minute_ts": 1654512059, "total": 6.606}}}},
).encode()


def _meter(meter_id: str) -> Meter:
    return Meter(id=meter_id, site="office-1", kind=MeterKind.ELECTRICITY, unit="kWh",
                 rated_max_power_kw=3.7)


@pytest.fixture
def cfg(example_config: Config) -> Config:
    extra = tuple(_meter(m) for m in ("plug-7", SHELLY, f"{SHELLY}-1", "sensor-3"))
    return replace(example_config, meters=example_config.meters + extra)


@pytest.fixture
def ctx(cfg: Config) -> DecodeContext:
    return replace(DecodeContext.from_config(cfg), received_at=RECEIVED)


def test_units_normalise_exactly() -> None:
    assert (to_kwh(6532.0, "Wh"), to_kwh(16.493, "kWh"), to_kwh(1.25, "MWh")) == (
        6.532, 16.493, 1250.0)
    assert (to_kw(8.9, "W"), to_kw(3.0, "kW"), to_kw(0.5, "MW")) == (0.0089, 3.0, 500.0)
    with pytest.raises(ValueError, match="unknown energy unit 'kwh'; use one of Wh, kWh, MWh"):
        to_kwh(1.0, "kwh")
    with pytest.raises(ValueError, match="unknown power unit 'VA'"):
        to_kw(1.0, "VA")


def test_tasmota_sensor_as_documented(ctx: DecodeContext) -> None:
    (sample,) = decode_tasmota("tele/plug-7/SENSOR", TASMOTA_DOC, ctx)
    assert sample == Sample(meter_id="plug-7", site_id="office-1",
                            ts=datetime(2019, 12, 5, 20, 47, 51, tzinfo=UTC),
                            register_kwh=16.493, power_kw=0.003)


def test_tasmota_default_time_without_offset_is_refused_with_the_fix(
    ctx: DecodeContext,
) -> None:
    naive = TASMOTA_DOC.replace(b"+01:00", b"")
    with pytest.raises(PayloadError) as info:
        decode_tasmota("tele/plug-7/SENSOR", naive, ctx)
    assert info.value.code == RejectCode.NAIVE_TIMESTAMP
    assert "SetOption52 1" in str(info.value)
    for topic, code in (("tele/plug-7/STATE", RejectCode.BAD_TOPIC),
                        ("tele/ghost/SENSOR", RejectCode.UNKNOWN_METER)):
        with pytest.raises(PayloadError) as info:
            decode_tasmota(topic, TASMOTA_DOC, ctx)
        assert info.value.code == code
    with pytest.raises(PayloadError) as info:
        decode_tasmota("tele/plug-7/SENSOR", b'{"Time":"2019-12-05T21:47:51Z"}', ctx)
    assert (info.value.code, str(info.value)) == (RejectCode.MISSING_FIELD,
                                                  "payload has no ENERGY; expected an object "
                                                  "there")


def test_shelly_switch_status_as_documented(ctx: DecodeContext) -> None:
    (sample,) = decode_shelly_gen2(f"{SHELLY}/status/switch:0", SHELLY_SWITCH_DOC, ctx)
    # No instant in the status: stamped on receipt, truncated to the millisecond.
    assert sample == Sample(meter_id=SHELLY, site_id="office-1",
                            ts=datetime(2026, 4, 1, 3, 0, 0, 123000, tzinfo=UTC),
                            register_kwh=0.006532, power_kw=0.0089)
    (second,) = decode_shelly_gen2(f"{SHELLY}/status/switch:1", SHELLY_SWITCH_DOC, ctx)
    assert second.meter_id == f"{SHELLY}-1"


def test_shelly_notify_status_as_documented(ctx: DecodeContext) -> None:
    (sample,) = decode_shelly_gen2(f"{SHELLY}/events/rpc", SHELLY_NOTIFY_DOC, ctx)
    assert sample == Sample(meter_id=SHELLY, site_id="office-1",
                            ts=datetime(2022, 6, 6, 10, 41, 0, 20000, tzinfo=UTC),
                            register_kwh=0.006606)
    # The docs' button example changes only the output: no energy, nothing to store.
    button = (b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyStatus",'
              b'"params":{"ts":1631266595.43,"switch:0":{"id":0,"output":true,'
              b'"source":"button"}}}')
    assert decode_shelly_gen2(f"{SHELLY}/events/rpc", button, ctx) == []
    event = b'{"src":"x","method":"NotifyEvent","params":{"ts":1.0,"events":[]}}'
    assert decode_shelly_gen2(f"{SHELLY}/events/rpc", event, ctx) == []
    huge = SHELLY_NOTIFY_DOC.replace(b"1654512060.02", b"1e306")
    with pytest.raises(PayloadError) as info:
        decode_shelly_gen2(f"{SHELLY}/events/rpc", huge, ctx)
    assert info.value.code == RejectCode.TIMESTAMP_OUT_OF_RANGE
    bad = SHELLY_SWITCH_DOC.replace(b'"total":6.532', b'"total":"6.532"')
    with pytest.raises(PayloadError) as info:
        decode_shelly_gen2(f"{SHELLY}/status/switch:0", bad, ctx)
    assert info.value.code == RejectCode.WRONG_TYPE
    with pytest.raises(PayloadError) as info:
        decode_shelly_gen2(f"{SHELLY}/status/cover:0", SHELLY_SWITCH_DOC, ctx)
    assert info.value.code == RejectCode.BAD_TOPIC


def test_shelly_messages_without_energy_are_no_dead_letters(ctx: DecodeContext) -> None:
    """Issue 14: ``+/status/+`` also matches status/sys, status/input:0 and unmetered
    switches; they carry no energy and decode to nothing, like NotifyStatus without it."""
    for component, body in (
            ("sys", b'{"mac":"A8032AB12345","restart_required":false,"uptime":3600}'),
            ("input:0", b'{"id":0,"state":false}'),
            ("switch:0", b'{"id":0,"source":"init","output":false}'),
            ("wifi", b'{"sta_ip":"192.168.1.20","status":"got ip","rssi":-60}')):
        assert decode_shelly_gen2(f"{SHELLY}/status/{component}", body, ctx) == []
    unknown_device = "shellyplus1-not-configured"
    assert decode_shelly_gen2(f"{unknown_device}/status/sys", b'{"uptime":1}', ctx) == []


def test_json_path_with_declared_units(ctx: DecodeContext) -> None:
    spec = JsonPathSpec.parse("meter=1,ts=meta.time,register=energy.total:MWh,power=p:kW")
    decode = json_path_decoder(spec)
    payload = b'{"meta":{"time":"2026-04-01T12:00:00+09:00"},"energy":{"total":1.5},"p":2}'
    assert decode("plant/sensor-3/data", payload, ctx) == [Sample(
        meter_id="sensor-3", site_id="office-1", ts=datetime(2026, 4, 1, 3, tzinfo=UTC),
        register_kwh=1500.0, power_kw=2.0)]
    no_ts = json_path_decoder(JsonPathSpec.parse("meter=0,register=wh:Wh"))
    (sample,) = no_ts("sensor-3", b'{"wh": 2500}', ctx)
    assert (sample.ts, sample.register_kwh) == (RECEIVED.replace(microsecond=123000), 2.5)
    with pytest.raises(PayloadError) as info:
        decode("plant/sensor-3/data", b'{"meta":{"time":1},"energy":3}', ctx)
    assert info.value.code == RejectCode.TIMESTAMP_OUT_OF_RANGE
    with pytest.raises(PayloadError) as info:
        no_ts("sensor-3", b'{"wh": -1}', ctx)
    assert info.value.code == RejectCode.NEGATIVE_REGISTER
    with pytest.raises(PayloadError) as info:  # finite in MWh, infinite in kWh
        decode("plant/sensor-3/data", b'{"meta":{"time":1775001600000},"energy":{"total":'
               b'1e307}}', ctx)
    assert info.value.code == RejectCode.NOT_FINITE


@pytest.mark.parametrize("text, fix", [
    ("meter=1", "json_path needs meter=<topic level> and register=<path>:<unit>"),
    ("meter=x,register=a:Wh", "meter= is a zero-based topic level number"),
    ("meter=1,register=a:kwh", "register unit must be one of Wh, kWh, MWh"),
    ("meter=1,register=a:Wh,power=p:VA", "power unit must be one of W, kW, MW"),
    ("meter=1,register=a:Wh,colour=red", "'colour=red': use meter=, ts=, register=, power="),
])
def test_json_path_spec_errors_name_the_fix(text: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=r"collector\.routes") as info:
        JsonPathSpec.parse(text)
    assert fix in str(info.value)


def test_routes_from_config_choose_the_decoder_per_topic(
    cfg: Config, sqlite_store: SqliteStore,
) -> None:
    cfg = replace(cfg, collector=replace(cfg.collector, routes=(
        "tasmota tele/+/SENSOR; shelly_gen2 +/status/+ ; shelly_gen2 +/events/rpc;"
        "json_path:meter=1,ts=t,register=e:Wh plant/+/data")))
    routes = default_routes(cfg)
    assert routes == (
        Route("greenpipe/v1/+/+/reading", "greenpipe_json"),
        Route("greenpipe/v1/+/+/readings", "greenpipe_json"), Route("tele/+/SENSOR", "tasmota"),
        Route("+/status/+", "shelly_gen2"), Route("+/events/rpc", "shelly_gen2"),
        Route("plant/+/data", "json_path:meter=1,ts=t,register=e:Wh"))
    pipeline = Pipeline(sqlite_store, DecodeContext.from_config(cfg),
                        RegisterTracker(rated_max_kw={m.id: m.rated_max_power_kw
                                                      for m in cfg.meters}),
                        routes, batch_size=100)
    later = TASMOTA_DOC.replace(b"21:47:51", b"22:47:51").replace(b"16.493", b"16.993")
    for topic, payload, at in (
        ("tele/plug-7/SENSOR", TASMOTA_DOC, RECEIVED),
        ("tele/plug-7/SENSOR", later, RECEIVED),
        (f"{SHELLY}/status/switch:0", SHELLY_SWITCH_DOC, RECEIVED),
        (f"{SHELLY}/status/switch:0", SHELLY_SWITCH_DOC.replace(b"6.532", b"1006.532"),
         RECEIVED + timedelta(minutes=30)),
        ("plant/sensor-3/data", b'{"t": 1775001600000, "e": 10}', RECEIVED),
        ("plant/sensor-3/data", b'{"t": 1775003400000, "e": 1010}', RECEIVED),
        # The same route also delivers a Shelly's other status messages: skipped, counted.
        (f"{SHELLY}/status/sys", b'{"uptime": 3600}', RECEIVED),
        (f"{SHELLY}/status/input:0", b'{"id": 0, "state": true}', RECEIVED),
    ):
        pipeline.handle(Inbound(topic, payload, at))
    pipeline.flush()
    energy = {m.meter: m.energy_kwh for m in sqlite_store.stats().meters}
    assert energy == {"plug-7": 0.5, SHELLY: 1.0, "sensor-3": 1.0}
    assert sqlite_store.read_dead_letters() == []
    assert pipeline.report(8).skipped == 2


def test_bad_routes_are_config_errors(cfg: Config) -> None:
    for routes, fix in (("nosuch tele/+/SENSOR", "choose one of"),
                        ("tasmota", "write each route as `DECODER TOPIC_FILTER`")):
        bad = replace(cfg, collector=replace(cfg.collector, routes=routes))
        with pytest.raises(ConfigError) as info:
            default_routes(bad)
        assert fix in str(info.value)
    assert resolve_decoder("tasmota") is decode_tasmota
