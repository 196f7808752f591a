"""Seeded stores and configs for the dashboard tests and benchmark (hand-computable values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from greenpipe.config import load_config
from greenpipe.model import DeadLetter, QualityFlag, Reading
from greenpipe.results import BaselinePoint, ForecastRecord, SavingsRecord
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

JST = timezone(timedelta(hours=9))
AS_OF = datetime(2025, 10, 1, 12, 0, tzinfo=JST)
"""The pinned dashboard clock of the seeded tests (FY2025, day 184)."""

CONFIG_TOML = """
[city]
name = "テスト市"
timezone = "Asia/Tokyo"
language = "{lang}"

[store]
url = "sqlite:///{db}"

[dashboard]
offline_after_s = 3600

[access]
audit_path = "{audit}"

[[sites]]
id = "factory-1"
name = "第一工場"
sector = "industry"
grid_region = "tepco"

[[sites]]
id = "factory-2"
name = "第二工場"
sector = "industry"
grid_region = "tepco"

[[sites]]
id = "office-1"
name = "駅前オフィス"
sector = "commercial"
grid_region = "tepco"

[[sites]]
id = "pv-plant"
name = "メガソーラー"
sector = "public"
grid_region = "tepco"

[[meters]]
id = "f1-main"
site = "factory-1"
kind = "electricity"

[[meters]]
id = "f1-gas"
site = "factory-1"
kind = "gas"

[[meters]]
id = "f2-main"
site = "factory-2"
kind = "electricity"

[[meters]]
id = "office-1-main"
site = "office-1"
kind = "electricity"

[[meters]]
id = "pv-1"
site = "pv-plant"
kind = "pv"

[[companies]]
id = "acme"
name = "アクメ製作所"
sites = ["factory-1", "factory-2"]

[[site_reporting]]
site = "office-1"
intensity_denominator = "floor_area"
floor_area_m2 = 1000.0

[[site_reporting]]
site = "pv-plant"
pv_exported = true

[[measures]]
id = "f1-led"
meter = "f1-main"
start = 2025-07-01
change_pct = -10.0
description = "LED retrofit"

[[targets]]
scope = "city"
id = "city"
name = "2030 -46%"
base_fy = 2013
base_co2_t = 1000.0
target_fy = 2030
reduction_pct = 46.0
"""


def write_config(tmp: Path, lang: str = "en", db: Path | None = None) -> Path:
    """Write the test city's config (store in ``tmp``) and return its path."""
    db = db or tmp / "store.db"
    path = tmp / "dashboard.toml"
    path.write_text(CONFIG_TOML.format(lang=lang, db=db, audit=tmp / "audit.db"),
                    encoding="utf-8")
    return path


def _r(meter: str, site: str, local: datetime, energy_kwh: float, power_kw: float | None = None,
       quality: frozenset[str] = frozenset()) -> Reading:
    return Reading(meter_id=meter, site_id=site, ts=local.astimezone(UTC),
                   energy_kwh=energy_kwh, power_kw=power_kw, quality=quality)


SEED_READINGS = (
    _r("f1-main", "factory-1", datetime(2025, 9, 30, 10, 0, tzinfo=JST), 100_000.0, 2000.0),
    _r("f1-main", "factory-1", datetime(2025, 10, 1, 11, 0, tzinfo=JST), 50_000.0, 1000.0),
    _r("f1-main", "factory-1", datetime(2024, 9, 30, 10, 0, tzinfo=JST), 200_000.0, 2500.0),
    _r("f1-gas", "factory-1", datetime(2025, 6, 1, 12, 0, tzinfo=JST), 30_000.0),
    _r("office-1-main", "office-1", datetime(2025, 10, 1, 11, 30, tzinfo=JST), 20_000.0, 400.0,
       frozenset({QualityFlag.COUNTER_RESET.value})),
    _r("pv-1", "pv-plant", datetime(2025, 10, 1, 11, 30, tzinfo=JST), 12_000.0, 200.0),
)
"""FY2025 to date: electricity 170,000 kWh, gas 30,000 kWh, PV 12,000 kWh; FY2024 same span:
electricity 200,000 kWh."""

SEED_DEAD_LETTERS = (
    DeadLetter(received_at=datetime(2025, 10, 1, 2, 0, tzinfo=UTC),
               topic="greenpipe/v1/factory-1/f1-main/reading", payload=b'{"ts": oops',
               code="payload.bad_json", reason="not JSON: Expecting value at char 7"),
    DeadLetter(received_at=datetime(2025, 10, 1, 2, 5, tzinfo=UTC),
               topic="greenpipe/v1/office-1/office-1-main/reading", payload=b"\xff\xfe\x00",
               code="payload.not_utf8", reason="payload is not UTF-8"),
)


_RUN = datetime(2025, 10, 1, 3, 0, tzinfo=UTC)
SEED_FORECASTS = (
    ForecastRecord("run-1", _RUN, "city", "city", 2025, 150.0, 180.0, 210.0,
                   observed_co2_t=87.8, target_fy=2030, base_fy=2013, base_co2_t=1000.0,
                   target_co2_t=540.0, trajectory_co2_t=675.3, gap_co2_t=-495.3,
                   probability_meeting=0.97),
    ForecastRecord("run-1", _RUN, "city", "city", 2025, 150.0, 180.0, 210.0,
                   observed_co2_t=87.8, target_fy=2050, base_fy=2013, base_co2_t=1000.0,
                   target_co2_t=0.0, trajectory_co2_t=864.9, gap_co2_t=-684.9,
                   probability_meeting=0.99),
    ForecastRecord("run-1", _RUN, "sector", "industry", 2025, 140.0, 165.0, 190.0,
                   observed_co2_t=78.1, warnings=("projection.no_target",)),
)
"""The city projects 180 t (P10 150, P90 210) for FY2025 against a 675.3 t path."""

SEED_SAVINGS = (
    SavingsRecord("run-1", _RUN, "f1-main", "factory-1", "f1-led", "daily",
                  datetime(2024, 6, 30, 15, tzinfo=UTC), datetime(2025, 6, 30, 15, tzinfo=UTC),
                  datetime(2025, 6, 30, 15, tzinfo=UTC), datetime(2025, 9, 30, 15, tzinfo=UTC),
                  reporting_observed_kwh=90_000.0, reporting_predicted_kwh=100_000.0,
                  savings_kwh=10_000.0, savings_kwh_lower=6_000.0, savings_kwh_upper=14_000.0,
                  interval_level=0.9, avoided_co2_kg=4_850.0, ef_kg_per_kwh=0.485,
                  cvrmse=0.12, nmbe=-0.004, passes_ashrae=True),
    SavingsRecord("run-1", _RUN, "office-1-main", "office-1", "", "daily",
                  datetime(2024, 6, 30, 15, tzinfo=UTC), datetime(2025, 6, 30, 15, tzinfo=UTC),
                  datetime(2025, 6, 30, 15, tzinfo=UTC), datetime(2025, 9, 30, 15, tzinfo=UTC),
                  reporting_observed_kwh=20_000.0, reporting_predicted_kwh=20_500.0,
                  savings_kwh=500.0, savings_kwh_lower=-1_500.0, savings_kwh_upper=2_500.0,
                  interval_level=0.9, cvrmse=0.35, nmbe=0.02, passes_ashrae=False),
)
"""One measure (f1-led: 10,000 kWh saved, 4,850 kg CO2 avoided) and one null test."""


def _seed_day(i: int) -> BaselinePoint:
    """Day i of f1-led's reporting period (from 2025-07-01 JST): days 0-79 predict 1,100 and
    use 990 kWh, days 80-91 predict 1,000 and use 900 kWh; the band is ±60 kWh."""
    predicted, observed = (1_100.0, 990.0) if i < 80 else (1_000.0, 900.0)
    return BaselinePoint("run-1", _RUN, "f1-main", "factory-1", "f1-led",
                         datetime(2025, 6, 30, 15, tzinfo=UTC) + timedelta(days=i),
                         observed, predicted, predicted - 60.0, predicted + 60.0)


SEED_BASELINE = tuple(_seed_day(i) for i in range(92))
"""f1-led day by day: 92 days summing to its totals (90,000 kWh used, 100,000 predicted)."""


def seed_store(config_path: Path, results: bool = False) -> None:
    """Write the seed readings and dead letters (and forecast results) into the store."""
    cfg = load_config(config_path, env={})
    db = cfg.store.url.removeprefix("sqlite://")
    store = SqliteStore(db, Catalog.of(cfg.meters, cfg.sites))
    try:
        store.write(list(SEED_READINGS))
        store.write_dead_letters(list(SEED_DEAD_LETTERS))
        if results:
            store.write_forecasts(list(SEED_FORECASTS))
            store.write_savings(list(SEED_SAVINGS))
            store.write_baseline_points(list(SEED_BASELINE))
    finally:
        store.close()


def synthetic_readings(meters: list[tuple[str, str, str, float]], start: datetime,
                       end: datetime, interval: timedelta = timedelta(minutes=30),
                       seed: int = 7,
                       changes: dict[str, tuple[datetime, float]] | None = None) -> list[Reading]:
    """Plausible interval readings for ``(meter, site, kind, nominal_kw)`` over ``(start, end]``.

    Shapes: factories and offices follow a working day (lower at night and on Sundays), PV a
    daylight arch with cloudy days, gas a winter-heavy season, EV charging the night, weather
    a seasonal temperature. ``changes`` maps a meter to (start, change in %) of an efficiency
    measure. Deterministic for a given ``seed``; for screenshots and benchmarks.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    step_s = interval.total_seconds()
    n = int((end - start).total_seconds() // step_s)
    ts = start.timestamp() + step_s * np.arange(1, n + 1)
    local_h = ((ts + 9 * 3600) % 86400) / 3600.0
    day_of_year = ((ts + 9 * 3600) // 86400) % 365
    weekday = ((ts + 9 * 3600) // 86400 + 3) % 7  # 1970-01-01 was a Thursday (3)
    season = np.cos((day_of_year - 20) / 365.0 * 2 * np.pi)  # +1 mid-January, -1 mid-July
    out: list[Reading] = []
    for meter, site, kind, nominal_kw in meters:
        noise = rng.normal(1.0, 0.05, n)
        if kind == "pv":
            arch = np.clip(np.sin((local_h - 6.0) / 12.0 * np.pi), 0, None)
            cloud = np.repeat(rng.uniform(0.3, 1.0, n // 48 + 1), 48)[:n]
            power = nominal_kw * arch * cloud * (0.8 - 0.15 * season)
        elif kind == "gas":
            power = nominal_kw * (0.45 + 0.3 * season) * noise
        elif kind == "ev_charging":
            night = (local_h >= 22) | (local_h < 5)
            power = nominal_kw * np.where(night, 0.7, 0.05) * noise
        elif kind == "weather":
            temp = 15.0 + 10.0 * -season + 4.0 * np.sin((local_h - 9) / 24 * 2 * np.pi)
            out.extend(Reading(meter_id=meter, site_id=site,
                               ts=datetime.fromtimestamp(float(t), tz=UTC),
                               temp_air_c=round(float(c), 2)) for t, c in zip(ts, temp,
                                                                              strict=True))
            continue
        else:
            working = (local_h >= 8) & (local_h < 19) & (weekday != 6)
            power = nominal_kw * np.where(working, 0.85, 0.35) * (1 + 0.1 * np.abs(season))
            power = power * noise
        power = np.clip(power, 0, None)
        if changes and meter in changes:
            since, pct = changes[meter]
            power = np.where(ts > since.timestamp(), power * (1 + pct / 100.0), power)
        energy = power * step_s / 3600.0
        out.extend(Reading(meter_id=meter, site_id=site,
                           ts=datetime.fromtimestamp(float(t), tz=UTC),
                           energy_kwh=round(float(e), 3), power_kw=round(float(p), 2))
                   for t, e, p in zip(ts, energy, power, strict=True))
    return out
