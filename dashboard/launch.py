"""Start the dashboard as a ``streamlit run`` process (used by ``greenpipe dashboard``).

The app reads its configuration from the environment, so the launcher passes the config
file as ``GREENPIPE_CONFIG`` and the effective store URL as ``GREENPIPE_STORE_URL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
"""The Streamlit entrypoint."""


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """Return the argv that serves the dashboard headless on ``address:port``."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", address,
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--theme.base", "light",
        "--client.toolbarMode", "viewer",
    ]


def dashboard_env(config_path: str | Path | None, store_url: str | None,
                  as_of: str | None = None, base: Mapping[str, str] | None = None
                  ) -> dict[str, str]:
    """Return the environment for the dashboard process (config, store, optional clock)."""
    env = dict(os.environ if base is None else base)
    if config_path:
        env["GREENPIPE_CONFIG"] = str(Path(config_path).resolve())
    if store_url:
        env["GREENPIPE_STORE_URL"] = store_url
    if as_of:
        env["GREENPIPE_DASHBOARD_AS_OF"] = as_of
    return env


def run_dashboard(config_path: str | Path | None, store_url: str | None, port: int,
                  address: str = "127.0.0.1", as_of: str | None = None) -> int:
    """Serve the dashboard in the foreground until stopped; returns Streamlit's exit code.

    On POSIX the process becomes Streamlit (``exec``), so Ctrl-C, SIGTERM from systemd or
    ``docker stop`` reach the server itself and no orphaned server is left behind.
    """
    argv = streamlit_command(port, address)
    env = dashboard_env(config_path, store_url, as_of)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], argv, env)  # does not return
    proc = subprocess.Popen(argv, env=env)  # Windows: no exec; forward Ctrl-C by hand
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 130
