"""Benchmark: CPU cost of the collector's pipeline per message, without MQTT.

Feeds ``--messages`` register readings of the example city (the same messages as
``bench/ingest.py``) through ``Pipeline.handle`` and ``Pipeline.flush`` into a SqliteStore
in a temporary directory, in batches of ``--batch``, and reports the process CPU time per
message (median of ``--repeat`` runs; CPU time, not wall time, because this machine's cores
are shared). Run it in two checkouts to compare them:

    .venv/bin/python bench/ingest_pipeline.py [--messages 20000] [--batch 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest import messages  # noqa: E402

from collector.decoders import DecodeContext  # noqa: E402
from collector.pipeline import Inbound, Pipeline, default_routes  # noqa: E402
from collector.registers import RegisterTracker  # noqa: E402
from greenpipe.config import load_config  # noqa: E402
from greenpipe.stores import Catalog  # noqa: E402
from greenpipe.stores.sqlite import SqliteStore  # noqa: E402


def main() -> int:
    """Run the benchmark and print CPU µs per message."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cfg = load_config(REPO / "config" / "example.toml", env={})
    now = datetime.now(UTC)
    inbound = [Inbound(t, p, now, mid=i % 65535 + 1, qos=1, conn=1)
               for i, (t, p) in enumerate(messages(cfg, args.messages))]
    costs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.db", Catalog.of(cfg.meters, cfg.sites))
            pipeline = Pipeline(store, DecodeContext.from_config(cfg),
                                RegisterTracker(store.latest()), default_routes(cfg),
                                batch_size=args.batch)
            start = time.process_time()
            for msg in inbound:
                pipeline.handle(msg)
                if pipeline.batch_full():
                    pipeline.flush()
            pipeline.flush()
            costs.append((time.process_time() - start) / len(inbound) * 1e6)
            assert pipeline.report(len(inbound)).written == len(inbound)
            store.close()
    print(f"pipeline -> SQLite: {statistics.median(costs):.1f} µs CPU per message "
          f"(median of {args.repeat}; runs {', '.join(f'{c:.1f}' for c in costs)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
