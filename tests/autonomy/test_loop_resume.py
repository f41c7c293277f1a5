"""A retried goal loop counts the trial its lost attempt had started: it waits for that
trial job instead of proposing more, so the goal ends with exactly its trial budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.actions import call
from engine.autonomy.loop import train_params
from engine.autonomy.proposer import Proposal
from engine.goals.service import spec_of
from engine.ml.params import TrainParams
from storage.db import session_scope
from storage.models import Job, utcnow
from storage.repositories import goals as goal_repo
from storage.repositories import jobs
from tests.autonomy.goal_helpers import make_goal, run_loop, searched

pytestmark = pytest.mark.slow

MODEL = "sklearn.LogisticRegression"


def test_a_retried_loop_waits_for_the_trial_its_lost_attempt_started(running_executor, make_user):
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=3, stagnation_trials=50)
    spec = spec_of(goal)

    def proposal(c: float) -> dict:
        chosen = Proposal(MODEL, "linear", {"C": c}, "lost attempt")
        return train_params(spec, chosen, seed=0)

    # The lost attempt of the loop finished one trial...
    finished = call("train_model", proposal(1.0), alice, goal_id=goal.id, wait=600)
    assert finished.status == "succeeded", finished.error
    # ...and had started another when its worker died (as the worker of that trial job
    # did: it is running under a worker that stopped beating, and will be retried).
    params = TrainParams.model_validate(proposal(0.5)).model_dump(mode="json")
    # Inserted already running (not queued then claimed): the live executor of this test
    # would otherwise race the ghost worker for a queued row.
    started = jobs.create_job("train_model", params, alice.id, goal_id=goal.id, status="running")
    with session_scope() as session:
        ghost_job = session.get(Job, started)
        ghost_job.worker = "ghost-host:999999:1"
        ghost_job.attempts = 1
        ghost_job.heartbeat_at = utcnow() - timedelta(minutes=10)

    run_loop(alice, goal.id)  # the retried loop

    recorded = searched(goal.id)  # the search's trials (not the best's hold-out check)
    assert len(recorded) == spec.max_trials == 3
    assert sum(t.job_id == started for t in recorded) == 1
    stored = goal_repo.get_goal(goal.id)
    assert stored.status == "exhausted" and stored.trials_run == 3
