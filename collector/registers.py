"""Register-to-interval conversion: cumulative meter registers -> interval energy.

Pure logic, no I/O: ``RegisterTracker`` holds, per meter, the newest register it has seen
(seeded from ``Store.latest()`` at start-up, so a restarted collector continues where the
stored data ends) and a short history of recent readings for duplicate detection.

Rules (stable quality codes in ``greenpipe.model.QualityFlag`` and
``collector.codes.RejectCode``):

* first register of a meter: ``energy_kwh`` is unknown (None), ``quality.first_reading``;
* later register: ``energy_kwh = round(register - previous, 6)`` at the later timestamp, so
  a meter's interval energies add up to its register delta (registers come at 1 Wh
  resolution; rounding to 1 mWh only removes binary floating-point noise);
* register went backwards (meter replaced or reset): energy unknown,
  ``quality.counter_reset`` — never a fake spike;
* same meter and timestamp again with the same register (an MQTT redelivery or a duplicate
  publish): nothing new to write (``convert`` returns None); with a different register:
  ``quality.duplicate_conflict``;
* older than the recent history but already in the store (``is_stored``, e.g. a message
  the broker redelivers after the collector crashed between the write and the ack): a
  duplicate too, the stored value stands;
* older than the newest register held: ``quality.out_of_order`` (a dead letter for now;
  re-splitting the interval is issue 4's job);
* interval form (``energy_kwh``) and weather (``temp_air_c``) pass through untouched, the
  interval form flagged ``quality.interval_form``; they do not touch register state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from collector.codes import RejectCode
from collector.decoders import Sample
from greenpipe.errors import PayloadError
from greenpipe.model import QualityFlag, Reading

DEFAULT_HISTORY = 32
"""Recent readings remembered per meter to recognise duplicates. [readings]"""

_FIRST = frozenset({QualityFlag.FIRST_READING.value})
_RESET = frozenset({QualityFlag.COUNTER_RESET.value})
_INTERVAL = frozenset({QualityFlag.INTERVAL_FORM.value})


@dataclass(slots=True)
class _MeterState:
    last_ts: datetime
    last_register_kwh: float
    recent: OrderedDict[datetime, float] = field(default_factory=OrderedDict)

    def remember(self, ts: datetime, register_kwh: float, history: int) -> None:
        self.last_ts = ts
        self.last_register_kwh = register_kwh
        self.recent[ts] = register_kwh
        while len(self.recent) > history:
            self.recent.popitem(last=False)


class RegisterTracker:
    """Turns samples into readings, keeping each meter's newest register."""

    def __init__(
        self, latest: Mapping[str, Reading] | None = None, *, history: int = DEFAULT_HISTORY,
        is_stored: Callable[[str, datetime], bool] | None = None,
    ) -> None:
        """Start from ``latest`` (``Store.latest()``): each meter continues from its register.

        ``is_stored(meter_id, ts)`` answers whether the store already holds a reading of
        the meter at ``ts``; it is asked only for old samples outside the recent history.
        """
        if history < 1:
            raise ValueError(f"history must be at least 1 reading, got {history}")
        self._history = history
        self._is_stored = is_stored
        self._states: dict[str, _MeterState] = {}
        for meter_id, reading in (latest or {}).items():
            if reading.register_kwh is not None:
                state = _MeterState(reading.ts, reading.register_kwh)
                state.remember(reading.ts, reading.register_kwh, history)
                self._states[meter_id] = state

    def last_register(self, meter_id: str) -> tuple[datetime, float] | None:
        """Return the newest ``(ts, register_kwh)`` held for a meter, or None."""
        state = self._states.get(meter_id)
        return None if state is None else (state.last_ts, state.last_register_kwh)

    def convert(self, sample: Sample) -> Reading | None:
        """Return the reading for ``sample``, or None for an exact duplicate.

        Raises PayloadError with ``quality.out_of_order`` or ``quality.duplicate_conflict``
        when the sample cannot be turned into a reading without corrupting interval energy.
        """
        if sample.temp_air_c is not None:
            return Reading(
                meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                temp_air_c=sample.temp_air_c, power_kw=sample.power_kw,
            )
        if sample.energy_kwh is not None:
            return Reading(
                meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
                energy_kwh=sample.energy_kwh, power_kw=sample.power_kw, quality=_INTERVAL,
            )
        register = sample.register_kwh
        if register is None:
            raise ValueError(f"sample of meter {sample.meter_id} carries no value: {sample!r}")
        state = self._states.get(sample.meter_id)
        if state is None:
            self._states[sample.meter_id] = state = _MeterState(sample.ts, register)
            state.remember(sample.ts, register, self._history)
            return self._reading(sample, None, _FIRST)
        if sample.ts <= state.last_ts:
            if (sample.ts not in state.recent and self._is_stored is not None
                    and self._is_stored(sample.meter_id, sample.ts)):
                return None  # stored before a crash or restart: a redelivery
            self._check_duplicate(sample, state, register)
            return None
        if register >= state.last_register_kwh:
            energy_kwh: float | None = round(register - state.last_register_kwh, 6)
            quality: frozenset[str] = frozenset()
        else:
            energy_kwh, quality = None, _RESET
        state.remember(sample.ts, register, self._history)
        return self._reading(sample, energy_kwh, quality)

    @staticmethod
    def _check_duplicate(sample: Sample, state: _MeterState, register: float) -> None:
        """Return quietly for an exact duplicate of a held reading; raise otherwise."""
        seen = state.recent.get(sample.ts)
        if seen is not None:
            if seen == register:
                return
            raise PayloadError(
                RejectCode.DUPLICATE_CONFLICT,
                f"meter {sample.meter_id} already reported register {seen!r} kWh at "
                f"{sample.ts.isoformat()}; this message says {register!r} kWh for the same "
                "instant, so it was not stored (the first value stands)",
            )
        raise PayloadError(
            RejectCode.OUT_OF_ORDER,
            f"reading of meter {sample.meter_id} at {sample.ts.isoformat()} is older than the "
            f"newest register the collector holds ({state.last_register_kwh!r} kWh at "
            f"{state.last_ts.isoformat()}); out-of-order registers cannot be turned into "
            "interval energy yet, so it was not stored",
        )

    @staticmethod
    def _reading(sample: Sample, energy_kwh: float | None, quality: frozenset[str]) -> Reading:
        return Reading(
            meter_id=sample.meter_id, site_id=sample.site_id, ts=sample.ts,
            energy_kwh=energy_kwh, register_kwh=sample.register_kwh,
            power_kw=sample.power_kw, quality=quality,
        )
