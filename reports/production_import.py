"""``greenpipe import production --csv F``: production output from a CSV file into the store.

CSV layout (a header row; column names are case-insensitive)::

    timestamp,meter_id,quantity[,unit]
    2025-04-01T09:00:00+09:00,f1-output,12.5,t

``timestamp`` is the END of the production interval (like a reading's ``ts``), ISO-8601 with
a UTC offset; naive timestamps are refused unless ``--naive-tz`` names their zone.
``meter_id`` may be left out when ``--meter`` is given. ``quantity`` is in the production
meter's configured unit; a ``unit`` column, when present, must match it. Accepted like the
savings CSVs: ``nan``, ``NA``, ``null`` and empty cells mean missing, and a leading unnamed
index column (pandas' ``to_csv`` default) is ignored.

Nothing is dropped silently: each bad row becomes a dead letter (topic
``import/production/<file>:<line>``) with a stable code and the reason, and the command
prints how many rows were stored and rejected, and why.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from greenpipe.config import Config
from greenpipe.csvio import MISSING_MARKS as MISSING
from greenpipe.csvio import check_zone
from greenpipe.errors import GreenpipeError
from greenpipe.model import DeadLetter, MeterKind, ProductionRecord

"""Cell texts that mean "missing" (case-insensitive), as in the savings CSV reader."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A CSV row that could not be stored, with its line number, code and reason."""

    line: int
    code: str
    reason: str
    raw: str


def parse_production_csv(text: str, cfg: Config, *, meter: str | None = None,
                         naive_tz: str | None = None
                         ) -> tuple[list[ProductionRecord], list[RejectedRow]]:
    """Parse production CSV ``text`` into records and rejected rows (see module docstring).

    Hand-written rather than ``pandas.read_csv`` because every row needs its own verdict
    and line number for the dead letters. Raises GreenpipeError only for a file-level
    problem (no header, missing columns, unknown ``--meter``/``--naive-tz``).
    """
    meters = cfg.meters_by_id()
    zone = ZoneInfo(check_zone(naive_tz)) if naive_tz else None
    if meter is not None and meter not in meters:
        raise GreenpipeError(f"--meter {meter!r} is not a configured meter")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise GreenpipeError("the CSV is empty; expected a header timestamp,meter_id,quantity")
    header = [h.strip().lower() for h in rows[0]]
    skip_first = bool(header) and header[0] in ("", "unnamed: 0", "index")
    if skip_first:
        header = header[1:]
    need = ["timestamp", "quantity"] + ([] if meter else ["meter_id"])
    missing = [c for c in need if c not in header]
    if missing:
        raise GreenpipeError(f"the CSV header {rows[0]} lacks {', '.join(missing)}; expected "
                             "timestamp,meter_id,quantity[,unit] (or pass --meter)")
    col = {name: header.index(name) for name in header}
    records: list[ProductionRecord] = []
    rejected: list[RejectedRow] = []
    for line, raw_row in enumerate(rows[1:], start=2):
        row = raw_row[1:] if skip_first else raw_row
        raw = ",".join(raw_row)
        if not any(c.strip() for c in row):
            continue  # a blank line holds no data to lose

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        def reject(code: str, reason: str, line: int = line, raw: str = raw) -> None:
            rejected.append(RejectedRow(line, code, reason, raw))

        mid = cell("meter_id") or (meter or "")
        m = meters.get(mid)
        if m is None:
            reject("csv.unknown_meter", f"meter {mid!r} is not configured; add it as "
                   "[[meters]] kind = \"production\"")
            continue
        if m.kind != MeterKind.PRODUCTION:
            reject("csv.not_production_meter", f"meter {mid!r} is a {m.kind.value} meter, not "
                   "production")
            continue
        unit = cell("unit")
        if unit.lower() not in MISSING and unit != m.unit:
            reject("csv.unit_mismatch", f"unit {unit!r} differs from meter {mid!r}'s "
                   f"configured unit {m.unit!r}; convert the value or fix the config")
            continue
        qtext = cell("quantity")
        if qtext.lower() in MISSING:
            reject("csv.missing_value", "quantity is missing (kept as unknown, not zero)")
            continue
        try:
            qty = float(qtext)
        except ValueError:
            reject("csv.bad_number", f"quantity {qtext!r} is not a number")
            continue
        if not math.isfinite(qty) or qty < 0:
            reject("csv.bad_number", f"quantity {qtext!r} must be a finite number >= 0")
            continue
        ttext = cell("timestamp")
        try:
            ts = datetime.fromisoformat(ttext.replace("Z", "+00:00"))
        except ValueError:
            reject("csv.bad_timestamp", f"timestamp {ttext!r} is not ISO-8601 "
                   "(e.g. 2025-04-01T09:00:00+09:00)")
            continue
        if ts.tzinfo is None:
            if zone is None:
                reject("csv.naive_timestamp", f"timestamp {ttext!r} has no UTC offset; add "
                       "one or pass --naive-tz Asia/Tokyo")
                continue
            ts = ts.replace(tzinfo=zone)
        records.append(ProductionRecord(mid, m.site, ts.astimezone(UTC), qty))
    return records, rejected


def import_production(path: str | Path, cfg: Config, store: object, *,
                      meter: str | None = None, naive_tz: str | None = None
                      ) -> tuple[int, list[RejectedRow]]:
    """Store the file's good rows and its bad rows as dead letters; returns (stored, rejected)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GreenpipeError(f"cannot read {p} ({exc.strerror}); check the path") from None
    records, rejected = parse_production_csv(text, cfg, meter=meter, naive_tz=naive_tz)
    stored = store.write_production(records)  # type: ignore[attr-defined]
    if rejected:
        now = datetime.now(UTC)
        store.write_dead_letters([  # type: ignore[attr-defined]
            DeadLetter(received_at=now, topic=f"import/production/{p.name}:{r.line}",
                       payload=r.raw.encode(), code=r.code, reason=r.reason)
            for r in rejected])
    return stored, rejected


def summary(stored: int, rejected: list[RejectedRow]) -> str:
    """Return the one-paragraph result the command prints."""
    text = f"stored {stored} production records"
    if rejected:
        counts = Counter(r.code for r in rejected)
        first = rejected[0]
        text += (f"; rejected {len(rejected)} rows as dead letters "
                 f"({', '.join(f'{c}: {n}' for c, n in sorted(counts.items()))}); first: line "
                 f"{first.line}: {first.reason}")
    return text
