"""BaselineData: CSV layouts, aggregation to local days, sufficiency warnings, Store reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from forecasting.data import BaselineData, Scope, read_meter_csv, read_temperature_csv
from greenpipe.errors import DataSufficiencyError, GreenpipeError
from greenpipe.model import Reading
from greenpipe.stores.sqlite import SqliteStore
from tests.forecasting_synthetic import daily_meter, jst


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_openeemeter_start_value_layout(tmp_path: Path) -> None:
    # Half-hourly intervals stamped at their start (OpenEEmeter), two JST days.
    rows = ["start,value"]
    t0 = datetime(2025, 4, 1, tzinfo=UTC) - timedelta(hours=9)
    for i in range(96):
        ts = (t0 + timedelta(minutes=30 * i)).astimezone(
            pd.Timestamp(0).tz_localize("Asia/Tokyo").tzinfo)
        rows.append(f"{ts.isoformat()},{1 + (i >= 48)}")
    meter = _write(tmp_path / "m.csv", "\n".join(rows) + "\n")
    _series, marks = read_meter_csv(meter)
    assert marks == "start"
    data = BaselineData.from_csv(meter, granularity="daily", force=True)
    assert list(data.frame.index) == [jst(2025, 4, 1), jst(2025, 4, 2)]
    assert_allclose(data.frame["energy_kwh"], [48.0, 96.0])
    assert data.disqualified  # two days is far too short: kept only because of force
    assert {w.code for w in data.warnings} >= {"data.too_short", "data.no_temperature"}


def test_timestamp_energy_layout_is_interval_end(tmp_path: Path) -> None:
    # Hourly readings stamped at interval end: 01:00..24:00 JST belong to 1 April.
    lines = ["timestamp,energy_kwh"] + [
        f"2025-04-01T{h:02d}:00:00+09:00,2.5" for h in range(1, 24)
    ] + ["2025-04-02T00:00:00+09:00,2.5"]
    meter = _write(tmp_path / "m.csv", "\n".join(lines) + "\n")
    data = BaselineData.from_csv(meter, force=True)
    assert list(data.frame.index) == [jst(2025, 4, 1)]
    assert_allclose(data.frame["energy_kwh"], [60.0])
    hourly = BaselineData.from_csv(meter, granularity="hourly", force=True)
    assert len(hourly.frame) == 24
    assert hourly.frame.index[0] == jst(2025, 4, 1)


def test_custom_columns_and_fahrenheit(tmp_path: Path) -> None:
    meter = _write(tmp_path / "m.csv", "when,kwh_used\n"
                   "2025-04-01T12:00:00Z,5\n2025-04-01T13:00:00Z,7\n")
    temp = _write(tmp_path / "t.csv", "dt,tempF\n2025-04-01T12:00:00Z,50\n"
                  "2025-04-01T13:00:00Z,68\n")
    with pytest.raises(GreenpipeError, match="cannot find the timestamp column"):
        read_meter_csv(meter)
    energy, marks = read_meter_csv(meter, "when", "kwh_used")
    assert marks == "end" and list(energy) == [5.0, 7.0]
    temps = read_temperature_csv(temp, "F")
    assert_allclose(temps.to_numpy(), [10.0, 20.0])
    data = BaselineData.from_csv(meter, temp, temperature_unit="F", granularity="hourly",
                                 time_column="when", value_column="kwh_used", force=True)
    # Readings at 12:00Z and 13:00Z end the hours 11-12Z and 12-13Z; temperatures are points.
    assert_allclose(data.frame["energy_kwh"], [5.0, 7.0])
    assert_allclose(data.frame["temp_air_c"].to_numpy(), [np.nan, 10.0])


def test_bad_csv_input_is_explained(tmp_path: Path) -> None:
    naive = _write(tmp_path / "n.csv", "timestamp,energy_kwh\n2025-04-01T00:00:00,1\n")
    with pytest.raises(GreenpipeError, match="no UTC offset"):
        read_meter_csv(naive)
    text = _write(tmp_path / "x.csv", "timestamp,energy_kwh\n2025-04-01T00:00:00Z,lots\n")
    with pytest.raises(GreenpipeError, match="'lots' in row 1 is not a number"):
        read_meter_csv(text)
    with pytest.raises(GreenpipeError, match="does not exist"):
        read_meter_csv(tmp_path / "missing.csv")
    with pytest.raises(GreenpipeError, match="not C or F"):
        read_temperature_csv(naive, "K")  # type: ignore[arg-type]
    with pytest.raises(GreenpipeError, match="KIND:ID"):
        Scope.parse("factory-1")
    assert str(Scope.parse("site:factory-1")) == "site:factory-1"
    assert Scope.parse("city").kind == "city"


def test_sufficiency_codes_and_refusal() -> None:
    energy, temp, _ = daily_meter(date(2024, 4, 1), 200)
    ok = BaselineData.from_series(energy, temp)
    assert [w.code for w in ok.warnings] == ["data.no_yearly_cycle"]
    assert not ok.disqualified
    # Drop 40 days in the middle: a long gap and coverage 160/200 = 80 % < 90 %.
    holey = energy.drop(energy.index[50:90])
    with pytest.raises(DataSufficiencyError, match=r"data.low_coverage: 80.0% of daily"):
        BaselineData.from_series(holey, temp)
    forced = BaselineData.from_series(holey, temp, force=True)
    codes = {w.code: w for w in forced.warnings}
    assert codes["data.low_coverage"].disqualifying
    assert "data.long_gap" in codes and not codes["data.long_gap"].disqualifying
    short = BaselineData.from_series(energy.iloc[:60], temp, force=True)
    assert "data.too_short" in {w.code for w in short.warnings}
    # A reporting period may be short.
    rep = BaselineData.from_series(energy.iloc[:60], temp, purpose="reporting")
    assert not rep.disqualified
    neg = BaselineData.from_series(energy * -1, temp, force=True)
    assert "data.negative_energy" in {w.code for w in neg.warnings}
    with pytest.raises(DataSufficiencyError, match=r"data\.no_data"):
        BaselineData.from_series(energy * np.nan, temp)


def test_incomplete_day_is_unknown_not_low() -> None:
    idx = pd.date_range("2025-04-01T00:30+09:00", periods=96, freq="30min").tz_convert(UTC)
    energy = pd.Series(1.0, index=idx).drop(idx[10])
    data = BaselineData.from_series(energy, granularity="daily", force=True)
    assert np.isnan(data.frame["energy_kwh"].iloc[0])
    assert data.frame["energy_kwh"].iloc[1] == 48.0


def test_from_store_site_and_weather(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    t0 = jst(2025, 4, 1)
    readings = []
    for i in range(1, 24 * 100 + 1):  # 100 JST days of 30-min readings, two meters
        for half in (0, 1):
            ts = t0 + timedelta(hours=i - 1, minutes=30 * (half + 1))
            readings.append(Reading("a", "site-1", ts, energy_kwh=1.0))
            readings.append(Reading("b", "site-1", ts, energy_kwh=0.5))
        readings.append(Reading("wx", "hall", t0 + timedelta(hours=i), temp_air_c=float(i % 24)))
    store.write(readings)
    end = t0 + timedelta(days=100)
    data = BaselineData.from_store(store, "site:site-1", t0, end, "daily", weather_meter="wx")
    assert len(data.frame) == 100
    assert_allclose(data.frame["energy_kwh"], 72.0)  # 48 × 1.0 + 48 × 0.5
    # Hourly temps i % 24 at interval ends 01:00..24:00 JST -> buckets (b, b+1h]
    assert_allclose(data.frame["temp_air_c"].iloc[0], np.mean([*range(1, 24), 0]))
    meter = BaselineData.from_store(store, Scope("meter", "b"), t0, end, "hourly")
    assert_allclose(meter.frame["energy_kwh"], 1.0)
    assert len(meter.frame) == 2400
    store.close()


def test_temperature_unit_follows_a_fahrenheit_header(tmp_path: Path) -> None:
    """OpenEEmeter's weather files are ``dt,tempF``: °F without being told, °C otherwise,
    and an explicit unit wins."""
    f = tmp_path / "weather.csv"
    f.write_text("dt,tempF\n2025-04-01T00:00:00Z,50\n2025-04-01T01:00:00Z,68\n",
                 encoding="utf-8")
    assert_allclose(read_temperature_csv(f).to_numpy(), [10.0, 20.0])
    assert_allclose(read_temperature_csv(f, "C").to_numpy(), [50.0, 68.0])
    c = tmp_path / "weather_c.csv"
    c.write_text("dt,temp\n2025-04-01T00:00:00Z,10\n", encoding="utf-8")
    assert_allclose(read_temperature_csv(c).to_numpy(), [10.0])
