"""A finding's life across runs: keep its id and status, reopen it when a fix did not hold.

- Found for the first time: status ``new``, ``first_seen`` = the run.
- Found again: same id; numbers, evidence and ``last_seen`` are updated; the status people
  gave it (acknowledged, dismissed) is kept.
- Found again ``reopen_after`` or longer after it was resolved: the fix has had time to
  show in the data and the problem is still there, so it is reopened (status ``new``, by
  ``finder``, note ``reopened``) under the same id, never duplicated. Found sooner, the
  resolution stands (the evidence window still holds the days before the fix).
- Not found: the stored finding is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from greenpipe.errors import GreenpipeError
from greenpipe.finding import Finding, FindingStatus

REOPEN_AFTER = timedelta(days=7)
FINDER = "finder"


def merge(existing: Iterable[Finding], detected: Sequence[Finding], now: datetime,
          reopen_after: timedelta = REOPEN_AFTER) -> list[Finding]:
    """Return the detected findings carrying their stored identity and status forward."""
    stored = {f.id: f for f in existing}
    out = []
    for d in detected:
        old = stored.get(d.id)
        if old is None:
            out.append(replace(d, status=FindingStatus.NEW.value, status_by=FINDER,
                               status_at=now, status_note="", first_seen=now, last_seen=now))
            continue
        kept = replace(d, status=old.status, status_by=old.status_by, status_at=old.status_at,
                       status_note=old.status_note, first_seen=old.first_seen or now,
                       last_seen=now)
        resolved_at = old.status_at or now
        if old.status == FindingStatus.RESOLVED.value and now - resolved_at >= reopen_after:
            kept = replace(kept, status=FindingStatus.NEW.value, status_by=FINDER,
                           status_at=now, status_note="reopened")
        out.append(kept)
    return out


def newly_opened(findings: Iterable[Finding]) -> list[Finding]:
    """The findings a run opened: new or reopened, with the status set by that run.

    These are what an alert should announce; persisting ones keep an older ``status_at``.
    """
    return [f for f in findings if f.status == FindingStatus.NEW.value
            and f.status_at is not None and f.status_at == f.last_seen]


STATUS_OF_ACTION = {"ack": FindingStatus.ACKNOWLEDGED, "resolve": FindingStatus.RESOLVED,
                    "dismiss": FindingStatus.DISMISSED}


def find_by_id(findings: Sequence[Finding], finding_id: str) -> Finding:
    """Return the finding whose id is (or uniquely starts with) ``finding_id``."""
    exact = [f for f in findings if f.id == finding_id]
    if exact:
        return exact[0]
    matches = [f for f in findings if f.id.startswith(finding_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise GreenpipeError(f"no stored finding has id {finding_id!r}; list them with "
                             "`greenpipe findings list`")
    raise GreenpipeError(f"{finding_id!r} matches {len(matches)} findings; give more of the id")


def set_status(finding: Finding, status: FindingStatus | str, by: str, at: datetime,
               note: str = "") -> Finding:
    """Return the finding with a new status, who set it, when and why."""
    value = FindingStatus(status).value
    return replace(finding, status=value, status_by=by, status_at=at, status_note=note)
