"""The [alerts] config section: defaults, secrets from environment or files, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greenpipe.config import AlertsConfig, config_from_dict, load_config
from greenpipe.errors import ConfigError

LINE_USER = "U" + "0123456789abcdef" * 2


def _cfg(alerts: dict[str, Any], env: dict[str, str] | None = None,
         base_dir: Path | None = None) -> AlertsConfig:
    return config_from_dict({"alerts": alerts}, env=env or {}, base_dir=base_dir).alerts


def test_defaults_live_in_the_typed_model_and_example_config_loads() -> None:
    a = _cfg({})
    assert (a.dedupe_window_s, a.offline_factor, a.stall_after_s, a.retries) == (
        86400, 3.0, 3600, 3)
    assert (a.webhook_url, a.smtp_password, a.line_token) == (None, None, None)
    assert load_config(env={}).alerts == AlertsConfig()


@pytest.mark.parametrize("key", ["webhook_url", "smtp_password", "line_token"])
def test_secrets_in_the_toml_are_refused_without_echoing_them(key: str) -> None:
    with pytest.raises(ConfigError) as err:
        _cfg({key: "hunter2"})
    assert err.value.key == f"alerts.{key}"
    assert f"GREENPIPE_ALERTS_{key.upper()}" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_secrets_come_from_environment_or_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("line-token-from-file\n")
    a = _cfg({"line_to": LINE_USER, "line_token_file": "token"},
             env={"GREENPIPE_ALERTS_WEBHOOK_URL": "https://hooks.example/x",
                  "GREENPIPE_ALERTS_SMTP_PASSWORD": "pw"}, base_dir=tmp_path)
    assert (a.webhook_url, a.smtp_password, a.line_token) == (
        "https://hooks.example/x", "pw", "line-token-from-file")
    assert "line-token-from-file" not in repr(a) and "hooks.example" not in repr(a)
    with pytest.raises(ConfigError, match="cannot read it"):
        _cfg({"smtp_password_file": "missing"}, base_dir=tmp_path)


def test_scalar_keys_take_environment_overrides() -> None:
    a = _cfg({}, env={"GREENPIPE_ALERTS_STALL_AFTER_S": "600",
                      "GREENPIPE_ALERTS_SMTP_SECURITY": "ssl"})
    assert (a.stall_after_s, a.smtp_security) == (600, "ssl")


@pytest.mark.parametrize(("alerts", "key", "fix"), [
    ({"dedupe_window_s": 0}, "alerts.dedupe_window_s", "1 s or more"),
    ({"offline_factor": 0.5}, "alerts.offline_factor", "1 or more"),
    ({"retries": 11}, "alerts.retries", "0 to 10"),
    ({"email_to": "ops@example.jp"}, "alerts.smtp_host", "SMTP server"),
    ({"email_to": "ops@example.jp", "smtp_host": "h"}, "alerts.email_from", "sender"),
    ({"email_to": "ops", "smtp_host": "h", "email_from": "a@b"}, "alerts.email_to", "e-mail"),
    ({"smtp_port": 0}, "alerts.smtp_port", "TCP port"),
    ({"line_to": "someone"}, "alerts.line_to[0]", "32 hex digits"),
    ({"smtp_security": "tls"}, "alerts.smtp_security", "starttls"),
    ({"retry": 1}, "alerts.retry", "did you mean 'retries'"),
])
def test_bad_values_name_the_key_and_the_fix(alerts: dict[str, Any], key: str,
                                             fix: str) -> None:
    with pytest.raises(ConfigError) as err:
        _cfg(alerts)
    assert err.value.key == key
    assert fix in str(err.value)
