"""Run every benchmark script in bench/ in turn (``python -m bench`` / ``make bench``).

Pass script names to run a subset: ``python -m bench simulate ingest_store``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the named benchmark scripts (all when none are named); return the worst exit code."""
    here = Path(__file__).resolve().parent
    scripts = sorted(p for p in here.glob("*.py") if not p.name.startswith("_"))
    if argv:
        scripts = [p for p in scripts if p.stem in argv]
    worst = 0
    for script in scripts:
        print(f"== bench/{script.name}", flush=True)
        code = subprocess.call([sys.executable, str(script)])
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
