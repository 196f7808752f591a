"""Register-to-interval conversion: cumulative meter registers -> interval energy.

Pure logic, no I/O: ``RegisterTracker`` holds, per meter, the most recent readings it
accepted (seeded from ``Store.latest()`` at start-up, so a restarted collector continues
where the stored data ends) and turns each new sample into readings.

Rules (stable codes in ``collector.codes.QualityCode`` / ``greenpipe.model.QualityFlag``
for flags kept on a reading, ``collector.codes.RejectCode`` for dead letters):

* first register of a meter: ``energy_kwh`` is unknown (None), ``quality.first_reading``;
* later register: ``energy_kwh = round(register - previous, 6)`` at the later timestamp, so
  a meter's interval energies add up to its register delta (rounding to 1 mWh only removes
  binary floating-point noise); an interval longer than ``gap_after`` is flagged
  ``quality.gap`` (its energy is still exact: the register bridges the gap);
* register went backwards: a rollover (``quality.counter_rollover``) when the previous
  register was in the top 10 % below a power of ten, the new one in the bottom 10 %, and
  the wrapped delta is plausible; otherwise a meter replacement or reset
  (``quality.counter_reset``, energy unknown) — never a fake spike;
* an interval whose average power exceeds the meter's ``rated_max_power_kw`` is stored
  with unknown energy and ``quality.spike``; the register state does not advance, so the
  next good reading's energy spans both intervals and the total stays exact. If the next
  reading continues plausibly from the spike, the jump was real (a replaced meter): it
  becomes the new baseline. A ``power_kw`` above rating is dropped and flagged the same way;
* same meter and timestamp again with the same register (an MQTT redelivery or a duplicate
  publish): nothing new to write (empty result); with a different register:
  ``quality.duplicate_conflict`` (dead letter, the first value stands);
* older than the newest reading but inside the recent history, between two readings whose
  registers it fits: the interval is re-split — the late reading gets ``reg - prev`` and
  the following reading is rewritten with ``next - reg`` (``quality.late``); the store
  keeps the last write per meter and instant, so the sum is unchanged. Earlier than a
  meter's first reading: it becomes the first, and the old first gets its energy;
* older than the recent history but already in the store (``is_stored``, e.g. a message
  the broker redelivers after the collector crashed between the write and the ack): a
  duplicate too, the stored value stands; otherwise ``quality.out_of_order`` (dead letter);
* interval form (``energy_kwh``) and weather (``temp_air_c``) pass through, the interval
  form flagged ``quality.interval_form``; they do not touch register state.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from collector.codes import QualityCode, RejectCode
from collector.decoders import Sample
from greenpipe.errors import PayloadError
from greenpipe.model import QualityFlag, Reading

DEFAULT_HISTORY = 32
"""Recent readings remembered per meter for duplicates and late readings. [readings]"""
SHARED_HISTORY = 512
"""History when collectors share a subscription: forwarded readings can arrive many
readings late when the burst is large (about 100 kB per meter). [readings]"""
ROLLOVER_BAND = 0.1
"""Rollover: previous register within this fraction below 10^k, new one below it. [-]"""

_HOUR = timedelta(hours=1)


@dataclass(slots=True)
class _MeterState:
    held: list[Reading] = field(default_factory=list)
    """Accepted register readings, oldest first: the baseline chain."""
    seen: OrderedDict[datetime, float] = field(default_factory=OrderedDict)
    """Registers seen per instant (including spikes), for duplicate detection."""
    spike: Reading | None = None
    """The last reading refused as a spike, in case the meter really jumped."""

    @property
    def last(self) -> Reading:
        return self.held[-1]

    def remember(self, reading: Reading, history: int) -> None:
        assert reading.register_kwh is not None
        if not self.held or reading.ts > self.held[-1].ts:
            self.held.append(reading)
        else:
            bisect.insort(self.held, reading, key=lambda r: r.ts)
        if len(self.held) > history:
            del self.held[0]
        self.see(reading, history)

    def see(self, reading: Reading, history: int) -> None:
        assert reading.register_kwh is not None
        self.seen[reading.ts] = reading.register_kwh
        while len(self.seen) > history:
            self.seen.popitem(last=False)


class RegisterTracker:
    """Turns samples into readings, keeping each meter's recent registers."""

    def __init__(
        self, latest: Mapping[str, Reading] | None = None, *, history: int = DEFAULT_HISTORY,
        is_stored: Callable[[str, datetime], bool] | None = None,
        rated_max_kw: Mapping[str, float | None] | None = None,
        gap_after: timedelta | None = None,
    ) -> None:
        """Start from ``latest`` (``Store.latest()``): each meter continues from its register.

        ``is_stored(meter_id, ts)`` answers whether the store already holds a reading of
        the meter at ``ts``; it is asked only for old samples outside the recent history.
        ``rated_max_kw`` maps meter ids to their rated maximum power [kW] for spike checks;
        intervals longer than ``gap_after`` are flagged ``quality.gap``.
        """
        if history < 1:
            raise ValueError(f"history must be at least 1 reading, got {history}")
        self._history = history
        self._is_stored = is_stored
        self._rated = dict(rated_max_kw or {})
        self._gap_after = gap_after
        self._states: dict[str, _MeterState] = {}
        for meter_id, reading in (latest or {}).items():
            if reading.register_kwh is not None:
                state = _MeterState()
                state.remember(reading, history)
                self._states[meter_id] = state

    def seed(self, meter_id: str, stored: Sequence[Reading]) -> None:
        """Continue a meter from its stored register readings (oldest first), spikes included.

        Refused spikes are remembered as seen (a redelivery is a duplicate) and, when newest,
        as the candidate jump; the others form the baseline chain. Used by the stateless
        scale-out (``collector.stateless``) with the context the store read in its write
        transaction; replaces what the tracker held for the meter.
        """
        state = _MeterState()
        for reading in stored:
            if reading.register_kwh is None:
                continue
            if not is_baseline(reading):
                if state.held:
                    state.see(reading, self._history)
                    state.spike = reading
                continue
            state.remember(reading, self._history)
            state.spike = None
        if state.held:
            self._states[meter_id] = state
        else:
            self._states.pop(meter_id, None)

    def adopt(self, meter_id: str, source: RegisterTracker) -> None:
        """Take over ``source``'s state of a meter (its newest readings, up to our history).

        After the store re-derived a meter in order (``collector.stateless``), the replay's
        tracker knows the meter's newest readings and spike candidate as stored, unless the
        replay stopped before our newest (the readings after it kept their energy).
        """
        state, mine = source._states.get(meter_id), self._states.get(meter_id)
        if state is None or (mine is not None and mine.last.ts > state.last.ts):
            return
        self._states[meter_id] = _MeterState(
            held=state.held[-self._history:],
            seen=OrderedDict(list(state.seen.items())[-self._history:]), spike=state.spike)

    def last_register(self, meter_id: str) -> tuple[datetime, float] | None:
        """Return the newest accepted ``(ts, register_kwh)`` of a meter, or None."""
        state = self._states.get(meter_id)
        if state is None:
            return None
        last = state.last
        assert last.register_kwh is not None
        return last.ts, last.register_kwh

    def convert(self, sample: Sample) -> Reading | None:
        """Return the reading for ``sample`` itself, or None for a duplicate (see ``resolve``)."""
        out = self.resolve(sample)
        return out[0] if out else None

    def resolve(self, sample: Sample) -> list[Reading]:
        """Return the readings to write for ``sample``: none, its own, or its own + a rewrite.

        Raises PayloadError with ``quality.out_of_order`` or ``quality.duplicate_conflict``
        when the sample cannot be turned into a reading without corrupting interval energy.
        """
        power_kw, power_flags = self._check_power(sample)
        if sample.temp_air_c is not None:
            return [Reading(meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                            temp_air_c=sample.temp_air_c, power_kw=power_kw,
                            quality=power_flags)]
        if sample.energy_kwh is not None:
            return [Reading(
                meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                energy_kwh=sample.energy_kwh, power_kw=power_kw,
                quality=power_flags | {QualityFlag.INTERVAL_FORM.value},
            )]
        register = sample.register_kwh
        if register is None:
            raise ValueError(f"sample of meter {sample.meter_id} carries no value: {sample!r}")
        state = self._states.get(sample.meter_id)
        if state is None:
            self._states[sample.meter_id] = state = _MeterState()
            first = self._reading(sample, None, power_kw,
                                  power_flags | {QualityFlag.FIRST_READING.value})
            state.remember(first, self._history)
            return [first]
        seen = state.seen.get(sample.ts)
        if seen is not None:
            if seen == register:
                return []
            raise duplicate_conflict(sample.meter_id, sample.ts, seen, register)
        if sample.ts > state.last.ts:
            return [self._forward(sample, state, power_kw, power_flags)]
        if self._is_stored is not None and self._is_stored(sample.meter_id, sample.ts):
            return []  # stored before a crash or restart: a redelivery
        return self._late(sample, state, power_kw, power_flags)

    # ------------------------------------------------------------ internals

    def _forward(self, sample: Sample, state: _MeterState, power_kw: float | None,
                 flags: frozenset[str]) -> Reading:
        register = sample.register_kwh
        assert register is not None
        prev = state.last
        assert prev.register_kwh is not None
        energy_kwh, step_flags = self._delta(prev, sample.ts, register)
        flags = flags | step_flags
        if energy_kwh is not None and self._too_fast(sample.meter_id, energy_kwh,
                                                     sample.ts - prev.ts):
            spike, state.spike = state.spike, None
            if spike is not None and spike.register_kwh is not None and register >= \
                    spike.register_kwh and not self._too_fast(
                        sample.meter_id, register - spike.register_kwh, sample.ts - spike.ts):
                # The meter really jumped (replaced, or re-based): continue from the jump.
                state.remember(spike, self._history)
                reading = self._reading(sample, round(register - spike.register_kwh, 6),
                                        power_kw, flags - {QualityCode.ROLLOVER.value})
                state.remember(reading, self._history)
                return reading
            refused = self._reading(sample, None, power_kw,
                                    (flags - {QualityCode.ROLLOVER.value})
                                    | {QualityCode.SPIKE.value})
            state.spike = refused
            state.see(refused, self._history)
            return refused
        state.spike = None
        if self._gap_after is not None and sample.ts - prev.ts > self._gap_after:
            flags = flags | {QualityCode.GAP.value}
        reading = self._reading(sample, energy_kwh, power_kw, flags)
        state.remember(reading, self._history)
        return reading

    def _late(self, sample: Sample, state: _MeterState, power_kw: float | None,
              flags: frozenset[str]) -> list[Reading]:
        """Insert a late register between two held readings, re-splitting their interval."""
        register = sample.register_kwh
        assert register is not None
        i = bisect.bisect_left([r.ts for r in state.held], sample.ts)
        first = state.held[0]
        assert first.register_kwh is not None
        if i == 0 and QualityFlag.FIRST_READING.value in first.quality and \
                register <= first.register_kwh:
            # An earlier reading than the meter's first one (e.g. it went through another
            # collector): it becomes the first, and the old first gets its energy.
            late = self._reading(sample, None, power_kw, flags | {
                QualityFlag.FIRST_READING.value, QualityCode.LATE.value})
            rewritten = replace(first, energy_kwh=round(first.register_kwh - register, 6),
                                quality=first.quality - {QualityFlag.FIRST_READING.value})
            state.held[0] = rewritten
            state.remember(late, self._history)
            return [late, rewritten]
        if i == 0:
            last = state.last
            raise PayloadError(
                RejectCode.OUT_OF_ORDER,
                f"reading of meter {sample.meter_id} at {sample.ts.isoformat()} is older than "
                f"the {len(state.held)} recent readings the collector holds (newest "
                f"{last.register_kwh!r} kWh at {last.ts.isoformat()}) and not in the store; "
                "its interval energy cannot be computed, so it was not stored",
            )
        prev, nxt = state.held[i - 1], state.held[i]
        assert prev.register_kwh is not None and nxt.register_kwh is not None
        fits = (prev.register_kwh <= register <= nxt.register_kwh
                and nxt.energy_kwh is not None and not nxt.quality & _NOT_PLAIN)
        if not fits:
            raise PayloadError(
                RejectCode.OUT_OF_ORDER,
                f"late reading of meter {sample.meter_id} at {sample.ts.isoformat()} "
                f"({register!r} kWh) does not fit between its neighbours "
                f"({prev.register_kwh!r} kWh at {prev.ts.isoformat()}, "
                f"{nxt.register_kwh!r} kWh at {nxt.ts.isoformat()}); it was not stored",
            )
        late = self._reading(sample, round(register - prev.register_kwh, 6), power_kw,
                             flags | {QualityCode.LATE.value})
        rewritten = replace(nxt, energy_kwh=round(nxt.register_kwh - register, 6))
        state.held[i] = rewritten
        state.remember(late, self._history)
        return [late, rewritten]

    def _delta(self, prev: Reading, ts: datetime, register: float
               ) -> tuple[float | None, frozenset[str]]:
        assert prev.register_kwh is not None
        if register >= prev.register_kwh:
            return round(register - prev.register_kwh, 6), frozenset()
        exponent = math.ceil(math.log10(prev.register_kwh)) if prev.register_kwh > 0 else 0
        if prev.register_kwh > 0 and exponent <= 300:  # 10.0 ** 309 would overflow
            wrap = 10.0 ** math.ceil(math.log10(prev.register_kwh * (1 + 1e-12)))
            wrapped = wrap - prev.register_kwh + register
            if (prev.register_kwh >= (1 - ROLLOVER_BAND) * wrap
                    and register < ROLLOVER_BAND * wrap
                    and not self._too_fast(prev.meter_id, wrapped, ts - prev.ts)):
                return round(wrapped, 6), frozenset({QualityCode.ROLLOVER.value})
        return None, frozenset({QualityFlag.COUNTER_RESET.value})

    def plausible(self, meter_id: str, energy_kwh: float, dt: timedelta) -> bool:
        """Return False when ``energy_kwh`` in ``dt`` implies more than the meter's rating."""
        return not self._too_fast(meter_id, energy_kwh, dt)

    def _too_fast(self, meter_id: str, energy_kwh: float, dt: timedelta) -> bool:
        rated = self._rated.get(meter_id)
        if rated is None or dt <= timedelta(0):
            return False
        return energy_kwh / (dt / _HOUR) > rated * (1 + 1e-9)

    def _check_power(self, sample: Sample) -> tuple[float | None, frozenset[str]]:
        rated = self._rated.get(sample.meter_id)
        if sample.power_kw is not None and rated is not None and \
                abs(sample.power_kw) > rated * (1 + 1e-9):
            return None, frozenset({QualityCode.SPIKE.value})
        return sample.power_kw, frozenset()

    @staticmethod
    def _reading(sample: Sample, energy_kwh: float | None, power_kw: float | None,
                 quality: frozenset[str]) -> Reading:
        return Reading(
            meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
            energy_kwh=energy_kwh, register_kwh=sample.register_kwh,
            power_kw=power_kw, quality=quality,
        )


def duplicate_conflict(meter_id: str, ts: datetime, first_kwh: float, again_kwh: float
                       ) -> PayloadError:
    """Return the dead-letter error for a second, different register at one instant."""
    return PayloadError(
        RejectCode.DUPLICATE_CONFLICT,
        f"meter {meter_id} already reported register {first_kwh!r} kWh at {ts.isoformat()}; "
        f"this message says {again_kwh!r} kWh for the same instant, so it was not stored "
        "(the first value stands)")


def is_baseline(reading: Reading) -> bool:
    """Return True when a stored register reading is part of the meter's baseline chain.

    Only a register refused as a spike is not (``quality.spike`` with unknown energy, not
    a first reading or a reset: a ``power_kw`` above rating alone keeps the register).
    """
    return reading.register_kwh is not None and not (
        QualityCode.SPIKE.value in reading.quality and reading.energy_kwh is None
        and not reading.quality & _STARTS)


DERIVED = frozenset({QualityFlag.FIRST_READING.value, QualityFlag.COUNTER_RESET.value,
                     QualityCode.ROLLOVER.value, QualityCode.SPIKE.value, QualityCode.GAP.value,
                     QualityCode.LATE.value})
"""Flags the register rules set from a reading's neighbours (recomputed on a replay)."""
_STARTS = frozenset({QualityFlag.FIRST_READING.value, QualityFlag.COUNTER_RESET.value})
_NOT_PLAIN = frozenset({QualityFlag.FIRST_READING.value, QualityFlag.COUNTER_RESET.value,
                        QualityCode.ROLLOVER.value, QualityCode.SPIKE.value})
"""A following reading with one of these flags was not ``next - prev``: no re-split."""
