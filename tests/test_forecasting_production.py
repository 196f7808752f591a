"""Production as a baseline regressor, fed from the store: savings stay right when output drops.

A factory's daily energy = day-type base + 30 kWh per unit produced. From the reporting
start its output drops 20 % and an efficiency measure saves a true 5 %. With production fed
from the store the estimate finds the 5 %; without it the model would book the lost output
as savings.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import BaselineOptions
from forecasting.data import BaselineData, Scope
from forecasting.runner import production_regressor
from forecasting.savings import run_savings
from greenpipe.config import Config
from greenpipe.model import ProductionRecord, Reading
from greenpipe.plant_calendar import DayType, day_type
from greenpipe.stores.sqlite import SqliteStore
from tests.forecasting_synthetic import jst

START, REPORT = date(2024, 4, 1), date(2025, 4, 1)
DAYS = 365 + 120


def _city(store: SqliteStore) -> float:
    """Write the factory; return the true savings of the reporting period [kWh]."""
    rng = np.random.default_rng(3)
    days = pd.date_range(pd.Timestamp(START), periods=DAYS, freq="D")
    readings, prod, true_saved = [], [], 0.0
    for d in days:
        workday = day_type(d.date()) == DayType.WORKDAY
        units = (100.0 if workday else 20.0) * (1 + rng.normal(0, 0.12))
        reporting = d.date() >= REPORT
        if reporting:
            units *= 0.8  # output drops 20 %
        counterfactual = 800.0 + 30.0 * units
        energy = counterfactual * (1 + rng.normal(0, 0.01))
        if reporting:
            true_saved += 0.05 * energy
            energy *= 0.95  # the measure
        end = jst(d.year, d.month, d.day) + timedelta(days=1)
        readings.append(Reading("f-main", "f", end, energy_kwh=float(energy)))
        prod.append(ProductionRecord("f-out", "f", end, float(units)))
    store.write(readings)
    store.write_production(prod)
    return true_saved


@pytest.mark.parametrize("with_production", [True, False])
def test_savings_stay_right_when_output_drops_20_pct(tmp_path: Path,
                                                     with_production: bool) -> None:
    store = SqliteStore(tmp_path / "f.db")
    true_saved = _city(store)
    start, end, rep = jst(2024, 4, 1), jst(2025, 7, 30), jst(2025, 4, 1)
    data = BaselineData.from_store(store, Scope("meter", "f-main"), start, end,
                                   production_meters=("f-out",) if with_production else (),
                                   force=True)
    assert ("production" in data.frame) is with_production
    base = data.slice(start, rep, purpose="baseline", force=True)
    report = data.slice(rep, end, purpose="reporting", force=True)
    result = run_savings(base, report, BaselineOptions(uncertainty_samples=100,
                                                       balance_point_search=False), cv_folds=0)
    est = result.estimate
    if with_production:
        # Within 2 % of the reporting energy of the truth, and the interval holds it.
        assert abs(est.savings_kwh - true_saved) < 0.02 * est.reporting_observed_kwh
        assert est.savings_kwh_lower <= true_saved <= est.savings_kwh_upper
    else:
        # Without production the output drop is booked as "savings": several times too high.
        assert est.savings_kwh > 2.5 * true_saved


def test_runner_feeds_the_sites_production_meters(example_config: Config) -> None:
    meters = example_config.meters_by_id()
    assert production_regressor(example_config, meters["f1-main"]) == ("f1-output",)
    assert production_regressor(example_config, meters["f1-gas"]) == ("f1-output",)
    assert production_regressor(example_config, meters["f2-pv-roof"]) == ()
    assert production_regressor(example_config, meters["office-1-main"]) == ()
