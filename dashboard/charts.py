"""Plotly figures with one look: a fixed colour per sector and meter kind, units on axes.

Figures are built from already-aggregated frames; labels arrive translated, so this module
knows nothing about languages or the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "plotly_white"
"""The plotly template of every chart."""

# As the default, plotly attaches the template to each new figure without validating it
# again; naming it in update_layout re-validated the whole template, about 45 ms a figure
# (a third of the Sites page's script run). Setting a default is no I/O.
pio.templates.default = TEMPLATE

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


_SPARSE = 30
"""Series with fewer points than this are drawn with markers as well as lines."""
_DAY_MS = 86_400_000


def _day_ticks(fig: go.Figure, xs: pd.Series, x_format: str | None) -> None:
    """On a short daily axis, tick once a day (Plotly would repeat each date at 12:00).

    Short means the axis *spans* at most 14 days: a few points spread over a fiscal year
    (a target line from April to March) must keep Plotly's own ticks, not one per day.
    """
    if not x_format or "%H" in x_format or xs.empty:
        return
    days = pd.to_datetime(pd.Series(list(xs)), utc=True, errors="coerce").dropna()
    if not days.empty and (days.max() - days.min()) <= pd.Timedelta(days=14):
        fig.update_xaxes(dtick=_DAY_MS)


def series_colours(names: Sequence[str]) -> dict[str, str]:
    """Give each name a stable colour from the palette, in the order given."""
    return {n: _PALETTE[i % len(_PALETTE)] for i, n in enumerate(names)}


def _layout(fig: go.Figure, x_title: str, y_title: str, height: int = 340,
            x_format: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        showlegend=True,  # also for one series: the legend names the meter
        hovermode="x unified",
    )
    fig.update_xaxes(title_text=x_title)
    if x_format:
        fig.update_xaxes(tickformat=x_format)
    fig.update_yaxes(title_text=y_title, rangemode="tozero", separatethousands=True)
    return fig


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


def lines(frame: pd.DataFrame, x: str, y: str, group: str, *, x_title: str, y_title: str,
          colours: Mapping[str, str], labels: Mapping[str, str] | None = None,
          x_format: str | None = None, dashes: Mapping[str, str] | None = None,
          widths: Mapping[str, float] | None = None,
          x_range: Sequence[object] | None = None,
          width_px: int = CHART_WIDTH_PX) -> go.Figure:
    """One line per group (e.g. power per meter over the last 24 h), in frame order.

    Sparse series get markers too, so a single reading is visible; ``x_range`` pins the
    axis (e.g. to the whole 24 h window, so missing hours show as missing). Each series is
    downsampled to ``width_px`` points (``fit_width``) before it is sent to the browser.
    """
    fig = go.Figure()
    for name, whole in frame.groupby(group, sort=False):
        part = fit_width(whole, x, y, width_px)
        key = str(name)
        fig.add_trace(go.Scatter(
            x=part[x], y=part[y], mode="lines+markers" if len(part) < _SPARSE else "lines",
            name=(labels or {}).get(key, key),
            line={"color": colours.get(key, "#555"), "width": (widths or {}).get(key, 2),
                  "dash": (dashes or {}).get(key, "solid")},
        ))
    fig = _layout(fig, x_title, y_title, x_format=x_format)
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    _day_ticks(fig, frame[x], x_format)
    return fig


def stacked_bars(frame: pd.DataFrame, x: str, y: str, group: str, *, x_title: str,
                 y_title: str, colours: Mapping[str, str],
                 labels: Mapping[str, str] | None = None, height: int = 340,
                 x_format: str | None = None) -> go.Figure:
    """Stacked bars of ``y`` over ``x``, one colour per group (energy by day per meter)."""
    fig = go.Figure()
    for name, part in frame.groupby(group, sort=False):
        key = str(name)
        fig.add_trace(go.Bar(x=part[x], y=part[y], name=(labels or {}).get(key, key),
                             marker_color=colours.get(key, "#555")))
    fig.update_layout(barmode="stack")
    fig = _layout(fig, x_title, y_title, height, x_format)
    _day_ticks(fig, frame[x], x_format)
    return fig

def horizontal_bars(labels: Sequence[str], values: Sequence[float], colours: Sequence[str], *,
                    x_title: str) -> go.Figure:
    """Ranked horizontal bars (largest on top), e.g. top emitting sites."""
    fig = go.Figure(go.Bar(x=list(values)[::-1], y=list(labels)[::-1], orientation="h",
                           marker_color=list(colours)[::-1]))
    fig = _layout(fig, x_title, "", height=max(220, 48 * len(labels) + 80))
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig

def progress_bars(categories: Sequence[str], colours: Sequence[str],
                  this_fy: Sequence[float], last_fy: Sequence[float] | None,
                  budget: Sequence[float | None], *, names: Mapping[str, str],
                  x_title: str, y_title: str) -> go.Figure:
    """Per-sector bars in the sector colours (last FY faded) with target-path markers.

    ``budget`` holds the emissions the target path allows so far, or None for a sector
    without a target.
    """
    fig = go.Figure()
    if last_fy is not None:
        fig.add_trace(go.Bar(x=list(categories), y=list(last_fy), name=names["last"],
                             marker_color=list(colours), opacity=0.35))
    fig.add_trace(go.Bar(x=list(categories), y=list(this_fy), name=names["this"],
                         marker_color=list(colours)))
    marked = [(c, b) for c, b in zip(categories, budget, strict=True) if b is not None]
    if marked:
        fig.add_trace(go.Scatter(
            x=[c for c, _ in marked], y=[b for _, b in marked], mode="markers",
            name=names["target"],
            marker={"symbol": "line-ew", "size": 46, "line": {"width": 4, "color": "#C0392B"}},
        ))
    fig.update_layout(barmode="group")
    return _layout(fig, x_title, y_title)


def add_projection(fig: go.Figure, x: object, p10: float, p50: float, p90: float, *,
                   name: str, colour: str = "#2F3E46") -> go.Figure:
    """Mark a projected value with its P10–P90 range (e.g. the fiscal-year end)."""
    fig.add_trace(go.Scatter(
        x=[x], y=[p50], mode="markers", name=name,
        marker={"color": colour, "size": 11, "symbol": "diamond"},
        error_y={"type": "data", "symmetric": False, "array": [p90 - p50],
                 "arrayminus": [p50 - p10], "color": colour, "thickness": 2, "width": 8},
    ))
    return fig


def range_points(categories: Sequence[str], centre: Sequence[float], low: Sequence[float],
                 high: Sequence[float], colours: Sequence[str], *, name: str,
                 x_title: str, y_title: str, observed: Sequence[float] | None = None,
                 observed_name: str = "", marks: Sequence[float | None] | None = None,
                 marks_name: str = "") -> go.Figure:
    """A point per category with its interval (P10–P90 or a savings interval).

    Optional faded bars show what is observed so far, and red bars mark the target path.
    """
    fig = go.Figure()
    if observed is not None:
        fig.add_trace(go.Bar(x=list(categories), y=list(observed), name=observed_name,
                             marker_color=list(colours), opacity=0.35))
    fig.add_trace(go.Scatter(
        x=list(categories), y=list(centre), mode="markers", name=name,
        marker={"color": list(colours), "size": 13, "symbol": "diamond",
                "line": {"color": "#2F3E46", "width": 1}},
        error_y={"type": "data", "symmetric": False,
                 "array": [h - c for h, c in zip(high, centre, strict=True)],
                 "arrayminus": [c - lo for c, lo in zip(centre, low, strict=True)],
                 "color": "#2F3E46", "thickness": 2, "width": 10},
    ))
    if marks is not None:
        marked = [(c, m) for c, m in zip(categories, marks, strict=True) if m is not None]
        if marked:
            fig.add_trace(go.Scatter(
                x=[c for c, _ in marked], y=[m for _, m in marked], mode="markers",
                name=marks_name,
                marker={"symbol": "line-ew", "size": 46,
                        "line": {"width": 4, "color": "#C0392B"}},
            ))
    fig = _layout(fig, x_title, y_title)  # the y axis includes zero, even for losses
    fig.update_layout(hovermode="closest")
    return fig


def baseline_series(days: Sequence[object], actual: Sequence[float],
                    baseline: Sequence[float], lower: Sequence[float], upper: Sequence[float],
                    *, names: Mapping[str, str], x_title: str, y_title: str,
                    x_format: str | None = None,
                    context: tuple[Sequence[object], Sequence[float]] | None = None
                    ) -> go.Figure:
    """Daily baseline (with its interval band) vs actual, the savings shaded between them.

    Green fills where actual is below the baseline (savings), red where it is above (more
    use than the counterfactual). ``context`` is (days, energy) of actual use before the
    reporting period, drawn thin and grey. ``names`` keys: band, baseline, savings, excess,
    actual, context.
    """
    xs = list(days)
    a, b = list(actual), list(baseline)
    below = [min(x, y) for x, y in zip(a, b, strict=True)]
    above = [max(x, y) for x, y in zip(a, b, strict=True)]
    hidden: dict[str, object] = {"mode": "lines", "line": {"width": 0}, "hoverinfo": "skip"}
    fig = go.Figure()
    if context is not None and len(context[0]):
        fig.add_trace(go.Scatter(x=list(context[0]), y=list(context[1]), mode="lines",
                                 name=names["context"],
                                 line={"color": "#9D9D9D", "width": 1.5}))
    fig.add_trace(go.Scatter(x=xs, y=list(upper), showlegend=False, **hidden))
    fig.add_trace(go.Scatter(x=xs, y=list(lower), name=names["band"], fill="tonexty",
                             fillcolor="rgba(127,127,127,0.18)", **hidden))
    fig.add_trace(go.Scatter(x=xs, y=b, mode="lines", name=names["baseline"],
                             line={"color": "#7F7F7F", "width": 2, "dash": "dash"}))
    fig.add_trace(go.Scatter(x=xs, y=below, name=names["savings"], fill="tonexty",
                             fillcolor="rgba(84,162,75,0.45)", **hidden))
    fig.add_trace(go.Scatter(x=xs, y=b, showlegend=False, **hidden))
    fig.add_trace(go.Scatter(x=xs, y=above, name=names["excess"], fill="tonexty",
                             fillcolor="rgba(228,87,86,0.35)",
                             showlegend=any(x > y for x, y in zip(a, b, strict=True)),
                             **hidden))
    fig.add_trace(go.Scatter(x=xs, y=a, mode="lines+markers" if len(xs) < _SPARSE else "lines",
                             name=names["actual"], line={"color": "#4C78A8", "width": 2}))
    fig = _layout(fig, x_title, y_title, x_format=x_format)
    _day_ticks(fig, pd.Series(xs), x_format)
    return fig


def intensity_trend(labels: Sequence[str], values: Sequence[float | None],
                    partial: Sequence[bool], *, names: Mapping[str, str],
                    y_title: str) -> go.Figure:
    """Yearly energy intensity with the Energy Conservation Act's 1 %/yr improvement line.

    Complete years form the line; partial years (fewer than 12 months) are hollow markers of
    their own, never joined to it. The 1 %/yr line starts at the first complete year and
    falls 1 % a year; unknown years are gaps, never zeros.
    """
    full = [None if p else v for v, p in zip(values, partial, strict=True)]
    part = [v if p else None for v, p in zip(values, partial, strict=True)]
    fig = go.Figure(go.Scatter(x=list(labels), y=full, mode="lines+markers",
                               name=names["actual"], line={"color": "#4C78A8", "width": 3},
                               connectgaps=False))
    fig.add_trace(go.Scatter(x=list(labels), y=part, mode="markers", name=names["partial"],
                             marker={"color": "#4C78A8", "size": 10, "symbol": "circle-open"}))
    first = next((i for i, v in enumerate(full) if v is not None), None)
    if first is not None:
        base = float(full[first])  # type: ignore[arg-type]
        fig.add_trace(go.Scatter(
            x=list(labels)[first:], y=[base * 0.99 ** k for k in range(len(values) - first)],
            mode="lines", name=names["target"], line={"color": "#E45756", "dash": "dash"}))
    return _layout(fig, "", y_title)
