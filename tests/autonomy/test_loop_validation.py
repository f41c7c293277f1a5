"""The goal loop validates dated uploaded tables walk-forward (the audit's leak): a pure
random walk with an overlapping 20-day forward-return target must not be "achieved";
a goal is achieved only when its best model's hold-out, scored once, passes too."""

from __future__ import annotations

import pytest

from engine.goals import service as goals
from engine.goals.spec import GoalSpec
from storage.repositories import goals as goal_repo
from storage.repositories.trials import trials_for_goal
from tests.autonomy.goal_helpers import make_goal, run_loop
from tests.ml.test_validation_plan import random_walk_table, upload

pytestmark = pytest.mark.slow


def test_a_random_walk_table_is_not_achieved(running_executor, make_user):
    alice = make_user("alice")
    dataset_id = upload(random_walk_table(), "walk.csv")
    spec = GoalSpec(
        name="random walk 20-day return",
        dataset_id=dataset_id,
        target_column="forward_20",
        task="regression",
        metric="r2",
        threshold=0.02,
        horizon=20,
        families=["ensemble"],
        max_trials=2,
    )
    goal = goals.create(alice, spec)
    result = run_loop(alice, goal.id)
    stored = goal_repo.get_goal(goal.id)
    assert stored.status == "exhausted" and result.values["status"] == "exhausted"
    searched = [t for t in trials_for_goal(goal.id) if "holdout_check_of" not in t.reproducibility]
    assert len(searched) == 2
    for trial in searched:
        assert trial.reproducibility["evaluation"] == "walk_forward"
        assert trial.reproducibility["data"]["time_column"] == "date"
        assert trial.params["embargo"] == 20 and trial.params["horizon"] == 20
        assert trial.holdout_metrics is None  # the search never saw the hold-out
        assert trial.metric_value < 0.02


def test_achieved_needs_the_holdout_to_pass_once(running_executor, make_user):
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.30, max_trials=5)
    result = run_loop(alice, goal.id)
    stored = goal_repo.get_goal(goal.id)
    trials = trials_for_goal(goal.id)
    searched = [t for t in trials if "holdout_check_of" not in t.reproducibility]
    checks = [t for t in trials if "holdout_check_of" in t.reproducibility]
    assert stored.status == "achieved" and len(searched) == 1 and len(checks) == 1
    assert checks[0].reproducibility["holdout_check_of"] == searched[0].id
    assert searched[0].holdout_metrics is None
    # the check re-ran the same configuration: same walk-forward score, now with a hold-out
    assert checks[0].metric_value == pytest.approx(searched[0].metric_value)
    holdout = checks[0].holdout_metrics["balanced_accuracy"]
    assert result.values["holdout"] == pytest.approx(holdout) and holdout >= 0.30
    assert result.values["cv_holdout_gap"] == pytest.approx(searched[0].metric_value - holdout)
    assert "hold-out" in stored.stop_reason


def test_a_holdout_that_fails_keeps_the_goal_open(running_executor, make_user, monkeypatch):
    from engine.autonomy import loop

    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.30, max_trials=2, stagnation_trials=5)
    checked = []

    def failing_check(user, goal_id, trial_id):
        checked.append(trial_id)
        return 0.10, "ok"

    monkeypatch.setattr(loop, "check_holdout", failing_check)
    result = run_loop(alice, goal.id)
    # each trial that reached the threshold on walk-forward had its hold-out scored once
    # and failed, so the goal spent its budget instead of being achieved
    assert result.values["status"] == "exhausted" and len(checked) == 2
    assert len(set(checked)) == 2
    assert result.values["cv_holdout_gap"] > 0.2


def test_real_goal_trials_get_overfitting_statistics(running_executor, make_user):
    """The deflated Sharpe ratio and PBO on trials the real loop recorded (no seeded
    layout), counting the user's other trials on the same data."""
    from engine.actions import call
    from tests.autonomy.goal_helpers import DATA

    alice = make_user("alice")
    compared = call(
        "compare_models",
        {**DATA, "model_ids": ["logistic regression", "ridge classifier"], "embargo": 5},
        alice,
        wait=600,
    )
    assert compared.status == "succeeded", compared.error
    compared = compared.result
    assert compared.values["overfitting"]["pbo"]["n_trials"] == 2
    assert compared.values["overfitting"]["n_trials_tried"] == 2
    assert "overfitting" in compared.tables
    goal = make_goal(alice, threshold=0.99, max_trials=3)
    run_loop(alice, goal.id)
    values = call("goal_insights", {"goal_id": goal.id}, alice).result.values
    dsr = values["significance"]
    assert 0 <= dsr["deflated_sharpe"] <= 1
    assert dsr["n_trials"] == 5  # the goal's 3 trials and the comparison's 2, same data
    overfitting = values["overfitting"]
    assert overfitting["n_trials_tried"] == 5 and values["trials"] == 3
    assert overfitting["pbo"]["n_trials"] >= 3 and 0 <= overfitting["pbo"]["pbo"] <= 1
    gap = values["holdout_gap"]  # the exhausted goal scored its best model's hold-out once
    assert gap is not None and gap["trial_id"] == goal_repo.get_goal(goal.id).best_trial_id
