"""SQLite-specific behaviour: URLs, WAL with a concurrent reader process, indexes, CLI stats.

Behaviour every store shares lives in the contract suite (tests/test_store_contract.py).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenpipe.errors import ConfigError, StoreError
from greenpipe.model import BrokerStatus, DeadLetter, QualityFlag, Reading, SequenceState
from greenpipe.stores import open_store, parse_store_url
from greenpipe.stores.sqlite import SqliteStore

T0 = datetime(2025, 4, 1, 0, 0, tzinfo=UTC)


def test_store_urls() -> None:
    assert parse_store_url("sqlite:///abs/path.db").path == Path("/abs/path.db")
    assert parse_store_url("sqlite:rel/x.db").path == Path("rel/x.db")
    for bad in ("sqlite://host/x.db", "sqlite:", "nothing", "ftp://x"):
        with pytest.raises(ConfigError):
            parse_store_url(bad)


def test_open_store_creates_parent_directories(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a/b/c.db")
    try:
        assert (tmp_path / "a" / "b" / "c.db").is_file()
    finally:
        store.close()


def test_wal_mode_and_indexes(sqlite_store: SqliteStore) -> None:
    con = sqlite3.connect(sqlite_store.path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(
            str(row[-1]) for row in con.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM readings WHERE meter_id = 'x' AND ts_ms > 5"
            )
        )
        assert "PRIMARY KEY" in plan or "INDEX" in plan
    finally:
        con.close()


_READER = """
import sys, time
from datetime import datetime, timedelta, UTC
from greenpipe.stores.sqlite import SqliteStore
store = SqliteStore(sys.argv[1])
seen = 0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    stats = store.stats()
    seen = sum(m.readings for m in stats.meters)
    if seen >= int(sys.argv[2]):
        break
print(seen)
"""


def test_concurrent_reader_process_sees_committed_batches(tmp_path: Path) -> None:
    """One writer and a reader in another process work together (WAL)."""
    path = tmp_path / "wal.db"
    store = SqliteStore(path)
    batches, per_batch = 40, 250
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(path), str(batches * per_batch)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        for b in range(batches):
            store.write([
                Reading("m1", "s1", T0 + timedelta(minutes=b * per_batch + i), energy_kwh=0.5)
                for i in range(per_batch)
            ])
        out, _ = reader.communicate(timeout=90)
    finally:
        store.close()
    assert reader.returncode == 0
    assert int(out.strip()) == batches * per_batch


def test_rewrite_same_meter_and_ts_keeps_one_reading_with_last_values(
    sqlite_store: SqliteStore,
) -> None:
    first = Reading("f1-main", "factory-1", T0, energy_kwh=1.0, register_kwh=10.0)
    second = Reading("f1-main", "factory-1", T0, energy_kwh=2.0, register_kwh=11.0,
                     quality=frozenset({QualityFlag.COUNTER_RESET.value}))
    sqlite_store.write([first])
    sqlite_store.write([second])
    stats = sqlite_store.stats()
    assert [(m.meter, m.readings, m.energy_kwh) for m in stats.meters] == [("f1-main", 1, 2.0)]
    assert sqlite_store.latest()["f1-main"] == second


def test_readings_are_tagged_with_kind_and_sector_from_the_catalog(
    sqlite_store: SqliteStore,
) -> None:
    sqlite_store.write([
        Reading("f1-main", "factory-1", T0, energy_kwh=3.0),
        Reading("office-1-main", "office-1", T0, energy_kwh=2.0),
        Reading("stray", "nowhere", T0, energy_kwh=7.0),
    ])
    frame = sqlite_store.read(T0 - timedelta(hours=1), T0, timedelta(hours=1), group_by="sector")
    assert dict(zip(frame["sector"], frame["energy_kwh"], strict=True)) == {
        "commercial": 2.0, "industry": 3.0, "unknown": 7.0,
    }


def test_unwritable_path_is_a_clear_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open SQLite store") as info:
        SqliteStore(blocker / "x.db")
    assert info.value.retryable is False


def test_cli_store_stats_json(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    store = SqliteStore(path)
    store.write([
        Reading("f2-main", "factory-2", T0 + timedelta(minutes=30 * i), register_kwh=100.0 + i,
                energy_kwh=None if i == 0 else 1.0)
        for i in range(5)
    ])
    store.write_dead_letters([DeadLetter(T0, "t", b"\xff", "payload.bad_json", "not JSON")])
    store.write_sequence_states([SequenceState("f2-main", "factory-2", 9, T0, T0, lost=5),
                                 SequenceState("f3-main", "factory-3", 2, T0, T0, lost=2)])
    store.write_broker_status(BrokerStatus("c1", T0, 760, "mosquitto version 2"))
    store.close()
    out = subprocess.run(
        [sys.executable, "-m", "greenpipe", "store", "stats", "--store", f"sqlite:///{path}",
         "--json"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert rows == [
        {"meter": "f2-main", "site": "factory-2", "readings": 5,
         "first_ts": "2025-04-01T00:00:00+00:00", "last_ts": "2025-04-01T02:00:00+00:00",
         "energy_kwh": 4.0, "upstream_lost": 5},
        # Loss is shown even for a meter none of whose readings were stored.
        {"meter": "f3-main", "site": "factory-3", "readings": 0, "first_ts": None,
         "last_ts": None, "energy_kwh": 0.0, "upstream_lost": 2},
        {"dead_letters": 1, "upstream_lost": 7, "broker_dropped": {"c1": 760}},
    ]


def test_cli_store_stats_table_fits_long_ids_and_small_energies(tmp_path: Path) -> None:
    """Issue 14: long meter ids broke the columns and 0.0123 kWh printed as 0.0."""
    path = tmp_path / "cli.db"
    store = SqliteStore(path)
    long_id = "building-7-third-floor-east-wing-lighting"
    store.write([Reading(long_id, "hq", T0 + timedelta(minutes=30 * i),
                         energy_kwh=0.0123 / 2) for i in range(1, 3)]
                + [Reading("m", "hq", T0 + timedelta(minutes=30), energy_kwh=12345.67)])
    store.close()
    lines = subprocess.run(
        [sys.executable, "-m", "greenpipe", "store", "stats", "--store", f"sqlite:///{path}"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    header, first, second = lines[:3]
    assert first.startswith(long_id + " ") and second.startswith("m ")
    assert len(header) == len(first) == len(second)  # columns line up
    assert first.split()[-2:] == ["0.0123", "0"] and second.split()[-2:] == ["12,345.7", "0"]


def test_cli_reports_bad_store_url_without_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "greenpipe", "store", "stats", "--store", "mysql://x"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "unknown store scheme" in proc.stderr
    assert "Traceback" not in proc.stderr
