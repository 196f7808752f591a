"""Ids and statuses across runs: kept, reopened (not duplicated), changed by people."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from findings.lifecycle import find_by_id, merge, newly_opened, set_status
from greenpipe.errors import GreenpipeError
from greenpipe.finding import Finding, finding_from_row, finding_id, finding_to_row

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def _finding(code: str = "waste.off_hours_base_load", meter: str = "f3-main",
             kwh: float = 1000.0) -> Finding:
    return Finding(finding_id(code, meter), code, "factory-3", meter, T0 - 30 * DAY, T0, kwh,
                   kwh * 0.485 / 1000, kwh * 16, "high", "停止", "Stop",
                   evidence={"excess_kw": 40.0})


def test_ids_are_stable_and_distinct() -> None:
    assert finding_id("demand.peak", "f2-main") == finding_id("demand.peak", "f2-main")
    assert finding_id("demand.peak", "f2-main") != finding_id("demand.peak", "f3-main")
    assert finding_id("measure.underdelivering", "m", "a") != finding_id(
        "measure.underdelivering", "m", "b")
    assert finding_id("demand.peak", "f2-main").startswith("F-")


def test_first_run_opens_new_findings() -> None:
    (f,) = merge([], [_finding()], T0)
    assert (f.status, f.status_by, f.status_at, f.first_seen, f.last_seen) == (
        "new", "finder", T0, T0, T0)


def test_status_survives_reruns_and_numbers_update() -> None:
    (first,) = merge([], [_finding()], T0)
    acked = set_status(first, "acknowledged", "tanaka", T0 + DAY, "業者手配済み")
    (again,) = merge([acked], [_finding(kwh=1200.0)], T0 + 2 * DAY)
    assert again.id == first.id
    assert (again.status, again.status_by, again.status_at, again.status_note) == (
        "acknowledged", "tanaka", T0 + DAY, "業者手配済み")
    assert again.annual_kwh == 1200.0
    assert (again.first_seen, again.last_seen) == (T0, T0 + 2 * DAY)
    dismissed = set_status(first, "dismissed", "sato", T0 + DAY)
    (kept,) = merge([dismissed], [_finding()], T0 + 30 * DAY)
    assert kept.status == "dismissed"


def test_resolved_and_back_is_reopened_not_duplicated() -> None:
    (first,) = merge([], [_finding()], T0)
    resolved = set_status(first, "resolved", "tanaka", T0 + DAY)
    (soon,) = merge([resolved], [_finding()], T0 + 3 * DAY)  # the fix has not shown yet
    assert soon.status == "resolved"
    out = merge([resolved], [_finding()], T0 + 9 * DAY)
    assert len(out) == 1
    (back,) = out
    assert back.id == first.id
    assert (back.status, back.status_by, back.status_at, back.status_note) == (
        "new", "finder", T0 + 9 * DAY, "reopened")
    assert back.first_seen == T0
    assert newly_opened(out) == [back]
    assert newly_opened([soon]) == []


def test_find_by_id_accepts_a_unique_prefix() -> None:
    a = _finding()
    b = _finding(meter="f2-main")
    assert find_by_id([a, b], a.id) == a
    assert find_by_id([a, b], a.id[:8]) == a
    with pytest.raises(GreenpipeError, match="no stored finding"):
        find_by_id([a, b], "F-zzzz")
    with pytest.raises(GreenpipeError, match="matches 2"):
        find_by_id([a, b], "F-")


def test_row_round_trip_and_json_offsets() -> None:
    f = replace(_finding(), status_at=T0, first_seen=T0, last_seen=T0,
                evidence={"excess_kw": 40.25, "nan": float("nan"), "since": "2026-10-01"})
    back = finding_from_row(finding_to_row(f))
    assert back == replace(f, evidence={"excess_kw": 40.25, "nan": None,
                                        "since": "2026-10-01"})
    doc = f.as_json_dict("Asia/Tokyo")
    assert doc["start"] == "2026-10-02T09:00:00+09:00"
    assert doc["proposal"] == {"ja": "停止", "en": "Stop"}
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(f, start=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="status"):
        replace(f, status="open")
