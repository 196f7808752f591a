"""A minimal headless-chromium driver over the DevTools protocol, for dashboard screenshots.

Used by the real-browser test, ``bench/dashboard.py`` and ``python -m dashboard.screenshots``:
start Debian's ``/usr/bin/chromium`` on a free loopback debugging port with a fresh
profile, open a page, wait until Streamlit has rendered it (a DOM condition, never a fixed
delay) and save full-page PNGs. Development tooling: the dashboard itself never imports it.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

from greenpipe.net import free_loopback_port

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--hide-scrollbars", "--lang=ja-JP",
)


def find_chromium() -> str | None:
    """Return the chromium binary (Debian's first), or None when it is not installed."""
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless chromium process with one page, driven through DevTools."""

    def __init__(self, binary: str, width: int = 1440, height: int = 1000) -> None:
        """Start chromium and attach to its first page."""
        self.width = width
        self.height = height
        self._profile = tempfile.mkdtemp(prefix="greenpipe-chromium-")
        port = free_loopback_port()
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--remote-debugging-port={port}",
             f"--user-data-dir={self._profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self._ws = self._attach(port)
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.set_viewport(height)

    def _attach(self, port: int, timeout_s: float = 30.0) -> ClientConnection:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return connect(pages[0]["webSocketDebuggerUrl"], max_size=None,
                                   open_timeout=10)
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"chromium DevTools did not answer on port {port}")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events in between are skipped)."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JS error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str) -> None:
        """Open ``url`` in the page."""
        self.send("Page.navigate", url=url)

    def set_viewport(self, height: int) -> None:
        """Resize the viewport (Streamlit scrolls inside it, so full pages need a tall one)."""
        self.height = height
        self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def wait_for(self, expression: str, timeout_s: float = 60.0, stable_polls: int = 3,
                 poll_s: float = 0.25) -> float:
        """Poll ``expression`` until it is truthy ``stable_polls`` times in a row.

        Returns the seconds waited; raises TimeoutError with the last value otherwise.
        """
        start = time.monotonic()
        streak = 0
        value: Any = None
        while time.monotonic() - start < timeout_s:
            value = self.evaluate(expression)
            streak = streak + 1 if value else 0
            if streak >= stable_polls:
                return time.monotonic() - start
            time.sleep(poll_s)
        raise TimeoutError(f"page not ready after {timeout_s} s: {expression} -> {value!r}")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the viewport to ``path``."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Stop chromium and delete its profile."""
        try:
            self._ws.close()
        finally:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            shutil.rmtree(self._profile, ignore_errors=True)


READY_JS = """(() => {
  const main = document.querySelector('[data-testid="stMainBlockContainer"]');
  if (!main) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && status.innerText.trim()) return false;
  const h1 = main.querySelector('h1');
  const charts = [...main.querySelectorAll('[data-testid="stEChartsChart"]')];
  const drawn = c => c.getAttribute('aria-busy') === 'false' && c.querySelector('svg path');
  const plots = charts.filter(drawn).length;
  const tables = main.querySelectorAll('[data-testid="stDataFrame"]').length;
  const undrawn = charts.length - plots;
  if (!h1 || !h1.innerText.includes(%(title)s) || plots < %(plots)d || tables < %(tables)d
      || undrawn > 0) return false;
  return {title: h1.innerText, plots: plots, tables: tables, height: main.scrollHeight,
          text: main.innerText,
          exceptions: main.querySelectorAll('[data-testid="stException"]').length,
          nav: [...document.querySelectorAll('[data-testid="stSidebarNav"] a')]
                 .map(a => a.innerText.trim().split('\\n').pop())};
})()"""
"""Truthy (the page's state) once a Streamlit page has finished its run, drawn every ECharts
chart it holds, and shows at least the given number of charts and tables under a title
containing the given text. Finished means the app's ``data-test-script-state`` is
``notRunning``: the status widget shows a run only after about half a second, so a page with
nothing else to wait for used to pass while its script was still running. A chart counts as
drawn when Streamlit's container (``stEChartsChart``) is no longer ``aria-busy`` and holds
SVG paths (``dashboard.ui.chart`` renders SVG without animation, so axes and series are
drawn in the same pass); a container without them is undrawn and keeps the page not ready."""


@dataclass(frozen=True)
class PageSpec:
    """What a dashboard page must show before it counts as rendered."""

    path: str
    """URL path of the page (empty for the default page)."""
    plots: int = 0
    tables: int = 0
    title: str = ""
    """Text the page's title contains."""

    @property
    def name(self) -> str:
        """File-name stem for the page's screenshots."""
        return self.path or "overview"


def ready_expression(spec: PageSpec) -> str:
    """The JavaScript that tells whether ``spec`` has rendered (see ``READY_JS``)."""
    import json

    return READY_JS % {"title": json.dumps(spec.title), "plots": spec.plots,
                       "tables": spec.tables}


def click_tab(browser: Chromium, label: str) -> None:
    """Click the tab (``st.tabs``) labelled ``label`` in the page's main area.

    Raises ValueError when no such tab is shown.
    """
    import json

    found = browser.evaluate(
        "(() => { const tab = [...document.querySelectorAll("
        "'[data-testid=\"stMainBlockContainer\"] [role=\"tab\"]')]"
        f".find(b => b.innerText.trim() === {json.dumps(label)}); "
        "if (!tab) return false; tab.click(); return true; })()")
    if not found:
        raise ValueError(f"no tab labelled {label!r} on the page")


def render_page(browser: Chromium, url: str, spec: PageSpec, png: Path | None = None,
                timeout_s: float = 90.0) -> dict[str, Any]:
    """Open ``url``, wait for ``spec``, grow the viewport to the page and save a PNG.

    Returns the page's state: title, counts, full text, exceptions shown and the sidebar
    navigation labels.
    """
    browser.set_viewport(1000)
    browser.navigate("about:blank")
    browser.navigate(url)
    expr = ready_expression(spec)
    browser.wait_for(expr, timeout_s=timeout_s)
    state = browser.evaluate(expr)
    if png is not None:
        # Streamlit scrolls inside the viewport: a viewport as tall as the page shows all.
        browser.set_viewport(int(state["height"]) + 160)
        browser.wait_for(expr, timeout_s=30)
        browser.screenshot(png)
    return dict(browser.evaluate(expr))
