"""Benchmark: writing readings into each store, against a raw line-protocol POST.

Starts a real influxd 1.x (Debian package) on free loopback ports, then alternates,
``--repeat`` times, over the same ``--readings`` readings in batches of ``--batch``
(the collector's default batch size):

* baseline: pre-serialized line protocol POSTed to ``/write?precision=ms`` with urllib3 —
  what any InfluxDB client must at least do;
* InfluxStore.write: serialization with influxdb-client's ``Point``, tag checks and the
  classified v1 write (the path influxd <= 1.7 uses);
* SqliteStore.write: the embedded default store (a file in a temporary directory).

Each run writes into a fresh database, so no run overwrites an earlier one's points. It
reports points/s (median over repeats) and the ratio of each store to the baseline:
InfluxStore/raw is greenpipe's overhead on the same server. Run:

    .venv/bin/python bench/ingest_store.py [--readings 50000] [--batch 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import urllib3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from greenpipe.config import load_config  # noqa: E402
from greenpipe.model import Reading  # noqa: E402
from greenpipe.stores import Catalog  # noqa: E402
from greenpipe.stores.influx import InfluxStore  # noqa: E402
from greenpipe.stores.influx_admin import init  # noqa: E402
from greenpipe.stores.sqlite import SqliteStore  # noqa: E402
from tests.conftest import start_influxd, stop_process  # noqa: E402

T0 = datetime(2025, 4, 1, tzinfo=UTC)


def make_readings(n: int, catalog: Catalog) -> list[Reading]:
    """Return ``n`` readings spread over the catalogued meters, 30 minutes apart."""
    meters = sorted(catalog.meters.values(), key=lambda m: m.id)
    out = []
    for i in range(n):
        meter = meters[i % len(meters)]
        slot = i // len(meters)
        out.append(Reading(meter.id, meter.site, T0 + timedelta(minutes=30 * (slot + 1)),
                           energy_kwh=1.0 + (i % 97) / 10, register_kwh=1000.0 + i,
                           power_kw=2.0 + (i % 13)))
    return out


def batches(items: list[Reading], size: int) -> list[list[Reading]]:
    """Split into batches of ``size``."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def _write_all(store: InfluxStore | SqliteStore, chunks: list[list[Reading]]) -> None:
    for chunk in chunks:
        store.write(chunk)


def timed(fn: Callable[[], None]) -> float:
    """Return the wall-clock seconds ``fn`` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readings", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    cfg = load_config(REPO / "config" / "example.toml", env={})
    catalog = Catalog.of(cfg.meters, cfg.sites)
    readings = make_readings(args.readings, catalog)
    chunks = batches(readings, args.batch)
    rates: dict[str, list[float]] = {"raw line-protocol POST": [], "InfluxStore.write": [],
                                     "SqliteStore.write": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_influxd(Path(tmp) / "influxd")
        http = urllib3.PoolManager()
        try:
            for run in range(args.repeat):
                # Baseline: the same line protocol, serialized before the clock starts.
                raw_store = InfluxStore(server.store_url(f"raw_{run}"), catalog, api="v1")
                init(raw_store)
                bodies = ["\n".join(raw_store.reading_lines(c)).encode() for c in chunks]
                url = f"{server.http_url}/write?db=raw_{run}&precision=ms"

                def raw(bodies: list[bytes] = bodies, url: str = url) -> None:
                    for body in bodies:
                        resp = http.request("POST", url, body=body)
                        assert resp.status == 204, resp.data
                rates["raw line-protocol POST"].append(args.readings / timed(raw))
                raw_store.close()

                store = InfluxStore(server.store_url(f"store_{run}"), catalog, api="v1")
                init(store)
                seconds = timed(partial(_write_all, store, chunks))
                assert sum(m.readings for m in store.stats().meters) == args.readings
                rates["InfluxStore.write"].append(args.readings / seconds)
                store.close()

                sqlite = SqliteStore(Path(tmp) / f"bench_{run}.db", catalog)
                seconds = timed(partial(_write_all, sqlite, chunks))
                rates["SqliteStore.write"].append(args.readings / seconds)
                sqlite.close()
        finally:
            stop_process(server.process)

    base = statistics.median(rates["raw line-protocol POST"])
    print(f"influxd {server.version}, {args.readings} readings in batches of {args.batch}, "
          f"median of {args.repeat}")
    print(f"{'writer':<26} {'points/s':>12} {'vs raw POST':>12}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:<26} {med:>12,.0f} {med / base:>11.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
