"""Stores: one ``Store`` protocol, several implementations chosen by URL."""

from __future__ import annotations

from greenpipe.stores.base import Catalog, GroupBy, MeterStats, Store, StoreStats
from greenpipe.stores.url import StoreUrl, parse_store_url

__all__ = [
    "Catalog",
    "GroupBy",
    "MeterStats",
    "Store",
    "StoreStats",
    "StoreUrl",
    "open_store",
    "parse_store_url",
]


def open_store(url: str, catalog: Catalog | None = None) -> Store:
    """Open the store a URL names (``sqlite:///abs.db``, ``sqlite:rel.db``).

    ``catalog`` supplies each meter's kind and each site's sector, which the store keeps
    with every reading so reads can aggregate by sector. Raises ConfigError for a bad URL
    and StoreError when the store cannot be opened.
    """
    parsed = parse_store_url(url, key="--store")
    if parsed.scheme == "sqlite":
        from greenpipe.stores.sqlite import SqliteStore

        assert parsed.path is not None
        return SqliteStore(parsed.path, catalog)
    raise AssertionError(f"parse_store_url accepted unhandled scheme {parsed.scheme}")
