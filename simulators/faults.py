"""``greenpipe simulate --faults``: the field faults real meters produce, for demos and tests.

A seeded ``FaultInjector`` rewrites each step's messages before they are published:

* ``dropout``   — the message is not published (a gap in the meter's series);
* ``reset``     — the meter's register restarts from zero and continues from there
  (a replaced meter, or one that lost its memory);
* ``duplicate`` — the message is published twice (a gateway retry);
* ``malformed`` — the payload is cut short (invalid JSON);
* ``skew``      — the timestamp is two days ahead of the wall clock (a meter clock that
  ran away), beyond the collector's default ``future_tolerance_s``.

Each message gets at most one fault, with probability ``rate`` split evenly across the
kinds. Only register readings get resets and skew; weather messages can still be dropped,
duplicated or malformed. Off unless asked for: the default rate is 0.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

KINDS = ("dropout", "reset", "duplicate", "malformed", "skew")
"""The fault kinds, in the order the random draw assigns them."""
SKEW = timedelta(days=2)
"""How far ahead a skewed meter clock runs."""


class FaultInjector:
    """Applies random faults to outgoing (topic, payload) messages, reproducibly."""

    def __init__(self, rate: float, seed: int, *,
                 clock: type[datetime] = datetime) -> None:
        """``rate`` is the probability that a message gets a fault, in [0, 1]."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate!r}")
        self.rate = rate
        self._rng = random.Random(seed)
        self._clock = clock
        self._offsets: dict[str, float] = {}
        self.counts: Counter[str] = Counter()
        """Faults injected so far, by kind."""

    def apply(self, messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """Return the messages to publish instead of ``messages``."""
        out: list[tuple[str, bytes]] = []
        for topic, payload in messages:
            body = json.loads(payload)
            is_register = "register_kwh" in body
            if topic in self._offsets and is_register:
                body["register_kwh"] = round(body["register_kwh"] - self._offsets[topic], 3)
                payload = json.dumps(body, separators=(",", ":")).encode()
            kind = self._draw()
            if kind in ("reset", "skew") and not is_register:
                kind = None
            if kind is not None:
                self.counts[kind] += 1
            if kind == "dropout":
                continue
            if kind == "reset":
                # From now on this meter publishes register - offset: it restarts at 0.
                self._offsets[topic] = self._offsets.get(topic, 0.0) + body["register_kwh"]
                body["register_kwh"] = 0.0
                payload = json.dumps(body, separators=(",", ":")).encode()
            elif kind == "malformed":
                payload = payload[: max(1, len(payload) // 2)]
            elif kind == "skew":
                body["ts"] = (self._clock.now(UTC) + SKEW).isoformat()
                payload = json.dumps(body, separators=(",", ":")).encode()
            out.append((topic, payload))
            if kind == "duplicate":
                out.append((topic, payload))
        return out

    def _draw(self) -> str | None:
        if self.rate <= 0.0:
            return None
        u = self._rng.random()
        if u >= self.rate:
            return None
        return KINDS[min(len(KINDS) - 1, int(u / self.rate * len(KINDS)))]

    def summary(self) -> str:
        """One line: how many faults of each kind were injected."""
        return ", ".join(f"{kind} {self.counts[kind]}" for kind in KINDS)
