"""A small InfluxQL reader and HTTP layer for InfluxDB 1.x, 2.x (v1 API) and 3.x.

influxdb-client has no InfluxQL API (its maintainers declined it: influxdb-client-python
issues 178 and 353) and InfluxDB 3 does not run Flux, so greenpipe reads with InfluxQL over
``/query`` on every generation through this module. Every identifier goes through
``quote_ident`` and every string value through ``quote_literal``, so a site or meter name
can never change the shape of a query.

Errors are classified at this boundary (as Telegraf's InfluxDB output does): the server
being down, slow or overloaded is *retryable* (keep the batch); the server refusing the
data is *rejected* (``retryable=False``, with the server's body as the reason).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from greenpipe.errors import StoreError

log = logging.getLogger(__name__)

_IDENT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_LITERAL_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\n": "\\n"})
_MAX_BODY_CHARS = 500
"""How much of a server's error body an error message carries. [characters]"""


def quote_ident(name: str) -> str:
    """Return ``name`` as a double-quoted InfluxQL identifier, escaped."""
    return '"' + str(name).translate(_IDENT_ESCAPES) + '"'


def quote_literal(value: str) -> str:
    """Return ``value`` as a single-quoted InfluxQL string literal, escaped."""
    return "'" + str(value).translate(_LITERAL_ESCAPES) + "'"


def time_literal_ns(ts: datetime) -> str:
    """Return an aware datetime as an InfluxQL epoch literal in nanoseconds."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{ts.isoformat()} has no UTC offset; pass an aware datetime")
    return str(ms_of(ts) * 1_000_000)


def ms_of(ts: datetime) -> int:
    """Return an aware datetime as integer milliseconds since the epoch (rounded)."""
    return round(ts.timestamp() * 1000)


class InfluxError(StoreError):
    """An InfluxDB request failed; carries the HTTP status, body and Retry-After."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        body: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.body = body
        self.retry_after_s = retry_after_s
        """How long the server asked us to wait before retrying (429/503). [s]"""


def _retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    raw = None
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        # An HTTP-date is allowed too; without a clock comparison a short wait is safest.
        return 1.0


def classify_http_error(
    status: int, body: bytes | str | None, headers: Mapping[str, str] | None, what: str
) -> InfluxError:
    """Turn an unsuccessful HTTP response into an InfluxError, retryable or rejected.

    5xx and 429 are retryable (429/503 carry Retry-After). 401, 403 and 404 mean the
    store is misconfigured (token, permissions, missing database): the data is fine, so
    they are retryable too and the message says how to fix the configuration. Any other
    4xx means the server rejected the data itself: not retryable, with the server's body.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    text = text.strip()[:_MAX_BODY_CHARS]
    retry_after = _retry_after_s(headers)
    if status == 429 or status >= 500:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        return InfluxError(
            f"{what} failed with HTTP {status} (server busy or down){wait}: {text}",
            retryable=True, status=status, body=text, retry_after_s=retry_after,
        )
    if status == 401:
        fix = ("the token was rejected; set GREENPIPE_INFLUX_TOKEN or store.token_file to "
               "a valid token (user:password for InfluxDB 1.x)")
    elif status == 403:
        fix = "the token lacks permission; grant it read and write on the bucket"
    elif status == 404:
        fix = "the database or bucket does not exist; run `greenpipe db init`"
    else:
        return InfluxError(
            f"{what} was rejected with HTTP {status}: {text}",
            retryable=False, status=status, body=text,
        )
    return InfluxError(f"{what} failed with HTTP {status}: {fix} ({text})",
                       retryable=True, status=status, body=text)


@dataclass
class Series:
    """One series of an InfluxQL result: name, tags, columns and rows."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]] = field(default_factory=list)


def auth_header(token: str | None) -> dict[str, str]:
    """Return the Authorization header for a token (``user:password`` means Basic auth)."""
    if not token:
        return {}
    if ":" in token:
        # InfluxDB 1.x users; 1.0-1.7 understand only Basic auth (or u/p parameters).
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": "Token " + token}


class InfluxHttp:
    """HTTP access to one InfluxDB server: ping, v1 write and InfluxQL query."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float,
                 verify_tls: bool = True) -> None:
        """Prepare a connection pool to ``base_url`` (no request is made yet)."""
        self.base_url = base_url.rstrip("/")
        self._headers = auth_header(token)
        self._timeout = urllib3.Timeout(connect=min(timeout_s, 5.0), read=timeout_s)
        self._pool = urllib3.PoolManager(
            num_pools=2, maxsize=4, retries=False,
            cert_reqs="CERT_REQUIRED" if verify_tls else "CERT_NONE",
        )

    def request(
        self, method: str, path: str, what: str, *, params: Mapping[str, str] | None = None,
        body: bytes | None = None, headers: Mapping[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; translate transport failures into retryable InfluxErrors."""
        url = self.base_url + path + ("?" + urlencode(params) if params else "")
        try:
            return self._pool.request(
                method, url, body=body, headers={**self._headers, **(headers or {})},
                timeout=self._timeout, redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise InfluxError(
                f"{what}: cannot reach InfluxDB at {self.base_url} ({reason}); check the host "
                "and port in store.url and that the server is running",
                retryable=True,
            ) from exc

    def close(self) -> None:
        """Close pooled connections."""
        self._pool.clear()

    def ping(self) -> str:
        """Return the server's version (X-Influxdb-Version header of ``/ping``)."""
        resp = self.request("GET", "/ping", "ping")
        if resp.status >= 300:
            raise classify_http_error(resp.status, resp.data, resp.headers, "ping")
        version = resp.headers.get("X-Influxdb-Version")
        if not version:
            raise InfluxError(
                f"{self.base_url}/ping answered without an X-Influxdb-Version header, so it is "
                "not an InfluxDB server; check the host and port in store.url",
                retryable=False, status=resp.status,
            )
        return version

    def write_v1(self, database: str, lines: Sequence[str], precision: str = "ms") -> None:
        """POST line protocol to the v1 ``/write`` endpoint."""
        resp = self.request(
            "POST", "/write", f"write of {len(lines)} points to {database!r}",
            params={"db": database, "precision": precision},
            body="\n".join(lines).encode("utf-8"),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if resp.status >= 300:
            raise classify_http_error(resp.status, resp.data, resp.headers,
                                      f"write of {len(lines)} points to {database!r}")

    def query(self, database: str | None, statements: str, epoch: str = "ms") -> list[list[Series]]:
        """Run InfluxQL statements (``;``-separated); return the series of each statement.

        Uses POST with a form body (works for reads and writes on 1.x, 2.x and 3.x) and
        chunked responses, merging the chunks of each series.
        """
        params = {"epoch": epoch, "chunked": "true", "chunk_size": "10000"}
        if database is not None:
            params["db"] = database
        what = f"InfluxQL query on {database!r}"
        resp = self.request(
            "POST", "/query", what, params=params,
            body=urlencode({"q": statements}).encode("utf-8"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if resp.status >= 300:
            raise classify_http_error(resp.status, resp.data, resp.headers, what)
        return _parse_results(resp.data.decode("utf-8"), what, statements)


def _documents(text: str, what: str) -> list[Any]:
    """The JSON documents of a (chunked) ``/query`` answer, in order.

    InfluxDB writes each chunk as one line of compact JSON, so the lines are parsed with
    orjson (3-4x faster than the standard library: JSON parsing was a tenth of the
    InfluxDB Overview's cold run, docs/BENCHMARKS.md); an answer that is not one document
    a line is read with the standard library's incremental decoder."""
    try:
        return [orjson.loads(line) for line in text.split("\n") if line.strip()]
    except orjson.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InfluxError(f"{what}: the server sent invalid JSON ({exc})",
                              retryable=True) from exc
        docs.append(doc)


def _parse_results(text: str, what: str, statements: str) -> list[list[Series]]:
    by_statement: dict[int, dict[tuple[str, tuple[tuple[str, str], ...]], Series]] = {}
    for doc in _documents(text, what):
        if not isinstance(doc, dict):
            raise InfluxError(f"{what}: the server sent JSON that is not an object",
                              retryable=True)
        if "error" in doc:
            raise _query_error(str(doc["error"]), what, statements)
        for result in doc.get("results", []):
            sid = int(result.get("statement_id", 0))
            merged = by_statement.setdefault(sid, {})
            if "error" in result:
                raise _query_error(str(result["error"]), what, statements)
            for s in result.get("series", []):
                tags = {str(k): str(v) for k, v in (s.get("tags") or {}).items()}
                key = (str(s.get("name", "")), tuple(sorted(tags.items())))
                series = merged.get(key)
                if series is None:
                    series = merged[key] = Series(key[0], tags, list(s.get("columns", [])))
                series.values.extend(s.get("values") or [])
    count = max(by_statement, default=-1) + 1
    return [list(by_statement.get(i, {}).values()) for i in range(count)]


_NOT_FOUND = re.compile(r"database not found|bucket .*not found|not found: database", re.I)


def _query_error(message: str, what: str, statements: str) -> InfluxError:
    if _NOT_FOUND.search(message):
        return InfluxError(f"{what}: {message}; run `greenpipe db init` to create it",
                           retryable=True, status=404, body=message)
    log.debug("failed InfluxQL: %s", statements)
    return InfluxError(f"{what} failed: {message}", retryable=False, body=message)
