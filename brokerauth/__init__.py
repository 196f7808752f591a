"""Broker credentials: per-site MQTT users, their passwords and the ACL, from the config."""
