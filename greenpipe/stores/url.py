"""Parsing of ``--store`` URLs: ``sqlite:///abs/path.db``, ``sqlite:relative.db``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from greenpipe.errors import ConfigError

SUPPORTED_SCHEMES = ("sqlite",)
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
    parts = urlsplit(url)
    raise ConfigError(
        key,
        url,
        f"unknown store scheme {parts.scheme!r}; supported: "
        + ", ".join(f"{s}:" for s in SUPPORTED_SCHEMES),
    )
