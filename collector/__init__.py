"""Collector: turns MQTT messages into stored readings."""
