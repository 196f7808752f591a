"""Translations and locale formatting of the dashboard (dashboard/i18n.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from dashboard import i18n
from dashboard.i18n import (
    axis_format,
    fmt_age,
    fmt_date,
    fmt_datetime,
    fmt_month,
    fmt_number,
    fmt_pct,
    kind_label,
    sector_label,
    t,
)
from greenpipe.model import MeterKind, Sector


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    for key in i18n.all_keys():
        ja, en = i18n._S[key]
        assert ja.strip() and en.strip(), key
        assert set(re.findall(r"{(\w+)}", ja)) == set(re.findall(r"{(\w+)}", en)), key


def test_japanese_labels_are_japanese() -> None:
    # Labels differ between languages except for pure units/acronyms like "CV(RMSE) [%]".
    same = [k for k in i18n.all_keys() if i18n._S[k][0] == i18n._S[k][1]]
    assert set(same) <= {"col.co2_t", "col.cvrmse", "col.nmbe"}


def test_every_sector_and_kind_is_translated() -> None:
    for sector in Sector:
        assert sector_label(sector.value, "ja") != sector.value
        assert sector_label(sector.value, "en")
    for kind in MeterKind:
        assert kind_label(kind.value, "ja") != kind.value
    assert sector_label("industry", "ja") == "産業"
    assert kind_label("pv", "en") == "PV"


def test_t_fills_placeholders_and_rejects_unknowns() -> None:
    assert t("ov.header", "ja", city="日立市", fy="2025年度") == "日立市 — 2025年度 進捗"
    assert t("ov.header", "en", city="Hitachi", fy="FY2025") == "Hitachi — FY2025 progress"
    with pytest.raises(KeyError):
        t("no.such.key", "en")
    with pytest.raises(ValueError, match="unsupported language"):
        t("nav.sites", "de")


def test_numbers_and_percentages() -> None:
    assert fmt_number(1234567.891, "ja", 1) == "1,234,567.9"
    assert fmt_number(1234567.891, "en") == "1,234,568"
    assert fmt_number(None, "en") == "–"
    assert fmt_number(float("nan"), "ja") == "–"
    assert fmt_pct(-12.345, "en", signed=True) == "-12.3%"
    assert fmt_pct(5.0, "ja", 0, signed=True) == "+5%"
    assert fmt_pct(None, "ja") == "–"


def test_dates_and_times_show_in_jst() -> None:
    ts = datetime(2025, 3, 31, 15, 0, tzinfo=UTC)  # 2025-04-01 00:00 JST
    assert fmt_datetime(ts, "ja") == "2025/04/01 00:00 JST"
    assert fmt_datetime(ts, "en") == "1 Apr 2025 00:00 JST"
    assert fmt_date(date(2025, 12, 31), "ja") == "2025年12月31日"
    assert fmt_date(date(2025, 12, 31), "en") == "31 Dec 2025"
    assert fmt_month(date(2026, 1, 1), "ja") == "2026年1月"
    assert fmt_month(date(2026, 1, 1), "ja", short=True) == "2026/1"
    assert fmt_month(date(2026, 1, 1), "en") == "Jan 2026"
    with pytest.raises(ValueError, match="no UTC offset"):
        fmt_datetime(datetime(2025, 4, 1), "ja")


def test_ages() -> None:
    assert fmt_age(59, "ja") == "0分前"
    assert fmt_age(125, "en") == "2 min ago"
    assert fmt_age(3 * 3600 + 5, "ja") == "3時間前"
    assert fmt_age(5 * 86400, "en") == "5 days ago"


def test_axis_formats() -> None:
    assert axis_format("ja", "day") == "{M}/{d}"
    assert axis_format("en", "time") == "{d} {MMM} {HH}:{mm}"
