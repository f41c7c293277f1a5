"""Charts of the ML actions (train, compare, tune, ensemble), drawn from their results'
tables and series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.actions.base import ActionResult, Series
from ui.presenters.registry import axis, figure, label, labels, presents, table

MAX_IMPORTANCES = 25


def confusion_figure(counts: pd.DataFrame, title: str) -> go.Figure:
    """Counts of (actual, predicted) label pairs, shaded by each actual row's share."""
    if "actual" in counts.columns:
        counts = counts.set_index("actual")
    columns = labels(str(c) for c in counts.columns)  # class labels: the data's values
    rows = labels(str(i) for i in counts.index)
    matrix = counts.to_numpy(dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    text = [
        [f"{int(matrix[i, j])}<br>{share[i, j]:.0%}" for j in range(matrix.shape[1])]
        for i in range(matrix.shape[0])
    ]
    heatmap = {
        "type": "heatmap",
        "z": share,
        "x": columns,
        "y": rows,
        "text": text,
        "texttemplate": "%{text}",
        "colorscale": "Blues",
        "zmin": 0,
        "zmax": 1,
        "colorbar": {"title": {"text": "row share"}},
    }
    return figure(
        [heatmap], title, xaxis=axis("predicted"), yaxis=axis("actual", autorange="reversed")
    )


def residual_figure(series: Series) -> go.Figure:
    """Residual (actual - predicted) against the prediction, one colour per split."""
    splits = np.asarray(series.labels if series.labels is not None else ["all"] * series.points)
    x = np.asarray(series.x, dtype=float)
    y = np.asarray([np.nan if v is None else v for v in series.y["residual"]], dtype=float)
    traces = [
        {
            "type": "scattergl",
            "x": x[splits == split],
            "y": y[splits == split],
            "mode": "markers",
            "name": label(split),
            "marker": {"size": 4, "opacity": 0.6},
        }
        for split in dict.fromkeys(splits.tolist())
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
    return figure(
        traces,
        label(series.title or "Residuals out of sample"),
        xaxis=axis("predicted"),
        yaxis=axis("residual"),
        shapes=[zero],
    )


def importance_figure(importances: pd.DataFrame, title: str) -> go.Figure:
    """The largest importances (by size), largest at the top."""
    ranked = importances.assign(size=importances["importance"].abs())
    ranked = ranked.sort_values("size", ascending=False).head(MAX_IMPORTANCES)[::-1]
    kind = str(importances["kind"].iloc[0]) if "kind" in importances and len(importances) else ""
    bar = {
        "type": "bar",
        "x": ranked["importance"].to_numpy(),
        "y": labels(ranked["feature"].astype(str)),  # an upload's column names
        "orientation": "h",
        "marker": {"color": "steelblue"},
    }
    measure = "permutation importance (score drop)" if kind == "permutation" else "importance"
    return figure([bar], title, xaxis=axis(measure), height=max(300, 22 * len(ranked) + 100))


def equity_figure(series: Series) -> go.Figure:
    """Hold-out equity of the long/flat strategy against buy and hold (both net of costs)."""
    names = {"strategy": "strategy (long/flat)", "buy_and_hold": "buy and hold"}
    traces = [
        {"type": "scatter", "x": series.x, "y": series.y[column], "mode": "lines", "name": name}
        for column, name in names.items()
        if column in series.y
    ]
    return figure(traces, label(series.title), yaxis=axis("equity (start = 1)"))


def validation_label(values: dict[str, Any]) -> str:
    """Which validation produced the out-of-sample numbers, in a few words."""
    if values.get("evaluation") == "walk_forward":
        step = values.get("step")
        return "walk-forward by dates" if step == "dates" else "walk-forward"
    if values.get("validation_override"):
        return "shuffled k-fold on dated rows (override)"
    return "shuffled k-fold" if values.get("evaluation") == "kfold" else "validation unknown"


@presents("train_model", "build_ensemble")
def training_run(result: ActionResult) -> dict[str, go.Figure]:
    """Confusion matrix (classification) or residuals (regression) out of sample, the
    feature importances and the hold-out equity; the out-of-sample charts say which
    validation produced them."""
    figures: dict[str, go.Figure] = {}
    how = validation_label(result.values)
    counts = table(result, "confusion_matrix")
    if counts is not None and not counts.empty:
        figures["confusion_matrix"] = confusion_figure(
            counts, f"Confusion matrix, out-of-sample folds ({how})"
        )
    if "residuals" in result.series:
        figures["residuals"] = residual_figure(result.series["residuals"])
        figures["residuals"].update_layout(
            title_text=f"{figures['residuals'].layout.title.text} ({how})"
        )
    importances = table(result, "feature_importances")
    if importances is not None and not importances.empty:
        name = result.values.get("model_name") or result.values.get("model_id") or "model"
        figures["feature_importances"] = importance_figure(
            importances, label(f"Feature importances ({name})")
        )
    if "holdout_equity" in result.series:
        figures["holdout_equity"] = equity_figure(result.series["holdout_equity"])
    return figures


def comparison_subtitle(values: dict[str, Any]) -> str:
    """Which data and period a comparison ran on, and how it was validated."""
    how = "walk-forward" if values.get("evaluation") == "walk_forward" else "k-fold"
    parts = []
    if values.get("symbol"):
        parts.append(str(values["symbol"]))
    if values.get("period_start") and values.get("period_end"):
        parts.append(f"{str(values['period_start'])[:10]} to {str(values['period_end'])[:10]}")
    elif values.get("dataset_id") is not None:
        parts.append(f"dataset {values['dataset_id']}")
    if values.get("n_folds"):
        parts.append(f"{values['n_folds']} {how} folds")
    else:
        parts.append(how)
    return " · ".join(parts)


def paired_differences(scores: pd.DataFrame, metric: str, best: str) -> pd.DataFrame:
    """Per fold, each model's metric minus the best model's on the same fold (folds only,
    not the hold-out): model, split, difference."""
    folds = scores[scores["split"].astype(str).str.startswith("fold")]
    wide = folds.pivot_table(index="split", columns="model", values=metric, aggfunc="first")
    if best not in wide:
        return pd.DataFrame(columns=["model", "split", "difference"])
    diffs = wide.sub(wide[best], axis=0).drop(columns=[best])
    return diffs.reset_index().melt(id_vars="split", var_name="model", value_name="difference")


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its t confidence interval (nan with fewer than 2)."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan")
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


@presents("compare_models")
def compare_models(result: ActionResult) -> dict[str, go.Figure]:
    """How far each model is from the best, fold by fold: every model saw identical
    folds, so the per-fold differences to the best are paired. Each fold's difference is
    a dot, the mean difference carries its 95 % t interval; the axis is zoomed on the
    differences (zero is the best model). Without per-fold scores (older results): the
    mean ± std per model as dots on a zoomed axis."""
    board, metric = table(result, "leaderboard"), result.values.get("metric_name")
    if board is None or metric not in board:
        return {}
    if "status" in board:
        board = board[board["status"] == "succeeded"]
    board = board.dropna(subset=[metric])
    if board.empty:
        return {}
    subtitle = label(comparison_subtitle(result.values))
    better = "higher" if result.values.get("greater_is_better", True) else "lower"
    best = str(result.values.get("best_model_name") or board["model"].iloc[0])
    scores = table(result, "fold_scores")
    if scores is not None and metric in scores and len(board) > 1:
        diffs = paired_differences(scores, metric, best)
        order = [m for m in board["model"].astype(str) if m != best]
        traces: list[dict[str, Any]] = [
            {
                "type": "scatter",
                "x": diffs["difference"].to_numpy(dtype=float),
                "y": labels(diffs["model"].astype(str)),
                "mode": "markers",
                "name": "one fold",
                "marker": {"color": "grey", "size": 6, "opacity": 0.6},
                "text": labels(diffs["split"].astype(str)),
            }
        ]
        means, halves = [], []
        for model in order:
            mean, half = mean_interval(
                diffs.loc[diffs["model"] == model, "difference"].to_numpy(dtype=float)
            )
            means.append(mean)
            halves.append(half)
        traces.append(
            {
                "type": "scatter",
                "x": means,
                "y": labels(order),
                "mode": "markers",
                "name": "mean difference (95 % CI)",
                "marker": {"color": "crimson", "size": 11, "symbol": "diamond"},
                "error_x": {"type": "data", "array": halves, "visible": True},
            }
        )
        zero = {
            "type": "line",
            "x0": 0,
            "x1": 0,
            "xref": "x",
            "y0": 0,
            "y1": 1,
            "yref": "y domain",
            "line": {"color": "black", "dash": "dash"},
        }
        return {
            "leaderboard": figure(
                traces,
                label(f"{metric}: each model minus {best} ({better} is better), per fold — ")
                + subtitle,
                xaxis=axis(label(f"{metric} difference to {best} (same fold)"), zeroline=False),
                yaxis=axis("model", autorange="reversed", type="category"),
                shapes=[zero],
                height=max(300, 60 * len(order) + 160),
                legend={"orientation": "h"},
            )
        }
    dots: dict[str, Any] = {
        "type": "scatter",
        "x": board[metric].to_numpy(dtype=float),
        "y": labels(board["model"].astype(str)),
        "mode": "markers",
        "name": label(f"mean {metric}"),
        "marker": {"color": "steelblue", "size": 11},
    }
    if f"{metric}_std" in board:
        dots["error_x"] = {
            "type": "data",
            "array": board[f"{metric}_std"].to_numpy(dtype=float),
            "visible": True,
        }
    return {
        "leaderboard": figure(
            [dots],
            label(f"{metric} by model, mean ± std over folds ({better} is better) — ") + subtitle,
            xaxis=axis(label(metric)),
            yaxis=axis("model", autorange="reversed", type="category"),
            height=max(300, 50 * len(board) + 150),
        )
    }


@presents("tune_model")
def tune_model(result: ActionResult) -> dict[str, go.Figure]:
    """Each Optuna trial's value and the best so far."""
    history, metric = table(result, "trials"), result.values.get("metric_name")
    if history is None or metric not in history:
        return {}
    scored = history.dropna(subset=[metric])
    values = scored[metric].astype(float)
    lower = not result.values.get("greater_is_better", True)
    best = values.cummin() if lower else values.cummax()
    traces = [
        {"type": "scatter", "x": scored["number"], "y": values, "mode": "markers", "name": "trial"},
        {
            "type": "scatter",
            "x": scored["number"],
            "y": best,
            "mode": "lines",
            "name": "best so far",
        },
    ]
    return {
        "history": figure(
            traces,
            label(f"Optimisation history ({metric})"),
            xaxis=axis("trial"),
            yaxis=axis(label(metric)),
        )
    }
