"""Metrics against hand-computed values and scikit-learn; NaN where undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from engine.ml import metrics as m


def test_classification_metrics_hand_computed():
    y_true = np.array([1, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 0, 0, 1, 1, 0])
    p_up = np.array([0.9, 0.2, 0.4, 0.8, 0.6, 0.1])
    out = m.classification_metrics(y_true, y_pred, p_up)
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert out["f1"] == pytest.approx(2 / 3)  # precision 2/3, recall 2/3
    # pairs (pos, neg) ranked correctly: 0.9>all, 0.8>all, 0.4>0.2,0.1 but <0.6 -> 8/9
    assert out["roc_auc"] == pytest.approx(8 / 9)
    expected_ll = -np.mean(np.log([0.9, 0.8, 0.4, 0.8, 0.4, 0.9]))
    assert out["log_loss"] == pytest.approx(expected_ll)
    # the full predict_proba matrix gives the same numbers
    matrix = np.column_stack([1 - p_up, p_up])
    assert m.classification_metrics(y_true, y_pred, matrix) == pytest.approx(out)


def test_classification_without_probabilities_or_with_one_class():
    out = m.classification_metrics([0, 1, 1], [0, 1, 0])
    assert math.isnan(out["roc_auc"]) and math.isnan(out["log_loss"])
    one_class = m.classification_metrics([1, 1, 1], [1, 0, 1], [0.7, 0.4, 0.9])
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["balanced_accuracy"])
    assert one_class["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.4, 0.9])))


def test_multiclass():
    y_true = np.array([0, 1, 2, 2, 1, 0])
    proba = np.eye(3)[[0, 1, 2, 1, 1, 0]] * 0.8 + 0.2 / 3
    y_pred = proba.argmax(axis=1)
    out = m.classification_metrics(y_true, y_pred, proba)
    assert out["accuracy"] == pytest.approx(5 / 6)
    assert 0.5 < out["roc_auc"] <= 1.0 and out["log_loss"] > 0
    assert 0 < out["f1"] < 1


def test_regression_metrics_hand_computed():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    y_pred = np.array([1.5, 2.0, 2.0, 4.5])
    out = m.regression_metrics(y_true, y_pred)
    assert out["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0.25) / 4))
    assert out["mae"] == pytest.approx(2.0 / 4)
    assert out["r2"] == pytest.approx(1 - 1.5 / 5.0)


def test_information_coefficient():
    returns = np.array([0.01, -0.02, 0.03, 0.0, -0.01])
    assert m.information_coefficient(returns * 5 + 1, returns) == pytest.approx(1.0)
    assert m.information_coefficient(-returns, returns) == pytest.approx(-1.0)
    assert math.isnan(m.information_coefficient(np.ones(5), returns))
    with_nan = np.array([0.1, np.nan, 0.3, 0.2, -0.1])
    assert np.isfinite(m.information_coefficient(with_nan, returns))
    with pytest.raises(ValueError, match="shape"):
        m.information_coefficient([1, 2], [1, 2, 3])


def test_strategy_returns_and_sharpe():
    positions = np.array([1, 1, -1, -1, 0, 1])
    fwd = np.array([0.01, 0.02, -0.01, 0.01, 0.05, -0.02])
    pnl = m.strategy_returns(positions, fwd, horizon=1, cost_bps=10)
    turnover = np.array([1, 0, 2, 0, 1, 1])
    np.testing.assert_allclose(pnl, positions * fwd - turnover * 0.001)
    # horizon 2: only non-overlapping holding periods (rows 0, 2, 4)
    np.testing.assert_allclose(m.strategy_returns(positions, fwd, horizon=2), [0.01, 0.01, 0.0])
    sharpe = m.strategy_sharpe(positions, fwd)
    raw = positions * fwd
    assert sharpe == pytest.approx(raw.mean() / raw.std(ddof=1) * np.sqrt(252))
    assert math.isnan(m.strategy_sharpe(np.zeros(6), fwd))


def test_evaluate_adds_financial_metrics():
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, 500)
    y = (returns > 0).astype(int)
    p_up = 0.5 + 0.4 * np.tanh(returns * 50)  # a perfect ranker
    out = m.evaluate("classification", y, (p_up > 0.5).astype(int), p_up, returns)
    assert set(out) == set(m.CLASSIFICATION_METRICS) | set(m.FINANCIAL_METRICS)
    assert out["ic"] == pytest.approx(1.0) and out["sharpe"] > 10
    reg = m.evaluate("regression", returns, returns * 0.5, realised_returns=returns)
    assert set(reg) == set(m.REGRESSION_METRICS) | set(m.FINANCIAL_METRICS)
    assert reg["ic"] == pytest.approx(1.0)
    assert m.default_metric("classification") == "roc_auc"
    assert not m.greater_is_better("log_loss") and m.greater_is_better("roc_auc")
    with pytest.raises(ValueError):
        m.evaluate("ranking", y, y)


def test_positive_scores():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    scores, is_proba = m.positive_scores(LogisticRegression().fit(X, y), X)
    assert is_proba and scores.shape == (80, 2)
    scores, is_proba = m.positive_scores(SVC().fit(X, y), X)
    assert not is_proba and scores.shape == (80,)
    assert m.roc_auc(y, None, scores) > 0.9
