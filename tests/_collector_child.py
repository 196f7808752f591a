"""A collector in a child process that SIGKILLs itself right after its N-th store write.

Used by the fault tests to crash deterministically *between* the durable write and the
MQTT acknowledgement, the one window where at-least-once delivery produces redeliveries.
Configuration comes from the example city plus ``GREENPIPE_*`` environment overrides.

Usage: ``python -m tests._collector_child STORE_URL READY_FILE CRASH_AFTER_WRITES``; the
size of each write is appended to ``READY_FILE`` with the suffix ``.writes``. With
``collector.writer = "process"`` the store runs in the writer process, which kills the
collector's process first and then itself: the whole collector dies after the write.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from collector.service import Collector
from greenpipe.config import Config, load_config
from greenpipe.stores import Store, open_configured_store

REPO = Path(__file__).resolve().parent.parent


class _CrashingStore:
    """Delegates to a real store and SIGKILLs the process after the N-th successful write.

    The number of readings of each write is appended to ``sizes_file`` (flushed before the
    kill), so the test knows how many readings were written and never acknowledged.
    """

    def __init__(self, inner: Store, crash_after: int, sizes_file: Path) -> None:
        self._inner = inner
        self._left = crash_after
        self._sizes = sizes_file

    def write(self, readings: Any) -> int:
        written = self._inner.write(readings)
        with self._sizes.open("a") as f:
            f.write(f"{len(readings)}\n")
        self._left -= 1
        if self._left <= 0:
            if multiprocessing.parent_process() is not None:  # the writer process
                os.kill(os.getppid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CrashingFactory:
    """``store_factory`` for the crashing store; a class so the writer process can unpickle it."""

    def __init__(self, crash_after: int, sizes_file: Path) -> None:
        self._crash_after = crash_after
        self._sizes = sizes_file

    def __call__(self, c: Config) -> Store:
        return _CrashingStore(open_configured_store(c), self._crash_after, self._sizes)


def main() -> None:
    """Run the crashing collector until it kills itself."""
    store_url, ready_file, crash_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(REPO / "config" / "example.toml")
    cfg = replace(cfg, store=replace(cfg.store, url=store_url))
    factory = _CrashingFactory(crash_after, Path(ready_file).with_suffix(".writes"))
    collector = Collector(cfg, ready_file=Path(ready_file), store_factory=factory)
    collector.start()
    threading.Event().wait(120)
    collector.stop()


if __name__ == "__main__":
    main()
