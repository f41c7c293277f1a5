"""Placebo test: on pure random walks nothing is predictable, so a strong model under
walk-forward validation must score at chance. A model that "beats" a random walk
means leakage somewhere between features, targets and splits.

Bounds (per seed, N pooled out-of-fold predictions, n1 ups and n0 downs):

- ROC AUC: under H0 (scores independent of outcomes) the Mann-Whitney AUC has mean
  0.5 and standard error sqrt((n0 + n1 + 1) / (12 n0 n1)) (exact for untied scores;
  ties only shrink it). We require |AUC - 0.5| < 3 SE.
- Accuracy: with the model predicting "up" on a share q of days and a share r of
  days actually up, independent predictions are right with probability
  q r + (1 - q)(1 - r) =: a0; SE = sqrt(a0 (1 - a0) / N). We require |acc - a0| < 3 SE.
- Across the 5 seeds, the mean AUC must be within 3 SE / sqrt(5) of 0.5.

A positive control (a feature that peeks at the target) must blow through the same
bounds, so the test has power.
"""

from __future__ import annotations

import numpy as np
import pytest

from engine.ml.catalog import get_model
from engine.ml.features import build_price_features
from engine.ml.metrics import accuracy, roc_auc
from engine.ml.splits import WalkForwardSplit
from tests.ml._prices import gbm_ohlcv

SEEDS = (11, 12, 13, 14, 15)
DAYS = 2500
HORIZON = 1


def _out_of_fold(X, y, seed):
    cv = WalkForwardSplit(n_splits=5, horizon=HORIZON, embargo=5, holdout_fraction=0.2)
    spec = get_model("sklearn.HistGradientBoostingClassifier")
    preds, probas, truth = [], [], []
    for train, test in cv.split(X):
        model = spec.build_pipeline(seed=seed).fit(X.iloc[train], y.iloc[train])
        preds.append(model.predict(X.iloc[test]))
        probas.append(model.predict_proba(X.iloc[test])[:, 1])
        truth.append(y.iloc[test].to_numpy())
    return np.concatenate(truth), np.concatenate(preds), np.concatenate(probas)


def _bounds(y_true, y_pred):
    n1 = int(y_true.sum())
    n0 = len(y_true) - n1
    auc_se = np.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    q, r = y_pred.mean(), y_true.mean()
    chance = q * r + (1 - q) * (1 - r)
    acc_se = np.sqrt(chance * (1 - chance) / len(y_true))
    return auc_se, chance, acc_se


@pytest.mark.slow
def test_random_walk_is_unpredictable():
    aucs, ses = [], []
    for seed in SEEDS:
        X, y = build_price_features(
            gbm_ohlcv(DAYS, seed=seed), horizon=HORIZON, task="classification"
        )
        y_true, y_pred, p_up = _out_of_fold(X, y, seed)
        auc, acc = roc_auc(y_true, y_pred, p_up), accuracy(y_true, y_pred)
        auc_se, chance, acc_se = _bounds(y_true, y_pred)
        print(
            f"seed {seed}: N={len(y_true)} AUC={auc:.4f} (|z|={abs(auc - 0.5) / auc_se:.2f}) "
            f"acc={acc:.4f} chance={chance:.4f} (|z|={abs(acc - chance) / acc_se:.2f})"
        )
        assert abs(auc - 0.5) < 3 * auc_se, f"seed {seed}: AUC {auc:.4f} beats a random walk"
        assert abs(acc - chance) < 3 * acc_se, f"seed {seed}: accuracy {acc:.4f} vs {chance:.4f}"
        aucs.append(auc)
        ses.append(auc_se)
    assert abs(np.mean(aucs) - 0.5) < 3 * np.mean(ses) / np.sqrt(len(SEEDS))


def test_positive_control_a_peeking_feature_is_caught():
    X, y = build_price_features(gbm_ohlcv(DAYS, seed=SEEDS[0]), horizon=HORIZON, task="regression")
    rng = np.random.default_rng(0)
    X = X.assign(peek=y + rng.normal(0, y.std(), len(y)))  # tomorrow's return + noise
    direction = (y > 0).astype(int)
    y_true, y_pred, p_up = _out_of_fold(X, direction, SEEDS[0])
    auc_se, _, _ = _bounds(y_true, y_pred)
    auc = roc_auc(y_true, y_pred, p_up)
    assert auc - 0.5 > 10 * auc_se
