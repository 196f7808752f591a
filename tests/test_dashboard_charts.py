"""ECharts options of the dashboard (dashboard/charts.py): colours, intervals, axes."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pandas as pd
from numpy.testing import assert_allclose

from dashboard import charts
from greenpipe.model import MeterKind, Sector


def _ys(series: dict) -> list:
    """The y values of a series' [x, y] items (None where there is a gap)."""
    return [item[1] for item in series["data"]]


def _xs(series: dict) -> list:
    return [item[0] for item in series["data"]]


def _values(series: dict) -> list:
    """The values of a series' coloured bar items ({"value": v, "itemStyle": ...})."""
    return [item["value"] for item in series["data"]]


def test_every_sector_and_kind_has_its_own_colour() -> None:
    sectors = [charts.SECTOR_COLOURS[s.value] for s in Sector]
    assert len(set(sectors)) == len(sectors)
    assert all(k.value in charts.KIND_COLOURS for k in MeterKind)
    three = charts.series_colours(["a", "b", "c"])
    assert charts.series_colours(["a", "b"]) == {"a": three["a"], "b": three["b"]}
    assert len(set(charts.series_colours([str(i) for i in range(10)]).values())) == 10


def test_options_are_plain_json_with_legend_units_and_a_zero_based_y_axis() -> None:
    """st.echarts_chart takes JSON only (no NumPy numbers, NaN or callbacks)."""
    frame = pd.DataFrame({"day": [date(2025, 4, 1), date(2025, 4, 2)], "e": [1.0, float("nan")],
                          "m": ["a", "a"]})
    option = charts.lines(frame, "day", "e", "m", x_title="Day", y_title="kWh",
                          colours={"a": "#123456"})
    assert json.loads(json.dumps(option, allow_nan=False)) == option
    assert option["legend"]["top"] == 0 and option["height"] == charts.DEFAULT_HEIGHT
    assert option["xAxis"]["type"] == "time" and option["xAxis"]["name"] == "Day"
    assert option["yAxis"]["name"] == "kWh" and "min" not in option["yAxis"]  # from zero
    assert option["tooltip"] == {"trigger": "axis", "valueFormatter": "localized"}
    assert option["textStyle"]["fontFamily"] == charts.FONT
    (line,) = option["series"]
    assert line["data"] == [["2025-04-01", 1.0], ["2025-04-02", None]]  # a gap, not a zero
    assert line["lineStyle"]["color"] == "#123456"
    assert charts.numbers([1, pd.NA, None, float("nan"), 2.5]) == [1.0, None, None, None, 2.5]


def test_times_are_sent_as_local_wall_clock_whatever_the_browser_zone() -> None:
    """ECharts shows times in the browser's zone: an operator in any zone (and a UTC test
    browser) must see the dashboard zone's wall clock, so x values carry no offset."""
    jst = timezone(timedelta(hours=9))
    aware = pd.Series(pd.to_datetime(["2026-03-31 03:00Z", "2026-03-31 15:30Z"], utc=True))
    assert charts.wall_clock(aware.dt.tz_convert("Asia/Tokyo")) == [
        "2026-03-31 12:00:00", "2026-04-01 00:30:00"]
    assert charts.wall_clock([datetime(2026, 3, 31, 12, tzinfo=jst), date(2026, 4, 1), None]
                             ) == ["2026-03-31 12:00:00", "2026-04-01", None]
    frame = pd.DataFrame({"t": aware.dt.tz_convert("Asia/Tokyo"), "p": [1.0, 2.0], "m": "a"})
    option = charts.lines(frame, "t", "p", "m", x_title="", y_title="kW", colours={},
                          x_range=[datetime(2026, 3, 31, 0, tzinfo=jst),
                                   datetime(2026, 4, 1, 0, tzinfo=jst)])
    assert _xs(option["series"][0]) == ["2026-03-31 12:00:00", "2026-04-01 00:30:00"]
    assert (option["xAxis"]["min"], option["xAxis"]["max"]) == (
        "2026-03-31 00:00:00", "2026-04-01 00:00:00")  # the pinned 24 h window


def test_range_points_draw_asymmetric_intervals_and_target_marks() -> None:
    option = charts.range_points(["city", "industry"], [180.0, 165.0], [150.0, 140.0],
                                 [210.0, 200.0], ["#000", "#111"], name="P50", x_title="",
                                 y_title="t", observed=[80.0, 70.0], observed_name="obs",
                                 marks=[675.3, None], marks_name="path")
    bars, points, interval, marks = option["series"]
    assert_allclose(_values(bars), [80.0, 70.0])
    assert [b["itemStyle"]["opacity"] for b in bars["data"]] == [0.35, 0.35]  # faded
    assert [p["value"] for p in points["data"]] == [["city", 180.0, 150.0, 210.0],
                                                    ["industry", 165.0, 140.0, 200.0]]
    assert [p["itemStyle"]["color"] for p in points["data"]] == ["#000", "#111"]
    # One vertical segment per category, P10 to P90 (30 above, 30 below; 35 above, 25
    # below), never joined to the next: null in between.
    assert interval["name"] == "P50" and interval["data"] == [
        ["city", 150.0], ["city", 210.0], ["city", None],
        ["industry", 140.0], ["industry", 200.0]]
    assert marks["data"] == [["city", 675.3]] and marks["name"] == "path"
    assert marks["symbol"] == "rect" and marks["color"] == charts.TARGET_RED
    assert option["yAxis"]["name"] == "t"
    assert option["tooltip"]["trigger"] == "item"
    assert option["xAxis"]["data"] == ["city", "industry"]


def test_projection_is_a_diamond_with_its_p10_p90_range() -> None:
    frame = pd.DataFrame({"day": [date(2025, 4, 1), date(2025, 9, 30)], "y": [0.0, 90.0],
                          "s": "actual"})
    option = charts.lines(frame, "day", "y", "s", x_title="", y_title="t", colours={})
    charts.add_projection(option, date(2026, 3, 31), 160.0, 180.0, 210.0, name="FY end")
    _, point, interval = option["series"]
    assert point["data"] == [["2026-03-31", 180.0]] and point["symbol"] == "diamond"
    assert interval["data"] == [["2026-03-31", 160.0], ["2026-03-31", 210.0]]
    assert point["name"] == interval["name"] == "FY end"  # one legend entry for both


def test_baseline_series_shades_savings_between_baseline_and_actual() -> None:
    days = [date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)]
    names = {"band": "I", "baseline": "B", "savings": "S", "excess": "E", "actual": "A",
             "context": "C"}
    option = charts.baseline_series(days, [90.0, 105.0, 80.0], [100.0, 100.0, 100.0],
                                    [95.0, 94.0, 93.0], [105.0, 106.0, 107.0], names=names,
                                    x_title="Day", y_title="kWh/day",
                                    context=([date(2025, 6, 30)], [99.0]))
    context, lower, band, base, below, savings, base2, excess, actual = option["series"]
    assert_allclose(_ys(context), [99.0])
    # The interval band: from the lower bound, as thick as upper - lower.
    assert lower["stack"] == band["stack"] and band["name"] == "I" and "areaStyle" in band
    assert lower["lineStyle"]["opacity"] == 0 and "areaStyle" not in lower
    assert_allclose(_ys(lower), [95.0, 94.0, 93.0])
    assert_allclose([lo + d for lo, d in zip(_ys(lower), _ys(band), strict=True)],
                    [105.0, 106.0, 107.0])
    assert_allclose(_ys(base), [100.0] * 3) and base["name"] == "B"
    # Savings fill from the actual up to the baseline where actual is below it...
    assert below["stack"] == savings["stack"] and savings["name"] == "S"
    assert_allclose(_ys(below), [90.0, 100.0, 80.0])
    assert_allclose([lo + d for lo, d in zip(_ys(below), _ys(savings), strict=True)],
                    [100.0] * 3)
    # ...and excess use from the baseline up to the actual where actual is above it.
    assert base2["stack"] == excess["stack"] and excess["name"] == "E"
    assert_allclose(_ys(base2), [100.0] * 3)
    assert_allclose([lo + d for lo, d in zip(_ys(base2), _ys(excess), strict=True)],
                    [100.0, 105.0, 100.0])
    legend = {d["name"]: d.get("icon") for d in option["legend"]["data"]}
    assert legend == {"C": None, "I": "roundRect", "B": None, "S": "roundRect",
                      "E": "roundRect", "A": None}  # there is excess: it has an entry
    assert_allclose(_ys(actual), [90.0, 105.0, 80.0]) and actual["name"] == "A"
    assert _xs(actual) == ["2025-07-01", "2025-07-02", "2025-07-03"]
    assert option["yAxis"]["name"] == "kWh/day" and option["xAxis"]["name"] == "Day"
    below_only = charts.baseline_series(days, [90.0] * 3, [100.0] * 3, [95.0] * 3, [105.0] * 3,
                                        names=names, x_title="", y_title="")
    assert [d["name"] for d in below_only["legend"]["data"]] == ["I", "B", "S", "A"]


def test_short_daily_axes_tick_once_a_day_and_sparse_lines_get_markers() -> None:
    frame = pd.DataFrame({"day": [date(2025, 9, 30), date(2025, 10, 1)], "e": [1.0, 2.0],
                          "m": ["a", "a"]})
    option = charts.stacked_bars(frame, "day", "e", "m", x_title="", y_title="kWh",
                                 colours={"a": "#000"}, x_format="{M}/{d}")
    assert option["xAxis"]["minInterval"] == 86_400_000
    assert option["xAxis"]["axisLabel"]["formatter"] == "{M}/{d}"
    assert option["series"][0]["stack"] == "total"
    line = charts.lines(frame, "day", "e", "m", x_title="", y_title="kWh", colours={})
    assert line["series"][0]["showSymbol"] is True
    long = pd.DataFrame({"day": pd.date_range("2025-01-01", periods=60).date, "e": 1.0,
                         "m": "a"})
    option = charts.stacked_bars(long, "day", "e", "m", x_title="", y_title="kWh",
                                 colours={}, x_format="{M}/{d}")
    assert "minInterval" not in option["xAxis"]
    assert charts.lines(long, "day", "e", "m", x_title="", y_title="",
                        colours={})["series"][0]["showSymbol"] is False
    # A few points spread over a fiscal year (a target line from April to March) keep
    # ECharts' own ticks: one tick a day over 365 days is an unreadable smear.
    sparse = pd.DataFrame({"day": [date(2025, 4, 1), date(2025, 9, 30), date(2026, 4, 1)],
                           "e": [0.0, 50.0, 600.0], "m": ["a", "a", "a"]})
    option = charts.lines(sparse, "day", "e", "m", x_title="", y_title="", colours={},
                          x_format="{M}/{d}")
    assert "minInterval" not in option["xAxis"]
    # Month labels are categories, in frame order.
    months = pd.DataFrame({"label": ["Apr", "May", "Apr", "May"], "e": [1.0, 2.0, 3.0, 4.0],
                           "m": ["a", "a", "b", "b"]})
    option = charts.stacked_bars(months, "label", "e", "m", x_title="", y_title="MWh",
                                 colours={})
    assert option["xAxis"] == option["xAxis"] | {"type": "category", "data": ["Apr", "May"]}
    assert [s["data"] for s in option["series"]] == [[["Apr", 1.0], ["May", 2.0]],
                                                     [["Apr", 3.0], ["May", 4.0]]]


def test_long_series_are_downsampled_to_the_chart_width_keeping_extremes() -> None:
    """A year of 30-minute power (17,520 points) reaches the browser as ~1,000 points per
    line, with the year's peak and trough and its first and last point still drawn; a short
    series is drawn whole."""
    import numpy as np

    n = 17_520
    ts = pd.date_range("2025-04-01", periods=n, freq="30min", tz="UTC")
    power = np.sin(np.arange(n) / 48.0 * 2 * np.pi) * 100.0 + 200.0
    power[5000] = 999.0  # a one-slot spike
    power[9000] = -50.0  # a one-slot dip
    power[12000:12100] = np.nan  # an outage stays a gap
    frame = pd.DataFrame({"ts": ts, "power_kw": power, "meter": "m1"})
    short = pd.DataFrame({"ts": ts[:100], "power_kw": power[:100], "meter": "m2"})
    option = charts.lines(pd.concat([frame, short]), "ts", "power_kw", "meter", x_title="t",
                          y_title="kW", colours={})
    long_series, short_series = option["series"]
    assert len(long_series["data"]) == charts.CHART_WIDTH_PX
    assert len(short_series["data"]) == 100
    ys = np.asarray([np.nan if y is None else y for y in _ys(long_series)], dtype=float)
    assert np.nanmax(ys) == 999.0 and np.nanmin(ys) == -50.0
    assert None in _ys(long_series)  # the outage is sent as null: a gap, never a zero
    kept = charts.fit_width(frame, "ts", "power_kw", 200)
    assert len(kept) == 200 and kept.index.is_monotonic_increasing
    assert kept.index[0] == 0 and kept.index[-1] == n - 1
    assert kept["power_kw"].isna().any()  # the outage is still drawn as a gap
    assert_allclose(kept["power_kw"].to_numpy(), power[kept.index.to_numpy()])


def test_ranked_bars_put_the_largest_on_top_and_mark_a_limit() -> None:
    option = charts.horizontal_bars(["big", "small"], [30.0, 10.0], ["#a", "#b"],
                                    x_title="kL", limit=(1500.0, "threshold"))
    (bars,) = option["series"]
    assert option["yAxis"]["data"] == ["small", "big"]  # categories are drawn bottom-up
    assert _values(bars) == [10.0, 30.0]
    assert [b["itemStyle"]["color"] for b in bars["data"]] == ["#b", "#a"]
    assert bars["markLine"]["data"] == [{"xAxis": 1500.0}]
    assert bars["markLine"]["label"]["formatter"] == "threshold"
    assert_allclose(option["xAxis"]["max"], 1650.0)  # the threshold stays in view
    assert option["tooltip"]["trigger"] == "item" and option["xAxis"]["name"] == "kL"


def test_progress_bars_fade_last_year_and_mark_the_target_path() -> None:
    option = charts.progress_bars(["industry", "commercial"], ["#1", "#2"], [50.0, 20.0],
                                  [60.0, 25.0], [55.0, None],
                                  names={"this": "FY2025", "last": "FY2024", "target": "path"},
                                  x_title="", y_title="t")
    last, this, marks = option["series"]
    assert last["name"] == "FY2024" and _values(last) == [60.0, 25.0]
    assert [b["itemStyle"] for b in last["data"]] == [{"color": "#1", "opacity": 0.35},
                                                      {"color": "#2", "opacity": 0.35}]
    assert _values(this) == [50.0, 20.0]
    assert marks["data"] == [["industry", 55.0]]
    assert (marks["symbol"], marks["symbolSize"]) == ("rect", [46, 4])
    big = charts.large_type(option)
    assert big["height"] == 520 and big["xAxis"]["axisLabel"]["fontSize"] == 20
    assert big["legend"]["textStyle"]["fontSize"] == 22


def test_intensity_trend_keeps_partial_years_apart_and_gaps_as_null() -> None:
    option = charts.intensity_trend(["FY2021", "FY2022", "FY2023", "FY2024"],
                                    [None, 10.0, 9.5, 4.0], [False, False, False, True],
                                    names={"actual": "A", "partial": "P", "target": "T"},
                                    y_title="kL/t")
    actual, partial, target = option["series"]
    assert _ys(actual) == [None, 10.0, 9.5, None]  # unknown years are gaps, never zeros
    assert actual["connectNulls"] is False
    assert _ys(partial) == [None, None, None, 4.0] and partial["symbol"] == "emptyCircle"
    assert _xs(target) == ["FY2022", "FY2023", "FY2024"]
    assert_allclose(_ys(target), [10.0, 9.9, 9.801])  # -1 %/yr from the first full year
