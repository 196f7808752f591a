"""``greenpipe findings run|list|ack|resolve|dismiss`` end to end on a simulated city store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenpipe.app.cli import main
from tests.findings_city import AS_OF, city


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The finder test city (430 days, patterns on, no forecast run) and its config file."""
    root = tmp_path_factory.mktemp("cli")
    _, store = city(root)
    store.close()
    return root / "city-42-1.toml"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_run_list_and_change_status(config_path: Path, capsys: pytest.CaptureFixture[str]
                                    ) -> None:
    cfg = ["--config", str(config_path)]
    assert main(["findings", "run", *cfg, "--as-of", AS_OF.isoformat(), "--json",
                 "--no-progress"]) == 0
    found = _json_lines(capsys.readouterr().out)
    codes = {(f["code"], f["meter"]) for f in found}
    # Without a forecast run CUSUM and the measure check cannot judge (warnings instead);
    # the office's HVAC drift still shows as load running into the night.
    assert codes == {("waste.off_hours_base_load", "f3-main"), ("demand.peak", "f2-main"),
                     ("pv.underperformance", "pv-1"), ("ev.peak_charging", "depot-chargers"),
                     ("waste.off_hours_base_load", "office-main")}
    costs = [f["annual_cost_jpy"] for f in found]
    assert costs == sorted(costs, reverse=True)
    peak = next(f for f in found if f["code"] == "demand.peak")
    assert peak["start"] == "2026-10-01T00:00:00+09:00"  # ISO-8601 with the city's offset
    assert peak["status"] == "new" and peak["proposal"]["ja"] and peak["proposal"]["en"]

    assert main(["findings", "ack", peak["id"][:7], *cfg, "--note", "起動順序を見直し中",
                 "--by", "tanaka"]) == 0
    assert "is now acknowledged (by tanaka)" in capsys.readouterr().out
    assert main(["findings", "list", *cfg, "--status", "acknowledged", "--json"]) == 0
    (acked,) = _json_lines(capsys.readouterr().out)
    assert (acked["id"], acked["status_by"], acked["status_note"]) == (
        peak["id"], "tanaka", "起動順序を見直し中")

    # A re-run keeps the id and the acknowledged status; nothing is duplicated.
    assert main(["findings", "run", *cfg, "--as-of", AS_OF.isoformat(), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5 findings (0 new or reopened)" in out
    assert "warning findings.no_baseline [drift.baseline_cusum]" in out
    assert main(["findings", "list", *cfg, "--json"]) == 0
    listed = _json_lines(capsys.readouterr().out)
    assert len(listed) == 5
    assert next(f for f in listed if f["id"] == peak["id"])["status"] == "acknowledged"

    for action, status in (("resolve", "resolved"), ("dismiss", "dismissed")):
        assert main(["findings", action, peak["id"], *cfg, "--by", "sato"]) == 0
        capsys.readouterr()
        assert main(["findings", "list", *cfg, "--status", status, "--json"]) == 0
        assert [f["id"] for f in _json_lines(capsys.readouterr().out)] == [peak["id"]]
    assert main(["findings", "list", *cfg]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["id", "status", "code"]


def test_unknown_id_is_a_clear_error(config_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["findings", "dismiss", "F-nope", "--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "no stored finding has id 'F-nope'" in err and "Traceback" not in err
