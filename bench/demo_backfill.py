"""Benchmark: how long ``greenpipe demo`` takes to get its whole backfill into the store.

Starts ``python -m greenpipe demo --dashboard-port 0`` (embedded amqtt broker, the config's
store and ``simulator.backfill_days``) in an empty temporary directory and reports the
seconds from start to its ``demo: history is in`` line (every energy meter's newest reading
within two intervals of now), then stops it with Ctrl-C. Run it in two checkouts to compare:

    .venv/bin/python bench/demo_backfill.py [--timeout 600]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    """Run the demo until its history is in; print the seconds it took."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "greenpipe", "demo", "--dashboard-port", "0",
             "--config", str(REPO / "config" / "example.toml")],
            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
        done = None
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if "demo: history is in" in line:
                    done = time.monotonic() - start
                    break
                if time.monotonic() - start > args.timeout:
                    break
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    if done is None:
        print(f"the demo's history was not in after {args.timeout:.0f} s")
        return 1
    print(f"demo backfill: history in the store after {done:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
