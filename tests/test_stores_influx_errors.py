"""Error classification of InfluxStore writes, on both write paths.

A local HTTP endpoint answers as an overloaded, failing or refusing InfluxDB would
(500, 503, 429 with Retry-After, 400, 401, 404, 413); retryable errors keep the batch,
rejected ones carry the server's body so the collector can dead-letter with the reason.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from greenpipe.errors import StoreError
from greenpipe.model import Reading
from greenpipe.net import free_loopback_port
from greenpipe.stores.influx import InfluxStore
from greenpipe.stores.influxql import InfluxError
from tests._influx_http import Recorded, Reply, recording_server

T0 = datetime(2025, 4, 1, tzinfo=UTC)
READINGS = [Reading("m1", "s1", T0 + timedelta(minutes=i), energy_kwh=float(i))
            for i in range(1, 6)]
API = pytest.mark.parametrize("api", ["v1", "v2"])


def _fixed(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> object:
    def respond(_: Recorded) -> Reply:
        return status, headers or {}, body
    return respond


def _write(api: str, respond: object, readings: list[Reading] = READINGS,
           timeout_s: float = 10.0) -> tuple[InfluxError, list[Recorded]]:
    with recording_server(respond) as server:  # type: ignore[arg-type]
        store = InfluxStore(server.store_url("db"), org="o", token="t", api=api,
                            timeout_s=timeout_s)
        with pytest.raises(InfluxError) as info:
            store.write(readings)
        store.close()
    return info.value, server.requests


@API
def test_5xx_is_retryable(api: str) -> None:
    err, reqs = _write(api, _fixed(500, body=b'{"error":"engine: cache full"}'))
    assert err.retryable and err.status == 500
    assert "cache full" in str(err)
    assert len(reqs) == 1


@API
def test_429_is_retryable_and_carries_retry_after(api: str) -> None:
    err, _ = _write(api, _fixed(429, {"Retry-After": "7"}, b"slow down"))
    assert err.retryable and err.status == 429 and err.retry_after_s == 7.0
    assert "retry after 7 s" in str(err)


@API
def test_503_with_retry_after(api: str) -> None:
    err, _ = _write(api, _fixed(503, {"Retry-After": "2"}))
    assert err.retryable and err.retry_after_s == 2.0


@API
def test_400_is_rejected_with_the_body(api: str) -> None:
    body = b'{"error":"partial write: field type conflict: input field \\"energy_kwh\\""}'
    err, _ = _write(api, _fixed(400, body=body))
    assert isinstance(err, StoreError)
    assert err.retryable is False and err.status == 400
    assert "field type conflict" in err.body and "field type conflict" in str(err)


@API
@pytest.mark.parametrize(("status", "hint"), [(401, "token"), (403, "permission"),
                                              (404, "greenpipe db init")])
def test_configuration_errors_keep_the_batch(api: str, status: int, hint: str) -> None:
    err, _ = _write(api, _fixed(status, body=b'{"message":"nope"}'))
    assert err.retryable is True and err.status == status
    assert hint in str(err)


@API
def test_413_splits_the_batch_into_halves(api: str) -> None:
    accepted: list[bytes] = []
    lock = threading.Lock()

    def respond(req: Recorded) -> Reply:
        lines = req.body.split(b"\n")
        if len(lines) > 2:
            return 413, {}, b'{"error":"Request Entity Too Large"}'
        with lock:
            accepted.extend(lines)
        return 204, {}, b""

    with recording_server(respond) as server:
        store = InfluxStore(server.store_url("db"), token="t", org="o", api=api)
        assert store.write(READINGS) == 5
        expected = store.reading_lines(READINGS)
        store.close()
    assert [r.body.count(b"\n") + 1 for r in server.requests] == [5, 2, 3, 1, 2]
    assert [line.decode() for line in accepted] == expected


@API
def test_413_for_a_single_point_is_rejected(api: str) -> None:
    err, reqs = _write(api, _fixed(413, body=b"too large"), READINGS[:2])
    assert err.retryable is False and err.status == 413
    assert [r.body.count(b"\n") + 1 for r in reqs] == [2, 1]


@API
def test_timeout_is_retryable(api: str) -> None:
    release = threading.Event()

    def respond(_: Recorded) -> Reply:
        release.wait(5)
        return 204, {}, b""

    try:
        err, _ = _write(api, respond, timeout_s=0.3)
    finally:
        release.set()
    assert err.retryable is True


@API
def test_connection_refused_is_retryable(api: str) -> None:
    store = InfluxStore(f"influxdb://127.0.0.1:{free_loopback_port()}/db", token="t",
                        org="o", api=api)
    with pytest.raises(InfluxError) as info:
        store.write(READINGS)
    assert info.value.retryable is True
    assert "cannot reach InfluxDB" in str(info.value)


@pytest.mark.parametrize("bad", ["line\nbreak", "tab\there", "back\\slash", "cr\r", ""])
def test_names_line_protocol_cannot_carry_are_refused(bad: str) -> None:
    with recording_server() as server:
        store = InfluxStore(server.store_url("db"), token="t", api="v1")
        for meter, site in ((bad, "s1"), ("m1", bad)):
            with pytest.raises(StoreError) as info:
                store.write([READINGS[0], Reading(meter, site, T0, energy_kwh=1.0)])
            assert info.value.retryable is False
            assert "id" in str(info.value)
        store.close()
    assert server.requests == []


@pytest.mark.parametrize("separator", ["\n", "", " \r\n"])
def test_query_answers_in_chunks_merge_per_series_and_bad_json_is_retryable(
        separator: str) -> None:
    """A chunked /query answer is one JSON document a line (parsed with orjson); documents
    not split by newlines are read too; a series split over chunks is merged; an answer
    that is not JSON is a retryable InfluxError, not a traceback."""
    chunks = ['{"results":[{"statement_id":0,"series":[{"name":"energy","tags":{"meter":"m1"},'
              '"columns":["time","n"],"values":[[1,2]]}],"partial":true}]}',
              '{"results":[{"statement_id":0,"series":[{"name":"energy","tags":{"meter":"m1"},'
              '"columns":["time","n"],"values":[[3,4]]}]},{"statement_id":1}]}']
    body = (separator.join(chunks) + "\n").encode()
    with recording_server(_fixed(200, {"Content-Type": "application/json"}, body)) as server:
        store = InfluxStore(server.store_url("db"), api="v1")
        results = store.query("SELECT n FROM energy GROUP BY meter; SELECT 1")
        assert [[(s.tags, s.values) for s in r] for r in results] == [
            [({"meter": "m1"}, [[1, 2], [3, 4]])], []]
    with recording_server(_fixed(200, {}, b'{"results": [')) as server:
        with pytest.raises(InfluxError, match="invalid JSON") as info:
            InfluxStore(server.store_url("db"), api="v1").query("SELECT 1")
        assert info.value.retryable
