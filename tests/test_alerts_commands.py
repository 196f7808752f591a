"""``greenpipe alerts check|test`` end to end: a real SQLite store, real local endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenpipe.app.cli import main
from greenpipe.model import DeadLetter, Reading
from greenpipe.net import free_loopback_port
from greenpipe.stores.sqlite import SqliteStore
from tests.alerts_endpoints import SmtpReceiver, WebhookReceiver

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

T_END = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)

CONFIG = """
[store]
url = "sqlite:city.db"
[alerts]
dedupe_window_s = 21600
retries = {retries}
backoff_s = 0.0
timeout_s = 2.0
{extra}
[[sites]]
id = "factory-1"
name = "Factory 1"
sector = "industry"
[[meters]]
id = "f1-main"
site = "factory-1"
kind = "electricity"
[[meters]]
id = "f1-gas"
site = "factory-1"
kind = "gas"
"""


def _write_config(tmp_path: Path, retries: int = 1, extra: str = "") -> str:
    path = tmp_path / "city.toml"
    path.write_text(CONFIG.format(retries=retries, extra=extra), encoding="utf-8")
    store = SqliteStore(tmp_path / "city.db")
    readings = []
    for meter, end in (("f1-main", T_END), ("f1-gas", T_END - timedelta(hours=3))):
        readings += [Reading(meter, "factory-1", end - timedelta(minutes=30 * i),
                             energy_kwh=10.0) for i in range(49)]  # 24 h at 30 min
    store.write(readings)
    store.close()
    return str(path)


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    r = WebhookReceiver().start()
    monkeypatch.setenv("GREENPIPE_ALERTS_WEBHOOK_URL", r.url())
    yield r
    r.stop()


def _check(cfg: str, as_of: datetime, capsys: pytest.CaptureFixture[str]) -> tuple[
        int, list[dict[str, object]]]:
    code = main(["alerts", "check", "--config", cfg, "--as-of", as_of.isoformat(), "--json"])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_check_sends_offline_meter_once_then_a_stall(
        tmp_path: Path, webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _write_config(tmp_path)
    # 10 min after the last write: f1-gas has been silent 3 h 10 min > 3 × 30 min.
    code, rows = _check(cfg, T_END + timedelta(minutes=10), capsys)
    assert code == 0
    [row] = rows
    assert row["kind"] == "meter_offline" and row["meter"] == "f1-gas"
    assert row["channels"] == {"webhook": {"ok": True, "attempts": 1, "error": None}}
    [(_, payload)] = webhook.received
    assert "メーターがオフライン: f1-gas (factory-1)" in payload["text"]
    assert "Meter offline: f1-gas (factory-1)" in payload["text"]
    assert "No reading for 3.2 h (usual interval 30 min)" in payload["text"]
    assert (tmp_path / "city.alerts.db").is_file()  # state beside the store
    # Same outage 5 min later (another process in real life): nothing re-sent.
    code, rows = _check(cfg, T_END + timedelta(minutes=15), capsys)
    assert code == 0 and rows[0]["channels"] == {"webhook": {"deduplicated": True}}
    assert len(webhook.received) == 1
    # 2 h without any write: one collector stall instead of two offline meters.
    code, rows = _check(cfg, T_END + timedelta(hours=2), capsys)
    assert code == 0 and [r["kind"] for r in rows] == ["collector_stall"]
    assert "Collector stalled" in webhook.received[-1][1]["text"]
    assert "2 meters silent" in webhook.received[-1][1]["text"]


def test_dead_letters_count_as_collector_activity(
        tmp_path: Path, webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = _write_config(tmp_path)
    store = SqliteStore(tmp_path / "city.db")
    store.write_dead_letters([DeadLetter(T_END + timedelta(hours=1, minutes=50), "t", b"x",
                                         "payload.bad_json", "bad")])
    store.close()
    code, rows = _check(cfg, T_END + timedelta(hours=2), capsys)
    assert code == 0
    assert sorted(r["meter"] for r in rows) == ["f1-gas", "f1-main"]  # type: ignore[type-var]
    assert all(r["kind"] == "meter_offline" for r in rows)


def test_failing_channel_exits_1_with_the_reason_and_no_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GREENPIPE_ALERTS_WEBHOOK_URL",
                       f"http://127.0.0.1:{free_loopback_port()}/services/x/y/zzSecret")
    cfg = _write_config(tmp_path, retries=1)
    code = main(["alerts", "check", "--config", cfg, "--as-of",
                 (T_END + timedelta(minutes=10)).isoformat()])
    captured = capsys.readouterr()
    assert code == 1
    assert "webhook: FAILED after 2 attempts: A Connection error occurred" in captured.out
    assert "0 sent, 1 failed" in captured.out
    assert "zzSecret" not in captured.out + captured.err
    assert "Traceback" not in captured.err


def test_alerts_test_reaches_webhook_and_smtp(
        tmp_path: Path, webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    smtp = SmtpReceiver(login=("bot", "smtp-pw")).start()
    monkeypatch.setenv("GREENPIPE_ALERTS_SMTP_PASSWORD", "smtp-pw")
    try:
        cfg = _write_config(tmp_path, extra=(
            f'email_to = "ops@example.jp"\nemail_from = "gp@example.jp"\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\nsmtp_security = "none"\n'
            'smtp_user = "bot"'))
        code = main(["alerts", "test", "--config", cfg])
    finally:
        smtp.stop()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "webhook: sent" in out and "email: sent" in out
    assert "テスト通知" in webhook.received[0][1]["text"]
    assert smtp.messages[0]["Subject"] == "[greenpipe] テスト通知 / Test alert"


def test_alerts_test_without_channels_explains_what_to_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GREENPIPE_ALERTS_WEBHOOK_URL", raising=False)
    code = main(["alerts", "test", "--config", _write_config(tmp_path)])
    assert code == 2
    assert "GREENPIPE_ALERTS_WEBHOOK_URL" in capsys.readouterr().err


def test_check_alerts_new_findings_once_and_never_acknowledged_or_low_ones(
        tmp_path: Path, webhook: WebhookReceiver, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from greenpipe.finding import Finding, finding_id

    monkeypatch.chdir(tmp_path)
    cfg = _write_config(tmp_path)

    def finding(code: str, confidence: str, co2_t: float, status: str = "new") -> Finding:
        return Finding(finding_id(code, "f1-main"), code, "factory-1", "f1-main",
                       T_END - timedelta(days=30), T_END, 1000.0 * co2_t / 0.45, co2_t,
                       co2_t * 60_000.0, confidence, "休日の空調を停止", "Switch off HVAC",
                       status=status)

    store = SqliteStore(tmp_path / "city.db")
    big = finding("waste.off_hours_base_load", "high", 12.5)
    store.write_findings([
        big, finding("demand.peak", "medium", 3.0),
        finding("drift.change_point", "low", 40.0),  # below the default medium floor
        replace(finding("drift.baseline_cusum", "high", 9.0), status="acknowledged",
                status_by="ops"),
    ])
    store.close()
    code, rows = _check(cfg, T_END + timedelta(minutes=10), capsys)
    assert code == 0
    found = [r for r in rows if r["kind"] == "new_finding"]
    # Largest t-CO2 first; the low-confidence and the acknowledged one are not sent.
    assert [r["meter"] for r in found] == ["f1-main", "f1-main"]
    texts = [p["text"] for _, p in webhook.received]
    finding_texts = [t for t in texts if "New finding" in t]
    assert len(finding_texts) == 2
    assert "waste.off_hours_base_load" in finding_texts[0]
    assert "12.5 t-CO2" in finding_texts[0] and "休日の空調を停止" in finding_texts[0]
    assert "demand.peak" in finding_texts[1]
    assert not any("drift." in t for t in finding_texts)
    # The next check within the window re-sends nothing.
    sent = len(webhook.received)
    _check(cfg, T_END + timedelta(minutes=20), capsys)
    assert len(webhook.received) == sent
