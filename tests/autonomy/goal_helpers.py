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
