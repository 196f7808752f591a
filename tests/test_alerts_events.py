"""AlertEvent: validation, bilingual rendering, and the finding adapter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerts.events import (
    AlertEvent,
    AlertKind,
    Severity,
    channel_test_event,
    format_duration,
    from_finding,
)

JST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class _Finding:
    """Any object with the finding fields will do (the findings package is not imported)."""

    id: str
    code: str
    site: str
    meter: str | None
    annual_co2_t: float
    annual_cost_jpy: float
    proposal_ja: str
    proposal_en: str


FINDING = _Finding("fnd-0001", "waste.off_hours_base_load", "factory-1", "f1-main",
                   41.25, 2_345_678.0, "週末はコンプレッサーを停止する",
                   "Switch the compressors off at weekends")


def test_from_finding_carries_numbers_and_proposal_in_both_languages() -> None:
    ev = from_finding(FINDING, datetime(2025, 6, 1, 9, 0, tzinfo=JST), link="http://d/f")
    assert ev.kind == AlertKind.NEW_FINDING
    assert ev.key == "finding:fnd-0001"
    assert ev.ts == datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
    assert ev.ts.tzinfo == UTC
    assert dict(ev.numbers) == {"annual_co2_t": 41.25, "annual_cost_jpy": 2_345_678.0}
    assert (ev.site, ev.meter) == ("factory-1", "f1-main")
    assert ev.title() == ("[greenpipe] 新しい課題 waste.off_hours_base_load (factory-1/f1-main)"
                          " / New finding waste.off_hours_base_load (factory-1/f1-main)")
    assert "年間 41.2 t-CO2、2,345,678 円" in ev.body_ja
    assert "提案: 週末はコンプレッサーを停止する" in ev.body_ja
    assert "41.2 t-CO2 and JPY 2,345,678 a year" in ev.body_en
    assert "Proposal: Switch the compressors off at weekends" in ev.body_en
    body = ev.body()
    assert body.index(ev.body_ja) < body.index(ev.body_en) < body.index("http://d/f")
    assert ev.as_json_dict()["numbers"] == {"annual_co2_t": 41.25, "annual_cost_jpy": 2345678.0}


def test_site_level_finding_names_the_site_only() -> None:
    ev = from_finding(_Finding("x", "demand.peak", "mall-1", None, 1.0, 2.0, "ja", "en"),
                      datetime(2025, 6, 1, tzinfo=UTC))
    assert ev.title_en == "New finding demand.peak (mall-1)"


def test_event_refuses_naive_time_empty_key_and_non_finite_numbers() -> None:
    base = dict(kind=AlertKind.TEST, key="k", severity=Severity.INFO, title_ja="t",
                title_en="t", body_ja="b", body_en="b", ts=datetime(2025, 6, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="no UTC offset"):
        AlertEvent(**{**base, "ts": datetime(2025, 6, 1)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="de-duplication key"):
        AlertEvent(**{**base, "key": " "})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        AlertEvent(**{**base, "numbers": {"x": float("nan")}})  # type: ignore[arg-type]
    ev = AlertEvent(**base)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ev.numbers["y"] = 1.0  # type: ignore[index]


def test_test_event_and_durations() -> None:
    ev = channel_test_event(datetime(2025, 6, 1, 0, 0, 0, 500, tzinfo=UTC))
    assert ev.key == "test:2025-06-01T00:00:00+00:00"
    assert "テスト" in ev.title_ja and "Test" in ev.title_en
    assert format_duration(600) == ("10 分", "10 min")
    assert format_duration(5400) == ("1.5 時間", "1.5 h")
    assert format_duration(3 * 86400) == ("3.0 日", "3.0 d")
