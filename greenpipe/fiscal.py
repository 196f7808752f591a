"""Japanese fiscal years (April–March) in a local IANA time zone.

A fiscal year ``FY2025`` (``2025年度``) runs from 1 April 2025 00:00 to 1 April 2026 00:00
local time (Asia/Tokyo by default). Everything inside greenpipe is UTC; this module is the
one place that turns instants into fiscal years and back.

Boundary convention (matches ``greenpipe.stores.base``): ``fiscal_year_bounds`` returns
``(start_utc, end_utc)`` to pass straight to ``Store.read(start, end, ...)``, which selects
``start < ts <= end``. Because a reading's ``ts`` is the *end* of its interval, the reading
stamped exactly 2025-04-01 00:00 JST (2025-03-31T15:00Z) holds March energy and belongs to
FY2024; use ``fiscal_year(ts, interval_end=True)`` for such reading timestamps and the
default ``interval_end=False`` for instants and bucket labels (a bucket ``b`` covers
``(b, b + width]``, i.e. time after ``b``).

Example::

    >>> from datetime import datetime, UTC
    >>> fiscal_year(datetime(2025, 3, 31, 15, tzinfo=UTC))   # 2025-04-01 00:00 JST
    2025
    >>> fiscal_year(datetime(2025, 3, 31, 15, tzinfo=UTC), interval_end=True)
    2024
    >>> fy_label(2025, "ja")
    '2025年度'
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Tokyo"
FISCAL_YEAR_START_MONTH = 4
"""Japanese fiscal years (年度) start on 1 April."""

__all__ = [
    "DEFAULT_TZ",
    "current_fiscal_year",
    "fiscal_year",
    "fiscal_year_bounds",
    "fiscal_year_fraction",
    "fy_label",
]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as Asia/Tokyo") from None


def fiscal_year(
    when: datetime | date, tz: str = DEFAULT_TZ, *, interval_end: bool = False
) -> int:
    """Return the April–March fiscal year that contains ``when`` in time zone ``tz``.

    ``when`` is an aware datetime (naive ones are refused: ValueError) or a local calendar
    ``date`` (taken as already local to ``tz``). With ``interval_end=True`` a datetime is
    treated as the end of an interval, so an instant exactly on 1 April 00:00 local counts
    in the fiscal year that just ended.
    """
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(
                f"timestamp {when.isoformat()} has no UTC offset; pass an aware datetime"
            )
        local = when.astimezone(_zone(tz))
        if interval_end:
            local = (when - timedelta(microseconds=1)).astimezone(_zone(tz))
        day = local.date()
    else:
        day = when
    return day.year if day.month >= FISCAL_YEAR_START_MONTH else day.year - 1


def fiscal_year_bounds(fy: int, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """Return ``(start_utc, end_utc)``: 1 April ``fy`` 00:00 local to 1 April ``fy + 1``.

    Both are aware UTC datetimes; pass them to ``Store.read`` (range ``start < ts <= end``).
    """
    zone = _zone(tz)
    start = datetime(fy, FISCAL_YEAR_START_MONTH, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(fy + 1, FISCAL_YEAR_START_MONTH, 1, tzinfo=zone).astimezone(UTC)
    return start, end


def fiscal_year_fraction(when: datetime, tz: str = DEFAULT_TZ) -> float:
    """Return the elapsed fraction (0 ≤ f < 1) of the fiscal year containing ``when``."""
    fy = fiscal_year(when, tz)
    start, end = fiscal_year_bounds(fy, tz)
    return (when - start) / (end - start)


def current_fiscal_year(now: datetime | None = None, tz: str = DEFAULT_TZ) -> int:
    """Return the fiscal year containing ``now`` (default: the current instant)."""
    return fiscal_year(now if now is not None else datetime.now(UTC), tz)


def fy_label(fy: int, lang: Literal["ja", "en"] | str = "en") -> str:
    """Return the display label of a fiscal year: ``FY2025`` (en) or ``2025年度`` (ja)."""
    if lang == "ja":
        return f"{fy}年度"
    if lang == "en":
        return f"FY{fy}"
    raise ValueError(f"unknown language {lang!r}; use 'ja' or 'en'")
