"""Parsing of ``--store`` URLs: ``sqlite:///abs/path.db``, ``sqlite:relative.db``,
``influxdb://HOST:PORT/DB`` and ``influxdbs://HOST:PORT/DB`` (TLS)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from greenpipe.errors import ConfigError

SUPPORTED_SCHEMES = ("sqlite", "influxdb", "influxdbs")
"""Store URL schemes this version understands."""


@dataclass(frozen=True, slots=True)
class StoreUrl:
    """A parsed store URL."""

    scheme: str
    path: Path | None = None
    """Database file, for ``sqlite``."""
    host: str | None = None
    port: int | None = None
    database: str | None = None
    """Database or bucket name, for network stores."""


def parse_store_url(url: str, key: str = "store.url") -> StoreUrl:
    """Parse a store URL, raising ConfigError that names ``key`` when it is malformed."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(key, url, "give a store URL such as sqlite:greenpipe.db")
    url = url.strip()
    scheme, sep, rest = url.partition(":")
    if not sep:
        raise ConfigError(
            key, url, "a store URL starts with a scheme: sqlite:///abs/path.db or sqlite:rel.db"
        )
    scheme = scheme.lower()
    if scheme == "sqlite":
        if rest.startswith("///"):
            path = Path(rest[2:])
        elif rest.startswith("//"):
            raise ConfigError(
                key, url, "use sqlite:///abs/path.db (three slashes) or sqlite:relative/path.db"
            )
        else:
            path = Path(rest)
        if not str(path) or str(path) in (".", "/"):
            raise ConfigError(key, url, "name a database file, e.g. sqlite:var/greenpipe.db")
        return StoreUrl(scheme="sqlite", path=path)
    if scheme in ("influxdb", "influxdbs"):
        return _parse_influx_url(url, scheme, key)
    parts = urlsplit(url)
    raise ConfigError(
        key,
        url,
        f"unknown store scheme {parts.scheme!r}; supported: "
        + ", ".join(f"{s}:" for s in SUPPORTED_SCHEMES),
    )


def _parse_influx_url(url: str, scheme: str, key: str) -> StoreUrl:
    example = f"{scheme}://127.0.0.1:8086/greenpipe"
    parts = urlsplit(url)
    if "@" in parts.netloc:
        # Tokens end up in logs and process lists when they ride in URLs.
        raise ConfigError(key, "<url with credentials>",
                          "never put credentials in the URL; set GREENPIPE_INFLUX_TOKEN or "
                          f"store.token_file and use {example}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(key, url, f"the port is not a number; e.g. {example}") from None
    if not parts.hostname:
        raise ConfigError(key, url, f"name the host, e.g. {example}")
    database = unquote(parts.path.lstrip("/"))
    if not database or parts.query or parts.fragment:
        raise ConfigError(key, url, f"name the database or bucket as the path, e.g. {example}")
    return StoreUrl(scheme=scheme, host=parts.hostname, port=port or 8086, database=database)
