"""Simulated production output of a factory, driven by its main electricity meter.

Production follows the load the factory draws above idle, so it inherits the driver meter's
shifts, weekends, holidays and plant shutdowns, plus a slow seeded demand wiggle (±5 % day
to day) of its own:

    activity = energy / (nominal_kw × Δt) / measure multiplier
    output   = nominal_output_per_h × Δt × max(activity − idle, 0) / (1 − idle) × demand

Dividing by the efficiency-measure multiplier keeps a measure from cutting output: an LED
retrofit lowers the energy per unit, not the units. ``IDLE_SHARE`` is an assumption of the
simulator (a quarter of nominal power keeps a plant warm without producing), not data.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulators.noise import base_key, key64, smooth_normal

PRODUCTION_PROFILE = "production"
"""Profile name of simulated production meters (kind ``production``)."""
IDLE_SHARE = 0.25
"""Share of nominal power drawn with nothing produced (simulator assumption). [-]"""
DEMAND_SD = 0.05
"""Day-to-day standard deviation of the demand factor. [-]"""
_STREAM_DEMAND = key64("fleet.production.demand")


def demand_factor(seed: int, meter_id: str, local_days: NDArray[np.float64]
                  ) -> NDArray[np.float64]:
    """Return the seeded, smooth demand multiplier around 1 at each local day position. [-]"""
    key = np.uint64(base_key(seed, key64(meter_id), _STREAM_DEMAND))
    return np.clip(1.0 + DEMAND_SD * smooth_normal(key, local_days, 1.0), 0.5, 1.5)


def output(energy_kwh: NDArray[np.float64], nominal_kw: float, dt_h: NDArray[np.float64] | float,
           measure_multiplier: NDArray[np.float64] | float, rate_per_h: float,
           demand: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Return production in each interval from the driver meter's energy (see module doc).

    [unit of the production meter]
    """
    activity = np.asarray(energy_kwh, dtype=np.float64) / (nominal_kw * dt_h)
    activity = activity / measure_multiplier
    share = np.clip((activity - IDLE_SHARE) / (1.0 - IDLE_SHARE), 0.0, None)
    return rate_per_h * dt_h * share * demand
