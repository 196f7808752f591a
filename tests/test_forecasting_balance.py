"""Balance points chosen from the data (variable-base degree days)."""

from __future__ import annotations

import numpy as np

from forecasting.balance import select_balance_points


def _days(hb: float, cb: float, n: int = 400, seed: int = 1) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    temp = 15 - 11 * np.cos(2 * np.pi * np.arange(n) / 365) + rng.normal(0, 2, n)
    workday = (np.arange(n) % 7) < 5
    types = np.where(workday, "workday", "sunday")
    energy = (np.where(workday, 1000.0, 400.0) + 30 * np.maximum(hb - temp, 0)
              + 20 * workday * np.maximum(temp - cb, 0)) * (1 + rng.normal(0, 0.01, n))
    return energy, temp, types, workday


def test_recovers_generating_bases() -> None:
    for hb, cb in ((14.0, 24.0), (10.0, 20.0), (18.0, 22.0)):
        energy, temp, types, workday = _days(hb, cb)
        assert select_balance_points(energy, temp, list(types), workday) == (hb, cb)


def test_too_few_days_and_nans() -> None:
    energy, temp, types, workday = _days(14.0, 24.0, n=29)
    assert select_balance_points(energy, temp, list(types), workday) == (18.0, 22.0)
    energy, temp, types, workday = _days(12.0, 25.0)
    energy[::3] = np.nan
    assert select_balance_points(energy, temp, list(types), workday) == (12.0, 25.0)
