"""The offline planner maps analysts' ML requests to the ML actions and their parameters.

Every model name the intents produce resolves in the catalogue for the task it is used
with, so a planned call never fails on the name."""

from __future__ import annotations

import pytest

from engine.llm.planner import plan
from engine.ml import intents

CASES = [
    # list_models
    ("which models can do regression?", "list_models", {"task": "regression"}),
    (
        "list the boosting models for classification",
        "list_models",
        {"task": "classification", "family": "boosting"},
    ),
    ("what tree models do you have?", "list_models", {"family": "tree"}),
    ("show me the available models", "list_models", {}),
    # train_model
    (
        "train a random forest to predict AAPL's 5-day direction",
        "train_model",
        {"model_id": "random forest", "symbols": ["AAPL"], "task": "classification", "horizon": 5},
    ),
    (
        "Fit an XGBoost regressor on MSFT 10-day returns since 2015",
        "train_model",
        {
            "model_id": "xgboost",
            "symbols": ["MSFT"],
            "task": "regression",
            "horizon": 10,
            "start": "2015-01-01",
        },
    ),
    (
        "build a logistic regression model for SPX next-day direction from 2010 to 2018",
        "train_model",
        {
            "model_id": "logistic regression",
            "symbols": ["SPX"],
            "horizon": 1,
            "start": "2010-01-01",
            "end": "2018-12-31",
        },
    ),
    (
        "Train LightGBM on JPM weekly direction with 10 bps costs, rank by sharpe",
        "train_model",
        {
            "model_id": "lightgbm",
            "symbols": ["JPM"],
            "horizon": 5,
            "cost_bps": 10.0,
            "metric": "sharpe",
        },
    ),
    ("train an SVM on Apple", "train_model", {"model_id": "svm", "symbols": ["AAPL"]}),
    # compare_models
    (
        "compare gradient boosting, logistic regression and random forest on SPX next-day "
        "direction",
        "compare_models",
        {
            "model_ids": ["gradient boosting", "logistic regression", "random forest"],
            "symbols": ["SPX"],
            "task": "classification",
            "horizon": 1,
        },
    ),
    (
        "Random forest vs XGBoost vs SVM on AAPL 5-day returns",
        "compare_models",
        {"model_ids": ["random forest", "xgboost", "svm"], "task": "regression", "horizon": 5},
    ),
    (
        "which is best for KO: ridge, lasso or elastic net on 10-day returns?",
        "compare_models",
        {"model_ids": ["ridge", "lasso", "elastic net"], "symbols": ["KO"], "horizon": 10},
    ),
    # tune_model
    (
        "tune XGBoost on MSFT for 20 trials",
        "tune_model",
        {"model_id": "xgboost", "symbols": ["MSFT"], "n_trials": 20},
    ),
    (
        "Hyperparameter search for a random forest on AAPL 5-day direction, 50 trials",
        "tune_model",
        {"model_id": "random forest", "symbols": ["AAPL"], "n_trials": 50, "horizon": 5},
    ),
    (
        "optimise the hyperparameters of LightGBM on SPX with optuna, 30 iterations, by roc auc",
        "tune_model",
        {"model_id": "lightgbm", "symbols": ["SPX"], "n_trials": 30, "metric": "roc_auc"},
    ),
    # predict
    (
        "use trial 12 to predict AAPL from 2019-01-01",
        "predict",
        {"trial_id": 12, "symbols": ["AAPL"], "start": "2019-01-01"},
    ),
    (
        "predict with trial #7 on MSFT for the last 30 days",
        "predict",
        {"trial_id": 7, "symbols": ["MSFT"], "last_n": 30},
    ),
    (
        "What does trial 3 forecast for SPX since 2018?",
        "predict",
        {"trial_id": 3, "symbols": ["SPX"], "start": "2018-01-01"},
    ),
    # build_ensemble
    (
        "build an ensemble of trials 3, 5 and 8",
        "build_ensemble",
        {"trial_ids": [3, 5, 8], "method": "voting"},
    ),
    (
        "stack trials 4 and 9 with a ridge meta-model",
        "build_ensemble",
        {"trial_ids": [4, 9], "method": "stacking", "final_model_id": "ridge"},
    ),
    (
        "combine trials 10, 11 & 12 by hard voting",
        "build_ensemble",
        {"trial_ids": [10, 11, 12], "method": "voting", "voting": "hard"},
    ),
]


@pytest.mark.parametrize(("text", "action", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_requests_plan_the_ml_action(text, action, expected):
    planned = plan(text)
    assert [call.action for call in planned.calls] == [action], planned.message
    params = planned.calls[0].params
    for key, value in expected.items():
        assert params.get(key) == value, (key, params)
    if action == "list_models":
        assert set(params) == set(expected)


def test_each_action_has_three_phrasings():
    per_action = {}
    for _, action, _ in CASES:
        per_action[action] = per_action.get(action, 0) + 1
    assert set(per_action) == {
        "list_models", "train_model", "compare_models", "tune_model", "predict",
        "build_ensemble",
    }  # fmt: skip
    assert min(per_action.values()) >= 3


def test_missing_values_are_asked_for_not_guessed():
    assert plan("train a model on AAPL").missing == [
        "a model (e.g. random forest, logistic regression, XGBoost)"
    ]
    assert "symbols" in plan("train a random forest to predict the direction").missing[0]
    assert plan("compare random forest on SPX").missing
    assert plan("build an ensemble of trial 3").missing


def test_finance_requests_still_go_to_finance():
    assert plan("Backtest a 20/50 SMA crossover on AAPL with 5 bps costs").calls[0].action == (
        "backtest_strategy"
    )
    assert plan("Optimise a max-Sharpe portfolio of AAPL, MSFT and KO").calls[0].action == (
        "optimize_portfolio"
    )


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_model_word_resolves_in_the_catalogue(task):
    from engine.ml.catalog import find_model

    regression_only = {"linear regression", "ridge", "lasso", "elastic net"}
    classification_only = {"logistic regression", "naive bayes", "linear discriminant analysis",
                           "quadratic discriminant analysis"}  # fmt: skip
    for _, name in intents.MODEL_WORDS:
        if (task == "classification" and name in regression_only - {"ridge"}) or (
            task == "regression" and name in classification_only
        ):
            continue
        spec = find_model(name, task=task)
        assert spec.task == task, name
