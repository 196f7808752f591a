"""Fill a Store straight from the simulated fleet (no MQTT), for forecasting benchmarks.

The collector path (simulator -> MQTT -> collector) is what production uses and what the
pipeline tests cover; forecasting benchmarks only need the same readings in a store, so
this writes the fleet's exact interval energies (``simulators.fleet.Fleet.integrate``) and
the weather station's temperature as ``Reading``s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from greenpipe.config import Config
from greenpipe.model import ProductionRecord, Reading
from simulators.fleet import Fleet
from simulators.weather import temp_air_c_at

CHUNK_DAYS = 30


def fill_store(cfg: Config, store: object, end: datetime, days: int, interval_s: int = 3600,
               seed: int | None = None, *, production: bool = False) -> int:
    """Write ``days`` of readings ending at ``end`` (UTC, on the interval grid); returns count.

    With ``production`` the production meters' output is written too
    (``Store.write_production``); it is not counted in the returned readings.
    """
    fleet = Fleet(cfg, cfg.simulator.seed if seed is None else seed)
    start = end - timedelta(days=days)
    t0 = int(start.timestamp())
    written = 0
    while t0 < int(end.timestamp()):
        t1 = min(t0 + CHUNK_DAYS * 86400, int(end.timestamp()))
        ends = np.arange(t0 + interval_s, t1 + 1, interval_s, dtype=np.int64)
        energy, power, output = fleet.integrate_all(t0, ends)
        temps = temp_air_c_at(ends.astype(np.float64), fleet.seed)
        readings: list[Reading] = []
        for i, ts_s in enumerate(ends.tolist()):
            ts = datetime.fromtimestamp(ts_s, UTC)
            for row, m in enumerate(fleet.energy_meters):
                readings.append(Reading(m.meter.id, m.meter.site, ts,
                                        energy_kwh=float(energy[row, i]),
                                        power_kw=float(power[row, i])))
            for m in fleet.weather_meters:
                readings.append(Reading(m.meter.id, m.meter.site, ts,
                                        temp_air_c=float(temps[i])))
        written += store.write(readings)  # type: ignore[attr-defined]
        if production and fleet.production_meters:
            store.write_production([  # type: ignore[attr-defined]
                ProductionRecord(m.meter.id, m.meter.site, datetime.fromtimestamp(ts_s, UTC),
                                 float(output[row, i]))
                for row, m in enumerate(fleet.production_meters)
                for i, ts_s in enumerate(ends.tolist())])
        t0 = t1
    return written
