"""Plotly figures of the ML actions and the trial detail view (built here, drawn by the UI)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# No named template: resolving one costs ~0.1 s per figure; the UI applies its theme.
_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 50, "b": 40}}
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
    position = {code: i for i, code in enumerate(codes)}
    counts = np.zeros((len(codes), len(codes)), dtype=int)
    for a, p in zip(np.asarray(actual).tolist(), np.asarray(predicted).tolist(), strict=True):
        counts[position[a], position[p]] += 1
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0)
    text = [
        [f"{counts[i, j]}<br>{share[i, j]:.0%}" for j in range(len(codes))]
        for i in range(len(codes))
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "row share"},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="actual",
        yaxis={"autorange": "reversed"},
        **_LAYOUT,
    )
    return fig


def _thin(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    if len(frame) <= max_points:
        return frame
    step = int(np.ceil(len(frame) / max_points))
    return frame.iloc[::step]


def residual_figure(predictions: pd.DataFrame, title: str) -> go.Figure:
    """Residual (actual - predicted) against the prediction, one colour per split."""
    fig = go.Figure()
    frame = _thin(predictions)
    for split, part in frame.groupby("split", sort=False):
        fig.add_trace(
            go.Scattergl(
                x=part["predicted"],
                y=part["actual"] - part["predicted"],
                mode="markers",
                name=str(split),
                marker={"size": 4, "opacity": 0.6},
            )
        )
    fig.add_hline(y=0, line={"color": "grey", "dash": "dash"})
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="residual", **_LAYOUT)
    return fig


def importance_figure(importances: dict[str, float], kind: str, title: str) -> go.Figure:
    ranked = sorted(importances.items(), key=lambda item: abs(item[1]), reverse=True)
    ranked = ranked[:MAX_IMPORTANCES][::-1]
    fig = go.Figure(
        go.Bar(
            x=[value for _, value in ranked],
            y=[name for name, _ in ranked],
            orientation="h",
            marker={"color": "steelblue"},
        )
    )
    label = "permutation importance (score drop)" if kind == "permutation" else "importance"
    fig.update_layout(
        title=title,
        xaxis_title=label,
        height=max(300, 22 * len(ranked) + 100),
        **_LAYOUT,
    )
    return fig


def equity_figure(equity: pd.DataFrame, title: str) -> go.Figure:
    """Hold-out equity of the long/flat strategy against buy and hold (both net of costs)."""
    fig = go.Figure()
    frame = _thin(equity)
    for column, name in (("strategy", "strategy (long/flat)"), ("buy_and_hold", "buy and hold")):
        if column in frame:
            fig.add_trace(go.Scatter(x=frame.index, y=frame[column], mode="lines", name=name))
    fig.update_layout(title=title, yaxis_title="equity (start = 1)", **_LAYOUT)
    return fig


def leaderboard_figure(board: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Cross-validated mean ± std of ``metric`` per model, best first."""
    frame = board.dropna(subset=[metric])
    fig = go.Figure(
        go.Bar(
            x=frame["model"],
            y=frame[metric],
            error_y={"type": "data", "array": frame.get(f"{metric}_std")},
            marker={"color": "steelblue"},
        )
    )
    fig.update_layout(title=title, yaxis_title=metric, **_LAYOUT)
    return fig


def history_figure(history: pd.DataFrame, metric: str, lower_is_better: bool) -> go.Figure:
    """Each Optuna trial's value and the best so far."""
    values = history[metric].astype(float)
    best = values.cummin() if lower_is_better else values.cummax()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=history["number"], y=values, mode="markers", name="trial"))
    fig.add_trace(go.Scatter(x=history["number"], y=best, mode="lines", name="best so far"))
    fig.update_layout(
        title=f"Optimisation history ({metric})",
        xaxis_title="trial",
        yaxis_title=metric,
        **_LAYOUT,
    )
    return fig
