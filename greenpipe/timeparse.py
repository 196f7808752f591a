"""Command-line instants and periods: dates mean local midnight, datetimes need an offset.

Shared by every command that takes ``--as-of``, ``--baseline`` or ``--reporting``, so the
rule (never silently assume UTC) is written once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from greenpipe.errors import GreenpipeError

_PERIOD_SPLIT = re.compile(r"^(.+?):(\d{4}-\d{2}-\d{2}.*)$")


def parse_instant(text: str, tz: str, what: str) -> datetime:
    """Parse a date (local midnight in ``tz``) or an ISO-8601 datetime with offset, to UTC."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GreenpipeError(f"{what} {text!r} is not a date (2025-04-01) or an ISO-8601 "
                             "datetime with offset") from None
    if ts.tzinfo is None:
        raise GreenpipeError(f"{what} {text!r} has no UTC offset; add one (e.g. +09:00) or "
                             "give a date, which means local midnight")
    return ts.astimezone(UTC)


def parse_period(text: str, tz: str, what: str) -> tuple[datetime, datetime]:
    """Parse ``START:END`` (END exclusive); dates mean local midnight in ``tz``."""
    m = _PERIOD_SPLIT.match(text.strip())
    if not m:
        raise GreenpipeError(f"{what} {text!r} is not START:END, e.g. 2024-04-01:2025-04-01")
    start = parse_instant(m.group(1), tz, f"{what} start")
    end = parse_instant(m.group(2), tz, f"{what} end")
    if end <= start:
        raise GreenpipeError(f"{what} {text!r}: END must be after START")
    return start, end
