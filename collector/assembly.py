"""Build the writer side of a collector: store, spool, register tracker and ``Pipeline``.

Shared by the two writer modes (``collector.writer``): the writer thread builds it in the
collector's process (``collector.service``), the writer process in its child
(``collector.writer_process``). No threads and no MQTT here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from collector.decoders import DecodeContext
from collector.pipeline import Inbound, Pipeline, Route
from collector.registers import DEFAULT_HISTORY, SHARED_HISTORY, RegisterTracker
from collector.sharing import Ownership, share_group
from collector.spool import Spool, SpoolingStore
from collector.stateless import OrderedStore, OrderedWriter, PendingRegisters, TailRegisters
from greenpipe.config import Config
from greenpipe.errors import ConfigError, StoreError
from greenpipe.stores import Store

__all__ = ["Assembled", "assemble", "spool_path_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assembled:
    """What ``assemble`` built; the caller owns ``store`` (close it when done)."""

    store: Store
    """The store the pipeline writes to (the ``SpoolingStore`` when there is a spool)."""
    spooling: SpoolingStore | None
    pipeline: Pipeline
    had_data: bool
    """The store (or spool) already held readings or ``seq`` states at start-up."""


def assemble(
    cfg: Config,
    routes: Sequence[Route],
    store_factory: Callable[[Config], Store],
    *,
    on_durable: Callable[[Sequence[Inbound]], None] | None,
    observe_write: Callable[[float], None] | None,
) -> Assembled:
    """Open the store (and spool) and build the pipeline the configuration asks for.

    Raises StoreError when the store cannot be opened and ConfigError for a share group
    the store cannot serve.
    """
    store = store_factory(cfg)
    spool_path = spool_path_for(cfg)
    lookup = _store_lookup(store)
    group = share_group(cfg)
    ownership = Ownership.from_config(cfg)
    spooling: SpoolingStore | None = None
    try:
        if spool_path is not None:
            spool = Spool(spool_path, cfg.collector.spool_max_readings, store=cfg.store.url)
            store = spooling = SpoolingStore(store, spool, batch_size=cfg.collector.batch_size)
            store_lookup = lookup

            def lookup(meter_id: str, ts: datetime) -> bool:
                return spool.holds(meter_id, ts) or store_lookup(meter_id, ts)

        cc = cfg.collector
        latest = store.latest()
        sequences = store.read_sequence_states()
        rated = {m.id: m.rated_max_power_kw for m in cfg.meters}
        gap_after = timedelta(seconds=cc.gap_after_s)
        ordered: OrderedWriter | None = None
        orderable = store if isinstance(store, OrderedStore) else None
        can_order = spooling is None and orderable is not None
        if group is not None and ownership is None:
            # Stateless members: the store orders each meter's readings (no state here).
            if not can_order:
                raise ConfigError(
                    "collector.share_members", cc.share_members,
                    f"collector.share_group {group!r} without members needs a "
                    f"SQLite store without a spool (got {store!r}); InfluxDB has no "
                    "transactions to order a meter's readings in, so list every member "
                    "of the group by client id (ownership forwarding)")
            assert orderable is not None
            ordered = OrderedWriter(orderable, rated_max_kw=rated, gap_after=gap_after)
            tracker: RegisterTracker = PendingRegisters(rated_max_kw=rated)
        elif can_order and ownership is None:
            # One collector, SQLite: in-order readings from memory (the newest per
            # meter), late ones resolved against the store in its write transaction.
            assert orderable is not None
            ordered = OrderedWriter(orderable, rated_max_kw=rated, gap_after=gap_after)
            tracker = TailRegisters(latest, rated_max_kw=rated, gap_after=gap_after)
        else:
            tracker = RegisterTracker(
                latest, is_stored=lookup,
                history=DEFAULT_HISTORY if ownership is None else SHARED_HISTORY,
                rated_max_kw=rated, gap_after=gap_after)
        pipeline = Pipeline(
            store, DecodeContext.from_config(cfg), tracker, routes,
            batch_size=cc.batch_size, on_durable=on_durable,
            future_tolerance=timedelta(seconds=cc.future_tolerance_s),
            observe_write=observe_write, sequences=sequences, ordered=ordered,
            shared_sequences=group is not None and ownership is None,
        )
    except BaseException:
        store.close()
        raise
    return Assembled(store, spooling, pipeline, bool(latest or sequences))


def spool_path_for(cfg: Config) -> Path | None:
    """Return the spool file ``collector.spool_path`` resolves to, or None for no spool."""
    value = cfg.collector.spool_path
    if value == "auto":
        if cfg.store.url.startswith("sqlite:"):
            return None  # the store is a local file already; a spool would add nothing
        return Path("var") / f"collector-spool-{cfg.collector.client_id}.db"
    return Path(value) if value else None


def _store_lookup(store: Store) -> Callable[[str, datetime], bool]:
    """Return ``is_stored(meter_id, ts)``: does the store hold a reading at that instant?"""
    ms = timedelta(milliseconds=1)

    def is_stored(meter_id: str, ts: datetime) -> bool:
        try:
            frame = store.read(ts - ms, ts, ms, meters=[meter_id])
        except StoreError as exc:  # cannot tell: the caller dead-letters it with the reason
            log.warning("cannot check whether %s at %s is stored: %s", meter_id,
                        ts.isoformat(), exc)
            return False
        return bool(len(frame)) and int(frame["readings"].sum()) > 0

    return is_stored
