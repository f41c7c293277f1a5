"""A running goal's page refreshes from what changed: each refresh reads only the trials
written since the last one (and the few the loop may still annotate), and still shows
exactly the goal's counted trials after annotations and superseded retries."""

from __future__ import annotations

import pytest

from engine.actions import ActionError
from engine.goals import live
from engine.goals import service as goals
from engine.goals.spec import GoalSpec
from storage.repositories import goals as goal_repo
from storage.repositories import trials as trial_repo
from tests.foundation.apptest_helpers import log_in, new_app
from tests.trials.conftest import add_job, add_trial


def truth(goal_id: int) -> list[int]:
    return [t.id for t in trial_repo.trials_for_goal(goal_id)]


def test_each_refresh_reads_only_new_trials(any_db, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    goal = goals.create(alice, GoalSpec(name="live", symbols=["SPX"]))
    live.clear()
    first = [add_trial(alice, goal_id=goal.id, metric_value=0.5 + i / 100) for i in range(3)]
    goal_repo.update_goal(goal.id, trials_run=3)  # the loop updates the goal after each trial

    def ids():
        return [t.id for t in live.goal_trials(alice, goal.id)]

    assert ids() == [t.id for t in first] == truth(goal.id)
    assert live.held(goal.id).rows_read == 3
    for _ in range(3):  # nothing changed: nothing read
        assert ids() == truth(goal.id)
    assert live.held(goal.id).rows_read == 3

    fourth = add_trial(alice, goal_id=goal.id, metric_value=0.6)
    assert ids() == truth(goal.id) and ids()[-1] == fourth.id
    assert live.held(goal.id).rows_read == 4  # the new one only

    # the loop annotates the trial, then updates the goal: that trial is read again
    trial_repo.annotate_trial(fourth.id, proposal={"by": "bandit", "reason": "explore"})
    goal_repo.update_goal(goal.id, trials_run=4)
    shown = live.goal_trials(alice, goal.id)
    assert shown[-1].reproducibility.proposal.reason == "explore"
    assert live.held(goal.id).rows_read == 5
    ids()
    assert live.held(goal.id).rows_read == 5

    # a retried job's lost copy is superseded: it leaves the view
    job = add_job(alice)
    lost = add_trial(alice, goal_id=goal.id, job_id=job)
    assert lost.id in ids()
    trial_repo.supersede_job_trials(job, keep=set())
    assert lost.id not in ids() and ids() == truth(goal.id)

    # an older, settled trial superseded while a new one arrives: read again in full
    older_job = add_job(alice)
    older = add_trial(alice, goal_id=goal.id, job_id=older_job)
    goal_repo.update_goal(goal.id, trials_run=5)
    ids()
    add_trial(alice, goal_id=goal.id)
    trial_repo.supersede_job_trials(older_job, keep=set())
    before = live.held(goal.id).rows_read
    assert older.id not in ids() and ids() == truth(goal.id)
    assert live.held(goal.id).rows_read - before == len(truth(goal.id))

    # the same access rule as every goal read
    with pytest.raises(ActionError):
        live.goal_trials(bob, goal.id)


def test_goal_page_shows_trials_written_since_the_last_run(fresh_db, make_user):
    alice = make_user("alice")
    goal = goals.create(alice, GoalSpec(name="watched", symbols=["SPX"]))
    add_trial(alice, goal_id=goal.id, metric_value=0.51)
    at = log_in(new_app(), "alice")
    at.switch_page("pages/goals.py").run()
    assert not at.exception, at.exception

    def table():
        return next(d.value for d in at.dataframe if "role" in d.value.columns)

    assert len(table()) == 1
    newer = add_trial(alice, goal_id=goal.id, metric_value=0.57)
    at.run()
    assert not at.exception, at.exception
    assert list(table()["trial"])[-1] == newer.id and len(table()) == 2
