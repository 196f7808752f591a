"""Tolerant CSV input: the one place where greenpipe reads time series from CSV files.

Real exports are untidy in a few predictable ways, and every CSV import (``greenpipe
savings``' meter and temperature files, shutdown calendars) handles them alike:

* missing values written as ``nan``, ``NaN``, ``NA``, ``N/A``, ``null``, ``None`` or left
  empty are *missing*: counted (``CsvColumn.missing``) so the caller can report them, never
  filled. OpenEEmeter-style files mark the end of the last interval with a ``nan`` row.
* a leading index column, as ``pandas.DataFrame.to_csv`` writes it (an unnamed or
  ``index`` header, or consecutive integers from 0 or 1), is dropped.
* timestamps are ISO-8601. Without a UTC offset they are refused with a clear error unless
  the caller names the zone they were written in (``naive_tz``, the CLI's ``--naive-tz``);
  then they are read as that zone's wall-clock time. A repeated hour at the end of DST is
  resolved by order (``ambiguous="infer"``), a skipped hour is an error.

pandas parses the file (``dtype=str``, no NA guessing) so that a value that is neither a
number nor a missing mark is reported with its row instead of silently becoming NaN.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from greenpipe.errors import GreenpipeError

MISSING_MARKS: frozenset[str] = frozenset({"", "nan", "na", "n/a", "null", "none"})
"""Cell texts (stripped, lower-cased) that mean "no value"."""
_OFFSET_RE = re.compile(r"(Z|[+-]\d\d:?\d\d)$", re.IGNORECASE)
_INDEX_HEADERS = frozenset({"", "index"})


@dataclass(frozen=True, slots=True)
class CsvColumn:
    """A parsed column: values by aware UTC timestamp, and how many cells were missing."""

    series: pd.Series
    missing: int
    """Rows whose value was a missing mark (kept as NaN, never filled)."""
    rows: int
    """Data rows read (rows without a timestamp and without a value are not counted)."""
    column: str = ""
    """Header of the value column read."""


def is_missing(cell: object) -> bool:
    """True when a CSV cell is one of ``MISSING_MARKS`` (case and whitespace ignored)."""
    return str(cell).strip().lower() in MISSING_MARKS


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """Read a CSV as text cells, without a leading index column; errors say what to fix."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise GreenpipeError(f"{what} {path} does not exist; check the path") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise GreenpipeError(f"{what} {path} is not a readable CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df.columns) > 1 and _is_index_column(str(df.columns[0]), df.iloc[:, 0]):
        df = df.iloc[:, 1:]
    return df


def _is_index_column(header: str, values: pd.Series) -> bool:
    if header.lower() in _INDEX_HEADERS or header.startswith("Unnamed: "):
        return True
    cells = values.str.strip()
    if not len(cells) or not cells.str.fullmatch(r"\d+").all():
        return False
    ints = cells.astype("int64").to_numpy()
    return bool(ints[0] in (0, 1) and (np.diff(ints) == 1).all())


def pick_column(columns: Sequence[str], given: str | None, choices: Sequence[str], what: str,
                path: str | Path) -> str:
    """Return ``given`` if it is a column, else the first of ``choices`` present."""
    if given is not None:
        if given not in columns:
            raise GreenpipeError(f"{path}: no column {given!r} for the {what}; columns are "
                                 f"{', '.join(columns)}")
        return given
    for c in choices:
        if c in columns:
            return c
    raise GreenpipeError(f"{path}: cannot find the {what} column (tried {', '.join(choices)}); "
                         f"columns are {', '.join(columns)}; name it with an option")


def check_zone(zone: str, option: str = "--naive-tz") -> str:
    """Return ``zone`` if it is an IANA time zone, else raise a GreenpipeError."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise GreenpipeError(f"{option} {zone!r} is not an IANA time zone; use a name such "
                             "as Asia/Tokyo or America/New_York") from None
    return zone


def parse_timestamps(values: Sequence[str], where: str, naive_tz: str | None = None
                     ) -> pd.DatetimeIndex:
    """Parse ISO-8601 timestamps into a UTC index.

    Timestamps must carry a UTC offset unless ``naive_tz`` names the IANA zone in which
    offset-free ones were written. Mixing the two forms in one file is refused.
    """
    texts = [str(v).strip() for v in values]
    has_offset = [bool(_OFFSET_RE.search(v)) for v in texts]
    if naive_tz is None:
        for i, ok in enumerate(has_offset):
            if not ok:
                raise GreenpipeError(
                    f"{where} row {i + 1}: timestamp {texts[i]!r} has no UTC offset; write "
                    "ISO-8601 with an offset (e.g. 2025-04-01T00:00:00+09:00) or name the zone "
                    "the file was written in with --naive-tz (e.g. --naive-tz Asia/Tokyo)")
        naive = False
    else:
        check_zone(naive_tz)
        naive = not any(has_offset)
        if any(has_offset) and not all(has_offset):
            i = has_offset.index(not has_offset[0])
            raise GreenpipeError(
                f"{where} row {i + 1}: timestamp {texts[i]!r} mixes offset and offset-free "
                "timestamps; write all rows one way")
    try:
        if not naive:
            return pd.DatetimeIndex(pd.to_datetime(texts, format="ISO8601", utc=True))
        local = pd.DatetimeIndex(pd.to_datetime(texts, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise GreenpipeError(f"{where}: unreadable timestamp ({exc}); write ISO-8601, e.g. "
                             "2025-04-01T00:00:00") from None
    try:
        aware = local.tz_localize(naive_tz, ambiguous="infer", nonexistent="raise")
    except (ValueError, TypeError) as exc:  # pytz/pandas raise ValueError subclasses
        raise GreenpipeError(
            f"{where}: timestamps cannot be read as {naive_tz} wall-clock time ({exc}); "
            "a daylight-saving change skips or repeats a local hour, so write these "
            "timestamps with a UTC offset") from None
    return aware.tz_convert("UTC")


def parse_numbers(values: pd.Series, where: str) -> tuple[np.ndarray, int]:
    """Return the cells as floats (missing marks become NaN) and the count of missing ones."""
    cells = values.astype(str).str.strip()
    missing = cells.str.lower().isin(MISSING_MARKS).to_numpy()
    out = pd.to_numeric(cells.where(~missing, "nan"), errors="coerce").to_numpy(
        dtype="float64")
    bad = np.flatnonzero(np.isnan(out) & ~missing)
    if len(bad):
        i = int(bad[0])
        raise GreenpipeError(f"{where}: value {cells.iloc[i]!r} in row {i + 1} is not a "
                             "number; leave missing values empty or write nan/NA/null")
    return out, int(missing.sum())


def read_series(path: str | Path, what: str, time_choices: Sequence[str],
                value_choices: Sequence[str], *, time_column: str | None = None,
                value_column: str | None = None, naive_tz: str | None = None,
                name: str = "value") -> tuple[CsvColumn, str]:
    """Read one timestamped numeric column; returns it and the timestamp column's name.

    Rows with neither timestamp nor value (blank trailing rows) are skipped; a value without
    a timestamp is an error, since it cannot be placed in time.
    """
    df = read_table(path, what)
    cols = list(df.columns)
    tcol = pick_column(cols, time_column, time_choices, "timestamp", path)
    vcol = pick_column(cols, value_column, value_choices, name, path)
    no_time = df[tcol].map(is_missing).to_numpy(dtype=bool)
    no_value = df[vcol].map(is_missing).to_numpy(dtype=bool)
    stray = np.flatnonzero(no_time & ~no_value)
    if len(stray):
        i = int(stray[0])
        raise GreenpipeError(f"{path} row {i + 1}: value {df[vcol].iloc[i]!r} has no "
                             "timestamp; fill in the timestamp or delete the row")
    df = df[~no_time].reset_index(drop=True)
    values, missing = parse_numbers(df[vcol], str(path))
    index = parse_timestamps(df[tcol].tolist(), str(path), naive_tz)
    return CsvColumn(pd.Series(values, index=index, name=name), missing, len(df), vcol), tcol
