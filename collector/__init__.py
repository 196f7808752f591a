"""Collector: turns MQTT messages into stored readings, losing nothing (docs/collector.md).

Layers, pure logic first and orchestration last:

* ``codes``     — stable reason and quality codes of everything the collector finds;
* ``decoders``  — payload decoders registered by name (``greenpipe_json``) and shared checks;
* ``devices``   — Tasmota, Shelly Gen2 and JSON-path decoders, unit normalisation;
* ``registers`` — cumulative register -> interval energy and the data-quality rules;
* ``stateless`` — the same rules applied inside the SQLite store's write transaction
  (late readings; stateless members of a shared subscription);
* ``pipeline``  — decode, convert, batch and write with retry (no threads, no paho);
* ``spool``     — durable SQLite buffer in front of the store while it is down;
* ``sharing``   — shared-subscription groups; one owner per meter for InfluxDB;
* ``metrics``   — Prometheus ``/metrics``, ``/healthz`` and JSON logs;
* ``service``   — MQTT session with manual acks, the writer thread, shutdown.
"""
