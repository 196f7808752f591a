"""Stores: one ``Store`` protocol, several implementations chosen by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from greenpipe.stores.base import Catalog, GroupBy, MeterStats, Store, StoreStats
from greenpipe.stores.url import StoreUrl, parse_store_url

if TYPE_CHECKING:
    from greenpipe.config import Config, StoreConfig

__all__ = [
    "Catalog",
    "GroupBy",
    "MeterStats",
    "Store",
    "StoreStats",
    "StoreUrl",
    "open_configured_store",
    "open_store",
    "parse_store_url",
]


def open_store(
    url: str, catalog: Catalog | None = None, settings: StoreConfig | None = None
) -> Store:
    """Open the store a URL names (``sqlite:///abs.db``, ``sqlite:rel.db``,
    ``influxdb://HOST:PORT/DB``, ``influxdbs://HOST:PORT/DB``).

    ``settings`` (the ``[store]`` config) supplies InfluxDB's org, token, API and timeout;
    without it the token comes from ``GREENPIPE_INFLUX_TOKEN``.

    ``catalog`` supplies each meter's kind and each site's sector, which the store keeps
    with every reading so reads can aggregate by sector. Raises ConfigError for a bad URL
    and StoreError when the store cannot be opened.
    """
    parsed = parse_store_url(url, key="--store")
    if parsed.scheme == "sqlite":
        from greenpipe.stores.sqlite import SqliteStore

        assert parsed.path is not None
        return SqliteStore(parsed.path, catalog)
    if parsed.scheme in ("influxdb", "influxdbs"):
        from greenpipe.stores.influx import InfluxStore

        if settings is None:
            return InfluxStore(parsed, catalog)
        return InfluxStore(parsed, catalog, org=settings.org, token=settings.token,
                           api=settings.api, timeout_s=settings.timeout_s)
    raise AssertionError(f"parse_store_url accepted unhandled scheme {parsed.scheme}")


def open_configured_store(cfg: Config) -> Store:
    """Open the store ``cfg.store`` names, catalogued with the config's meters and sites.

    This is the one way the CLI, collector, demo and dashboard open their store, so the
    ``[store]`` settings (InfluxDB org, token, API, timeout) are never forgotten.
    """
    return open_store(cfg.store.url, Catalog.of(cfg.meters, cfg.sites), cfg.store)
