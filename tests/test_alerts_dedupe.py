"""De-duplication state: the window rule and persistence across processes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.dedupe import DedupeState, is_due, state_path_for

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def test_window_is_half_open() -> None:
    assert is_due(None, T0, 3600)
    assert not is_due(T0, T0 + timedelta(seconds=3599), 3600)
    assert is_due(T0, T0 + timedelta(seconds=3600), 3600)


def test_state_path_beside_sqlite_store_or_under_var() -> None:
    assert state_path_for("auto", "sqlite:var/greenpipe.db") == Path("var/greenpipe.alerts.db")
    assert state_path_for("auto", "sqlite:///srv/gp/city.db") == Path("/srv/gp/city.alerts.db")
    assert state_path_for("auto", "influxdb://127.0.0.1:8086/gp") == Path(
        "var/alerts-state.db")
    assert state_path_for("/tmp/x.db", "sqlite:a.db") == Path("/tmp/x.db")


def test_sends_survive_a_new_process_and_are_kept_per_channel(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.db"
    state = DedupeState(path)
    state.record("finding:1", "webhook", T0)
    state.close()
    # Another process sees what this one sent.
    code = (
        "from alerts.dedupe import DedupeState; from pathlib import Path; "
        f"s = DedupeState(Path({str(path)!r})); "
        "print(s.last_sent('finding:1', 'webhook').isoformat(), "
        "s.last_sent('finding:1', 'email'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["2025-06-01T00:00:00+00:00", "None"]
    state = DedupeState(path)
    state.record("finding:1", "webhook", T0 + timedelta(hours=2))  # replaces, not duplicates
    state.record("finding:2", "webhook", T0 + timedelta(hours=1))
    assert state.last_sent("finding:1", "webhook") == T0 + timedelta(hours=2)
    assert state.prune(T0 + timedelta(hours=1, minutes=30)) == 1
    assert state.last_sent("finding:2", "webhook") is None
    state.close()


def test_unwritable_state_file_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    from greenpipe.errors import GreenpipeError

    with pytest.raises(GreenpipeError, match=r"alerts\.state_path"):
        DedupeState(blocker / "state.db")
