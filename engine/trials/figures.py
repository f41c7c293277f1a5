"""The trial presenters: Plotly figures drawn from the typed record (and the
out-of-sample predictions saved beside the model) when a page or report shows them.

Nothing here is stored: figures are built on demand and never written to the
database. Every string that came from a user or a model and goes into a figure is
HTML-escaped, because Plotly interprets a few tags (``<b>``, ``<a href>``) in labels.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from engine.lazy import pandas as pd
from engine.trials.detail import TrialDetail, artifact_file, points_column
from engine.trials.record import EquityCurve, Importances, Trial

log = logging.getLogger("mltrainer.trials")

COMPARE_POINTS = 3_000  # all curves of a comparison together
MAX_PARALLEL_DIMENSIONS = 12
MAX_IMPORTANCES = 25
MAX_SCATTER_POINTS = 5_000


def label(text: Any) -> str:
    """A string that Plotly shows literally (it renders a few HTML tags in labels)."""
    return html.escape(str(text), quote=False)


def _layout(figure: go.Figure, height: int = 320, **kwargs: Any) -> go.Figure:
    kwargs.setdefault("margin", dict(l=10, r=10, t=40, b=10))
    figure.update_layout(height=height, legend=dict(orientation="h"), **kwargs)
    return figure


def progress_figure(
    points: list[dict[str, Any]],
    metrics: Iterable[str] | None = None,
    *,
    title: str | None = "Progress",
    height: int = 300,
) -> go.Figure | None:
    """One line per reported metric against elapsed seconds (the learning curve)."""
    if not points:
        return None
    names = sorted({k for p in points for k in p if k not in ("elapsed_s", "fraction")})
    if metrics is not None:
        wanted = [m for m in metrics if m in names]
        names = wanted or names
    if not names:
        return None
    xs = points_column(points, "elapsed_s")
    measured = [name for name in names if name not in COUNTERS]
    counters = [name for name in names if name in COUNTERS]
    traces = [
        go.Scatter(x=xs, y=points_column(points, name), mode="lines+markers", name=label(name))
        for name in measured
    ]
    # A counter (fold 0..4, trial 0..n) on its own right-hand axis, as steps: on the
    # metric's axis it would flatten the metric it counts.
    traces += [
        go.Scatter(
            x=xs,
            y=points_column(points, name),
            mode="lines+markers",
            line={"shape": "hv", "dash": "dot", "color": "grey"},
            name=label(name),
            yaxis="y2" if measured else "y",
        )
        for name in counters
    ]
    figure = go.Figure(data=traces)
    axes: dict[str, Any] = {
        "yaxis": {"title": {"text": label(measured[0]) if len(measured) == 1 else "metric"}}
    }
    if measured and counters:
        axes["yaxis2"] = {
            "title": {"text": label(", ".join(counters))},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
            "tickformat": "d",
        }
    if title is None:
        return _layout(
            figure,
            height,
            xaxis_title="seconds",
            margin=dict(l=10, r=10, t=10, b=10),
            **axes,
        )
    return _layout(figure, height, xaxis_title="seconds", title=title, **axes)


# Progress values that count steps rather than measure anything.
COUNTERS = frozenset({"fold", "trial", "step", "epoch", "iteration", "round", "rebalance"})


def importance_figure(
    importances: Importances | None, top: int = MAX_IMPORTANCES
) -> go.Figure | None:
    """The ``top`` largest importances by magnitude, the largest at the top."""
    if importances is None:
        return None
    ranked = importances.ranked()[:top][::-1]
    if not ranked:
        return None
    figure = go.Figure(
        go.Bar(
            x=[v for _, v in ranked],
            y=[label(k) for k, _ in ranked],
            orientation="h",
            name="importance",
        )
    )
    return _layout(
        figure, max(240, 22 * len(ranked)), title=f"Feature importances ({importances.kind})"
    )


def confusion_figure(
    actual: np.ndarray, predicted: np.ndarray, classes: list[Any] | None, title: str
) -> go.Figure | None:
    """Counts of (actual, predicted) pairs, coloured by each actual row's share."""
    if len(actual) == 0:
        return None
    codes = sorted(set(np.asarray(actual).tolist()) | set(np.asarray(predicted).tolist()))
    if classes and all(isinstance(c, int) and 0 <= c < len(classes) for c in codes):
        codes = list(range(len(classes)))
        names = [str(c) for c in classes]
    else:
        names = [str(c) for c in codes]
    keys = np.asarray(codes)
    counts = np.zeros((len(codes), len(codes)), dtype=int)
    np.add.at(
        counts,
        (np.searchsorted(keys, np.asarray(actual)), np.searchsorted(keys, np.asarray(predicted))),
        1,
    )
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts, dtype=float), where=totals > 0)
    names = [label(n) for n in names]
    figure = go.Figure(
        go.Heatmap(
            z=share,
            x=names,
            y=names,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=[
                [f"{counts[i, j]} ({share[i, j]:.0%})" for j in range(len(codes))]
                for i in range(len(codes))
            ],
            texttemplate="%{text}",
        )
    )
    figure.update_yaxes(autorange="reversed", title="actual", type="category")
    figure.update_xaxes(title="predicted", type="category")
    return _layout(figure, 340, title=title)


def residual_figure(predictions: pd.DataFrame, title: str) -> go.Figure | None:
    """actual − predicted against predicted, one colour per split."""
    if predictions.empty:
        return None
    frame = predictions
    if len(frame) > MAX_SCATTER_POINTS:
        step = math.ceil(len(frame) / MAX_SCATTER_POINTS)
        frame = frame.iloc[::step]
    figure = go.Figure()
    for split, part in frame.groupby("split", sort=False):
        figure.add_scatter(
            x=part["predicted"].to_numpy(dtype=float),
            y=(part["actual"] - part["predicted"]).to_numpy(dtype=float),
            mode="markers",
            marker=dict(size=4),
            name=label(split),
        )
    figure.add_hline(y=0, line_dash="dash")
    return _layout(
        figure, 320, title=title, xaxis_title="predicted", yaxis_title="actual − predicted"
    )


def equity_figure(curve: EquityCurve | None) -> go.Figure | None:
    """Growth of 1 on the hold-out, the strategy against buy and hold."""
    if curve is None or not curve.dates:
        return None
    figure = go.Figure()
    figure.add_scatter(x=curve.dates, y=curve.strategy, mode="lines", name="long/flat")
    figure.add_scatter(x=curve.dates, y=curve.buy_and_hold, mode="lines", name="buy and hold")
    return _layout(
        figure,
        300,
        title=f"Hold-out equity, long/flat vs buy and hold ({curve.cost_bps:g} bps)",
        yaxis_title="growth of 1",
    )


def _predictions(trial: Trial) -> pd.DataFrame | None:
    """The out-of-sample predictions saved beside the trial's model, if any."""
    path = artifact_file(trial)
    if path is None:
        return None
    from engine.ml import persistence

    try:
        frame = persistence.load_side_tables(path)["predictions"]
    except (OSError, ValueError) as error:
        log.warning("predictions of trial %s (%s): %s", trial.id, path, error)
        return None
    if frame is None or not {"actual", "predicted", "split"} <= set(frame.columns):
        return None
    return frame


def result_figures(detail: TrialDetail) -> dict[str, go.Figure]:
    """The trial's charts: the confusion matrix (classification) or the residuals
    (regression) of the out-of-sample folds, the feature importances, and the hold-out
    equity curve of price targets."""
    trial = detail.trial
    figures: dict[str, go.Figure] = {}
    predictions = _predictions(trial)
    if predictions is not None:
        data = trial.reproducibility.data
        if trial.task == "classification":
            folds = predictions[predictions["split"] != "holdout"]
            what = "direction" if data is not None and data.kind == "prices" else "classes"
            figure = confusion_figure(
                folds["actual"].to_numpy(),
                folds["predicted"].to_numpy(),
                data.classes if data is not None else None,
                f"Confusion matrix, out-of-sample folds ({what})",
            )
            if figure is not None:
                figures["confusion_matrix"] = figure
        else:
            figure = residual_figure(predictions, "Residuals out of sample")
            if figure is not None:
                figures["residuals"] = figure
    figure = importance_figure(trial.importances)
    if figure is not None:
        figures["feature_importances"] = figure
    figure = equity_figure(detail.equity)
    if figure is not None:
        figures["holdout_equity"] = figure
    return figures
