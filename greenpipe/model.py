"""The domain model: the types that cross package boundaries.

``Reading`` is the one type the simulators, collector, stores, forecasting and dashboard
agree on. Paho messages, SQLite rows, InfluxDB points and Prophet frames stay inside the
module that wraps them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Sector(StrEnum):
    """Emission-inventory sector of a site (the city vision sets a target per sector)."""

    INDUSTRY = "industry"
    COMMERCIAL = "commercial"
    PUBLIC = "public"
    HOUSEHOLD = "household"
    TRANSPORT = "transport"


class MeterKind(StrEnum):
    """What a meter measures."""

    ELECTRICITY = "electricity"
    GAS = "gas"
    PV = "pv"
    EV_CHARGING = "ev_charging"
    HEAT = "heat"
    WEATHER = "weather"
    PRODUCTION = "production"
    """Production output (units, tonnes, ... as named by the meter's ``unit``), not energy."""


class QualityFlag(StrEnum):
    """Stable codes for data-quality findings attached to a reading."""

    FIRST_READING = "quality.first_reading"
    """No earlier register is known, so the interval energy is unknown (stored as None)."""
    COUNTER_RESET = "quality.counter_reset"
    """The register went backwards (meter replaced or reset); interval energy is unknown."""
    INTERVAL_FORM = "quality.interval_form"
    """The meter sent interval energy, not a cumulative register."""


def require_utc(ts: datetime, what: str = "timestamp") -> datetime:
    """Return ``ts`` converted to UTC, refusing naive datetimes.

    Raises ValueError for a naive datetime: greenpipe never guesses a time zone.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(
            f"{what} {ts.isoformat()} has no UTC offset; pass a timezone-aware datetime "
            "(for example 2025-04-01T09:00:00+09:00)"
        )
    return ts.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Site:
    """A place with meters: a factory, an office building, city hall, a depot."""

    id: str
    name: str
    sector: Sector
    timezone: str
    """IANA time zone name, e.g. ``Asia/Tokyo``; used for local-time features and display."""
    grid_region: str
    """Grid region whose emission factors apply, e.g. ``tepco``."""


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter at a site."""

    id: str
    site: str
    kind: MeterKind
    unit: str
    """Unit of the register as the device reports it (``kWh``, ``Wh``, ``MWh``, ``degC``)."""
    cumulative: bool = True
    """True when the meter reports a cumulative register rather than interval energy."""
    rated_max_power_kw: float | None = None
    """Highest power the meter can plausibly see. [kW]"""
    profile: str | None = None
    """Name of the simulator load profile (only used by ``greenpipe simulate``)."""
    nominal_kw: float | None = None
    """Typical full-load power (or PV peak power) the simulator scales its profile to. [kW]"""
    nominal_output_per_h: float | None = None
    """Production meters only: output per hour at full load, for the simulator. [unit/h]"""


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored measurement of one meter at one instant.

    ``ts`` is the instant the meter read its register; ``energy_kwh`` is the energy of the
    interval that ends at ``ts`` (since the meter's previous reading).
    """

    meter_id: str
    site_id: str
    ts: datetime
    """Instant of the reading, timezone-aware UTC."""
    energy_kwh: float | None = None
    """Energy delivered in the interval ending at ``ts``; None when unknown. [kWh]"""
    register_kwh: float | None = None
    """Cumulative register at ``ts``. [kWh]"""
    power_kw: float | None = None
    """Instantaneous (or interval-average) power at ``ts``. [kW]"""
    temp_air_c: float | None = None
    """Outdoor air temperature, for weather stations. [°C]"""
    quality: frozenset[str] = field(default_factory=frozenset)
    """Stable quality codes (see ``QualityFlag``)."""

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() != timedelta(0):
            raise ValueError(
                f"Reading.ts must be timezone-aware UTC, got {self.ts.isoformat()}; "
                "convert with greenpipe.model.require_utc()"
            )
        for name in ("energy_kwh", "register_kwh", "power_kw", "temp_air_c"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"Reading.{name} must be finite, got {value!r}")


@dataclass(frozen=True, slots=True)
class ProductionRecord:
    """Production output of one production meter in the interval ending at ``ts``.

    Stored apart from energy readings (table / measurement ``production``): it is a
    quantity in the meter's own unit, never kWh.
    """

    meter_id: str
    site_id: str
    ts: datetime
    """End of the production interval, timezone-aware UTC."""
    quantity: float
    """Output in the interval, in the production meter's configured unit. [unit]"""

    def __post_init__(self) -> None:
        if self.ts.tzinfo is None or self.ts.utcoffset() != timedelta(0):
            raise ValueError(
                f"ProductionRecord.ts must be timezone-aware UTC, got {self.ts.isoformat()}"
            )
        if not math.isfinite(self.quantity) or self.quantity < 0:
            raise ValueError(
                f"ProductionRecord.quantity must be a finite number >= 0, got {self.quantity!r}"
            )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the collector could not turn into readings, kept with the reason."""

    received_at: datetime
    """When the collector received the message, timezone-aware UTC."""
    topic: str
    payload: bytes
    """The raw payload exactly as received."""
    code: str
    """Stable reason code, e.g. ``payload.bad_json``."""
    reason: str
    """Human-readable explanation of what was wrong."""


@dataclass(frozen=True, slots=True)
class SequenceState:
    """What the collector knows of one meter's message sequence numbers (``seq``).

    It counts the messages lost upstream of the collector (by the meter's network, a
    gateway or the broker): the collector keeps it in the store with the readings, so a
    restart continues the count and the dashboard and ``greenpipe store stats`` can show
    it. The counting rule is ``collector.sequence``'s (documented in docs/collector.md).
    """

    meter_id: str
    site_id: str
    high_seq: int
    """Highest ``seq`` seen since the meter last (re)started."""
    high_ts: datetime
    """Timestamp of the message that carried ``high_seq``, aware UTC."""
    epoch_ts: datetime
    """Timestamp of the first message seen since the meter last (re)started, aware UTC."""
    messages: int = 1
    """Messages with a ``seq`` seen, duplicates included (grows with every update)."""
    lost: int = 0
    """Messages missing from the sequence and not (yet) delivered late. [messages]"""
    restarts: int = 0
    """Times the meter's ``seq`` started again (a meter restart)."""
    holes: tuple[tuple[int, int], ...] = ()
    """Missing ``seq`` ranges ``(first, last)`` of the current run that may still arrive."""
    old_holes: tuple[tuple[int, int], ...] = ()
    """Missing ranges of the run before the last restart (late messages still fill them)."""


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What a collector last saw of its broker's own counters (``$SYS``), for display."""

    client_id: str
    """The collector that saw it (``collector.client_id``)."""
    seen_at: datetime
    """When it was seen, aware UTC."""
    dropped: int | None
    """Messages the broker dropped since it started, all clients; None: not published."""
    version: str = ""
    """The broker's version text, empty when it publishes none."""
