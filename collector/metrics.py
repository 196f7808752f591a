"""Observability: a Prometheus endpoint (``/metrics``), a liveness check (``/healthz``) and
JSON log lines.

Counts are not kept twice: at every scrape a custom prometheus-client collector reads the
collector's thread-safe ``CollectorReport`` and per-meter last-seen times, so the endpoint
always agrees with the summary log. Only the write-latency histogram is observed as writes
happen. Each ``Collector`` has its own registry, so several can run in one process (tests).

Metric names (all prefixed ``greenpipe_collector_``) are listed in ``docs/collector.md``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as _PromCollector

from collector.pipeline import CollectorReport

log = logging.getLogger(__name__)

PREFIX = "greenpipe_collector"
WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
"""Histogram buckets of store write latency. [s]"""


class _Snapshot(_PromCollector):
    """Reads the collector's counts at scrape time."""

    def __init__(self, report: Callable[[], CollectorReport],
                 last_seen: Callable[[], Mapping[str, datetime]],
                 gauges: Callable[[], Mapping[str, float]],
                 clock: Callable[[], datetime]) -> None:
        self._report = report
        self._last_seen = last_seen
        self._gauges = gauges
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        r = self._report()
        for name, value, doc in (
            ("messages_received", r.received, "MQTT messages received."),
            ("readings_written", r.written, "Readings written to the store (or spool)."),
            ("dead_letters_written", r.dead_letters, "Dead letters written."),
            ("duplicates", r.duplicates, "Redelivered or duplicate readings (not rewritten)."),
            ("skipped", r.skipped, "Device messages without energy (e.g. status/sys), skipped."),
            ("forwarded", r.forwarded, "Messages passed to the group member owning the meter."),
            ("unwritten", r.unwritten, "Readings or dead letters lost at shutdown (logged)."),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)
        yield CounterMetricFamily(f"{PREFIX}_messages_decoded",
                                  "Messages their decoder accepted.", value=r.decoded)
        rejected = CounterMetricFamily(f"{PREFIX}_rejected",
                                       "Rejected messages or samples, by reason code.",
                                       labels=["reason"])
        for code, n in r.rejected.items():
            rejected.add_metric([code], n)
        yield rejected
        quality = CounterMetricFamily(f"{PREFIX}_quality_flags",
                                      "Quality flags on written readings, by code.",
                                      labels=["code"])
        for code, n in r.quality.items():
            quality.add_metric([code], n)
        yield quality
        for name, level in self._gauges().items():
            yield GaugeMetricFamily(f"{PREFIX}_{name}", name.replace("_", " ") + ".",
                                    value=level)
        lost = GaugeMetricFamily(
            f"{PREFIX}_upstream_lost_messages",
            "Messages each meter sent that never reached the collector (missing seq numbers, "
            "late arrivals subtracted; persisted in the store).", labels=["meter"])
        for meter, n in r.upstream_lost.items():
            lost.add_metric([meter], n)
        yield lost
        if r.broker_dropped is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_broker_dropped_messages",
                "Messages the broker dropped since it started, all clients "
                "($SYS/broker/publish/messages/dropped).", value=r.broker_dropped)
        now = self._clock()
        seen = GaugeMetricFamily(f"{PREFIX}_meter_last_seen_age_seconds",
                                 "Seconds since each meter's last decoded message.",
                                 labels=["meter"])
        for meter, at in sorted(self._last_seen().items()):
            seen.add_metric([meter], max(0.0, (now - at).total_seconds()))
        yield seen


class Metrics:
    """The registry of one collector plus the optional HTTP server that exposes it."""

    def __init__(self, report: Callable[[], CollectorReport],
                 last_seen: Callable[[], Mapping[str, datetime]],
                 gauges: Callable[[], Mapping[str, float]],
                 healthy: Callable[[], tuple[bool, str]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Register the scrape-time snapshot and the write-latency histogram."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Snapshot(report, last_seen, gauges, clock))
        self.write_seconds = Histogram(
            f"{PREFIX}_store_write_seconds", "Latency of store writes (readings batches).",
            registry=self.registry, buckets=WRITE_BUCKETS_S)
        self._healthy = healthy
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def observe_write(self, seconds: float) -> None:
        """Record one store write that took ``seconds``. [s]"""
        self.write_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """Return the Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` and ``/healthz`` on ``host:port`` (0: any free port); return it."""
        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    body, status = metrics.exposition(), 200
                    ctype = "text/plain; version=0.0.4; charset=utf-8"
                elif self.path.split("?")[0] == "/healthz":
                    ok, why = metrics._healthy()
                    body, status, ctype = why.encode(), 200 if ok else 503, "text/plain"
                else:
                    body, status, ctype = b"see /metrics and /healthz\n", 404, "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics http: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="greenpipe-collector-metrics", daemon=True)
        self._thread.start()
        bound = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics, liveness on /healthz", host, bound)
        return bound

    def close(self) -> None:
        """Stop the HTTP server, if one runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: ts, level, logger, msg (+ exc), for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a single-line JSON object."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def use_json_logs() -> None:
    """Switch every handler of the root logger to ``JsonFormatter``."""
    formatter = JsonFormatter()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)

