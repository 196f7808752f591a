"""ECharts options with one look: a fixed colour per sector and meter kind, units on axes.

Every builder returns an ECharts option as a plain JSON-compatible dict (``Spec``) that
``dashboard.ui.chart`` renders with Streamlit's native ``st.echarts_chart``. Issue 15: a
Plotly page loads and evaluates plotly.js (4.7 MB) on every first visit, about 1.3-1.5 s
of browser CPU; ECharts ships with Streamlit's frontend and costs a fraction of that.
Options carry no JavaScript (``st.echarts_chart`` rejects callbacks): labels use ECharts'
string templates and tooltips Streamlit's ``valueFormatter`` ("localized").

Figures are built from already-aggregated frames; labels arrive translated, so this module
knows nothing about languages or the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

Spec = dict[str, Any]
"""An ECharts option (https://echarts.apache.org/en/option.html) as JSON-compatible data,
plus ``height`` (the chart's height in px, taken out by ``dashboard.ui.chart``)."""

DEFAULT_HEIGHT = 340
"""Height of a chart unless its builder says otherwise. [px]"""

SECTOR_COLOURS: dict[str, str] = {
    "industry": "#4C78A8",
    "commercial": "#F58518",
    "public": "#54A24B",
    "household": "#B279A2",
    "transport": "#E45756",
    "unknown": "#9D9D9D",
    "city": "#2F3E46",
}
"""One colour per sector on every page, so 'orange' always means commercial."""

KIND_COLOURS: dict[str, str] = {
    "electricity": "#4C78A8",
    "gas": "#E45756",
    "pv": "#EECA3B",
    "ev_charging": "#72B7B2",
    "heat": "#FF9DA6",
    "weather": "#9D9D9D",
    "production": "#B279A2",
    "unknown": "#9D9D9D",
}
"""One colour per meter kind (PV is always yellow)."""

_PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6",
            "#9D755D", "#BAB0AC", "#EECA3B")
FONT = ("'Source Sans Pro', 'Source Sans', 'Noto Sans CJK JP', 'Hiragino Sans', Meiryo, "
        "IPAPGothic, sans-serif")
TARGET_RED = "#C0392B"
"""Colour of target paths, target markers and thresholds."""
_INK = "#2F3E46"

_SPARSE = 30
"""Series with fewer points than this are drawn with markers as well as lines."""
DAY_MS = 86_400_000
"""One day on a time axis. [ms]"""


def series_colours(names: Sequence[str]) -> dict[str, str]:
    """Give each name a stable colour from the palette, in the order given."""
    return {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}


def is_time(values: Iterable[object]) -> bool:
    """True when ``values`` are dates or datetimes (a time axis), False for categories."""
    if isinstance(values, pd.Series | pd.Index):
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            return True
        values = values.dropna()
    first = next(iter(values), None)
    return isinstance(first, date | datetime | np.datetime64)


def wall_clock(values: Iterable[object]) -> list[str | None]:
    """Dates and datetimes as naive local wall-clock strings for an ECharts time axis.

    ECharts parses and shows times in the *browser's* zone. The dashboard shows the
    configured zone's wall clock (Asia/Tokyo), and a wall screen's or a test browser's
    zone may differ: a string without an offset ("2026-03-31 12:00:00") is parsed and
    shown as that same wall-clock time in any browser zone. Callers pass local values
    (tz-aware in the display zone, or local dates); an aware value keeps its own wall
    clock. A date stays a date ("2026-03-31"); missing values become None.
    """
    series = pd.Series(list(values) if not isinstance(values, pd.Series | pd.Index)
                       else values.to_numpy())
    if series.empty:
        return []
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = series.dt.tz_localize(None) if series.dt.tz is not None else series
        text = stamps.dt.strftime("%Y-%m-%d %H:%M:%S")
        return [None if pd.isna(s) else str(s) for s in text]
    out: list[str | None] = []
    for v in series:
        if v is None or (not isinstance(v, date) and pd.isna(v)):
            out.append(None)
        elif isinstance(v, datetime | pd.Timestamp):
            out.append(v.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S"))
        elif isinstance(v, date):
            out.append(v.isoformat())
        else:
            out.append(str(pd.Timestamp(v).tz_localize(None)))
    return out


def x_values(values: Iterable[object]) -> list[str | None]:
    """X values as sent to ECharts: wall-clock strings on a time axis, else category text."""
    vals = values if isinstance(values, pd.Series | pd.Index) else list(values)
    if is_time(vals):
        return wall_clock(vals)
    return [None if v is None else str(v) for v in vals]


def numbers(values: Iterable[object]) -> list[float | None]:
    """Plain floats for JSON; NaN and None become null (a gap, never a zero)."""
    return [None if v is None or pd.isna(v) else float(v)  # type: ignore[arg-type]
            for v in values]


def pairs(xs: Iterable[object], ys: Iterable[object]) -> list[list[Any]]:
    """[x, y] data items of a series (x as ``x_values``, y as ``numbers``)."""
    return [[x, y] for x, y in zip(x_values(xs), numbers(ys), strict=True)]


def _axis(kind: str, title: str) -> dict[str, Any]:
    axis: dict[str, Any] = {"type": kind, "name": title, "nameLocation": "middle",
                            "nameGap": 30, "nameTextStyle": {"fontSize": 13}}
    if kind == "value":
        axis["nameGap"] = 44
    return axis


def spec(x_title: str, y_title: str, *, x_type: str = "time", height: int = DEFAULT_HEIGHT,
         x_format: str | None = None, trigger: str = "axis",
         categories: Sequence[str] | None = None) -> Spec:
    """The common option: legend on top, titled axes, y from zero, localized tooltips.

    ``x_format`` is an ECharts time template (``dashboard.i18n.axis_format``, e.g.
    ``"{M}/{d}"``); ``categories`` fills a category x axis in order.
    """
    x_axis = _axis(x_type, x_title)
    if x_format:
        x_axis["axisLabel"] = {"formatter": x_format}
    if categories is not None:
        x_axis["data"] = list(categories)
    y_axis = _axis("value", y_title)
    return {
        "height": height,
        "animation": False,  # a wall screen redraws on every refresh: no replayed entries
        "textStyle": {"fontFamily": FONT, "fontSize": 13},
        "legend": {"top": 0, "left": 0, "type": "scroll"},
        "grid": {"left": 8, "right": 24, "top": 44, "bottom": 8,
                 "outerBoundsMode": "same", "outerBoundsContain": "all"},
        "tooltip": {"trigger": trigger, "valueFormatter": "localized"},
        "xAxis": x_axis,
        "yAxis": y_axis,  # a value axis starts at zero unless told otherwise
        "series": [],
    }


def _day_ticks(option: Spec, xs: Iterable[object], x_format: str | None) -> None:
    """On a short daily axis, tick once a day (a time axis would add 12:00 ticks).

    Short means the axis *spans* at most 14 days: a few points spread over a fiscal year
    (a target line from April to March) keep ECharts' own ticks, not one per day.
    """
    if not x_format or "{H" in x_format:
        return
    days = pd.to_datetime(pd.Series(list(xs)), utc=True, errors="coerce").dropna()
    if not days.empty and (days.max() - days.min()) <= pd.Timedelta(days=14):
        option["xAxis"]["minInterval"] = DAY_MS


CHART_WIDTH_PX = 1000
"""Widest a chart is drawn on the wall screen (a full-width column at 1080p). [px]"""


def fit_width(part: pd.DataFrame, x: str, y: str, width_px: int = CHART_WIDTH_PX
              ) -> pd.DataFrame:
    """Downsample one series to about ``width_px`` points, keeping its peaks and dips.

    Uses tsdownsample's MinMaxLTTB (min/max preselection, then Largest-Triangle-Three-
    Buckets), NaN-aware so gaps stay gaps. Rows come back in ``x`` order; a series within
    the width is returned as it is. More points than pixels only cost transfer and
    browser time: they cannot be seen.
    """
    if len(part) <= width_px:
        return part
    from tsdownsample import NaNMinMaxLTTBDownsampler

    part = part.sort_values(x, kind="stable")  # the algorithm needs x in order
    xs = part[x]
    if isinstance(xs.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(xs):
        xv = xs.to_numpy(dtype="datetime64[ns]").astype("int64")
    else:
        xv = pd.to_numeric(xs).to_numpy(dtype="float64")
    yv = pd.to_numeric(part[y]).to_numpy(dtype="float64")
    keep = NaNMinMaxLTTBDownsampler().downsample(xv, yv, n_out=width_px - width_px % 2)
    return part.iloc[keep]


def line_series(name: str, data: list[list[Any]], colour: str, *, width: float = 2,
                dash: str = "solid", markers: bool | None = None) -> dict[str, Any]:
    """One line; ``markers`` (default: when sparse) draws each point, so one reading shows."""
    show = len(data) < _SPARSE if markers is None else markers
    return {"type": "line", "name": name, "data": data, "showSymbol": show,
            "symbolSize": 6, "connectNulls": False, "color": colour,
            "lineStyle": {"color": colour, "width": width, "type": dash}}


def lines(frame: pd.DataFrame, x: str, y: str, group: str, *, x_title: str, y_title: str,
          colours: Mapping[str, str], labels: Mapping[str, str] | None = None,
          x_format: str | None = None, dashes: Mapping[str, str] | None = None,
          widths: Mapping[str, float] | None = None,
          x_range: Sequence[object] | None = None,
          width_px: int = CHART_WIDTH_PX) -> Spec:
    """One line per group (e.g. power per meter over the last 24 h), in frame order.

    Sparse series get markers too, so a single reading is visible; ``x_range`` pins the
    axis (e.g. to the whole 24 h window, so missing hours show as missing). Each series is
    downsampled to ``width_px`` points (``fit_width``) before it is sent to the browser.
    ``dashes`` take ECharts line types ("dashed", "dotted").
    """
    option = spec(x_title, y_title, x_format=x_format,
                  x_type="time" if is_time(frame[x]) else "category")
    for name, whole in frame.groupby(group, sort=False):
        part = fit_width(whole, x, y, width_px)
        key = str(name)
        option["series"].append(line_series(
            (labels or {}).get(key, key), pairs(part[x], part[y]), colours.get(key, "#555"),
            width=(widths or {}).get(key, 2), dash=(dashes or {}).get(key, "solid")))
    if x_range is not None:
        low, high = wall_clock(list(x_range))
        option["xAxis"].update(min=low, max=high)
    _day_ticks(option, frame[x], x_format)
    return option


def stacked_bars(frame: pd.DataFrame, x: str, y: str, group: str, *, x_title: str,
                 y_title: str, colours: Mapping[str, str],
                 labels: Mapping[str, str] | None = None, height: int = DEFAULT_HEIGHT,
                 x_format: str | None = None) -> Spec:
    """Stacked bars of ``y`` over ``x``, one colour per group (energy by day per meter).

    Dates and times go on a time axis; anything else (month labels) on a category axis in
    frame order.
    """
    time_axis = is_time(frame[x])
    option = spec(x_title, y_title, height=height, x_format=x_format,
                  x_type="time" if time_axis else "category",
                  categories=None if time_axis else [str(v) for v in dict.fromkeys(frame[x])])
    for name, part in frame.groupby(group, sort=False):
        key = str(name)
        colour = colours.get(key, "#555")
        option["series"].append({
            "type": "bar", "name": (labels or {}).get(key, key), "stack": "total",
            "data": pairs(part[x], part[y]), "color": colour,
            "itemStyle": {"color": colour}, "barMaxWidth": 48})
    _day_ticks(option, frame[x], x_format)
    return option


def _coloured(values: Sequence[float | None], colours: Sequence[str],
              opacity: float = 1.0) -> list[dict[str, Any]]:
    """Bar items with a colour each (sector colours within one series)."""
    return [{"value": v, "itemStyle": {"color": c, "opacity": opacity}}
            for v, c in zip(numbers(values), colours, strict=True)]


def horizontal_bars(labels: Sequence[str], values: Sequence[float], colours: Sequence[str], *,
                    x_title: str, limit: tuple[float, str] | None = None) -> Spec:
    """Ranked horizontal bars (largest on top), e.g. top emitting sites.

    ``limit`` (value, label) draws a dashed red vertical line, e.g. a legal threshold.
    Categories are listed bottom-up, as the axis draws them.
    """
    option = spec("", "", height=max(220, 48 * len(labels) + 80), trigger="item")
    option["xAxis"] = _axis("value", x_title) | {"nameGap": 28}
    option["yAxis"] = {"type": "category", "data": list(labels)[::-1]}
    option["legend"] = {"show": False}
    option["grid"]["top"] = 16
    bars: dict[str, Any] = {"type": "bar", "name": x_title,
                            "data": _coloured(list(values)[::-1], list(colours)[::-1]),
                            "barMaxWidth": 36}
    if limit is not None:
        bars["markLine"] = {
            "silent": True, "symbol": ["none", "none"],
            "lineStyle": {"color": "#E45756", "type": "dashed", "width": 2},
            "label": {"formatter": limit[1], "position": "end", "color": "#E45756"},
            "data": [{"xAxis": float(limit[0])}]}
        if max(values, default=0.0) < limit[0]:
            option["xAxis"]["max"] = float(limit[0]) * 1.1  # keep the threshold in view
    option["series"].append(bars)
    return option


def target_marks(name: str, categories: Sequence[str], values: Sequence[float | None]
                 ) -> dict[str, Any] | None:
    """Red horizontal bars marking a target per category (None: no target), or None."""
    marked = [[c, v] for c, v in zip(categories, numbers(values), strict=True) if v is not None]
    if not marked:
        return None
    return {"type": "scatter", "name": name, "data": marked, "symbol": "rect",
            "symbolSize": [46, 4], "color": TARGET_RED, "itemStyle": {"color": TARGET_RED},
            "z": 5}


def progress_bars(categories: Sequence[str], colours: Sequence[str],
                  this_fy: Sequence[float], last_fy: Sequence[float] | None,
                  budget: Sequence[float | None], *, names: Mapping[str, str],
                  x_title: str, y_title: str) -> Spec:
    """Per-sector bars in the sector colours (last FY faded) with target-path markers.

    ``budget`` holds the emissions the target path allows so far, or None for a sector
    without a target.
    """
    option = spec(x_title, y_title, x_type="category", categories=categories)
    if last_fy is not None:
        option["series"].append({"type": "bar", "name": names["last"], "color": "#BAB0AC",
                                 "data": _coloured(last_fy, colours, 0.35)})
    option["series"].append({"type": "bar", "name": names["this"], "color": _INK,
                             "data": _coloured(this_fy, colours)})
    marks = target_marks(names["target"], categories, budget)
    if marks is not None:
        option["series"].append(marks)
    return option


def interval_series(name: str, xs: Sequence[object], low: Sequence[float],
                    high: Sequence[float], colour: str = _INK) -> dict[str, Any]:
    """Vertical error bars from ``low`` to ``high`` at each x, with short end caps.

    ECharts has no error bars: one line series draws a segment per x (null between
    segments, so they never join) with flat rectangles as caps. It works on time and
    category axes alike (a boxplot needs a category axis, a markLine has no caps), and
    it shares its name with the point series, so one legend entry toggles both.
    """
    data: list[list[Any] | None] = []
    for x, lo, hi in zip(x_values(xs), numbers(low), numbers(high), strict=True):
        data += [[x, lo], [x, hi], [x, None]]
    return {"type": "line", "name": name, "data": data[:-1], "connectNulls": False,
            "symbol": "rect", "symbolSize": [10, 2], "showSymbol": True, "color": colour,
            "lineStyle": {"color": colour, "width": 2}, "itemStyle": {"color": colour},
            "tooltip": {"show": False}, "z": 4}


def add_projection(option: Spec, x: object, p10: float, p50: float, p90: float, *,
                   name: str, colour: str = _INK) -> Spec:
    """Mark a projected value with its P10–P90 range (e.g. the fiscal-year end)."""
    option["series"].append({
        "type": "scatter", "name": name, "data": pairs([x], [p50]), "symbol": "diamond",
        "symbolSize": 13, "color": colour, "itemStyle": {"color": colour}, "z": 5})
    option["series"].append(interval_series(name, [x], [p10], [p90], colour))
    return option


def range_points(categories: Sequence[str], centre: Sequence[float], low: Sequence[float],
                 high: Sequence[float], colours: Sequence[str], *, name: str,
                 x_title: str, y_title: str, observed: Sequence[float] | None = None,
                 observed_name: str = "", marks: Sequence[float | None] | None = None,
                 marks_name: str = "") -> Spec:
    """A point per category with its interval (P10–P90 or a savings interval).

    Optional faded bars show what is observed so far, and red bars mark the target path.
    The y axis includes zero, even for losses. Hovering a point shows its interval.
    """
    option = spec(x_title, y_title, x_type="category", categories=categories,
                  trigger="item")
    if observed is not None:
        option["series"].append({"type": "bar", "name": observed_name, "color": "#BAB0AC",
                                 "data": _coloured(observed, colours, 0.35)})
    option["series"].append({
        "type": "scatter", "name": name, "symbol": "diamond", "symbolSize": 15, "z": 5,
        "color": _INK,
        "data": [{"value": [c, m, lo, hi],
                  "itemStyle": {"color": colour, "borderColor": _INK, "borderWidth": 1}}
                 for c, m, lo, hi, colour in zip(
                     categories, numbers(centre), numbers(low), numbers(high), colours,
                     strict=True)],
        "tooltip": {"formatter": "{b}<br/>{a}: {@[1]} ({@[2]} – {@[3]})"}})
    option["series"].append(interval_series(name, categories, low, high))
    if marks is not None:
        marked = target_marks(marks_name, categories, marks)
        if marked is not None:
            option["series"].append(marked)
    return option


def _hidden(name: str, data: list[list[Any]], stack: str) -> dict[str, Any]:
    """An invisible line: the base a stacked band is drawn up from."""
    return {"type": "line", "name": name, "data": data, "stack": stack,
            "stackStrategy": "all", "showSymbol": False, "silent": True,
            "lineStyle": {"opacity": 0}, "tooltip": {"show": False}}


def _band(name: str, data: list[list[Any]], stack: str, fill: str) -> dict[str, Any]:
    """A filled band stacked on ``_hidden``: its values are the band's thickness."""
    return {"type": "line", "name": name, "data": data, "stack": stack,
            "stackStrategy": "all", "showSymbol": False, "silent": True, "color": fill,
            "itemStyle": {"color": fill},
            "lineStyle": {"opacity": 0}, "areaStyle": {"color": fill, "opacity": 1},
            "tooltip": {"show": False}}


def baseline_series(days: Sequence[object], actual: Sequence[float],
                    baseline: Sequence[float], lower: Sequence[float], upper: Sequence[float],
                    *, names: Mapping[str, str], x_title: str, y_title: str,
                    x_format: str | None = None,
                    context: tuple[Sequence[object], Sequence[float]] | None = None
                    ) -> Spec:
    """Daily baseline (with its interval band) vs actual, the savings shaded between them.

    Green fills where actual is below the baseline (savings), red where it is above (more
    use than the counterfactual). ``context`` is (days, energy) of actual use before the
    reporting period, drawn thin and grey. ``names`` keys: band, baseline, savings, excess,
    actual, context.

    Each shaded band is two stacked series: an invisible base (the band's lower edge) and
    the band's thickness filled on top of it (ECharts fills between stacked series, not
    between arbitrary ones). Their tooltips are off: the tooltip lists actual and baseline.
    """
    xs = list(days)
    a, b = numbers(actual), numbers(baseline)
    lo, hi = numbers(lower), numbers(upper)

    def diff(top: Sequence[float | None], bottom: Sequence[float | None]) -> list[float | None]:
        return [None if t is None or u is None else t - u
                for t, u in zip(top, bottom, strict=True)]

    below = [None if x is None or y is None else min(x, y) for x, y in zip(a, b, strict=True)]
    above = [None if x is None or y is None else max(x, y) for x, y in zip(a, b, strict=True)]
    excess = any(x is not None and y is not None and x > y for x, y in zip(a, b, strict=True))
    option = spec(x_title, y_title, x_format=x_format)
    series = option["series"]
    shown = []
    if context is not None and len(context[0]):
        series.append(line_series(names["context"], pairs(context[0], context[1]), "#9D9D9D",
                                  width=1.5, markers=False))
        shown.append(names["context"])
    series += [
        _hidden("", pairs(xs, lo), "band"),
        _band(names["band"], pairs(xs, diff(hi, lo)), "band", "rgba(127,127,127,0.18)"),
        line_series(names["baseline"], pairs(xs, b), "#7F7F7F", dash="dashed", markers=False),
        _hidden("", pairs(xs, below), "savings"),
        _band(names["savings"], pairs(xs, diff(b, below)), "savings", "rgba(84,162,75,0.45)"),
        _hidden("", pairs(xs, b), "excess"),
        _band(names["excess"], pairs(xs, diff(above, b)), "excess", "rgba(228,87,86,0.35)"),
        line_series(names["actual"], pairs(xs, a), "#4C78A8"),
    ]
    shown += [names["band"], names["baseline"], names["savings"]]
    if excess:
        shown.append(names["excess"])
    shown.append(names["actual"])
    filled = {names["band"], names["savings"], names["excess"]}
    option["legend"]["data"] = [{"name": n, "icon": "roundRect"} if n in filled
                                else {"name": n} for n in shown]
    _day_ticks(option, xs, x_format)
    return option


def intensity_trend(labels: Sequence[str], values: Sequence[float | None],
                    partial: Sequence[bool], *, names: Mapping[str, str],
                    y_title: str) -> Spec:
    """Yearly energy intensity with the Energy Conservation Act's 1 %/yr improvement line.

    Complete years form the line; partial years (fewer than 12 months) are hollow markers of
    their own, never joined to it. The 1 %/yr line starts at the first complete year and
    falls 1 % a year; unknown years are gaps, never zeros.
    """
    vals = numbers(values)
    full = [None if p else v for v, p in zip(vals, partial, strict=True)]
    part = [v if p else None for v, p in zip(vals, partial, strict=True)]
    option = spec("", y_title, x_type="category", categories=labels)
    actual = line_series(names["actual"], [[x, v] for x, v in zip(labels, full, strict=True)],
                         "#4C78A8", width=3, markers=True)
    actual["symbolSize"] = 9
    option["series"].append(actual)
    option["series"].append({
        "type": "scatter", "name": names["partial"], "symbol": "emptyCircle",
        "symbolSize": 11, "color": "#4C78A8",
        "itemStyle": {"color": "#4C78A8", "borderWidth": 2},  # hollow: emptyCircle
        "data": [[x, v] for x, v in zip(labels, part, strict=True)]})
    first = next((i for i, v in enumerate(full) if v is not None), None)
    if first is not None:
        base = float(full[first])  # type: ignore[arg-type]
        option["series"].append(line_series(
            names["target"], [[x, base * 0.99 ** k] for k, x in enumerate(labels[first:])],
            "#E45756", dash="dashed", markers=False))
    return option


def grouped_bars(categories: Sequence[str],
                 groups: Mapping[str, tuple[Sequence[float | None], str]],
                 *, x_title: str, y_title: str, height: int = DEFAULT_HEIGHT) -> Spec:
    """Side-by-side bars per category: ``groups`` maps a name to (values, colour)."""
    option = spec(x_title, y_title, x_type="category", categories=categories, height=height)
    for name, (values, colour) in groups.items():
        option["series"].append({"type": "bar", "name": name, "color": colour,
                                 "itemStyle": {"color": colour},
                                 "data": [[c, v] for c, v in zip(
                                     categories, numbers(values), strict=True)]})
    return option


def large_type(option: Spec, *, height: int = 520, size: int = 20) -> Spec:
    """Wall-screen type: ticks at ``size`` px, legend and axis titles 2 px larger."""
    option["height"] = height
    # No pager on a wall screen (nobody clicks it): legend entries wrap onto a second row.
    option["legend"] |= {"type": "plain", "textStyle": {"fontSize": size + 2}}
    option["grid"]["top"] = size * 5
    for axis in ("xAxis", "yAxis"):
        option[axis].setdefault("axisLabel", {})["fontSize"] = size
        option[axis]["nameTextStyle"] = {"fontSize": size + 2}
        option[axis]["nameGap"] = option[axis]["nameGap"] + size
    return option


def monthly_ticks(option: Spec, template: str) -> Spec:
    """Tick a time x axis once a month, labelled with ``template`` (e.g. "{M}月")."""
    option["xAxis"]["minInterval"] = 28 * DAY_MS
    option["xAxis"]["maxInterval"] = 31 * DAY_MS
    option["xAxis"].setdefault("axisLabel", {})["formatter"] = template
    return option
