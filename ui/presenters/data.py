"""Charts of price data: candlesticks when one symbol has OHLC, lines otherwise, volume
as bars underneath; drawn from the "prices" (or FRED "series") series of a result."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from engine.actions.base import ActionResult, Series
from ui.presenters.registry import axis, figure, label, presents

OHLC = ("open", "high", "low", "close")


def _fields(series: Series) -> dict[str, dict[str, str]]:
    """symbol -> field -> column, for the columns the series marks as prices or volumes."""
    fields: dict[str, dict[str, str]] = {}
    for column in series.y:
        if series.units.get(column) in ("price", "volume") and "/" in column:
            symbol, field = column.rsplit("/", 1)
            fields.setdefault(symbol, {})[field] = column
    return fields


def _has_values(values: list[Any]) -> bool:
    return any(v is not None for v in values)


def _rebased(series: Series) -> tuple[dict[str, list[Any]], bool]:
    """Columns of very different scales rebased to 100 at their first value (all first
    values positive); else the columns as they are."""
    columns = series.y
    if len(columns) < 2:
        return columns, False
    arrays = {
        k: np.array([np.nan if v is None else v for v in c], float) for k, c in columns.items()
    }
    medians = {k: np.nanmedian(np.abs(a)) for k, a in arrays.items() if np.isfinite(a).any()}
    medians = {k: m for k, m in medians.items() if m > 0}
    if len(medians) < 2 or max(medians.values()) / min(medians.values()) <= 5:
        return columns, False
    firsts = {k: a[np.isfinite(a)][0] for k, a in arrays.items() if np.isfinite(a).any()}
    if not all(v > 0 for v in firsts.values()):
        return columns, False
    rebased = {
        k: [None if not np.isfinite(v) else float(v) for v in arrays[k] / firsts[k] * 100]
        for k in firsts
    }
    return rebased, True


def price_figure(series: Series) -> go.Figure:
    title = label(series.title)
    fields = _fields(series)
    layout: dict[str, Any] = {
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.15},
        "margin": {"l": 40, "r": 20, "t": 60, "b": 40},
    }
    traces: list[dict[str, Any]] = []
    if fields:
        volumes = [
            (symbol, f["volume"])
            for symbol, f in fields.items()
            if "volume" in f and _has_values(series.y[f["volume"]])
        ]
        if len(fields) == 1 and set(OHLC) <= set(next(iter(fields.values()))):
            symbol, columns = next(iter(fields.items()))
            traces.append(
                {
                    "type": "candlestick",
                    "x": series.x,
                    **{name: series.y[columns[name]] for name in OHLC},
                    "name": label(symbol),
                }
            )
        else:
            for symbol, columns in fields.items():
                if "close" in columns:
                    traces.append(
                        {
                            "type": "scatter",
                            "x": series.x,
                            "y": series.y[columns["close"]],
                            "name": label(symbol),
                            "mode": "lines",
                        }
                    )
        layout["xaxis"] = {"rangeslider": {"visible": False}, "anchor": "y"}
        layout["yaxis"] = axis("price")
        if volumes:
            layout["yaxis"]["domain"] = [0.27, 1.0]
            layout["xaxis"]["showticklabels"] = False
            layout["xaxis2"] = {"anchor": "y2", "matches": "x"}
            layout["yaxis2"] = {"domain": [0.0, 0.24], **axis("volume")}
            for symbol, column in volumes:
                traces.append(
                    {
                        "type": "bar",
                        "x": series.x,
                        "y": series.y[column],
                        "name": label(f"{symbol} volume"),
                        "marker": {"line": {"width": 0}},
                        "opacity": 0.6,
                        "xaxis": "x2",
                        "yaxis": "y2",
                    }
                )
    else:
        groups = unit_groups(series)
        if len(groups) > 1:
            traces, panels = unit_panels(series, groups)
            layout.update(panels)
            return figure(traces, title, height=max(420, 230 * len(groups)), **layout)
        columns, rebased = _rebased(series)
        for name, values in columns.items():
            traces.append(
                {
                    "type": "scatter",
                    "x": series.x,
                    "y": values,
                    "name": label(name),
                    "mode": "lines",
                }
            )
        unit = next(iter(groups)) if groups else "value"
        layout["yaxis"] = axis("rebased to 100" if rebased else label(unit))
        if rebased:
            title = f"{title} (rebased to 100 at each series' first value)"
    return figure(traces, title, **layout)


def unit_groups(series: Series) -> dict[str, list[str]]:
    """Columns grouped by their unit (a column without one is a "value")."""
    groups: dict[str, list[str]] = {}
    for column in series.y:
        groups.setdefault(series.units.get(column) or "value", []).append(column)
    return groups


def unit_panels(
    series: Series, groups: dict[str, list[str]], gap: float = 0.06
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One panel per unit, stacked, sharing the date axis; each panel's y axis is titled
    with its unit, so series in different units never share a scale."""
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    count = len(groups)
    height = (1.0 - gap * (count - 1)) / count
    for row, (unit, columns) in enumerate(groups.items()):
        suffix = "" if row == 0 else str(row + 1)
        top = 1.0 - row * (height + gap)
        layout[f"yaxis{suffix}"] = {
            "domain": [max(top - height, 0.0), top],
            "anchor": f"x{suffix}",
            **axis(label(unit)),
        }
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "showticklabels": row == count - 1}
        if row:
            layout[f"xaxis{suffix}"]["matches"] = "x"
        for column in columns:
            traces.append(
                {
                    "type": "scatter",
                    "x": series.x,
                    "y": series.y[column],
                    "name": label(column),
                    "mode": "lines",
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                }
            )
    return traces, layout


@presents("load_prices", "generate_synthetic_prices")
def prices(result: ActionResult) -> dict[str, go.Figure]:
    series = result.series.get("prices")
    return {"prices": price_figure(series)} if series is not None and series.x else {}


@presents("fetch_fred_series")
def fred_series(result: ActionResult) -> dict[str, go.Figure]:
    series = result.series.get("series")
    return {"series": price_figure(series)} if series is not None and series.x else {}
