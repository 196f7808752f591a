"""A tiny seeded city for the forecast-run tests (not a test module)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from greenpipe.config import Config, load_config
from greenpipe.model import Reading
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore
from tests.forecasting_synthetic import daily_meter

START = date(2024, 10, 1)
DAYS = 540
MEASURE_DAY = date(2025, 10, 1)

CONFIG = """
[city]
name = "Test City"
timezone = "Asia/Tokyo"

[store]
url = "sqlite:///{db}"

[forecasting]
uncertainty_samples = 100
cv_folds = 1
workers = 1

[[sites]]
id = "plant"
name = "Plant"
sector = "industry"
grid_region = "tepco"

[[sites]]
id = "office"
name = "Office"
sector = "commercial"
grid_region = "tepco"

[[meters]]
id = "plant-main"
site = "plant"
kind = "electricity"

[[meters]]
id = "plant-gas"
site = "plant"
kind = "gas"

[[meters]]
id = "office-main"
site = "office"
kind = "electricity"

[[meters]]
id = "wx"
site = "office"
kind = "weather"
unit = "degC"

[[measures]]
id = "plant-led"
meter = "plant-main"
start = 2025-10-01
change_pct = -10.0

[[targets]]
scope = "city"
id = "city"
base_fy = 2013
base_co2_t = 2000.0
target_fy = 2030
reduction_pct = 46.0

[[targets]]
scope = "sector"
id = "industry"
base_fy = 2013
base_co2_t = 1500.0
target_fy = 2030
reduction_pct = 38.0
"""


def seed_city(tmp_path: Path) -> tuple[Config, SqliteStore, float]:
    """Write the config and 540 days of daily readings; returns (config, store, truth_kwh).

    ``truth_kwh`` is the plant meter's true saving from the measure day to the end.
    """
    db = tmp_path / "city.db"
    cfg_path = tmp_path / "city.toml"
    cfg_path.write_text(CONFIG.format(db=db), encoding="utf-8")
    cfg = load_config(cfg_path, env={})
    store = SqliteStore(db, Catalog.of(cfg.meters, cfg.sites))
    plant, temp, plant_cf = daily_meter(START, DAYS, step_day=MEASURE_DAY, noise=0.01, seed=11)
    shared = temp.to_numpy()
    gas, _, _ = daily_meter(START, DAYS, noise=0.01, seed=12, temp_air_c=shared)
    office, _, _ = daily_meter(START, DAYS, noise=0.01, seed=13, temp_air_c=shared)
    readings = []
    for series, meter, site, scale in ((plant, "plant-main", "plant", 1.0),
                                       (gas, "plant-gas", "plant", 0.5),
                                       (office, "office-main", "office", 0.2)):
        readings += [Reading(meter, site, ts.to_pydatetime(), energy_kwh=float(v) * scale)
                     for ts, v in series.items()]
    readings += [Reading("wx", "office", ts.to_pydatetime() + timedelta(hours=0),
                         temp_air_c=float(v)) for ts, v in temp.items()]
    store.write(readings)
    step = pd.Timestamp(MEASURE_DAY).tz_localize("Asia/Tokyo").tz_convert("UTC")
    truth = float(0.1 * plant_cf[plant_cf.index >= step].sum())
    return cfg, store, truth
