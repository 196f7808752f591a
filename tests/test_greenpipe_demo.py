"""The demo's forecast-then-findings chain (greenpipe/app/demo.py ``_tend_forecaster``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from greenpipe.app.demo import DemoOptions, _Child, _tend_forecaster
from greenpipe.config import Config

ECHO = [sys.executable, "-c", "import sys; print(' '.join(sys.argv[1:]))"]


def _finished(name: str, code: int) -> _Child:
    proc = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    proc.wait(timeout=30)
    return _Child(name, proc)


def test_a_successful_forecast_run_is_followed_by_the_finder(
        example_config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    nxt = _tend_forecaster(_finished("forecast", 0), example_config, dict(os.environ), ECHO,
                           DemoOptions())
    assert nxt is not None and nxt.name == "findings"
    assert nxt.process.wait(timeout=30) == 0
    out = capsys.readouterr().out
    assert "demo: forecast run done" in out
    assert "running `greenpipe findings run`" in out
    # The finder finishing ends the chain: it is reported and returned as finished.
    done = _tend_forecaster(nxt, example_config, dict(os.environ), ECHO, DemoOptions())
    assert done is nxt and done.process.poll() == 0
    assert "demo: findings run done" in capsys.readouterr().out


def test_a_failed_forecast_run_does_not_start_the_finder(
        example_config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    failed = _finished("forecast", 3)
    assert _tend_forecaster(failed, example_config, dict(os.environ), ECHO,
                            DemoOptions()) is failed
    assert "forecast run failed (exit 3)" in capsys.readouterr().out
