"""Evidence charts of findings: one small ECharts option per finding code, from data frames.

Labels arrive translated (``labels``: i18n key suffix -> text), so this module knows
nothing about languages or the store; ``dashboard/views/findings.py`` fetches the data
through ``dashboard/data.py`` (times already in the display zone) and picks the chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from dashboard.charts import Spec, line_series, numbers, pairs, spec, wall_clock

_ACCENT = "#C0392B"
_LINE = "#4C78A8"
_GREY = "#9D9D9D"
_HEIGHT = 300


def _vline(series: dict[str, Any], x: date | datetime | pd.Timestamp, text: str) -> None:
    """Mark the estimated start on ``series``: a dashed red vertical line with its label."""
    series["markLine"] = {
        "silent": True, "symbol": ["none", "none"],
        "lineStyle": {"color": _ACCENT, "type": "dashed", "width": 1.5},
        "label": {"formatter": text, "position": "end", "color": _ACCENT},
        "data": [{"xAxis": wall_clock([x])[0]}]}


def _level(name: str, xs: pd.Series, y: float, colour: str, dash: str) -> dict[str, Any]:
    """A horizontal line across the data's time span (a threshold or a level)."""
    return line_series(name, pairs([xs.min(), xs.max()], [y, y]), colour, width=1.5,
                       dash=dash, markers=False)


def off_hours(power: pd.DataFrame, since: datetime, floor_kw: float, level_kw: float,
              labels: Mapping[str, str]) -> Spec:
    """Hourly power with the off-hours band: from the earlier level up to today's level."""
    option = spec("", labels["power_kw"], height=_HEIGHT)
    first = line_series(labels["power_kw"], pairs(power["bucket"], power["power_kw"]), _LINE,
                        width=1.5, markers=False)
    first["markArea"] = {"silent": True, "itemStyle": {"color": _ACCENT, "opacity": 0.18},
                         "data": [[{"yAxis": float(floor_kw)}, {"yAxis": float(level_kw)}]]}
    _vline(first, since, labels["start"])
    option["series"] += [
        first,
        _level(labels["floor"], power["bucket"], floor_kw, _ACCENT, "dotted"),
        _level(labels["level"], power["bucket"], level_kw, _ACCENT, "dashed")]
    return option


def cusum(path: pd.DataFrame, h_sigma: float, since: datetime,
          labels: Mapping[str, str]) -> Spec:
    """The CUSUM S⁺ curve with its alarm threshold and the estimated start."""
    option = spec("", labels["cusum"], height=_HEIGHT)
    curve = line_series(labels["cusum"], pairs(path.index, path["s_upper"]), _LINE,
                        markers=True)
    _vline(curve, since, labels["start"])
    option["series"] += [curve, _level(labels["threshold"], path.index.to_series(), h_sigma,
                                       _ACCENT, "dashed")]
    return option


def daily_step(days: pd.DataFrame, since: datetime, labels: Mapping[str, str]) -> Spec:
    """Daily energy with the change point marked."""
    option = spec("", labels["daily_kwh"], height=_HEIGHT)
    bars = {"type": "bar", "name": labels["daily_kwh"], "color": _LINE,
            "itemStyle": {"color": _LINE}, "data": pairs(days["bucket"], days["energy_kwh"])}
    _vline(bars, since, labels["start"])
    option["series"].append(bars)
    return option


def peak_day(demand: pd.DataFrame, peak_at: datetime, peak_kw: float, around_kw: float,
             labels: Mapping[str, str]) -> Spec:
    """The half-hour demand of the peak's day, the peak marked and the load around it.

    The peak's bar is drawn over its grey bar (``barGap`` -100 %), as one red bar.
    """
    option = spec("", labels["demand_kw"], height=_HEIGHT)
    option["series"] += [
        {"type": "bar", "name": labels["demand_kw"], "color": _GREY,
         "itemStyle": {"color": _GREY}, "data": pairs(demand["bucket"], demand["demand_kw"])},
        {"type": "bar", "name": labels["peak"], "color": _ACCENT, "barGap": "-100%",
         "itemStyle": {"color": _ACCENT}, "data": pairs([peak_at], [peak_kw])},
        _level(labels["around"], demand["bucket"], around_kw, _LINE, "dashed")]
    return option


def pv_ratio(days: pd.DataFrame, since: date, labels: Mapping[str, str]) -> Spec:
    """Daily yield over clear-sky expectation, and its clear-day index, over time."""
    option = spec("", labels["pv_ratio"], height=_HEIGHT)
    points = {"type": "scatter", "name": labels["pv_ratio"], "symbolSize": 5, "color": _GREY,
              "itemStyle": {"color": _GREY}, "data": pairs(days["day"], days["ratio"])}
    index = line_series(labels["pv_index"], pairs(days["day"], days["index"]), _LINE,
                        width=2.5, markers=False)
    _vline(index, since, labels["start"])
    option["series"] += [points, index]
    return option


def declared_vs_verified(names: Sequence[str], values: Sequence[float],
                         labels: Mapping[str, str]) -> Spec:
    """Declared against verified saving of a measure. [kWh]"""
    option = spec("", labels["energy_kwh"], x_type="category", categories=names,
                  height=280, trigger="item")
    option["legend"] = {"show": False}
    option["grid"]["top"] = 16
    option["series"].append({
        "type": "bar", "name": labels["energy_kwh"], "barMaxWidth": 80,
        "data": [{"value": v, "itemStyle": {"color": c}}
                 for v, c in zip(numbers(values), (_GREY, _ACCENT), strict=False)]})
    return option
