"""``Finding``: one concrete energy problem with its evidence, cost and proposed measure.

The record lives in the core (not in the ``findings`` package that produces it) because the
stores persist it and the core imports no feature package; ``findings`` re-exports it.

A finding keeps its ``id`` across runs: the id is a hash of the detector ``code``, the
``meter`` and a detector-specific ``key`` (e.g. the measure id), never of dates or numbers
that move from run to run. Its ``status`` (new, acknowledged, resolved, dismissed) is set
by people through ``greenpipe findings ack|resolve|dismiss`` or the dashboard, and survives
re-runs (``findings.lifecycle.merge``).

Stored as table / measurement ``finding``, one row per id: ``finding_to_row`` and
``finding_from_row`` flatten it to str/int/float/None (timestamps as epoch ms, evidence as
JSON text), as ``greenpipe.results`` does for forecast records.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

FINDINGS_TABLE = "finding"


class FindingStatus(StrEnum):
    """Where a finding stands with the people who act on it."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class Confidence(StrEnum):
    """How sure the detector is, from the strength and persistence of the evidence."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


CONFIDENCE_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


def finding_id(code: str, meter: str, key: str = "") -> str:
    """Return the stable id of a finding: ``F-`` and 10 hex digits of (code, meter, key)."""
    digest = hashlib.sha1(f"{code}\x1f{meter}\x1f{key}".encode()).hexdigest()
    return f"F-{digest[:10]}"


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem found in meter data, with evidence, annual cost and a proposed measure."""

    id: str
    code: str
    """Stable detector code, e.g. ``waste.off_hours_base_load``."""
    site: str
    meter: str
    start: datetime
    """When the problem began (or the start of the evidence window), aware UTC."""
    end: datetime
    """End of the evidence (the run's as-of), aware UTC."""
    annual_kwh: float
    """Energy the problem costs per year if left alone. [kWh/a]"""
    annual_co2_t: float
    """Emissions it causes per year (annual_kwh × the meter's factor). [t-CO2/a]"""
    annual_cost_jpy: float
    """What it costs per year at the configured tariff (energy and demand charges). [¥/a]"""
    confidence: str
    """``low``, ``medium`` or ``high`` (``Confidence``)."""
    proposal_ja: str
    proposal_en: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """The numbers that prove it (JSON-serialisable; units in the key names)."""
    key: str = ""
    """Detector-specific discriminator inside (code, meter), e.g. a measure id."""
    status: str = FindingStatus.NEW.value
    status_by: str = "finder"
    """Who set the status (a user name, or ``finder`` when a run opened or reopened it)."""
    status_at: datetime | None = None
    """When the status was set, aware UTC."""
    status_note: str = ""
    first_seen: datetime | None = None
    """The run that first found it, aware UTC."""
    last_seen: datetime | None = None
    """The newest run that found it, aware UTC."""

    def __post_init__(self) -> None:
        for name in ("start", "end", "status_at", "first_seen", "last_seen"):
            ts = getattr(self, name)
            if ts is not None and (ts.tzinfo is None or ts.utcoffset() is None):
                raise ValueError(f"Finding.{name} {ts.isoformat()} must be timezone-aware")
        if self.status not in FindingStatus.__members__.values():
            raise ValueError(f"Finding.status {self.status!r} is not one of "
                             f"{', '.join(s.value for s in FindingStatus)}")
        if self.confidence not in Confidence.__members__.values():
            raise ValueError(f"Finding.confidence {self.confidence!r} is not low/medium/high")

    def as_json_dict(self, tz: str = "UTC") -> dict[str, Any]:
        """Return a JSON-ready dict; timestamps ISO-8601 with the offset of ``tz``."""
        zone = ZoneInfo(tz)
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, datetime):
                v = v.astimezone(zone).isoformat()
            elif isinstance(v, float) and not math.isfinite(v):
                v = None
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        out["proposal"] = {"ja": out.pop("proposal_ja"), "en": out.pop("proposal_en")}
        return out


_TIME_FIELDS = ("start", "end", "status_at", "first_seen", "last_seen")
_FLOAT_FIELDS = ("annual_kwh", "annual_co2_t", "annual_cost_jpy")


def finding_columns() -> list[tuple[str, str]]:
    """Return (column, SQL type) pairs of the ``finding`` table."""
    out = []
    for f in fields(Finding):
        sql = ("INTEGER" if f.name in _TIME_FIELDS else "REAL" if f.name in _FLOAT_FIELDS
               else "TEXT")
        out.append((f.name, sql))
    return out


def finding_to_row(f: Finding) -> dict[str, str | int | float | None]:
    """Flatten a finding: timestamps to epoch ms, evidence to JSON text, NaN to None."""
    row: dict[str, str | int | float | None] = {}
    for fld in fields(f):
        v = getattr(f, fld.name)
        if fld.name in _TIME_FIELDS:
            row[fld.name] = None if v is None else round(v.timestamp() * 1000)
        elif fld.name == "evidence":
            clean = {k: (None if isinstance(x, float) and not math.isfinite(x) else x)
                     for k, x in dict(v).items()}
            row[fld.name] = json.dumps(clean, ensure_ascii=False, sort_keys=True, default=str)
        elif fld.name in _FLOAT_FIELDS:
            row[fld.name] = float(v) if math.isfinite(v) else None
        else:
            row[fld.name] = v
    return row


def finding_from_row(row: Mapping[str, Any]) -> Finding:
    """Rebuild a finding from ``finding_to_row`` output (unknown keys are ignored)."""
    kwargs: dict[str, Any] = {}
    for fld in fields(Finding):
        if fld.name not in row:
            continue
        v = row[fld.name]
        if fld.name in _TIME_FIELDS:
            kwargs[fld.name] = None if v is None else datetime.fromtimestamp(int(v) / 1000, UTC)
        elif fld.name == "evidence":
            kwargs[fld.name] = json.loads(v) if v else {}
        elif fld.name in _FLOAT_FIELDS:
            kwargs[fld.name] = math.nan if v is None else float(v)
        else:
            kwargs[fld.name] = "" if v is None else str(v)
    return Finding(**kwargs)
