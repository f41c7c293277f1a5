"""The autonomous loop end to end on bundled data: real trials through the registry and
the executor, achieved and exhausted goals, and resuming from the recorded trials."""

from __future__ import annotations

import pytest

from engine import executor
from engine.actions import call
from storage.repositories import goals as goal_repo
from tests.autonomy.goal_helpers import make_goal, run_loop, searched

pytestmark = pytest.mark.slow


def test_easy_threshold_is_achieved_from_real_trials(running_executor, make_user):
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.30, max_trials=5)
    result = run_loop(alice, goal.id)
    stored = goal_repo.get_goal(goal.id)
    trials = searched(goal.id)
    assert stored.status == "achieved" and result.values["status"] == "achieved"
    assert len(trials) == 1 and trials[0].metric_value >= 0.30
    assert stored.best_value == pytest.approx(trials[0].metric_value)
    assert stored.best_trial_id == trials[0].id and "balanced_accuracy" in stored.stop_reason


def test_impossible_threshold_exhausts_the_budget_then_resumes(running_executor, make_user):
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=2)
    run_loop(alice, goal.id)
    stored = goal_repo.get_goal(goal.id)
    assert stored.status == "exhausted" and "trial budget of 2" in stored.stop_reason
    assert len(searched(goal.id)) == 2
    # A restart (or a bigger budget) resumes from the recorded trials, not from scratch.
    call("update_goal", {"goal_id": goal.id, "max_trials": 3}, alice, confirmed=True)
    goal_repo.update_goal(goal.id, status="active", stop_reason=None)
    run_loop(alice, goal.id)
    assert len(searched(goal.id)) == 3
    assert goal_repo.get_goal(goal.id).trials_run == 3


def test_control_goal_starts_the_loop_as_a_job_and_stop_ends_it(running_executor, make_user):
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=50, stagnation_trials=50)
    started = call("control_goal", {"goal_id": goal.id, "command": "start"}, alice, confirmed=True)
    job_id = started.result.values["loop_job_id"]
    call("control_goal", {"goal_id": goal.id, "command": "stop"}, alice, confirmed=True)
    finished = executor.wait(job_id, 600)
    assert finished.status == "succeeded"
    assert goal_repo.get_goal(goal.id).status == "stopped"
