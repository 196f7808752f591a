"""The simulated fleet: every configured meter's power, interval energy and register, vectorised.

Power is a pure function of (seed, meter, instant). It is defined on a fixed 5-minute grid
of knots in absolute time and linear between knots, so the energy of any interval is the
exact integral of that power (trapezoids between knots), the energy of an interval equals
the sum over any split of it, and a slot's value does not depend on where a run started or
on the publishing interval. Registers start from a seeded value and accumulate that energy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from greenpipe import wire
from greenpipe.config import Config, ShutdownPeriod
from greenpipe.errors import ConfigError
from greenpipe.model import Meter, MeterKind
from greenpipe.plant_calendar import DEFAULT_SHUTDOWNS, day_type, public_holiday_name
from simulators import patterns as waste
from simulators import production as prod
from simulators.noise import base_key, key64, normal, smooth_normal, uniform
from simulators.production import PRODUCTION_PROFILE
from simulators.profiles import DAY_CODES, PROFILES, WEATHER_PROFILE, SlotContext
from simulators.solar import clear_sky_poa_w_m2, pv_power_fraction
from simulators.weather import clearness_by_day, local_day_jst, temp_air_c_at

KNOT_S = 300
"""Spacing of the power knots; power is linear between them. [s]"""

_STREAM_DAY = key64("fleet.noise.day")
_STREAM_HOUR = key64("fleet.noise.hour")
_STREAM_WHITE = key64("fleet.noise.white")
_STREAM_REGISTER = key64("fleet.register0")


@dataclass(frozen=True, slots=True)
class SimMeter:
    """One configured meter as the simulator sees it."""

    meter: Meter
    profile: str
    timezone: str
    nominal_kw: float
    topic: str


@dataclass(frozen=True, slots=True)
class Step:
    """The fleet's state at the end of one published interval."""

    t_epoch_s: int
    """End of the interval, the readings' timestamp. [s since epoch]"""
    power_kw: NDArray[np.float64]
    """Power of each energy meter at the timestamp. [kW]"""
    energy_kwh: NDArray[np.float64]
    """Energy of each energy meter over the interval (un-rounded). [kWh]"""
    register_kwh: NDArray[np.float64]
    """Each energy meter's un-rounded register after the interval. [kWh]"""
    temp_air_c: float
    """Outdoor temperature at the timestamp (published by weather meters). [°C]"""
    production: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    """Output of each production meter over the interval. [its unit]"""


def _office_closed(day: date) -> bool:
    if day.weekday() >= 5 or public_holiday_name(day):
        return True
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@lru_cache(maxsize=4096)
def _day_info(day: date, shutdowns: tuple[ShutdownPeriod, ...]) -> tuple[int, int, bool, bool]:
    prev = day - timedelta(days=1)
    return (
        DAY_CODES[day_type(day, shutdowns)],
        DAY_CODES[day_type(prev, shutdowns)],
        _office_closed(day),
        day.month == 1 and day.day == 1,
    )


def validate_meters(cfg: Config) -> tuple[SimMeter, ...]:
    """Return the meters to simulate, or raise ConfigError naming the bad key and the fix.

    Meters without a ``profile`` are real meters and are not simulated.
    """
    known = ", ".join(PROFILES)
    sites = cfg.sites_by_id()
    out: list[SimMeter] = []
    for i, m in enumerate(cfg.meters):
        if m.profile is None:
            continue
        if (m.profile == PRODUCTION_PROFILE) != (m.kind == MeterKind.PRODUCTION):
            raise ConfigError(f"meters[{i}].profile", m.profile,
                              f"use profile {PRODUCTION_PROFILE!r} exactly for meters of kind "
                              "'production'")
        if m.profile == PRODUCTION_PROFILE:
            if m.nominal_output_per_h is None:
                raise ConfigError(f"meters[{i}].nominal_output_per_h", None,
                                  "a simulated production meter needs its output per hour "
                                  "at full load")
            out.append(SimMeter(meter=m, profile=m.profile,
                                timezone=sites[m.site].timezone, nominal_kw=0.0,
                                topic=wire.reading_topic(cfg.broker.topic_prefix, m.site,
                                                         m.id)))
            continue
        if m.profile not in PROFILES:
            raise ConfigError(f"meters[{i}].profile", m.profile, f"choose one of {known}")
        is_weather_profile = m.profile == WEATHER_PROFILE
        if is_weather_profile != (m.kind == MeterKind.WEATHER):
            raise ConfigError(
                f"meters[{i}].profile", m.profile,
                "use profile 'weather' exactly for meters of kind 'weather'",
            )
        if not is_weather_profile and m.nominal_kw is None:
            raise ConfigError(
                f"meters[{i}].nominal_kw", None,
                "a simulated meter needs nominal_kw (full-load power or PV peak, in kW)",
            )
        out.append(SimMeter(
            meter=m,
            profile=m.profile,
            timezone=sites[m.site].timezone,
            nominal_kw=float(m.nominal_kw or 0.0),
            topic=wire.reading_topic(cfg.broker.topic_prefix, m.site, m.id),
        ))
    if not out:
        raise ConfigError(
            "meters", len(cfg.meters),
            "no meter has a simulator profile; set profile and nominal_kw on the meters "
            f"to simulate (profiles: {known})",
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Group:
    """Energy meters that share a profile and a time zone, evaluated together."""

    profile: str
    timezone: str
    rows: NDArray[np.int64]
    nominal_kw: NDArray[np.float64]
    day_keys: NDArray[np.uint64]
    hour_keys: NDArray[np.uint64]
    white_keys: NDArray[np.uint64]


class Fleet:
    """Power, energy and registers of every simulated meter of a config, for one seed."""

    def __init__(self, cfg: Config, seed: int) -> None:
        self.seed = seed
        self.meters = validate_meters(cfg)
        self.energy_meters = tuple(m for m in self.meters
                                   if m.profile not in (WEATHER_PROFILE, PRODUCTION_PROFILE))
        self.production_meters = tuple(m for m in self.meters
                                       if m.profile == PRODUCTION_PROFILE)
        self.weather_meters = tuple(m for m in self.meters if m.profile == WEATHER_PROFILE)
        self._latitude_deg = cfg.simulator.latitude_deg
        self._longitude_deg = cfg.simulator.longitude_deg
        self._shutdowns = tuple(cfg.shutdowns) or DEFAULT_SHUTDOWNS
        keys = [key64(m.meter.id) for m in self.energy_meters]
        by_group: dict[tuple[str, str], list[int]] = {}
        for row, m in enumerate(self.energy_meters):
            by_group.setdefault((m.profile, m.timezone), []).append(row)
        self._groups = [
            _Group(
                profile=profile,
                timezone=tz,
                rows=np.asarray(rows, dtype=np.int64),
                nominal_kw=np.asarray([self.energy_meters[r].nominal_kw for r in rows]),
                day_keys=np.asarray([base_key(seed, keys[r], _STREAM_DAY) for r in rows],
                                    dtype=np.uint64),
                hour_keys=np.asarray([base_key(seed, keys[r], _STREAM_HOUR) for r in rows],
                                     dtype=np.uint64),
                white_keys=np.asarray([base_key(seed, keys[r], _STREAM_WHITE) for r in rows],
                                      dtype=np.uint64),
            )
            for (profile, tz), rows in by_group.items()
        ]
        rows_by_id = {m.meter.id: r for r, m in enumerate(self.energy_meters)}
        self._measures: list[tuple[int, date, float, str]] = [
            (rows_by_id[ms.meter], ms.start,
             waste.measure_multiplier(ms.change_pct, cfg.waste_patterns, ms.id),
             self.energy_meters[rows_by_id[ms.meter]].timezone)
            for ms in cfg.measures if ms.meter in rows_by_id
        ]
        self._patterns = [(rows_by_id[p.meter], p) for p in cfg.waste_patterns
                          if p.enabled and p.meter in rows_by_id]
        self.initial_register_kwh = np.asarray([
            round(m.nominal_kw * 8760.0 * (0.5 + 2.5 * float(
                uniform(base_key(seed, k, _STREAM_REGISTER), 0)[0])), 3)
            for m, k in zip(self.energy_meters, keys, strict=True)
        ], dtype=np.float64)
        self.register_kwh = self.initial_register_kwh.copy()
        self.t_epoch_s: int | None = None
        self._drivers = [self._driver_row(m) for m in self.production_meters]
        self._driver_rows = np.asarray(self._drivers, dtype=np.int64)

    def _driver_row(self, m: SimMeter) -> int:
        """Row of the electricity meter whose load drives production meter ``m``."""
        for row, e in enumerate(self.energy_meters):
            if e.meter.site == m.meter.site and e.meter.kind == MeterKind.ELECTRICITY:
                return row
        raise ConfigError(f"meters.{m.meter.id}.profile", PRODUCTION_PROFILE,
                          f"site {m.meter.site} has no simulated electricity meter to drive "
                          "its production; add one or drop the production profile")

    def _output(self, process_kwh: NDArray[np.float64], start_s: int,
                ends: NDArray[np.int64]) -> NDArray[np.float64]:
        """Each production meter's output per interval from its driver's process energy."""
        out = np.zeros((len(self.production_meters), ends.size))
        bounds = np.concatenate(([start_s], ends)).astype(np.float64)
        dt_h = np.diff(bounds) / 3600.0
        no_measure = np.ones(ends.size)
        for i, m in enumerate(self.production_meters):
            driver = self.energy_meters[self._drivers[i]]
            off = datetime.fromtimestamp(int(ends[0]), ZoneInfo(m.timezone)).utcoffset()
            local_days = (ends.astype(np.float64) + (off or timedelta()).total_seconds()) / 86400.0
            demand = prod.demand_factor(self.seed, m.meter.id, local_days)
            out[i] = prod.output(process_kwh[i], driver.nominal_kw, dt_h, no_measure,
                                 float(m.meter.nominal_output_per_h or 0.0), demand)
        return out

    # ------------------------------------------------------------ pure functions of time

    def _context(self, t: NDArray[np.int64], timezone: str, temp: NDArray[np.float64],
                 clearness: NDArray[np.float64], pv_fraction: NDArray[np.float64]) -> SlotContext:
        tz = ZoneInfo(timezone)
        offsets = {int(t[0]), int(t[-1])}
        offs = [datetime.fromtimestamp(x, tz).utcoffset() for x in offsets]
        if len(set(offs)) == 1:
            off_s = np.full(t.shape, offs[0].total_seconds() if offs[0] else 0.0)
        else:  # a daylight-saving change inside this interval
            off_s = np.asarray([
                (datetime.fromtimestamp(int(x), tz).utcoffset() or timedelta()).total_seconds()
                for x in t
            ])
        local = t.astype(np.float64) + off_s
        local_day = np.floor(local / 86400.0).astype(np.int64)
        infos = {d: _day_info(date(1970, 1, 1) + timedelta(days=int(d)), self._shutdowns)
                 for d in np.unique(local_day)}
        info = np.asarray([infos[d] for d in local_day.tolist()], dtype=np.int64)
        return SlotContext(
            t_epoch_s=t.astype(np.float64),
            local_hour=(local % 86400.0) / 3600.0,
            local_days=local / 86400.0,
            day_code=info[:, 0],
            prev_day_code=info[:, 1],
            office_closed=info[:, 2].astype(bool),
            new_years_day=info[:, 3].astype(bool),
            temp_air_c=temp,
            clearness=clearness,
            pv_fraction=pv_fraction,
        )

    def power_kw(self, t_epoch_s: NDArray[np.int64]) -> NDArray[np.float64]:
        """Return every energy meter's power at instants on the knot grid. [kW]

        Shape (meters, instants). A pure function of the seed and the instants.
        """
        return self._power(t_epoch_s)[0]

    def _power(self, t_epoch_s: NDArray[np.int64]) -> tuple[
            NDArray[np.float64], NDArray[np.float64]]:
        """Return (every energy meter's power, each production driver's process load). [kW]

        The process load is the driver's power before efficiency measures and injected
        waste: production follows what the plant makes, so a measure does not cut output
        and waste left on over a weekend does not raise it.
        """
        t = np.asarray(t_epoch_s, dtype=np.int64)
        if np.any(t % KNOT_S):
            raise ValueError(f"power_kw is defined on the {KNOT_S} s knot grid")
        tf = t.astype(np.float64)
        temp = temp_air_c_at(tf, self.seed)
        clearness = clearness_by_day(local_day_jst(tf), self.seed)
        poa = clear_sky_poa_w_m2(tf, self._latitude_deg, self._longitude_deg)
        pv_fraction = pv_power_fraction(poa * clearness, temp)
        out = np.zeros((len(self.energy_meters), t.size), dtype=np.float64)
        contexts: dict[str, SlotContext] = {}
        for g in self._groups:
            ctx = contexts.get(g.timezone)
            if ctx is None:
                ctx = contexts[g.timezone] = self._context(t, g.timezone, temp, clearness,
                                                           pv_fraction)
            profile = PROFILES[g.profile]
            shape = profile.shape(ctx)
            factor: NDArray[np.float64] | float = 1.0
            if profile.day_sd:
                factor = factor + profile.day_sd * smooth_normal(
                    g.day_keys[:, None], ctx.local_days[None, :], 1.0)
            if profile.hour_sd:
                hour_sd = profile.hour_sd * (
                    (1.0 - ctx.clearness) * 2.0 if profile.cloud_driven else 1.0)
                factor = factor + hour_sd * smooth_normal(
                    g.hour_keys[:, None], (tf / 3600.0)[None, :], 1.0)
            if profile.white_sd:
                factor = factor + profile.white_sd * normal(
                    g.white_keys[:, None], (t // KNOT_S)[None, :])
            power = g.nominal_kw[:, None] * shape[None, :] * factor
            out[g.rows] = np.clip(power, 0.0, None)
        process = out[self._driver_rows].copy()
        for row, start, mult, tz_name in self._measures:
            tz = ZoneInfo(tz_name)
            first = datetime(start.year, start.month, start.day, tzinfo=tz).timestamp()
            out[row] *= np.where(tf >= first, mult, 1.0)
        for row, pattern in self._patterns:
            m = self.energy_meters[row]
            ctx = contexts.get(m.timezone)
            if ctx is None:
                ctx = contexts[m.timezone] = self._context(t, m.timezone, temp, clearness,
                                                           pv_fraction)
            out[row] = np.clip(waste.apply(pattern, out[row], ctx, m.nominal_kw, m.timezone),
                               0.0, None)
        return out, process

    def integrate(self, start_s: int, ends_s: NDArray[np.int64]) -> tuple[
            NDArray[np.float64], NDArray[np.float64]]:
        """Return (energy [kWh], power at each end [kW]), each shaped (meters, len(ends))."""
        energy, power, _ = self.integrate_all(start_s, ends_s)
        return energy, power

    def integrate_all(self, start_s: int, ends_s: NDArray[np.int64]) -> tuple[
            NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return (energy [kWh], power at each end [kW], production output [unit]).

        Energy and power are shaped (energy meters, len(ends)); the output of each
        production meter over each interval is shaped (production meters, len(ends)).

        Interval i runs from the previous end (``start_s`` for the first) to ``ends_s[i]``.
        The energy is the exact integral of the piecewise-linear power between knots, summed
        segment by segment in time order, so it is bitwise the same however the intervals
        are batched.
        """
        ends = np.asarray(ends_s, dtype=np.int64)
        bounds = np.concatenate(([start_s], ends))
        if np.any(np.diff(bounds) <= 0):
            raise ValueError("interval ends must increase and come after the start")
        g0 = (start_s // KNOT_S) * KNOT_S
        g1 = -((-int(ends[-1])) // KNOT_S) * KNOT_S
        grid = np.arange(g0, g1 + KNOT_S, KNOT_S, dtype=np.int64)
        p, process = self._power(grid)
        x = np.union1d(grid[(grid > start_s) & (grid < ends[-1])], bounds)
        pos = (x - g0) / KNOT_S
        idx = np.minimum(np.floor(pos).astype(np.int64), grid.size - 2)
        w = pos - idx
        values = p[:, idx] * (1.0 - w) + p[:, idx + 1] * w
        dt_h = np.diff(x).astype(np.float64) / 3600.0
        segments = (values[:, :-1] + values[:, 1:]) / 2.0 * dt_h
        first_segment = np.searchsorted(x, bounds[:-1])
        energy = np.add.reduceat(segments, first_segment, axis=1)
        if not process.shape[0]:
            return energy, values[:, np.searchsorted(x, ends)], np.zeros((0, ends.size))
        pv = process[:, idx] * (1.0 - w) + process[:, idx + 1] * w
        process_kwh = np.add.reduceat((pv[:, :-1] + pv[:, 1:]) / 2.0 * dt_h, first_segment,
                                      axis=1)
        return (energy, values[:, np.searchsorted(x, ends)],
                self._output(process_kwh, start_s, ends))

    # ------------------------------------------------------------ the running state

    def start(self, t_epoch_s: int,
              continue_from: Mapping[str, tuple[int, float]] | None = None) -> Step:
        """Put the registers at their seeded initial values at ``t_epoch_s``; return that step.

        ``continue_from`` maps a meter id to ``(epoch seconds, register [kWh])`` of a reading
        published earlier (a restart): that meter's register continues from it, plus the
        energy the profile gives between then and ``t_epoch_s``.
        """
        self.register_kwh = self.initial_register_kwh.copy()
        gaps: dict[int, NDArray[np.float64]] = {}  # from epoch s -> energy of every meter
        for row, m in enumerate(self.energy_meters):
            held = (continue_from or {}).get(m.meter.id)
            if held is None or held[0] > t_epoch_s:
                continue
            if held[0] < t_epoch_s and held[0] not in gaps:
                gaps[held[0]] = self.integrate(held[0], np.asarray([t_epoch_s]))[0][:, 0]
            gap = float(gaps[held[0]][row]) if held[0] < t_epoch_s else 0.0
            self.register_kwh[row] = round(held[1] + gap, 3)
        self.t_epoch_s = t_epoch_s
        _, power = self.integrate(t_epoch_s - KNOT_S, np.asarray([t_epoch_s]))
        return Step(t_epoch_s, power[:, 0], np.zeros(power.shape[0]), self.register_kwh.copy(),
                    float(temp_air_c_at(t_epoch_s, self.seed)[0]),
                    np.zeros(len(self.production_meters)))

    def advance(self, ends_s: list[int]) -> list[Step]:
        """Accumulate the energy up to each of ``ends_s`` into the registers; return the steps."""
        if self.t_epoch_s is None:
            raise RuntimeError("call start() before advance()")
        if not ends_s:
            return []
        ends = np.asarray(ends_s, dtype=np.int64)
        energy, power, output = self.integrate_all(self.t_epoch_s, ends)
        # cumsum adds left to right, exactly as adding one interval after another would.
        registers = np.cumsum(np.column_stack((self.register_kwh, energy)), axis=1)[:, 1:]
        temps = temp_air_c_at(ends, self.seed)
        steps = [
            Step(int(ends[i]), power[:, i], energy[:, i], registers[:, i], float(temps[i]),
                 output[:, i])
            for i in range(ends.size)
        ]
        self.register_kwh = registers[:, -1].copy()
        self.t_epoch_s = int(ends[-1])
        return steps

    def messages(self, step: Step, seq: int) -> list[tuple[str, bytes]]:
        """Encode one step as (topic, payload) pairs in config order (wire contract v1)."""
        ts = datetime.fromtimestamp(step.t_epoch_s, UTC)
        out: list[tuple[str, bytes]] = []
        rows = iter(range(len(self.energy_meters)))
        registers = step.register_kwh.tolist()
        powers = step.power_kw.tolist()
        prod_rows = iter(range(len(self.production_meters)))
        for m in self.meters:
            if m.profile == WEATHER_PROFILE:
                out.append((m.topic, wire.encode_weather(ts, step.temp_air_c, seq)))
            elif m.profile == PRODUCTION_PROFILE:
                q = float(step.production[next(prod_rows)]) if step.production.size else 0.0
                out.append((m.topic, wire.encode_production(ts, q, seq)))
            else:
                r = next(rows)
                out.append((m.topic, wire.encode_reading(ts, registers[r], powers[r], seq)))
        return out
