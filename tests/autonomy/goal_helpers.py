"""A small goal on bundled SPX data, shared by the loop and proposer tests."""

from __future__ import annotations

from engine.goals import service as goals
from engine.goals.spec import GoalSpec

DATA = {"symbols": ["SPX"], "start": "2012-01-01", "end": "2016-12-31", "horizon": 5}


def make_goal(user, **overrides):
    spec = GoalSpec(
        name="SPX direction",
        metric="balanced_accuracy",
        families=["linear"],
        **{**DATA, **overrides},
    )
    return goals.create(user, spec)


def run_loop(user, goal_id: int):
    """The goal loop action, run inline as the executor would run it."""
    from engine.actions import ActionContext, get_action
    from engine.autonomy.loop import LoopParams

    ctx = ActionContext(user=user, goal_id=goal_id, seed=1)
    return get_action("run_goal_loop").run(LoopParams(goal_id=goal_id), ctx)


def searched(goal_id: int):
    """The goal's search trials, without the runs that only scored a best model's
    hold-out (``holdout_check_of``)."""
    from storage.repositories.trials import trials_for_goal

    return [t for t in trials_for_goal(goal_id) if "holdout_check_of" not in t.reproducibility]
