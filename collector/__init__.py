"""Collector: turns MQTT messages into stored readings.

Layers, pure logic first and orchestration last:

* ``codes``     — stable reason codes of everything the collector rejects;
* ``decoders``  — payload decoders registered by name (``greenpipe_json`` today);
* ``registers`` — cumulative register -> interval energy, per meter;
* ``pipeline``  — decode, convert, batch and write with retry (no threads, no paho);
* ``service``   — the MQTT subscription, the writer thread, shutdown (``run_collector``).
"""
