"""InfluxDB line protocol, serialised a batch at a time, column by column.

Hand-written on purpose: influxdb-client's ``Point`` builds one object per point and costs
about 10 µs each, which was the whole gap between ``InfluxStore.write`` and a raw POST of
the same line protocol (docs/BENCHMARKS.md). Here a batch is given as columns: each tag
column is escaped once per distinct value (a batch holds few meters and sites), each field
column is formatted in one pass, and rows are joined at the end.

The output is byte-for-byte what ``Point.to_line_protocol()`` produces for the same tags,
fields and integer timestamp (tests/test_greenpipe_stores_line_protocol.py checks this on
random input with hypothesis):

* measurement: ``,`` and space escaped (and ``\\n``, ``\\t``, ``\\r`` as two characters);
* tag keys, tag values and field keys: ``,``, ``=`` and space escaped (same for newlines);
  a tag value ending in a backslash gets a trailing space; tags sorted by key, tags with
  an empty key or value left out;
* fields sorted by key; None and non-finite floats left out; floats as ``str()`` without a
  trailing ``.0``; integers with an ``i`` suffix; booleans as ``true``/``false``; strings
  double-quoted with ``"`` and ``\\`` escaped;
* a point with no field is the empty string (InfluxDB ignores empty lines).

Refusing tags InfluxDB cannot carry unchanged (newline, tab, backslash) is the caller's job
(``InfluxStore``), as it is with ``Point``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

FieldValue = float | int | bool | str | None
"""A field value as ``Point.field`` takes it; None means the point has no such field."""

_ESCAPE_MEASUREMENT = str.maketrans({
    ",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r",
})
_ESCAPE_KEY = str.maketrans({
    ",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r",
})
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})
_INF = math.inf


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_ESCAPE_KEY)


def _tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


def _tag_column(key: str, column: Sequence[str | None]) -> list[str]:
    """Return ``,key=value`` per row ('' where the tag is absent), escaping each value once."""
    k = escape_key(key)
    if not k:
        return [""] * len(column)
    cache: dict[str | None, str] = {}
    for value in set(column):
        text = "" if value is None else _tag_value(str(value))
        cache[value] = f",{k}={text}" if text else ""
    return [cache[v] for v in column]


def _field_column(key: str, column: Sequence[FieldValue]) -> list[str]:
    """Return ``key=value`` per row ('' where the field is absent)."""
    k = escape_key(key) + "="
    out: list[str] = []
    append = out.append
    for v in column:
        t = type(v)
        if t is float:
            if v != v or v == _INF or v == -_INF:
                append("")
                continue
            s = str(v)
            append(k + (s[:-2] if s.endswith(".0") else s))
        elif v is None:
            append("")
        elif t is str:
            append(f'{k}"{v.translate(_ESCAPE_STRING)}"')  # type: ignore[union-attr]
        elif t is bool:
            append(k + ("true" if v else "false"))
        elif t is int:
            append(f"{k}{v}i")
        else:
            append(_field_slow(k, key, v))
    return out


def _field_slow(k: str, key: str, v: object) -> str:
    """Format a value whose type is a subclass (numpy scalars, IntEnum, str enums, ...)."""
    if isinstance(v, bool):
        return k + ("true" if v else "false")
    if isinstance(v, float):
        return _field_column(key, [float(v)])[0]
    if isinstance(v, int):
        return f"{k}{int(v)}i"
    if isinstance(v, str):
        return _field_column(key, [str(v)])[0]
    raise TypeError(f"field {key!r}: cannot write a {type(v).__name__} to InfluxDB; "
                    "use a float, int, bool or str")


def encode(
    measurement: str,
    tags: Mapping[str, Sequence[str | None]],
    fields: Mapping[str, Sequence[FieldValue]],
    times: Sequence[int],
) -> list[str]:
    """Return one line-protocol line per row of the given columns.

    ``tags`` and ``fields`` map a key to a column with one value per point; ``times`` holds
    each point's integer timestamp in the precision the write uses. Every column must be as
    long as ``times``.
    """
    n = len(times)
    for name, col in (*tags.items(), *fields.items()):
        if len(col) != n:
            raise ValueError(f"column {name!r} has {len(col)} values for {n} timestamps")
    meas = measurement.translate(_ESCAPE_MEASUREMENT)
    tag_cols = [_tag_column(key, tags[key]) for key in sorted(tags)]
    if tag_cols:
        prefixes = [meas + "".join(parts) + " " for parts in zip(*tag_cols, strict=True)]
    else:
        prefixes = [meas + " "] * n
    field_cols = [_field_column(key, fields[key]) for key in sorted(fields)]
    if not field_cols:
        return [""] * n
    lines: list[str] = []
    append = lines.append
    for prefix, parts, ts in zip(prefixes, zip(*field_cols, strict=True), times, strict=True):
        body = ",".join(filter(None, parts))
        append(f"{prefix}{body} {ts}" if body else "")
    return lines


def encode_point(measurement: str, tags: Mapping[str, str | None],
                 fields: Mapping[str, FieldValue], time: int) -> str:
    """Return the line of a single point (``encode`` with one row)."""
    return encode(measurement, {k: [v] for k, v in tags.items()},
                  {k: [v] for k, v in fields.items()}, [time])[0]
