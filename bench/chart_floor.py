"""Benchmark: what one chart costs a first visit in the browser, against a page without one.

Issue 15 asks every dashboard page's first visit on a full store to be ready within 1.5x of
the same page on an empty store, whose pages draw no chart (a title and an info box). This
bench measures the part of that budget no data layer can touch: the browser loading
Streamlit's chart element for a new page load. It serves one probe app (``streamlit run``,
free loopback port) whose variants differ only in what they draw, and measures, like
``bench/dashboard.py``, the time from navigation until the page's script has finished and
every chart is drawn (``dashboard.browser.READY_JS``), each visit a new browser session
with the HTTP cache warm. The variants:

* ``empty``: a title and an info box, as an empty store's page;
* ``metrics``: the same plus the Overview's eight metrics and a findings list (no chart);
* ``chart_tiny``: ``empty`` plus one ECharts chart of two points (``dashboard.ui.chart``);
* ``charts_3``: ``empty`` plus three 365-point ECharts charts, as the Overview draws.

The script of every variant takes about a millisecond, so what is measured is the browser
(and Streamlit's messages). Visits go round the variants ``--repeat`` times, so load drifts
hit them all; figures are medians with the ratio to ``empty`` from the same run. Run:

    .venv/bin/python bench/chart_floor.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from dashboard.browser import Chromium, PageSpec, find_chromium, ready_expression  # noqa: E402
from greenpipe.net import free_loopback_port  # noqa: E402

VARIANTS = {"empty": 0, "metrics": 0, "chart_tiny": 1, "charts_3": 3}
"""Variant -> charts it draws."""

PROBE_APP = '''
import math
import streamlit as st
from dashboard import ui

st.set_page_config(page_title="probe", layout="wide")
variant = st.query_params.get("v", "empty")
st.title("Probe " + variant)
st.info("No readings in the store yet: is the collector running?")
if variant == "metrics":
    for row in range(2):
        col = st.columns(4)
        for i in range(4):
            col[i].metric(f"Metric {row}-{i}", f"{1234.5 * (i + 1):,.1f} t",
                          delta=f"-{i + 1}.0 %", delta_color="inverse", help="help text")
    st.subheader("Top problems")
    for i in range(3):
        st.markdown(f"**Finding {i}** · 1,234,000 JPY · 12.3 t-CO2  \\nA proposal text.")
elif variant == "chart_tiny":
    ui.chart({"xAxis": {"type": "category", "data": ["a", "b"]}, "yAxis": {"type": "value"},
              "series": [{"type": "line", "data": [1, 2]}], "animation": False}, "tiny")
elif variant == "charts_3":
    days = [f"2025-{1 + d // 31 % 12:02d}-{1 + d % 28:02d}" for d in range(365)]
    for k in range(3):
        ui.chart({"animation": False, "tooltip": {"trigger": "axis"}, "legend": {},
                  "xAxis": {"type": "category", "data": days}, "yAxis": {"type": "value"},
                  "series": [{"type": "line", "name": f"s{j}", "showSymbol": False,
                              "data": [round(math.sin(d / 30 + j) * 100 + d, 1)
                                       for d in range(365)]} for j in range(3)]},
                 f"c{k}")
'''


def _serve(app: Path, port: int) -> subprocess.Popen[bytes]:
    """``streamlit run`` the probe app on ``port`` (repo on the path for ``dashboard.ui``)."""
    import os

    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
         "--theme.base", "light", "--client.toolbarMode", "viewer"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).ok:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the probe app did not start")


def measure(browser: Chromium, port: int, repeat: int) -> dict[str, list[float]]:
    """First-visit seconds per variant: ``repeat`` rounds over all variants, after one
    untimed round (server imports, HTTP cache)."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in range(repeat + 1):
        for variant, plots in VARIANTS.items():
            expr = ready_expression(PageSpec("", plots, 0, f"Probe {variant}"))
            browser.navigate("about:blank")
            t0 = time.perf_counter()
            browser.navigate(f"http://127.0.0.1:{port}/?v={variant}&r={r}")
            browser.wait_for(expr, timeout_s=120, stable_polls=1, poll_s=0.02)
            if r:
                times[variant].append(time.perf_counter() - t0)
    return times


def main() -> int:
    """Serve the probe, measure, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        print("chromium is not installed: nothing to measure")
        return 0
    with tempfile.TemporaryDirectory(prefix="greenpipe-bench-chart-floor-") as tmp:
        app = Path(tmp) / "probe.py"
        app.write_text(PROBE_APP, encoding="utf-8")
        port = free_loopback_port()
        proc = _serve(app, port)
        browser = Chromium(binary)
        try:
            times = measure(browser, port, args.repeat)
        finally:
            browser.close()
            proc.terminate()
            proc.wait(10)
    base = statistics.median(times["empty"])
    print(f"\nfirst visits, median of {args.repeat} (range), ratio to `empty`\n")
    print("| variant | first visit | ratio |")
    print("| --- | ---: | ---: |")
    for variant, samples in times.items():
        med = statistics.median(samples)
        print(f"| {variant} | {med:.2f} s ({min(samples):.2f}–{max(samples):.2f}) "
              f"| {med / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
