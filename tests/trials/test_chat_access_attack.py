"""A second analyst probing the read-only trial and job actions (attack, session G): no
filter, order, count or baseline reveals another analyst's trials or jobs, and ids too
large for the database are refused cleanly."""

from __future__ import annotations

import json

import pytest

from engine.actions import PermissionDenied, call
from tests.trials.conftest import add_job, add_trial
from tests.trials.test_chat_access import XGB, _trial


def _text(outcome) -> str:
    result = outcome.result
    parts = [outcome.error or ""]
    if result is not None:
        parts.append(result.summary)
        parts.append(json.dumps(result.values, default=str))
    return " ".join(parts)


@pytest.fixture
def secret(people):
    alice = people["alice"]
    goal_job = add_job(alice)
    return {
        "trials": [
            _trial(alice, symbol="SECRETSYM", sharpe=42.0, dataset_id=None),
            add_trial(
                alice,
                model_id=XGB,
                metric_name="sortino",
                metric_value=41.0,
                params={"model_id": XGB, "symbols": ["SECRETSYM"]},
            ),
        ],
        "job": goal_job,
    }


PROBES = [
    {"symbol": "SECRETSYM"},
    {"symbol": "SECRETSYM", "order": "best"},
    {"model": "xgboost", "order": "best"},
    {"metric": "sortino", "order": "worst"},
    {"order": "best", "limit": 100},
    {"mine": True, "order": "best"},
    {"status": "succeeded", "period": "last_30_days"},
]


@pytest.mark.parametrize("params", PROBES)
def test_bob_learns_nothing_of_alices_trials(people, secret, params):
    bob = people["bob"]
    mine = add_trial(bob, metric_name="sharpe", metric_value=0.1)
    outcome = call("query_trials", params, bob)
    values = outcome.result.values
    secret_ids = {t.id for t in secret["trials"]}
    assert not secret_ids & set(values.get("trial_ids") or [])
    assert set(values.get("trial_ids") or []) <= {mine.id}
    assert values["total_matching"] == len(values["trial_ids"])  # bob's own, counted alone
    summary = outcome.result.summary
    assert "42.0000" not in summary and "41.0000" not in summary, summary
    assert "other metrics" not in summary, summary  # no count of alice's sortino trials
    table = outcome.result.tables["trials"]
    assert "SECRETSYM" not in table.to_json(default_handler=str)


def test_compare_with_a_foreign_baseline_or_filter_reveals_nothing(people, secret):
    bob = people["bob"]
    b1 = add_trial(bob, metric_name="sharpe", metric_value=0.1)
    b2 = add_trial(bob, metric_name="sharpe", metric_value=0.2)
    foreign = secret["trials"][0].id
    with_baseline = call("compare_trials", {"trial_ids": [b1.id, b2.id], "baseline": foreign}, bob)
    assert with_baseline.status == "failed"
    assert "SECRETSYM" not in _text(with_baseline)
    by_symbol = call("compare_trials", {"symbol": "SECRETSYM"}, bob)
    assert by_symbol.status == "failed" and "SECRETSYM" in by_symbol.error  # the word asked
    assert str(foreign) not in by_symbol.error


def test_jobs_of_another_analyst_stay_private(people, secret):
    bob = people["bob"]
    outcome = call("query_jobs", {"limit": 100}, bob)
    assert outcome.result.values["count"] == 0
    try:
        everyone = call("query_jobs", {"everyone": True}, bob)
    except PermissionDenied:
        return
    assert everyone.status == "failed" and "Only an admin" in (everyone.error or "")


@pytest.mark.parametrize(
    "name,params",
    [
        ("compare_trials", {"trial_ids": [2**63, 1]}),
        ("compare_trials", {"trial_ids": [1, 2], "baseline": 2**70}),
        ("query_trials", {"dataset_id": 2**70}),
        ("query_trials", {"goal_id": 2**70}),
        ("query_jobs", {"goal_id": 2**70}),
    ],
)
def test_ids_too_large_for_the_database_are_refused_cleanly(people, name, params):
    from engine.actions import ActionError

    try:
        outcome = call(name, params, people["alice"])
    except ActionError as error:
        assert "Internal error" not in str(error)
        return
    assert "Internal error" not in (outcome.error or ""), outcome.error


def test_the_compare_address_with_an_impossible_id_says_not_found(people):
    """The page reads ?compare=… through parse_ids and compare.build."""
    from engine.actions import ActionError
    from engine.trials import compare, query

    alice = people["alice"]
    mine = add_trial(alice)
    ids = query.parse_ids(f"{mine.id}, {2**63}, #{mine.id}")
    assert ids == [mine.id, 2**63]
    with pytest.raises(ActionError, match=f"Not found or not visible to you: trial {2**63}"):
        compare.build(alice, ids)
    many = query.parse_ids(" ".join(str(i % 700) for i in range(20_000)))
    assert many == list(range(700))
