"""``forecast run --dask`` on a real distributed.LocalCluster with process workers."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from forecasting import runner
from forecasting.runner import build_tasks, execute, latest_reading
from greenpipe.errors import GreenpipeError
from tests.forecasting_fleet import seed_city

pytestmark = pytest.mark.integration

distributed = pytest.importorskip("distributed")  # a dev dependency: present in CI


def _key(record: Any) -> tuple[str, ...]:
    return (type(record).__name__, *(str(getattr(record, f, "")) for f in (
        "meter_id", "measure_id", "scope", "scope_id", "fiscal_year", "target_fy",
        "day_start")))


def _plain(record: Any) -> tuple[Any, ...]:
    """The record's fields with NaN as None, so equal records compare equal."""
    return tuple(None if isinstance(v, float) and math.isnan(v) else v
                 for v in dataclasses.astuple(record))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two single-threaded worker processes and a scheduler on free loopback ports."""
    lc = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", scheduler_port=0,
                                  dashboard_address="127.0.0.1:0", silence_logs=40)
    yield lc
    lc.close()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Any], list[Any]]]:
    """The seeded test city's tasks and their records from the local process pool."""
    cfg, store, _truth = seed_city(tmp_path_factory.mktemp("dask-city"))
    try:
        tasks = build_tasks(cfg, store, latest_reading(store), run_id="run-dask")
    finally:
        store.close()
    yield tasks, execute(tasks, workers=2)


def test_cluster_results_equal_the_process_pool(cluster: Any, city: Any) -> None:
    tasks, pooled = city
    seen: list[int] = []
    records = execute(tasks, dask_address=cluster.scheduler_address, progress=seen.append)
    assert len(seen) == len(tasks)
    assert len(records) == len(pooled)
    got = sorted(records, key=_key)
    want = sorted(pooled, key=_key)
    for a, b in zip(got, want, strict=True):
        assert _plain(a) == _plain(b)


def test_a_worker_killed_mid_run_has_its_tasks_retried(cluster: Any, city: Any) -> None:
    tasks, pooled = city
    work = tasks * 3  # enough work that both workers hold tasks when one dies
    with distributed.Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)
    killed = threading.Event()

    def kill_one(_n: int) -> None:
        if not killed.is_set():
            killed.set()
            os.kill(next(iter(pids.values())), signal.SIGKILL)

    records = execute(work, dask_address=cluster.scheduler_address, progress=kill_one)
    assert killed.is_set()
    assert len(records) == 3 * len(pooled)
    want = {_key(r): _plain(r) for r in pooled}
    assert all(_plain(r) == want[_key(r)] for r in records)


def test_unreachable_scheduler_is_explained(city: Any, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT_S", 2.0)
    with pytest.raises(GreenpipeError, match="cannot reach the Dask scheduler"):
        execute(city[0][:1], dask_address="tcp://127.0.0.1:9")


def test_dask_missing_is_explained(city: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without dask installed, --dask must say what to do (simulated: import fails).
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(GreenpipeError, match=r"pip install 'dask\[distributed\]'"):
        execute(city[0][:1], dask_address="tcp://127.0.0.1:1")

