"""``greenpipe dashboard``: the Streamlit command line and environment it builds."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dashboard.launch import APP, dashboard_env, streamlit_command
from greenpipe.app.cli import main
from greenpipe.net import free_loopback_port
from tests.conftest import wait_for_port


def test_streamlit_command_is_headless_on_loopback() -> None:
    argv = streamlit_command(8765)
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert argv[4] == str(APP) and Path(argv[4]).is_file()
    opts = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert opts["--server.port"] == "8765"
    assert opts["--server.address"] == "127.0.0.1"
    assert opts["--server.headless"] == "true"
    assert opts["--browser.gatherUsageStats"] == "false"


def test_dashboard_env_passes_config_store_and_clock(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    env = dashboard_env(cfg, "sqlite:///x.db", "2025-10-01T12:00+09:00", base={"PATH": "/bin"})
    assert env == {"PATH": "/bin", "GREENPIPE_CONFIG": str(cfg.resolve()),
                   "GREENPIPE_STORE_URL": "sqlite:///x.db",
                   "GREENPIPE_DASHBOARD_AS_OF": "2025-10-01T12:00+09:00"}
    assert dashboard_env(None, None, base={}) == {}


def test_cli_rejects_a_naive_as_of_before_starting_streamlit(capsys) -> None:
    assert main(["dashboard", "--as-of", "2025-10-01T12:00"]) == 2
    err = capsys.readouterr().err
    assert "GREENPIPE_DASHBOARD_AS_OF" in err and "UTC offset" in err


def test_cli_rejects_a_bad_store_url(capsys) -> None:
    assert main(["dashboard", "--store", "nosuch://x"]) == 2
    assert "--store" in capsys.readouterr().err


@pytest.mark.integration
def test_cli_serves_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    """`greenpipe dashboard` answers on loopback; SIGTERM stops the server, no orphan left."""
    port = free_loopback_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "greenpipe", "dashboard", "--port", str(port),
         "--store", f"sqlite:///{tmp_path / 'empty.db'}", "--as-of", "2025-10-01T12:00+09:00"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc, timeout_s=60)
        assert requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=30).text == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0].decode()
    assert f"dashboard on http://127.0.0.1:{port}/" in out
    with socket.socket() as sock:  # the server is gone, not orphaned: the port is free
        sock.bind(("127.0.0.1", port))
