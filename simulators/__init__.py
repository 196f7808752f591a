"""Simulated meters: publish realistic readings over MQTT (they know only the wire contract)."""
