"""Which presenter draws which action's result.

A presenter is a function ``(result) -> {name: plotly Figure}`` that draws charts from
an :class:`~engine.actions.base.ActionResult`'s data (values, tables, series). It runs
only when a page shows the result; nothing it builds is stored or sent to Claude.
Actions without a presenter (dynamic actions, for instance) get :func:`draw_series`,
one line chart per series.

Plotly renders a subset of HTML in figure text (trace names, titles, axis titles, tick
and category labels, annotations, hover text): ``<a href>`` becomes a live link.
Every text that came from a user or a model (symbols, which are an upload's column
names, dataset, model, series, feature and parameter names) goes through
:func:`label` before it reaches a figure.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from engine.actions.base import ActionResult, Series

Presenter = Callable[[ActionResult], dict[str, go.Figure]]
PRESENTERS: dict[str, Presenter] = {}

MARGIN = {"l": 60, "r": 20, "t": 50, "b": 40}


def label(text: Any) -> str:
    """``text`` as Plotly figure text that renders literally: ``<``, ``>`` and ``&``
    become entities (which Plotly shows as the characters), so no tag or link survives."""
    return html.escape(str(text), quote=False)


def labels(values: Iterable[Any]) -> list[Any]:
    """:func:`label` of each text among ``values`` (category values, tick texts, point
    texts); numbers, dates and missing values pass unchanged."""
    return [label(value) if isinstance(value, str) else value for value in values]


def presents(*actions: str) -> Callable[[Presenter], Presenter]:
    """Register the decorated function as the presenter of ``actions``."""

    def decorator(function: Presenter) -> Presenter:
        for name in actions:
            if name in PRESENTERS and PRESENTERS[name] is not function:
                raise ValueError(f"action {name!r} already has a presenter")
            PRESENTERS[name] = function
        return function

    return decorator


def presenter_for(action: str | None) -> Presenter:
    return PRESENTERS.get(action or "", draw_series)


def figure(traces: list[dict[str, Any]], title: str, **layout: Any) -> go.Figure:
    """A figure from one nested dict: no named template (resolving one costs ~0.1 s; the
    page applies its theme) and no magic-underscore paths (parsing them costs more than
    the figure)."""
    return go.Figure(
        {"data": traces, "layout": {"title": {"text": title}, "margin": MARGIN, **layout}}
    )


def axis(title: str, **more: Any) -> dict[str, Any]:
    return {"title": {"text": title}, **more}


def table(result: ActionResult, name: str) -> pd.DataFrame | None:
    """A table as stored (a named index becomes a column), whether the result came from
    the action just now or back from the database."""
    frame = result.tables.get(name)
    if frame is None:
        return None
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    return frame


def line_traces(series: Series, columns: list[str] | None = None, **style: Any) -> list[dict]:
    return [
        {
            "type": "scatter",
            "x": series.x,
            "y": series.y[name],
            "mode": "lines",
            "name": label(name),
        }
        | style
        for name in (columns if columns is not None else list(series.y))
        if name in series.y
    ]


def draw_series(result: ActionResult) -> dict[str, go.Figure]:
    """Any result: one chart per series (lines; markers grouped by label when the points
    carry labels)."""
    figures: dict[str, go.Figure] = {}
    for name, series in result.series.items():
        if not series.y or not series.x:
            continue
        if series.labels is not None:
            traces = []
            points = pd.Series(series.labels)
            for point in dict.fromkeys(series.labels):
                keep = (points == point).to_numpy()
                x = [v for v, k in zip(series.x, keep, strict=True) if k]
                for column, values in series.y.items():
                    y = [v for v, k in zip(values, keep, strict=True) if k]
                    traces.append(
                        {
                            "type": "scattergl",
                            "x": labels(x),
                            "y": y,
                            "mode": "markers",
                            "name": label(f"{point} {column}" if len(series.y) > 1 else point),
                        }
                    )
        else:
            traces = [{**trace, "x": labels(series.x)} for trace in line_traces(series)]
        figures[name] = figure(
            traces,
            label(series.title or name.replace("_", " ")),
            xaxis=axis(label(series.x_label)),
            legend={"orientation": "h"},
        )
    return figures
