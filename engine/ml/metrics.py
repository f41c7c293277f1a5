"""Evaluation metrics: classification, regression and financial.

Every function takes ``y_true``, ``y_pred`` and (where it applies) ``y_proba``:
class probabilities, either the positive-class column (1-D) or the full
``predict_proba`` matrix. A metric that cannot be computed (one class only, no
probabilities, constant predictions) is NaN rather than an exception, so one bad
fold never hides the others. Names match :mod:`engine.ml.params`.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from engine.ml.params import (
    CLASSIFICATION_METRICS,
    FINANCIAL_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
)

TRADING_DAYS = 252


def _skm() -> ModuleType:
    """sklearn.metrics, imported when a metric is first computed: the action catalogue
    imports this module in every CLI call and pool worker, most of which train nothing."""
    from sklearn import metrics

    return metrics


__all__ = [
    "CLASSIFICATION_METRICS",
    "FINANCIAL_METRICS",
    "LOWER_IS_BETTER",
    "REGRESSION_METRICS",
    "accuracy",
    "balanced_accuracy",
    "classification_metrics",
    "default_metric",
    "evaluate",
    "f1",
    "greater_is_better",
    "information_coefficient",
    "log_loss",
    "mae",
    "positive_scores",
    "r2",
    "regression_metrics",
    "rmse",
    "roc_auc",
    "strategy_returns",
    "strategy_sharpe",
]


def _arr(values: Any) -> np.ndarray:
    return np.asarray(values)


def _proba_matrix(y_true: np.ndarray, y_proba: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(class labels, probability matrix), or None when probabilities are absent.

    A 1-D ``y_proba`` is P(positive class) of a binary problem. When ``y_true`` does
    not show every class (a short fold), labels are assumed to be 0..k-1."""
    if y_proba is None:
        return None
    proba = np.asarray(y_proba, dtype=float)
    classes = np.unique(y_true)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    if classes.size != proba.shape[1]:
        classes = np.arange(proba.shape[1])
    return classes, proba


# --- classification ----------------------------------------------------------------


def accuracy(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    return float(_skm().accuracy_score(y_true, y_pred))


def balanced_accuracy(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    y_true = _arr(y_true)
    if np.unique(y_true).size < 2:
        return math.nan
    return float(_skm().balanced_accuracy_score(y_true, y_pred))


def f1(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    """F1 of class 1 for binary 0/1 labels; macro-averaged F1 otherwise."""
    y_true, y_pred = _arr(y_true), _arr(y_pred)
    labels = np.union1d(np.unique(y_true), np.unique(y_pred))
    binary = labels.size <= 2 and set(labels.tolist()) <= {0, 1}
    average = "binary" if binary else "macro"
    return float(_skm().f1_score(y_true, y_pred, average=average, zero_division=0.0))


def roc_auc(y_true: Any, y_pred: Any = None, y_proba: Any = None) -> float:
    """ROC AUC from probabilities (or any ranking score, e.g. ``decision_function``);
    one-vs-rest macro for several classes; NaN with a single class or no scores."""
    y_true = _arr(y_true)
    classes = np.unique(y_true)
    if y_proba is None or classes.size < 2:
        return math.nan
    scores = np.asarray(y_proba, dtype=float)
    if classes.size == 2:
        if scores.ndim == 2:
            scores = scores[:, -1]
        return float(_skm().roc_auc_score(y_true == classes[-1], scores))
    if scores.ndim != 2 or scores.shape[1] != classes.size:
        return math.nan
    return float(_skm().roc_auc_score(y_true, scores, multi_class="ovr", average="macro"))


def log_loss(y_true: Any, y_pred: Any = None, y_proba: Any = None) -> float:
    """Cross-entropy of the predicted probabilities (clipped at 1e-15); NaN without them."""
    y_true = _arr(y_true)
    matrix = _proba_matrix(y_true, y_proba)
    if matrix is None:
        return math.nan
    labels, proba = matrix
    proba = np.clip(proba, 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(_skm().log_loss(y_true, proba, labels=labels))


def classification_metrics(y_true: Any, y_pred: Any, y_proba: Any = None) -> dict[str, float]:
    """accuracy, balanced accuracy, F1, ROC AUC and log loss (the last two need
    ``y_proba``; ROC AUC also accepts decision scores)."""
    return {
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "f1": f1(y_true, y_pred),
        "roc_auc": roc_auc(y_true, y_pred, y_proba),
        "log_loss": log_loss(y_true, y_pred, y_proba),
    }


def positive_scores(estimator: Any, X: Any) -> tuple[np.ndarray | None, bool]:
    """Ranking scores for ROC AUC: ``(scores, are_probabilities)``.

    ``predict_proba`` when the fitted estimator has it (full matrix), else
    ``decision_function``, else ``(None, False)``.
    """
    if hasattr(estimator, "predict_proba"):
        try:
            return np.asarray(estimator.predict_proba(X)), True
        except AttributeError:
            pass
    if hasattr(estimator, "decision_function"):
        try:
            return np.asarray(estimator.decision_function(X)), False
        except AttributeError:
            pass
    return None, False


# --- regression ------------------------------------------------------------------------


def rmse(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    return float(np.sqrt(_skm().mean_squared_error(y_true, y_pred)))


def mae(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    return float(_skm().mean_absolute_error(y_true, y_pred))


def r2(y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
    if len(_arr(y_true)) < 2:
        return math.nan
    return float(_skm().r2_score(y_true, y_pred))


def regression_metrics(y_true: Any, y_pred: Any, y_proba: Any = None) -> dict[str, float]:
    return {"rmse": rmse(y_true, y_pred), "mae": mae(y_true, y_pred), "r2": r2(y_true, y_pred)}


# --- financial ---------------------------------------------------------------------------


def information_coefficient(predictions: Any, realised_returns: Any) -> float:
    """Spearman rank correlation of predictions (or P(up)) with realised returns;
    NaN when either side is constant or fewer than 3 pairs are finite."""
    p = np.asarray(predictions, dtype=float)
    r = np.asarray(realised_returns, dtype=float)
    if p.shape != r.shape:
        raise ValueError(f"predictions {p.shape} and returns {r.shape} differ in shape")
    ok = np.isfinite(p) & np.isfinite(r)
    p, r = p[ok], r[ok]
    if p.size < 3 or np.ptp(p) == 0 or np.ptp(r) == 0:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(p, r).statistic)


def strategy_returns(
    positions: Any, forward_returns: Any, horizon: int = 1, cost_bps: float = 0.0
) -> np.ndarray:
    """Per-period returns of holding ``positions`` (e.g. -1/0/+1 or sizes) over the
    next ``horizon`` days, net of ``cost_bps`` per unit of turnover.

    ``forward_returns[t]`` is the return from t to t + horizon, so only every
    ``horizon``-th row is used: the holding periods do not overlap.
    """
    pos = np.asarray(positions, dtype=float)[:: max(1, int(horizon))]
    fwd = np.asarray(forward_returns, dtype=float)[:: max(1, int(horizon))]
    if pos.shape != fwd.shape:
        raise ValueError("positions and forward returns differ in length")
    turnover = np.abs(np.diff(pos, prepend=0.0))
    return pos * fwd - turnover * cost_bps / 1e4


def strategy_sharpe(
    positions: Any,
    forward_returns: Any,
    horizon: int = 1,
    cost_bps: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
) -> float:
    """Annualised Sharpe ratio (zero risk-free rate) of :func:`strategy_returns`."""
    pnl = strategy_returns(positions, forward_returns, horizon, cost_bps)
    pnl = pnl[np.isfinite(pnl)]
    if pnl.size < 2 or np.std(pnl, ddof=1) == 0:
        return math.nan
    per_year = periods_per_year / max(1, int(horizon))
    return float(np.mean(pnl) / np.std(pnl, ddof=1) * np.sqrt(per_year))


# --- dispatch -----------------------------------------------------------------------------


def default_metric(task: str) -> str:
    return "roc_auc" if task == "classification" else "rmse"


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def evaluate(
    task: str,
    y_true: Any,
    y_pred: Any,
    y_proba: Any = None,
    realised_returns: Any = None,
    horizon: int = 1,
    cost_bps: float = 0.0,
) -> dict[str, float]:
    """All metrics of the task; with ``realised_returns`` also the IC and the Sharpe
    ratio of trading the sign of the prediction (P(up) - 0.5 for classification)."""
    if task == "classification":
        out = classification_metrics(y_true, y_pred, y_proba)
    elif task == "regression":
        out = regression_metrics(y_true, y_pred)
    else:
        raise ValueError(f"task must be classification or regression; got {task!r}")
    if realised_returns is not None:
        signal = np.asarray(y_pred, dtype=float)
        if task == "classification":
            if y_proba is not None:
                proba = np.asarray(y_proba, dtype=float)
                signal = (proba[:, -1] if proba.ndim == 2 else proba) - 0.5
            else:
                signal = np.where(signal > 0, 1.0, -1.0)
        out["ic"] = information_coefficient(signal, realised_returns)
        out["sharpe"] = strategy_sharpe(np.sign(signal), realised_returns, horizon, cost_bps)
    return out
