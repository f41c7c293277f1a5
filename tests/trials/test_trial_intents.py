"""The offline planner on questions about past trials and jobs (engine/trials/intents.py),
and that the requests of the other intents still reach their actions."""

from __future__ import annotations

import pytest

from engine.llm.planner import plan

PHRASINGS = [
    (
        "what was my best model on KO last week?",
        "query_trials",
        {"symbol": "KO", "period": "last_7_days", "mine": True, "order": "best"},
    ),
    (
        "What were my top 3 trials by sharpe this month?",
        "query_trials",
        {"metric": "sharpe", "period": "this_month", "order": "best", "limit": 3},
    ),
    (
        "show my failed XGBoost trials from yesterday",
        "query_trials",
        {"model": "xgboost", "status": "failed", "period": "yesterday", "mine": True},
    ),
    (
        "which trials of goal 4 had the worst rmse?",
        "query_trials",
        {"goal_id": 4, "metric": "rmse", "order": "worst"},
    ),
    (
        "list my random forest trials on SPY since 2026-11-01",
        "query_trials",
        {"model": "random forest", "symbol": "SPY", "created_from": "2026-11-01"},
    ),
    (
        "compare my last 20 XGBoost trials",
        "compare_trials",
        {"model": "xgboost", "mine": True, "last": 20},
    ),
    (
        "Compare trials 3, 5 and 8 against trial 5",
        "compare_trials",
        {"trial_ids": [3, 5, 8], "baseline": 5},
    ),
    (
        "compare the 50 most recent trials on KO",
        "compare_trials",
        {"symbol": "KO", "last": 50},
    ),
    ("which of my jobs failed?", "query_jobs", {"status": ["failed"]}),
    ("show running jobs for goal 2", "query_jobs", {"status": ["running"], "goal_id": 2}),
    # the other intents keep their requests
    (
        "Compare gradient boosting, logistic regression and random forest on SPX direction",
        "compare_models",
        {"model_ids": ["gradient boosting", "logistic regression", "random forest"]},
    ),
    ("Tune XGBoost on MSFT for 20 trials", "tune_model", {"n_trials": 20}),
    (
        "Build a soft-voting ensemble of trials 3, 5 and 8",
        "build_ensemble",
        {"trial_ids": [3, 5, 8]},
    ),
    ("Train a random forest to predict AAPL's 5-day direction", "train_model", {"horizon": 5}),
]


@pytest.mark.parametrize(
    ("text", "action", "expected"), PHRASINGS, ids=[p[0][:40] for p in PHRASINGS]
)
def test_phrasing_maps_to_the_action(text, action, expected):
    planned = plan(text)
    assert planned.calls, planned.message
    (call,) = planned.calls
    assert call.action == action, planned.message
    for name, value in expected.items():
        assert call.params[name] == value, (name, call.params)


def test_comparing_one_trial_asks_for_another():
    planned = plan("compare trial 7")
    assert not planned.calls and "at least two trial ids" in planned.message
