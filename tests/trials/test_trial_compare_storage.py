"""storage/repositories/trial_compare.py on SQLite and PostgreSQL: the lean read, the
symbol filter on the parameters' JSON, several model ids, metric counts, the hold-out
equity read and the database's clock; every listing inside the reader's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.auth import permissions
from engine.trials.record import EquityCurve, SplitResult
from storage.repositories import trial_compare as repo
from storage.repositories import trials as trial_repo
from storage.repositories.trials import TrialFilter
from tests.trials.conftest import add_trial, reproducibility


@pytest.fixture
def analysts(any_db, make_user):
    return make_user("alice", "analyst"), make_user("bob", "analyst"), make_user("vic", "viewer")


def _on(user, symbols, model="xgboost.XGBClassifier", value=0.5, **fields):
    return add_trial(
        user,
        model_id=model,
        metric_value=value,
        params={"model_id": model, "symbols": symbols},
        **fields,
    )


def test_symbol_models_and_scope_in_the_query(analysts):
    alice, bob, vic = analysts
    ko = _on(alice, ["KO"], value=0.6)
    both = _on(alice, ["SPX", "KO"], model="sklearn.RandomForestClassifier", value=0.7)
    _on(alice, ["KOF"])  # not KO
    _on(alice, "KO")  # not a list: never matches (and never fails on PostgreSQL)
    add_trial(alice, params={"model_id": "x"})  # no symbols at all
    bobs = _on(bob, ["KO"], value=0.9)
    extra = repo.ChatFilter(symbol="KO")
    mine = permissions.scope_for(alice, "trial")
    rows, total = repo.find_trials(TrialFilter(), extra, mine, sort="metric_value")
    assert [r.id for r in rows] == [both.id, ko.id] and total == 2
    everyone = permissions.scope_for(vic, "trial")
    rows, total = repo.find_trials(TrialFilter(), extra, everyone, sort="metric_value")
    assert [r.id for r in rows] == [bobs.id, both.id, ko.id]
    only_xgb = repo.ChatFilter(
        symbol="KO", model_ids=("xgboost.XGBClassifier", "xgboost.XGBRFClassifier")
    )
    rows, _ = repo.find_trials(TrialFilter(), only_xgb, mine)
    assert [r.id for r in rows] == [ko.id]
    assert repo.metric_counts(TrialFilter(), extra, mine) == {"balanced_accuracy": 2}


def test_lean_read_order_scope_and_equity(analysts):
    alice, bob, _ = analysts
    mine = add_trial(alice, reproducibility=reproducibility(split_fingerprint="splits-1"))
    other = add_trial(alice)
    bobs = add_trial(bob)
    scope = permissions.scope_for(alice, "trial")
    rows = repo.compare_records([other.id, bobs.id, mine.id], scope)
    assert [r.id for r in rows] == [other.id, mine.id]  # bob's left out, order kept
    assert rows[1].split_fingerprint == "splits-1" and rows[0].split_fingerprint is None
    assert rows[1].params == mine.params and rows[1].metrics == mine.metrics
    curve = EquityCurve(
        dates=["2024-01-02", "2024-01-03"],
        strategy=[1.0, 1.01],
        buy_and_hold=[1.0, 0.99],
        cost_bps=2.0,
    )
    trial_repo.add_model_results(
        mine.id,
        [
            {
                "model_id": "m",
                "split": "holdout",
                "metrics": SplitResult(
                    model_id="m", split="holdout", metrics={"x": 1.0}, equity=curve
                ).stored_metrics(),
            }
        ],
    )
    equity = repo.holdout_equity([mine.id, other.id])
    assert list(equity) == [mine.id]
    assert equity[mine.id]["strategy"] == [1.0, 1.01]


def test_matching_ids_and_the_database_clock(analysts):
    alice, _, _ = analysts
    now = datetime.now(UTC)
    made = [add_trial(alice, created_at=now - timedelta(minutes=i)) for i in range(5)]
    scope = permissions.scope_for(alice, "trial")
    assert repo.matching_ids(TrialFilter(), scope, limit=3) == [t.id for t in made[:3]]
    assert abs((repo.database_today() - now).total_seconds()) < 120
