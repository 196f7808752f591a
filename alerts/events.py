"""The alert event: one frozen, bilingual message with a stable de-duplication key.

``AlertEvent`` is what every detector hands to delivery and what every channel renders.
``from_finding`` adapts anything shaped like a finding (``FindingLike``), so this package
never imports the findings package: the composition root wires them together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from greenpipe.model import require_utc


class AlertKind(StrEnum):
    """What an alert is about."""

    NEW_FINDING = "new_finding"
    METER_OFFLINE = "meter_offline"
    COLLECTOR_STALL = "collector_stall"
    TEST = "test"
    """``greenpipe alerts test``: checks that a channel delivers."""


class Severity(StrEnum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert, with its title and body in Japanese and English.

    ``key`` is stable across runs for the same underlying problem (the finding id, the
    meter and its last reading, ...): delivery sends a key at most once per channel within
    the de-duplication window.
    """

    kind: AlertKind
    key: str
    severity: Severity
    title_ja: str
    title_en: str
    body_ja: str
    body_en: str
    ts: datetime
    """When the alert condition was observed, timezone-aware UTC."""
    site: str | None = None
    meter: str | None = None
    link: str | None = None
    """Where to look (e.g. the dashboard page), if known."""
    numbers: Mapping[str, float] = field(default_factory=dict)
    """Named quantities behind the alert, units in the names (``annual_co2_t``, ...)."""

    def __post_init__(self) -> None:
        if not self.key.strip():
            raise ValueError("AlertEvent.key must not be empty; it is the de-duplication key")
        object.__setattr__(self, "ts", require_utc(self.ts, "AlertEvent.ts"))
        for name, value in self.numbers.items():
            if not math.isfinite(value):
                raise ValueError(f"AlertEvent.numbers[{name!r}] must be finite, got {value!r}")
        object.__setattr__(self, "numbers", MappingProxyType(dict(self.numbers)))

    def title(self) -> str:
        """Return the one-line title, Japanese first and English beside it."""
        return f"[greenpipe] {self.title_ja} / {self.title_en}"

    def body(self) -> str:
        """Return the plain-text body: Japanese, then English, then the link."""
        parts = [self.body_ja, self.body_en]
        if self.link:
            parts.append(self.link)
        return "\n\n".join(parts)

    def as_json_dict(self) -> dict[str, object]:
        """Return the event as a JSON-ready dict (for ``--json`` output)."""
        return {
            "kind": self.kind.value, "key": self.key, "severity": self.severity.value,
            "title_ja": self.title_ja, "title_en": self.title_en,
            "body_ja": self.body_ja, "body_en": self.body_en, "ts": self.ts.isoformat(),
            "site": self.site, "meter": self.meter, "link": self.link,
            "numbers": dict(self.numbers),
        }


class FindingLike(Protocol):
    """The finding fields an alert needs; any object with them can be adapted."""

    @property
    def id(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def meter(self) -> str | None: ...
    @property
    def annual_co2_t(self) -> float:
        """Estimated annual emissions at stake. [t-CO2]"""
        ...
    @property
    def annual_cost_jpy(self) -> float:
        """Estimated annual cost at stake. [JPY]"""
        ...
    @property
    def proposal_ja(self) -> str: ...
    @property
    def proposal_en(self) -> str: ...


def from_finding(finding: FindingLike, ts: datetime, link: str | None = None,
                 severity: Severity = Severity.WARNING) -> AlertEvent:
    """Return the ``new_finding`` alert of a finding; its key is ``finding:<id>``."""
    where = finding.site if not finding.meter else f"{finding.site}/{finding.meter}"
    co2_t, cost_jpy = float(finding.annual_co2_t), float(finding.annual_cost_jpy)
    return AlertEvent(
        kind=AlertKind.NEW_FINDING, key=f"finding:{finding.id}", severity=severity,
        title_ja=f"新しい課題 {finding.code} ({where})",
        title_en=f"New finding {finding.code} ({where})",
        body_ja=(f"年間 {co2_t:,.1f} t-CO2、{cost_jpy:,.0f} 円の損失の可能性。\n"
                 f"提案: {finding.proposal_ja}\n課題 ID: {finding.id}"),
        body_en=(f"About {co2_t:,.1f} t-CO2 and JPY {cost_jpy:,.0f} a year at stake.\n"
                 f"Proposal: {finding.proposal_en}\nFinding id: {finding.id}"),
        ts=ts, site=finding.site, meter=finding.meter, link=link,
        numbers={"annual_co2_t": co2_t, "annual_cost_jpy": cost_jpy},
    )


def channel_test_event(ts: datetime) -> AlertEvent:
    """Return the message ``greenpipe alerts test`` sends; its key is unique per second."""
    return AlertEvent(
        kind=AlertKind.TEST, key=f"test:{require_utc(ts).isoformat(timespec='seconds')}",
        severity=Severity.INFO,
        title_ja="テスト通知", title_en="Test alert",
        body_ja="greenpipe からのテスト通知です。このチャネルは届いています。",
        body_en="A test alert from greenpipe: this channel delivers.",
        ts=ts,
    )


def format_duration(seconds: float) -> tuple[str, str]:
    """Return a duration as short Japanese and English text, e.g. ``("3.5 時間", "3.5 h")``."""
    td = timedelta(seconds=seconds)
    if td < timedelta(hours=1):
        minutes = seconds / 60
        return f"{minutes:.0f} 分", f"{minutes:.0f} min"
    if td < timedelta(days=2):
        hours = seconds / 3600
        return f"{hours:.1f} 時間", f"{hours:.1f} h"
    days = seconds / 86400
    return f"{days:.1f} 日", f"{days:.1f} d"
