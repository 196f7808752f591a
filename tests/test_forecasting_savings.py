"""A known saving is recovered: synthetic meter with a 10 % step on a known date."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from forecasting.baseline import BaselineModel, BaselineOptions
from forecasting.commands import parse_period
from forecasting.data import BaselineData
from forecasting.savings import _daily, run_savings, savings
from greenpipe.app.cli import main
from greenpipe.errors import GreenpipeError
from tests.forecasting_synthetic import daily_meter, jst

STEP = date(2025, 4, 1)

JSON_KEYS = {
    "savings_kwh", "savings_kwh_lower", "savings_kwh_upper", "interval_level",
    "reporting_observed_kwh", "reporting_predicted_kwh", "baseline_cvrmse", "baseline_nmbe",
    "baseline_r2", "warnings",
}


@pytest.fixture(scope="module")
def meter() -> tuple[pd.Series, pd.Series, float]:
    """One year of baseline and one of reporting at 1 % daily noise; returns the truth too."""
    energy, temp, counterfactual = daily_meter(date(2024, 4, 1), 730, step_day=STEP,
                                               noise=0.01, seed=4)
    truth = float(0.1 * counterfactual[counterfactual.index >= jst(2025, 4, 1)].sum())
    return energy, temp, truth


def test_known_saving_recovered_with_interval(meter: tuple[pd.Series, pd.Series, float]
                                              ) -> None:
    energy, temp, truth = meter
    full = BaselineData.from_series(energy, temp)
    base = full.slice(jst(2024, 4, 1), jst(2025, 4, 1), purpose="baseline")
    rep = full.slice(jst(2025, 4, 1), jst(2026, 4, 1))
    result = run_savings(base, rep, BaselineOptions(uncertainty_samples=200), cv_folds=2)
    est = result.estimate
    assert est.savings_kwh == pytest.approx(truth, rel=0.03)
    assert est.savings_kwh_lower <= truth <= est.savings_kwh_upper
    assert est.interval_level == 0.9
    assert est.n_intervals == 365
    assert est.savings_kwh == pytest.approx(
        est.reporting_predicted_kwh - est.reporting_observed_kwh)
    assert est.savings_pct == pytest.approx(0.1, abs=0.005)
    assert result.baseline_metrics.passes_ashrae
    assert result.cv_metrics.n == 60
    doc = result.as_json_dict()
    assert set(doc) >= JSON_KEYS
    assert doc["warnings"] == []  # a full year of clean data: nothing to report
    # The daily series: one point per reporting day at JST midnight, summing to the totals,
    # each day's prediction inside its band.
    days = est.daily
    assert [d.day_start for d in days] == [jst(2025, 4, 1) + timedelta(days=i)
                                           for i in range(365)]
    assert_allclose(sum(d.observed_kwh for d in days), est.reporting_observed_kwh, rtol=1e-12)
    assert_allclose(sum(d.predicted_kwh for d in days), est.reporting_predicted_kwh,
                    rtol=1e-12)
    assert all(d.predicted_kwh_lower <= d.predicted_kwh <= d.predicted_kwh_upper
               for d in days)
    assert all(d.predicted_kwh_lower < d.predicted_kwh_upper for d in days)
    # The series stamps each day at its end (store semantics); day i is stamped i + 1.
    assert_allclose([d.observed_kwh for d in days],
                    energy[energy.index > jst(2025, 4, 1)].to_numpy(), rtol=1e-12)


def test_daily_series_of_hourly_intervals_hand_computed() -> None:
    """Hours sum into local (JST) days; the band is ± z·√(k·σ² + k²·shared) per day."""
    index = pd.date_range(jst(2025, 4, 1) - timedelta(hours=2), periods=6, freq="h", tz=UTC)
    frame = pd.DataFrame({"energy_kwh": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
                          "temp_air_c": 10.0}, index=index)
    rep = BaselineData(frame=frame, granularity="hourly", tz="Asia/Tokyo")
    both = np.array([True, True, False, True, True, True])
    observed = np.array([1.0, 2.0, 4.0, 5.0, 6.0])
    pred = np.array([1.5, 2.5, 3.5, 4.5, 5.5])
    days = _daily(rep, both, observed, pred, 4.0, 0.5, 2.0)
    # 2025-03-31 22:00 and 23:00 JST belong to March 31; 01:00..03:00 JST to April 1.
    assert [d.day_start for d in days] == [jst(2025, 3, 31), jst(2025, 4, 1)]
    assert [(d.observed_kwh, d.predicted_kwh) for d in days] == [(3.0, 4.0), (15.0, 13.5)]
    # Day 1: k = 2, 2 × √(2·4 + 4·0.5) = 2√10; day 2: k = 3, 2 × √(3·4 + 9·0.5) = 2√16.5.
    assert_allclose([(d.predicted_kwh_lower, d.predicted_kwh_upper) for d in days],
                    [(4.0 - 2 * 10 ** 0.5, 4.0 + 2 * 10 ** 0.5),
                     (13.5 - 2 * 16.5 ** 0.5, 13.5 + 2 * 16.5 ** 0.5)], rtol=1e-12)


def _to_csvs(tmp_path: Path, energy: pd.Series, temp: pd.Series) -> tuple[Path, Path]:
    meter_csv = tmp_path / "meter.csv"
    temp_csv = tmp_path / "temperature.csv"
    # OpenEEmeter layout: the interval's start, local offset; temperature in °F.
    starts = (energy.index - pd.Timedelta(days=1)).tz_convert("Asia/Tokyo")
    pd.DataFrame({"start": [t.isoformat() for t in starts], "value": energy.to_numpy()}
                 ).to_csv(meter_csv, index=False)
    pd.DataFrame({"timestamp": [t.isoformat() for t in temp.index],
                  "tempF": temp.to_numpy() * 9 / 5 + 32}).to_csv(temp_csv, index=False)
    return meter_csv, temp_csv


def test_cli_savings_json(meter: tuple[pd.Series, pd.Series, float], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    energy, temp, truth = meter
    meter_csv, temp_csv = _to_csvs(tmp_path, energy, temp)
    code = main(["savings", "--meter-csv", str(meter_csv), "--temperature-csv", str(temp_csv),
                 "--temperature-unit", "F", "--baseline", "2024-04-01:2025-04-01",
                 "--reporting", "2025-04-01:2026-04-01", "--json", "--samples", "200",
                 "--cv-folds", "0"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= JSON_KEYS
    assert doc["savings_kwh"] == pytest.approx(truth, rel=0.03)
    assert doc["savings_kwh_lower"] <= truth <= doc["savings_kwh_upper"]
    assert doc["interval_level"] == 0.9
    # Text mode and a refused (too short) baseline.
    code = main(["savings", "--meter-csv", str(meter_csv), "--temperature-csv", str(temp_csv),
                 "--temperature-unit", "F", "--baseline", "2024-04-01:2024-05-01",
                 "--reporting", "2025-04-01:2026-04-01"])
    assert code == 2
    err = capsys.readouterr().err
    assert "data.too_short" in err and "--force" in err


def test_period_parsing() -> None:
    start, end = parse_period("2024-04-01:2025-04-01", "Asia/Tokyo", "--baseline")
    assert (start, end) == (jst(2024, 4, 1), jst(2025, 4, 1))
    start, end = parse_period("2024-04-01T09:00:00+09:00:2024-05-01T00:00:00Z", "UTC", "x")
    assert start == datetime(2024, 4, 1, tzinfo=UTC)
    assert end == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(GreenpipeError, match="no UTC offset"):
        parse_period("2024-04-01T00:00:2025-04-01", "UTC", "--baseline")
    with pytest.raises(GreenpipeError, match="END must be after START"):
        parse_period("2025-04-01:2024-04-01", "UTC", "--baseline")
    with pytest.raises(GreenpipeError, match="START:END"):
        parse_period("last year", "UTC", "--baseline")


def test_cli_savings_reads_untidy_exports(meter: tuple[pd.Series, pd.Series, float],
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Naive local timestamps, a pandas index column and a closing ``nan`` row give the
    same answer as the tidy file; without --naive-tz the naive file is refused."""
    energy, temp, _truth = meter
    tidy_meter, temp_csv = _to_csvs(tmp_path, energy, temp)
    starts = (energy.index - pd.Timedelta(days=1)).tz_convert("Asia/Tokyo").tz_localize(None)
    untidy = pd.DataFrame({"start": [t.isoformat() for t in starts],
                           "value": [repr(float(v)) for v in energy.to_numpy()]})
    untidy.loc[len(untidy)] = [(starts[-1] + pd.Timedelta(days=1)).isoformat(), "nan"]
    untidy_meter = tmp_path / "untidy.csv"
    untidy.to_csv(untidy_meter)  # with pandas' leading index column
    common = ["--temperature-csv", str(temp_csv), "--temperature-unit", "F",
              "--baseline", "2024-04-01:2025-04-01", "--reporting", "2025-04-01:2026-04-01",
              "--json", "--samples", "100", "--cv-folds", "0", "--shutdowns", "jp"]
    assert main(["savings", "--meter-csv", str(tidy_meter), *common]) == 0
    tidy = json.loads(capsys.readouterr().out)
    assert main(["savings", "--meter-csv", str(untidy_meter), "--naive-tz", "Asia/Tokyo",
                 *common]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["savings_kwh"] == pytest.approx(tidy["savings_kwh"], rel=1e-9)
    missing = [w for w in doc["warnings"] if w["code"] == "data.missing_values"]
    assert missing and "1 of 731 rows" in missing[0]["message"]
    assert main(["savings", "--meter-csv", str(untidy_meter), *common]) == 2
    assert "--naive-tz" in capsys.readouterr().err


def test_cli_country_and_shutdown_options_are_checked(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("start,value\n2025-04-01T00:00:00Z,1\n", encoding="utf-8")
    base = ["savings", "--meter-csv", str(csv), "--baseline", "2024-04-01:2025-04-01",
            "--reporting", "2025-04-01:2026-04-01"]
    assert main([*base, "--country", "XX"]) == 2
    assert "no public-holiday calendar" in capsys.readouterr().err
    assert main([*base, "--shutdowns", str(tmp_path / "none.csv")]) == 2
    assert "shutdowns CSV" in capsys.readouterr().err


def test_savings_interval_is_closed_form(meter: tuple[pd.Series, pd.Series, float]) -> None:
    """savings ± z·√(m·σ²·F + aᵀ-term), z the normal quantile of (1 + level)/2."""
    energy, temp, _truth = meter
    full = BaselineData.from_series(energy, temp)
    base = full.slice(jst(2024, 4, 1), jst(2025, 4, 1), purpose="baseline")
    rep = full.slice(jst(2025, 4, 1), jst(2025, 7, 1))
    model = BaselineModel(BaselineOptions(interval_level=0.8)).fit(base)
    est = savings(model, rep)
    both = np.isfinite(rep.frame["energy_kwh"].to_numpy())
    m = int(both.sum())
    var = (m * model.resid_sigma_kwh ** 2 * model.resid_lr_factor
           + model.sum_variance(rep, both))
    half = 1.2815515655446004 * var ** 0.5  # z of 0.9
    assert m == est.n_intervals == 91
    assert_allclose([est.savings_kwh_lower, est.savings_kwh_upper],
                    [est.savings_kwh - half, est.savings_kwh + half], rtol=1e-12)


def test_cli_days_follow_naive_tz_when_no_tz_is_given(
        meter: tuple[pd.Series, pd.Series, float], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Offset-free stamps written in Chicago make Chicago days (and US holidays) unless
    --tz says otherwise; before, the days silently stayed Japanese."""
    energy, temp, _truth = meter
    _tidy, temp_csv = _to_csvs(tmp_path, energy, temp)
    starts = (energy.index - pd.Timedelta(days=1)).tz_convert("Asia/Tokyo").tz_localize(None)
    naive = tmp_path / "naive.csv"
    naive.write_text("start,value\n" + "".join(
        f"{s.isoformat()},{float(v)!r}\n" for s, v in zip(starts, energy.to_numpy(), strict=True)),
        encoding="utf-8")
    common = ["savings", "--meter-csv", str(naive), "--temperature-csv", str(temp_csv),
              "--temperature-unit", "F", "--naive-tz", "America/Chicago",
              "--baseline", "2024-04-01:2025-04-01", "--reporting", "2025-04-01:2026-04-01",
              "--json", "--cv-folds", "0", "--force"]
    assert main(common) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reporting_period"][0] == "2025-04-01T05:00:00+00:00"  # CDT midnight
    assert main([*common, "--tz", "Asia/Tokyo"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reporting_period"][0] == "2025-03-31T15:00:00+00:00"  # JST midnight
