"""Screenshots of every dashboard page in both languages: ``python -m dashboard.screenshots``.

Serves the dashboard (``streamlit run``) on a free loopback port against a store, opens each
page in headless chromium (Debian's ``/usr/bin/chromium``) in Japanese and English, waits
until the page has finished and drawn its charts, and saves ``<page>_<lang>.png``::

    greenpipe demo --store sqlite:///tmp/demo.db      # let the backfill finish, then Ctrl-C
    greenpipe forecast run --store sqlite:///tmp/demo.db
    python -m dashboard.screenshots --store sqlite:///tmp/demo.db --out docs/screenshots/demo

Development tooling for documentation; needs chromium and a CJK font for Japanese text.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import requests

from dashboard.browser import Chromium, PageSpec, find_chromium, render_page
from dashboard.i18n import LANGS, t
from dashboard.launch import dashboard_env, streamlit_command
from greenpipe.net import free_loopback_port


def page_specs(lang: str) -> tuple[PageSpec, ...]:
    """The six pages, recognised by their translated titles."""
    return (
        PageSpec("", title=t("ov.header", lang, city="", fy="").split()[-1]),
        PageSpec("sites", title=t("nav.sites", lang)),
        PageSpec("forecast", title=t("nav.forecast", lang)),
        PageSpec("meters", title=t("nav.meters", lang)),
        PageSpec("export", title=t("nav.export", lang)),
        PageSpec("reports", title=t("nav.reports", lang)),
    )


def serve(config: str | None, store: str | None, as_of: str | None,
          log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    """Start the dashboard on a free loopback port; return the process and its base URL."""
    port = free_loopback_port()
    proc = subprocess.Popen(streamlit_command(port), env=dashboard_env(config, store, as_of),
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the dashboard did not answer /_stcore/health within 60 s")


def main(argv: list[str] | None = None) -> int:
    """Save a PNG of every page in every language; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML config (default: $GREENPIPE_CONFIG or example)")
    parser.add_argument("--store", help="store URL, overrides store.url")
    parser.add_argument("--as-of", help="pin the dashboard clock (ISO 8601 with offset)")
    parser.add_argument("--out", required=True, help="directory for the PNGs")
    args = parser.parse_args(argv)
    binary = find_chromium()
    if binary is None:
        print("chromium is not installed: apt-get install chromium", file=sys.stderr)
        return 2
    out = Path(args.out)
    with tempfile.TemporaryFile() as log:
        proc, url = serve(args.config, args.store, args.as_of, log)
        browser = Chromium(binary)
        try:
            for lang in LANGS:
                for spec in page_specs(lang):
                    png = out / f"{spec.name}_{lang}.png"
                    state = render_page(browser, f"{url}/{spec.path}?lang={lang}", spec, png)
                    print(f"{png}: {state['plots']} charts, {state['tables']} tables")
        finally:
            browser.close()
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
