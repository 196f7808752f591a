"""Protocol tests of InfluxStore's write paths against a local recording HTTP endpoint.

No InfluxDB 2 or 3 runs here, so these tests prove only what goes over the wire from
influxdb-client's v2 WriteApi (path, org, bucket, precision, Authorization header, body),
from the v1 ``/write`` path, and how the API is chosen from ``/ping``. That the server
accepts it is proven for v1 by the contract suite on the real influxd 1.6.7.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from greenpipe.model import DeadLetter, Meter, MeterKind, Reading, Sector, Site
from greenpipe.stores import Catalog
from greenpipe.stores.influx import InfluxStore, api_for_version, parse_version
from greenpipe.stores.influxql import InfluxError
from tests._influx_http import Recorded, Reply, recording_server

CATALOG = Catalog.of([Meter("f1-main", "factory-1", MeterKind.ELECTRICITY, "kWh")],
                     [Site("factory-1", "Plant", Sector.INDUSTRY, "Asia/Tokyo", "tepco")])
READINGS = [
    Reading("f1-main", "factory-1", datetime(2025, 4, 1, 0, 30, tzinfo=UTC),
            energy_kwh=12.5, register_kwh=1012.5, power_kw=25.0),
    Reading("メーター 1", "工場,A=1", datetime(2025, 4, 1, 1, 0, tzinfo=UTC),
            energy_kwh=3.0, quality=frozenset({"quality.counter_reset"})),
]
# Hand-written line protocol: tags and fields sorted, ms timestamps
# (2025-04-01T00:30Z = 1743467400 s), escaped space, comma and '='.
EXPECTED_BODY = (
    "energy,kind=electricity,meter=f1-main,sector=industry,site=factory-1 "
    'energy_kwh=12.5,power_kw=25,quality="",register_kwh=1012.5 1743467400000\n'
    "energy,kind=unknown,meter=メーター\\ 1,sector=unknown,site=工場\\,A\\=1 "
    'energy_kwh=3,quality="quality.counter_reset" 1743469200000'
).encode()


def _writes(requests: list[Recorded]) -> list[Recorded]:
    return [r for r in requests if r.method == "POST"]


def test_stores_influx_v2_protocol_write_request() -> None:
    with recording_server() as server:
        store = InfluxStore(server.store_url("greenpipe"), CATALOG, org="hitachi-city",
                            token="s3cr3t-token", api="v2")
        assert store.write(READINGS) == 2
        store.close()
    (req,) = server.requests
    assert req.method == "POST"
    assert req.path == "/api/v2/write"
    assert req.query == {"org": "hitachi-city", "bucket": "greenpipe", "precision": "ms"}
    assert req.headers["Authorization"] == "Token s3cr3t-token"
    assert req.headers["Content-Type"].startswith("text/plain")
    assert req.body == EXPECTED_BODY


def test_stores_influx_v2_protocol_dead_letters_use_ns_precision() -> None:
    letter = DeadLetter(datetime(2025, 4, 1, tzinfo=UTC), "greenpipe/v1/x", b"\x00\xff",
                        "payload.bad_json", 'bad "json"')
    with recording_server() as server:
        store = InfluxStore(server.store_url("greenpipe"), org="o", token="t", api="v2")
        store.write_dead_letters([letter])
        store.close()
    (req,) = server.requests
    assert req.query["precision"] == "ns"
    payload = base64.b64encode(b"\x00\xff").decode()
    assert req.body.decode().startswith(
        f'dead_letter code="payload.bad_json",payload_b64="{payload}",'
        'reason="bad \\"json\\"",topic="greenpipe/v1/x" 17434656000000000')


def test_v1_write_request_with_basic_auth() -> None:
    with recording_server() as server:
        store = InfluxStore(server.store_url("greenpipe"), CATALOG, token="user:pa:ss",
                            api="v1")
        store.write(READINGS)
        store.close()
    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/write")
    assert req.query == {"db": "greenpipe", "precision": "ms"}
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert req.body == EXPECTED_BODY


@pytest.mark.parametrize(
    ("version", "path"),
    [("1.6.7~rc0", "/write"), ("1.7.10", "/write"), ("1.8.10", "/api/v2/write"),
     ("v2.7.4", "/api/v2/write"), ("3.0.1", "/api/v2/write")],
)
def test_api_is_detected_from_ping(version: str, path: str) -> None:
    def respond(req: Recorded) -> Reply:
        return 204, {"X-Influxdb-Version": version}, b""

    with recording_server(respond) as server:
        store = InfluxStore(server.store_url("db"), CATALOG, org="o", token="t")
        store.write(READINGS[:1])
        store.write(READINGS[1:])
        store.close()
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/ping"), ("POST", path), ("POST", path)]


def test_parse_version() -> None:
    assert parse_version("1.6.7~rc0") == (1, 6)
    assert parse_version("v2.7.4") == (2, 7)
    assert parse_version("3.0.1-nightly") == (3, 0)
    assert parse_version("garbage") == (0, 0)
    assert api_for_version("1.8.0") == "v2"
    assert api_for_version("garbage") == "v1"


def test_influxdb_2_without_an_org_says_so_and_keeps_the_batch() -> None:
    def respond(req: Recorded) -> Reply:
        return 204, {"X-Influxdb-Version": "v2.7.4"}, b""

    with recording_server(respond) as server:
        store = InfluxStore(server.store_url("db"), CATALOG, token="t")
        with pytest.raises(InfluxError, match="needs the organisation") as info:
            store.write(READINGS)
        store.close()
    assert info.value.retryable is True
    assert [r.path for r in server.requests] == ["/ping"]
