"""Figures of the dashboard (dashboard/charts.py): colours, intervals, axes."""

from __future__ import annotations

from datetime import date

import pandas as pd
from numpy.testing import assert_allclose

from dashboard import charts
from greenpipe.model import MeterKind, Sector


def test_every_sector_and_kind_has_its_own_colour() -> None:
    sectors = [charts.SECTOR_COLOURS[s.value] for s in Sector]
    assert len(set(sectors)) == len(sectors)
    assert all(k.value in charts.KIND_COLOURS for k in MeterKind)
    three = charts.series_colours(["a", "b", "c"])
    assert charts.series_colours(["a", "b"]) == {"a": three["a"], "b": three["b"]}
    assert len(set(charts.series_colours([str(i) for i in range(10)]).values())) == 10


def test_range_points_draw_asymmetric_intervals_and_target_marks() -> None:
    fig = charts.range_points(["city", "industry"], [180.0, 165.0], [150.0, 140.0],
                              [210.0, 200.0], ["#000", "#111"], name="P50", x_title="",
                              y_title="t", observed=[80.0, 70.0], observed_name="obs",
                              marks=[675.3, None], marks_name="path")
    bars, points, marks = fig.data
    assert_allclose(bars.y, [80.0, 70.0])
    assert_allclose(points.error_y.array, [30.0, 35.0])
    assert_allclose(points.error_y.arrayminus, [30.0, 25.0])
    assert list(marks.x) == ["city"] and list(marks.y) == [675.3]
    assert fig.layout.yaxis.title.text == "t"


def test_baseline_series_shades_savings_between_baseline_and_actual() -> None:
    days = [date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)]
    names = {"band": "I", "baseline": "B", "savings": "S", "excess": "E", "actual": "A",
             "context": "C"}
    fig = charts.baseline_series(days, [90.0, 105.0, 80.0], [100.0, 100.0, 100.0],
                                 [95.0, 94.0, 93.0], [105.0, 106.0, 107.0], names=names,
                                 x_title="Day", y_title="kWh/day",
                                 context=([date(2025, 6, 30)], [99.0]))
    context, upper, lower, base, below, base2, above, actual = fig.data
    assert_allclose(context.y, [99.0])
    assert_allclose(upper.y, [105.0, 106.0, 107.0])
    assert lower.fill == "tonexty" and lower.name == "I"  # the band: between lower and upper
    assert_allclose(lower.y, [95.0, 94.0, 93.0])
    assert_allclose(base.y, [100.0] * 3) and base.name == "B"
    # Savings fill from the baseline down to the actual where actual is below it...
    assert below.fill == "tonexty" and below.name == "S"
    assert_allclose(below.y, [90.0, 100.0, 80.0])
    assert_allclose(base2.y, [100.0] * 3) and base2.showlegend is False
    # ...and excess use from the baseline up to the actual where actual is above it.
    assert above.fill == "tonexty" and above.showlegend is True
    assert_allclose(above.y, [100.0, 105.0, 100.0])
    assert_allclose(actual.y, [90.0, 105.0, 80.0]) and actual.name == "A"
    assert fig.layout.yaxis.title.text == "kWh/day" and fig.layout.xaxis.title.text == "Day"


def test_short_daily_axes_tick_once_a_day_and_sparse_lines_get_markers() -> None:
    frame = pd.DataFrame({"day": [date(2025, 9, 30), date(2025, 10, 1)], "e": [1.0, 2.0],
                          "m": ["a", "a"]})
    fig = charts.stacked_bars(frame, "day", "e", "m", x_title="", y_title="kWh",
                              colours={"a": "#000"}, x_format="%-m/%-d")
    assert fig.layout.xaxis.dtick == 86_400_000
    assert fig.layout.xaxis.tickformat == "%-m/%-d"
    line = charts.lines(frame, "day", "e", "m", x_title="", y_title="kWh", colours={})
    assert line.data[0].mode == "lines+markers"
    long = pd.DataFrame({"day": pd.date_range("2025-01-01", periods=60).date, "e": 1.0,
                         "m": "a"})
    fig = charts.stacked_bars(long, "day", "e", "m", x_title="", y_title="kWh",
                              colours={}, x_format="%-m/%-d")
    assert fig.layout.xaxis.dtick is None
    assert charts.lines(long, "day", "e", "m", x_title="", y_title="",
                        colours={}).data[0].mode == "lines"
    # A few points spread over a fiscal year (a target line from April to March) keep
    # Plotly's own ticks: one tick a day over 365 days is an unreadable smear.
    sparse = pd.DataFrame({"day": [date(2025, 4, 1), date(2025, 9, 30), date(2026, 4, 1)],
                           "e": [0.0, 50.0, 600.0], "m": ["a", "a", "a"]})
    fig = charts.lines(sparse, "day", "e", "m", x_title="", y_title="", colours={},
                       x_format="%-m/%-d")
    assert fig.layout.xaxis.dtick is None


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
    fig = charts.lines(pd.concat([frame, short]), "ts", "power_kw", "meter", x_title="t",
                       y_title="kW", colours={})
    long_trace, short_trace = fig.data
    assert len(long_trace.y) == charts.CHART_WIDTH_PX
    assert len(short_trace.y) == 100
    ys = np.asarray(long_trace.y, dtype=float)
    assert np.nanmax(ys) == 999.0 and np.nanmin(ys) == -50.0
    kept = charts.fit_width(frame, "ts", "power_kw", 200)
    assert len(kept) == 200 and kept.index.is_monotonic_increasing
    assert kept.index[0] == 0 and kept.index[-1] == n - 1
    assert kept["power_kw"].isna().any()  # the outage is still drawn as a gap
    assert_allclose(kept["power_kw"].to_numpy(), power[kept.index.to_numpy()])


def test_every_figure_gets_the_white_template_without_naming_it() -> None:
    """Charts carry plotly_white as the default template (attached at creation, not
    re-validated per figure), so they look as before the speed-up."""
    import plotly.io as pio

    frame = pd.DataFrame({"day": [date(2025, 4, 1), date(2025, 4, 2)], "e": [1.0, 2.0],
                          "m": ["a", "a"]})
    fig = charts.lines(frame, "day", "e", "m", x_title="", y_title="kWh", colours={})
    assert fig.layout.template == pio.templates["plotly_white"]
    assert fig.to_dict()["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()
