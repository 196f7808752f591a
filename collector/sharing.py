"""Scale-out: MQTT 5 shared subscriptions, stateless or with one owner per meter topic.

With ``collector.share_group`` set and ``collector.share_members`` empty the members are
stateless (``collector.stateless``: the SQLite store's write transaction orders each
meter's readings). With ``share_members`` listed, each meter has an owner, as follows;
this is how grouped collectors write to InfluxDB, which has no transactions.

Interval energy needs each meter's readings in one place, in order (see
``docs/collector.md``, "Scale-out and register state"). With ``$share/<group>/...`` the
broker hands a message to any member of the group, so a collector that receives a reading
of a meter it does not own forwards it, unchanged, to the owner's private topic
``<prefix>/_collector/<owner>/<original topic>`` at QoS 1 and acknowledges the original
only once the broker has accepted the forward (at-least-once end to end: a crash in
between makes the broker redeliver, and the owner recognises the duplicate).

Ownership is a stable hash of the message topic (all of a meter's messages share one
topic in every decoder) over the configured member list, the same in every process.
Each owner subscribes to its private topic in its persistent session, so readings
forwarded while it is down wait in the broker. Readings of one meter forwarded by
different members can arrive out of order; the owner's register tracker re-splits them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from greenpipe.config import Config
from greenpipe.errors import ConfigError
from greenpipe.wire import BATCH_SUFFIX, READING_SUFFIX

_BATCH_END = "/" + BATCH_SUFFIX
_READING_END = "/" + READING_SUFFIX


@dataclass(frozen=True, slots=True)
class Ownership:
    """Who owns which topic in a shared-subscription group."""

    group: str
    members: tuple[str, ...]
    me: str
    prefix: str
    """Topic prefix of the private forward topics, ``<topic_prefix>/_collector``."""

    @classmethod
    def from_config(cls, cfg: Config) -> Ownership | None:
        """Return the group's ownership, or None without a group or without members."""
        c = cfg.collector
        if share_group(cfg) is None or not c.share_members.strip():
            return None
        members = tuple(m.strip() for m in c.share_members.split(",") if m.strip())
        if c.client_id not in members:
            raise ConfigError(
                "collector.share_members", c.share_members,
                f"list every collector of group {c.share_group!r} by client id, including "
                f"this one ({c.client_id!r}), identically on every member")
        if len(set(members)) != len(members) or any(ch in m for m in members for ch in "/+#"):
            raise ConfigError("collector.share_members", c.share_members,
                              "use distinct client ids without '/', '+' or '#'")
        return cls(c.share_group, members, c.client_id,
                   f"{cfg.broker.topic_prefix}/_collector")

    @property
    def private_filter(self) -> str:
        """The filter of this member's forward topic."""
        return f"{self.prefix}/{self.me}/#"

    def owner(self, topic: str) -> str:
        """Return the member that owns ``topic`` (stable across processes).

        A batch upload (``.../readings``) belongs to the owner of the meter's single-reading
        topic (``.../reading``), so one member sees all of a meter's readings.
        """
        if topic.endswith(_BATCH_END):
            topic = topic[:-len(_BATCH_END)] + _READING_END
        return self.members[zlib.crc32(topic.encode("utf-8", "replace")) % len(self.members)]

    def forward_topic(self, owner: str, topic: str) -> str:
        """Return the private topic that carries ``topic``'s message to ``owner``."""
        return f"{self.prefix}/{owner}/{topic}"

    def unwrap(self, topic: str) -> str | None:
        """Return the original topic of a message forwarded to this member, else None."""
        head = f"{self.prefix}/{self.me}/"
        return topic[len(head):] if topic.startswith(head) else None


def share_group(cfg: Config) -> str | None:
    """Return ``collector.share_group`` checked, or None when the collector is not grouped."""
    group = cfg.collector.share_group
    if not group:
        return None
    if any(ch in group for ch in "/+#"):
        raise ConfigError("collector.share_group", group,
                          "use a group name without '/', '+' or '#'")
    return group


def shared(group: str, topic_filter: str) -> str:
    """Return the shared-subscription form of a topic filter."""
    return f"$share/{group}/{topic_filter}"
