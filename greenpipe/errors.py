"""The greenpipe error hierarchy.

Every message says what was wrong and what to do about it. Third-party exceptions are
translated into these at the module boundary that wraps the library.
"""

from __future__ import annotations


class GreenpipeError(Exception):
    """Base class of every error greenpipe raises on purpose."""


class ConfigError(GreenpipeError):
    """The configuration is invalid; the message names the key, the bad value and the fix."""

    def __init__(self, key: str, value: object, fix: str) -> None:
        self.key = key
        self.value = value
        self.fix = fix
        super().__init__(f"config key {key!r} has bad value {value!r}: {fix}")


class StoreError(GreenpipeError):
    """A store operation failed.

    ``retryable`` tells the caller whether keeping the batch and trying again can succeed
    (the store is down or slow) or whether the data itself was rejected.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message)


class PayloadError(GreenpipeError):
    """An MQTT payload could not be decoded into readings.

    ``code`` is a stable, dotted identifier (for example ``payload.bad_json``) that is stored
    with the dead letter and counted by the collector.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class DataSufficiencyError(GreenpipeError):
    """The data is not sufficient for the requested analysis."""


class AccessDeniedError(GreenpipeError):
    """The user's role or organisation does not allow this read or action."""
