"""Run the production Mosquitto configuration (deploy/mosquitto/) on free loopback ports.

The shipped mosquitto.conf and the example credentials (credentials/acl.example, made by
``greenpipe broker credentials --simulator`` for the example city, and
credentials/passwd.example) are used as they are; only the two listener ports and the
container paths are rewritten for a temporary directory.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from greenpipe.net import free_loopback_port
from tests.conftest import REPO, _find_mosquitto, wait_for_port

DEPLOY = REPO / "deploy" / "mosquitto"
CREDENTIALS = DEPLOY / "credentials"
EXAMPLE_PASSWORDS = {"collector": "change-me-collector", "simulator": "change-me-simulator"}
"""The passwords credentials/passwd.example was hashed from (credentials/passwords/*.example)."""


@dataclass(frozen=True)
class DeployMosquitto:
    """The production Mosquitto config running locally."""

    host: str
    port: int
    """The authenticated listener (1883 in the container)."""
    health_port: int
    """The loopback, anonymous, $SYS-only health listener (1880 in the container)."""
    process: subprocess.Popen[bytes]


def start_deploy_mosquitto(workdir: Path) -> DeployMosquitto:
    """Start Debian's mosquitto with deploy/mosquitto/* on free loopback ports."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, health = free_loopback_port(), free_loopback_port()
    text = (DEPLOY / "mosquitto.conf").read_text()
    replacements = {
        r"^listener 1883$": f"listener {port} 127.0.0.1",
        r"^listener 1880 127\.0\.0\.1$": f"listener {health} 127.0.0.1",
        r"^persistence_location /mosquitto/data/$": f"persistence_location {workdir}/",
        r"^password_file /mosquitto/config/passwd$": f"password_file {CREDENTIALS}/passwd.example",
        r"^acl_file /mosquitto/config/acl$": f"acl_file {CREDENTIALS}/acl.example",
        r"^log_dest stdout$": "log_dest stderr",
    }
    for pattern, new in replacements.items():
        text, n = re.subn(pattern, new, text, flags=re.M)
        assert n >= 1, f"deploy/mosquitto/mosquitto.conf no longer has a line {pattern!r}"
    conf = workdir / "mosquitto.conf"
    conf.write_text(text)
    log = open(workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([_find_mosquitto(), "-c", str(conf)], stdout=log, stderr=log)
    wait_for_port(port, proc)
    wait_for_port(health, proc)
    return DeployMosquitto("127.0.0.1", port, health, proc)
