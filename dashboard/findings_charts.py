"""Evidence charts of findings: one small figure per finding code, built from data frames.

Labels arrive translated (``labels``: i18n key suffix -> text), so this module knows
nothing about languages or the store; ``dashboard/views/findings.py`` fetches the data
through ``dashboard/data.py`` and picks the chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import _layout

_ACCENT = "#C0392B"
_LINE = "#4C78A8"
_GREY = "#9D9D9D"


def _vline(fig: go.Figure, x: datetime | pd.Timestamp, text: str) -> None:
    # add_vline's annotation cannot place itself on a date axis; draw shape and note apart.
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper",
                  line={"color": _ACCENT, "dash": "dash"})
    fig.add_annotation(x=x, y=1, yref="paper", text=text, showarrow=False, xanchor="left",
                       font={"color": _ACCENT})


def off_hours(power: pd.DataFrame, since: datetime, floor_kw: float, level_kw: float,
              labels: Mapping[str, str]) -> go.Figure:
    """Hourly power with the off-hours band: from the earlier level up to today's level."""
    fig = go.Figure(go.Scatter(x=power["bucket"], y=power["power_kw"], mode="lines",
                               name=labels["power_kw"], line={"color": _LINE, "width": 1.5}))
    fig.add_hrect(y0=floor_kw, y1=level_kw, fillcolor=_ACCENT, opacity=0.18, line_width=0)
    for y, name, dash in ((floor_kw, labels["floor"], "dot"), (level_kw, labels["level"], "dash")):
        fig.add_trace(go.Scatter(x=[power["bucket"].min(), power["bucket"].max()], y=[y, y],
                                 mode="lines", name=name,
                                 line={"color": _ACCENT, "dash": dash, "width": 1.5}))
    _vline(fig, since, labels["start"])
    return _layout(fig, "", labels["power_kw"], height=300)


def cusum(path: pd.DataFrame, h_sigma: float, since: datetime,
          labels: Mapping[str, str]) -> go.Figure:
    """The CUSUM S⁺ curve with its alarm threshold and the estimated start."""
    fig = go.Figure(go.Scatter(x=path.index, y=path["s_upper"], mode="lines+markers",
                               name=labels["cusum"], line={"color": _LINE}))
    fig.add_trace(go.Scatter(x=[path.index.min(), path.index.max()], y=[h_sigma, h_sigma],
                             mode="lines", name=labels["threshold"],
                             line={"color": _ACCENT, "dash": "dash"}))
    _vline(fig, since, labels["start"])
    return _layout(fig, "", labels["cusum"], height=300)


def daily_step(days: pd.DataFrame, since: datetime, labels: Mapping[str, str]) -> go.Figure:
    """Daily energy with the change point marked."""
    fig = go.Figure(go.Bar(x=days["bucket"], y=days["energy_kwh"], name=labels["daily_kwh"],
                           marker_color=_LINE))
    _vline(fig, since, labels["start"])
    return _layout(fig, "", labels["daily_kwh"], height=300)


def peak_day(demand: pd.DataFrame, peak_at: datetime, peak_kw: float, around_kw: float,
             labels: Mapping[str, str]) -> go.Figure:
    """The half-hour demand of the peak's day, the peak marked and the load around it."""
    fig = go.Figure(go.Bar(x=demand["bucket"], y=demand["demand_kw"], name=labels["demand_kw"],
                           marker_color=_GREY))
    fig.add_trace(go.Bar(x=[peak_at], y=[peak_kw], name=labels["peak"], marker_color=_ACCENT))
    fig.add_trace(go.Scatter(x=[demand["bucket"].min(), demand["bucket"].max()],
                             y=[around_kw, around_kw], mode="lines", name=labels["around"],
                             line={"color": _LINE, "dash": "dash"}))
    fig.update_layout(barmode="overlay")
    return _layout(fig, "", labels["demand_kw"], height=300)


def pv_ratio(days: pd.DataFrame, since: datetime, labels: Mapping[str, str]) -> go.Figure:
    """Daily yield over clear-sky expectation, and its clear-day index, over time."""
    fig = go.Figure(go.Scatter(x=days["day"], y=days["ratio"], mode="markers",
                               name=labels["pv_ratio"], marker={"color": _GREY, "size": 5}))
    fig.add_trace(go.Scatter(x=days["day"], y=days["index"], mode="lines",
                             name=labels["pv_index"], line={"color": _LINE, "width": 2.5}))
    _vline(fig, since, labels["start"])
    return _layout(fig, "", labels["pv_ratio"], height=300)


def declared_vs_verified(names: Sequence[str], values: Sequence[float],
                         labels: Mapping[str, str]) -> go.Figure:
    """Declared against verified saving of a measure. [kWh]"""
    fig = go.Figure(go.Bar(x=list(names), y=list(values), marker_color=[_GREY, _ACCENT]))
    fig = _layout(fig, "", labels["energy_kwh"], height=280)
    fig.update_layout(showlegend=False)
    return fig
