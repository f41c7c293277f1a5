"""Plotly figures of the ML actions and the trial detail view (built here, drawn by the UI)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# No named template: resolving one costs ~0.1 s per figure; the UI applies its theme.
# Figures are built from one nested dict: ``update_layout(xaxis_title=...)`` parses every
# magic-underscore path and cost several times the figure itself (they are built on
# every training).
_MARGIN = {"l": 60, "r": 20, "t": 50, "b": 40}


def _figure(traces: list[dict[str, Any]], title: str, **layout: Any) -> go.Figure:
    return go.Figure(
        {"data": traces, "layout": {"title": {"text": title}, "margin": _MARGIN, **layout}}
    )


def _axis(title: str, **more: Any) -> dict[str, Any]:
    return {"title": {"text": title}, **more}


MAX_IMPORTANCES = 25
MAX_POINTS = 5000


def confusion_figure(
    actual: np.ndarray, predicted: np.ndarray, classes: list[Any] | None, title: str
) -> go.Figure:
    """Counts of (actual, predicted) label pairs, with each actual row's share."""
    codes = sorted(set(np.asarray(actual).tolist()) | set(np.asarray(predicted).tolist()))
    if classes is not None and all(isinstance(c, int) and 0 <= c < len(classes) for c in codes):
        codes = list(range(len(classes)))
        labels = [str(c) for c in classes]
    else:
        labels = [str(c) for c in codes]
    if classes == [0, 1] and title.lower().find("direction") >= 0:
        labels = ["down (0)", "up (1)"]
    keys = np.asarray(codes)
    counts = np.zeros((len(codes), len(codes)), dtype=int)
    rows = np.searchsorted(keys, np.asarray(actual))
    columns = np.searchsorted(keys, np.asarray(predicted))
    np.add.at(counts, (rows, columns), 1)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0)
    text = [
        [f"{counts[i, j]}<br>{share[i, j]:.0%}" for j in range(len(codes))]
        for i in range(len(codes))
    ]
    heatmap = {
        "type": "heatmap",
        "z": share,
        "x": labels,
        "y": labels,
        "text": text,
        "texttemplate": "%{text}",
        "colorscale": "Blues",
        "zmin": 0,
        "zmax": 1,
        "colorbar": {"title": {"text": "row share"}},
    }
    return _figure(
        [heatmap],
        title,
        xaxis=_axis("predicted"),
        yaxis=_axis("actual", autorange="reversed"),
    )


def _thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    if len(frame) <= max_points:
        return frame
    step = int(np.ceil(len(frame) / max_points))
    return frame.iloc[::step]


def residual_figure(predictions: pd.DataFrame, title: str) -> go.Figure:
    """Residual (actual - predicted) against the prediction, one colour per split."""
    frame = _thin(predictions)
    traces = [
        {
            "type": "scattergl",
            "x": part["predicted"].to_numpy(),
            "y": (part["actual"] - part["predicted"]).to_numpy(),
            "mode": "markers",
            "name": str(split),
            "marker": {"size": 4, "opacity": 0.6},
        }
        for split, part in frame.groupby("split", sort=False)
    ]
    zero = {
        "type": "line",
        "x0": 0,
        "x1": 1,
        "xref": "x domain",
        "y0": 0,
        "y1": 0,
        "yref": "y",
        "line": {"color": "grey", "dash": "dash"},
    }
    return _figure(traces, title, xaxis=_axis("predicted"), yaxis=_axis("residual"), shapes=[zero])


def importance_figure(importances: dict[str, float], kind: str, title: str) -> go.Figure:
    ranked = sorted(importances.items(), key=lambda item: abs(item[1]), reverse=True)
    ranked = ranked[:MAX_IMPORTANCES][::-1]
    bar = {
        "type": "bar",
        "x": [value for _, value in ranked],
        "y": [name for name, _ in ranked],
        "orientation": "h",
        "marker": {"color": "steelblue"},
    }
    label = "permutation importance (score drop)" if kind == "permutation" else "importance"
    return _figure([bar], title, xaxis=_axis(label), height=max(300, 22 * len(ranked) + 100))


def equity_figure(equity: pd.DataFrame, title: str) -> go.Figure:
    """Hold-out equity of the long/flat strategy against buy and hold (both net of costs)."""
    frame = _thin(equity)
    traces = [
        {
            "type": "scatter",
            "x": frame.index,
            "y": frame[column].to_numpy(),
            "mode": "lines",
            "name": name,
        }
        for column, name in (("strategy", "strategy (long/flat)"), ("buy_and_hold", "buy and hold"))
        if column in frame
    ]
    return _figure(traces, title, yaxis=_axis("equity (start = 1)"))


def leaderboard_figure(board: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Cross-validated mean ± std of ``metric`` per model, best first."""
    frame = board.dropna(subset=[metric])
    bar = {
        "type": "bar",
        "x": frame["model"],
        "y": frame[metric],
        "error_y": {"type": "data", "array": frame.get(f"{metric}_std")},
        "marker": {"color": "steelblue"},
    }
    return _figure([bar], title, yaxis=_axis(metric))


def history_figure(history: pd.DataFrame, metric: str, lower_is_better: bool) -> go.Figure:
    """Each Optuna trial's value and the best so far."""
    values = history[metric].astype(float)
    best = values.cummin() if lower_is_better else values.cummax()
    traces = [
        {
            "type": "scatter",
            "x": history["number"],
            "y": values,
            "mode": "markers",
            "name": "trial",
        },
        {
            "type": "scatter",
            "x": history["number"],
            "y": best,
            "mode": "lines",
            "name": "best so far",
        },
    ]
    return _figure(
        traces,
        f"Optimisation history ({metric})",
        xaxis=_axis("trial"),
        yaxis=_axis(metric),
    )
