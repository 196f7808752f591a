"""Stable reason codes for everything the collector rejects.

A rejected message becomes a ``DeadLetter`` whose ``code`` is one of these; the collector
counts rejections by code (and issue 4 exports them as Prometheus labels), so a code is a
public identifier: add new ones, never rename or reuse one. Quality findings that stay
attached to a stored reading are ``greenpipe.model.QualityFlag`` or ``QualityCode`` members.
"""

from __future__ import annotations

from enum import StrEnum


class RejectCode(StrEnum):
    """Why a message (or one sample of it) did not become a stored reading."""

    BAD_TOPIC = "payload.bad_topic"
    """The topic is not a reading topic this decoder understands."""
    UNKNOWN_METER = "payload.unknown_meter"
    """The meter named by the topic is not in the configuration."""
    SITE_MISMATCH = "payload.site_mismatch"
    """The topic names a different site than the configuration gives the meter."""
    NOT_UTF8 = "payload.not_utf8"
    """The payload bytes are not valid UTF-8."""
    BAD_JSON = "payload.bad_json"
    """The payload is not valid JSON."""
    NOT_OBJECT = "payload.not_object"
    """The payload is JSON but not an object."""
    MISSING_FIELD = "payload.missing_field"
    """A required field (``ts``, or one of the value forms) is absent."""
    AMBIGUOUS_FORM = "payload.ambiguous_form"
    """More than one of ``register_kwh`` / ``energy_kwh`` / ``temp_air_c`` is present."""
    WRONG_FORM = "payload.wrong_form"
    """The value form does not fit the meter kind (e.g. ``temp_air_c`` from an energy meter)."""
    WRONG_TYPE = "payload.wrong_type"
    """A field has the wrong JSON type (e.g. a string where a number belongs)."""
    NOT_FINITE = "payload.not_finite"
    """A number is NaN, infinite or too large to represent."""
    NEGATIVE_REGISTER = "payload.negative_register"
    """A cumulative register is below zero."""
    NAIVE_TIMESTAMP = "payload.naive_timestamp"
    """An ISO-8601 timestamp has no UTC offset; greenpipe never guesses a time zone."""
    BAD_TIMESTAMP = "payload.bad_timestamp"
    """The timestamp is neither ISO-8601 nor integer epoch milliseconds."""
    TIMESTAMP_OUT_OF_RANGE = "payload.timestamp_out_of_range"
    """The timestamp is outside the years greenpipe accepts (an unsynchronised clock)."""
    INTERNAL_ERROR = "payload.internal_error"
    """The collector failed unexpectedly on this message (a bug); the reason holds the repr."""
    OUT_OF_ORDER = "quality.out_of_order"
    """Older than the newest register the collector holds for the meter."""
    DUPLICATE_CONFLICT = "quality.duplicate_conflict"
    """Same meter and timestamp as an earlier reading, but a different register."""
    STORE_REJECTED = "store.rejected"
    """The store refused the reading itself (a non-retryable write error)."""
    FUTURE_TIMESTAMP = "quality.future_timestamp"
    """Later than the collector's clock plus ``collector.future_tolerance_s`` (a meter clock
    running ahead); the reason gives both instants."""
    BATCH_TOO_LARGE = "payload.batch_too_large"
    """A batch upload (``.../readings``) carries more readings or bytes than the collector
    takes in one message (``greenpipe.wire.MAX_BATCH_READINGS`` / ``MAX_BATCH_BYTES``)."""
    NOT_ARRAY = "payload.not_array"
    """A batch upload is JSON but not an array of readings."""


class QualityCode(StrEnum):
    """Quality findings the collector attaches to stored readings (besides ``QualityFlag``).

    Stable public identifiers like ``RejectCode``; the collector counts them per code.
    """

    SPIKE = "quality.spike"
    """Average power over the interval (or ``power_kw``) above the meter's
    ``rated_max_power_kw``: the energy (or power) is kept out, stored as unknown."""
    ROLLOVER = "quality.counter_rollover"
    """The register wrapped past a power of ten; the energy counts across the wrap."""
    GAP = "quality.gap"
    """The interval is longer than ``collector.gap_after_s`` (readings are missing); its
    energy is still exact, the register bridges the gap."""
    LATE = "quality.late"
    """Arrived after a later reading; the interval was re-split and the next one rewritten."""
