"""The shortcuts that keep train_model cheap give exactly the numbers of the plain way:
splits backtested together equal each split backtested alone; predicting from the
once-transformed rows equals the Pipeline's own predict/predict_proba; a forest's labels
from its probabilities equal its predict; permutation importances reusing the hold-out's
transformed rows and predictions equal recomputing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, UserRef
from engine.ml import evaluation as ev
from engine.ml import pipeline
from engine.ml.params import TrainParams
from engine.ml.workflows import setup
from tests.ml.test_pipeline import PRICE


def prepared(**overrides):
    params = TrainParams(**{**PRICE, "model_id": "ridge", **overrides})
    return setup(params, ActionContext(user=UserRef.system()))


def _scored(data, plan, seed: int) -> list[tuple[np.ndarray, ev.SplitScore]]:
    rng = np.random.default_rng(seed)
    out = []
    splits = list(plan.folds) + ([plan.holdout] if plan.holdout is not None else [])
    for _, test in splits:
        predicted = rng.integers(0, 2, len(test))
        out.append((test, ev.score_split(data, test, predicted, None, False)))
    return out


@pytest.mark.parametrize("embargo", [5, 0])  # 0: consecutive test blocks touch
def test_splits_traded_together_equal_each_split_traded_alone(embargo):
    data, plan = prepared(embargo=embargo)
    together = _scored(data, plan, seed=1)
    alone = _scored(data, plan, seed=1)
    ev.trade_splits(data, together, cost_bps=5.0)
    for split in alone:
        ev.trade_splits(data, [split], cost_bps=5.0)
    for (_, a), (_, b) in zip(together, alone, strict=True):
        assert a.metrics == b.metrics
        pd.testing.assert_series_equal(a.strategy_returns, b.strategy_returns, check_exact=True)
        pd.testing.assert_series_equal(a.benchmark_returns, b.benchmark_returns, check_exact=True)
    pd.testing.assert_frame_equal(ev.equity_curve(together[-1][1]), ev.equity_curve(alone[-1][1]))


def test_a_split_is_traded_from_flat_to_flat_through_the_finance_backtest():
    from engine.finance.backtest import run_positions

    data, plan = prepared()
    test = plan.holdout[1]
    long = (np.arange(len(test)) % 3 == 0).astype(int)
    scored = ev.score_split(data, test, long, None, False)
    ev.trade_splits(data, [(test, scored)], cost_bps=7.0)
    dates = data.X.index[test]
    close = data.close.dropna()
    first, last = close.index.get_loc(dates[0]), close.index.get_loc(dates[-1])
    window = close.iloc[first : last + 2].to_frame("asset")
    alone = run_positions(window, pd.DataFrame({"asset": long.astype(float)}, index=dates), 7.0)
    pd.testing.assert_series_equal(scored.strategy_returns, alone.returns, check_exact=True)
    assert scored.metrics["sharpe"] == ev.annualised_sharpe(alone.returns)


@pytest.mark.parametrize(
    ("model_id", "model_params", "task"),
    [
        ("sklearn.LogisticRegression", {}, "classification"),  # imputation + scaling
        ("sklearn.RandomForestClassifier", {"n_estimators": 15}, "classification"),  # argmax
        ("sklearn.BaggingClassifier", {"n_estimators": 5}, "classification"),
        ("sklearn.KNeighborsRegressor", {}, "regression"),
    ],
)
def test_split_predictions_equal_the_pipeline_s_own(model_id, model_params, task):
    data, plan = prepared(task=task)
    config = pipeline.config_for(pipeline.resolve_spec(model_id, task), model_params, 3)
    train, test = plan.holdout
    fitted = pipeline.fit_split(config, data, train, test, "hold-out", [])
    X_test = data.X.iloc[test]
    np.testing.assert_array_equal(fitted.predicted, fitted.estimator.predict(X_test))
    if task == "classification":
        np.testing.assert_array_equal(fitted.scores, fitted.estimator.predict_proba(X_test))
    if hasattr(fitted.estimator, "regressor_"):  # a standardised target: predicts as a whole
        assert fitted.test_matrix is None
    else:
        prep = fitted.estimator.named_steps["prep"]
        np.testing.assert_array_equal(fitted.test_matrix, prep.transform(X_test))


def test_forests_and_bagging_are_the_only_argmax_predictors():
    from sklearn.ensemble import (
        BaggingClassifier,
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 2
    fit = [m.fit(X, y) for m in (RandomForestClassifier(3), ExtraTreesClassifier(3))]
    assert all(pipeline.predicts_by_argmax(m) for m in fit + [BaggingClassifier()])
    for model in (
        HistGradientBoostingClassifier(),  # raw score > 0, not the argmax of probabilities
        LogisticRegression(),
        DecisionTreeClassifier(),
    ):
        assert not pipeline.predicts_by_argmax(model)


@pytest.mark.parametrize(
    ("model_id", "task"),
    [
        ("sklearn.KNeighborsClassifier", "classification"),  # shuffles the transformed rows
        ("sklearn.KNeighborsRegressor", "regression"),  # target-transformed: the raw frame
    ],
)
def test_permutation_importances_reuse_the_hold_out_rows_exactly(model_id, task):
    data, plan = prepared(task=task)
    config = pipeline.config_for(pipeline.resolve_spec(model_id, task), {}, 0)
    train, test = plan.holdout
    fitted = pipeline.fit_split(config, data, train, test, "hold-out", [])
    recomputed = pipeline.permutation_importances(fitted.estimator, data, test, seed=4)
    reused = pipeline.permutation_importances(
        fitted.estimator,
        data,
        test,
        seed=4,
        transformed=fitted.test_matrix,
        predicted=fitted.predicted,
    )
    assert reused == recomputed
    assert set(reused) == set(data.feature_names)
