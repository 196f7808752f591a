"""A small simulated city with every waste pattern, for the finder tests and bench.

Readings come straight from ``simulators.fleet.Fleet`` into a SqliteStore
(``bench.sim_store.fill_store``), the same energies the simulator would publish over MQTT.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from bench.sim_store import fill_store
from greenpipe.config import Config, load_config
from greenpipe.results import BaselinePoint, SavingsRecord
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

AS_OF = datetime(2026, 11, 30, tzinfo=UTC)
DAYS = 430

CONFIG = """
[city]
name = "Finder Test City"
timezone = "Asia/Tokyo"

[store]
url = "sqlite:///{db}"

[simulator]
seed = {seed}

[forecasting]
uncertainty_samples = 100
cv_folds = 1
workers = 1
reporting_days = 60
balance_point_search = false

[tariff]
demand_jpy_per_kw_month = 1800.0
energy_jpy_per_kwh = 16.0
gas_jpy_per_kwh = 8.0

[[tariff.bands]]
name = "day"
start_h = 8.0
end_h = 22.0
days = "workdays"
jpy_per_kwh = 20.0

[[sites]]
id = "factory-2"
name = "Assembly"
sector = "industry"
grid_region = "tepco"

[[sites]]
id = "factory-3"
name = "Workshop"
sector = "industry"
grid_region = "tepco"

[[sites]]
id = "office"
name = "Office"
sector = "commercial"
grid_region = "tepco"

[[sites]]
id = "pv-plant"
name = "PV"
sector = "public"
grid_region = "tepco"

[[sites]]
id = "depot"
name = "Depot"
sector = "transport"
grid_region = "tepco"

[[meters]]
id = "f2-main"
site = "factory-2"
kind = "electricity"
profile = "two_shift"
nominal_kw = 2500.0

[[meters]]
id = "f3-main"
site = "factory-3"
kind = "electricity"
profile = "sme_workshop"
nominal_kw = 180.0

[[meters]]
id = "office-main"
site = "office"
kind = "electricity"
profile = "office"
nominal_kw = 600.0

[[meters]]
id = "pv-1"
site = "pv-plant"
kind = "pv"
profile = "pv"
nominal_kw = 1500.0

[[meters]]
id = "depot-chargers"
site = "depot"
kind = "ev_charging"
profile = "ev_depot"
nominal_kw = 900.0

[[meters]]
id = "wx"
site = "office"
kind = "weather"
unit = "degC"
profile = "weather"

[[measures]]
id = "f2-led"
meter = "f2-main"
start = 2026-09-01
change_pct = -8.0

[[waste_patterns]]
kind = "weekend_base_load"
meter = "f3-main"
start = 2026-09-06
extra_kw = 40.0

[[waste_patterns]]
kind = "hvac_schedule_drift"
meter = "office-main"
start = 2026-11-01
extra_kw = 150.0
hours_per_week = 3.5

[[waste_patterns]]
kind = "shift_start_spike"
meter = "f2-main"
start = 2026-10-01
at_h = 6.5
extra_kw = 600.0

[[waste_patterns]]
kind = "pv_soiling"
meter = "pv-1"
start = 2026-05-01
cleaned = 2026-08-20
pct_per_day = 0.25

[[waste_patterns]]
kind = "measure_underdelivery"
measure = "f2-led"
delivered_pct = 25.0

[[waste_patterns]]
kind = "evening_charging"
meter = "depot-chargers"
start = 2026-10-20
at_h = 18.0
"""

PATTERN_CODES = {
    "weekend_base_load": ("f3-main", "waste.off_hours_base_load", date(2026, 9, 6)),
    "hvac_schedule_drift": ("office-main", "drift.baseline_cusum", date(2026, 11, 1)),
    "shift_start_spike": ("f2-main", "demand.peak", date(2026, 10, 1)),
    "pv_soiling": ("pv-1", "pv.underperformance", date(2026, 8, 20)),
    "measure_underdelivery": ("f2-main", "measure.underdelivering", date(2026, 9, 1)),
    "evening_charging": ("depot-chargers", "ev.peak_charging", date(2026, 10, 20)),
}
"""Each injected pattern: (meter, the code that must find it, its true start date)."""


def city(tmp_path: Path, seed: int = 42, patterns: bool = True) -> tuple[Config, SqliteStore]:
    """Write the config, fill 430 days of half-hourly readings; returns (config, store)."""
    db = tmp_path / f"city-{seed}-{int(patterns)}.db"
    cfg_path = tmp_path / f"city-{seed}-{int(patterns)}.toml"
    cfg_path.write_text(CONFIG.format(db=db, seed=seed), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    if not patterns:
        cfg = replace(cfg, waste_patterns=tuple(replace(p, enabled=False)
                                                for p in cfg.waste_patterns))
    store = SqliteStore(db, Catalog.of(cfg.meters, cfg.sites))
    fill_store(cfg, store, AS_OF, DAYS, interval_s=1800)
    return cfg, store


def forecast(cfg: Config, store: SqliteStore, meters: tuple[str, ...]) -> None:
    """Run the savings analyses (Prophet) of ``meters`` and store them, as forecast run does."""
    from forecasting.runner import SavingsTask, baseline_points, build_tasks, execute

    tasks = [t for t in build_tasks(cfg, store, AS_OF)
             if isinstance(t, SavingsTask) and t.meter_id in meters]
    records = execute(tasks, workers=1)
    store.write_savings([r for r in records if isinstance(r, SavingsRecord)])
    store.write_baseline_points([p for p in baseline_points(records)
                                 if isinstance(p, BaselinePoint)])
