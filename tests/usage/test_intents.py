"""The offline planner reaches usage_report and set_budget (set_budget stays admin-only:
the planner only proposes the call, engine.actions.call decides)."""

from __future__ import annotations

import pytest

from engine.llm.planner import plan


@pytest.mark.parametrize(
    ("text", "action", "params"),
    [
        (
            "Set alice's daily budget to 30 CPU-minutes and 200k tokens",
            "set_budget",
            {"scope": "user", "username": "alice", "max_cpu_minutes": 30.0, "max_tokens": 200_000},
        ),
        ("Limit everyone to $5 a day", "set_budget", {"scope": "default", "max_dollars": 5.0}),
        (
            "Set a budget of 2 cpu hours per day for goal 4",
            "set_budget",
            {"scope": "goal", "goal_id": 4, "max_cpu_minutes": 120.0},
        ),
        ("remove the budget for bob", "set_budget", {"scope": "user", "username": "bob"}),
        ("How much have I spent today?", "usage_report", {}),
        ("Show the usage of goal 7", "usage_report", {"goal_id": 7}),
    ],
)
def test_budget_phrasings(text, action, params):
    planned = plan(text)
    assert planned.calls, planned.message
    call = planned.calls[0]
    assert call.action == action
    for name, value in params.items():
        assert call.params[name] == value, (name, call.params)


def test_goal_budget_words_still_update_the_goal():
    planned = plan("Raise goal 3's threshold to 0.57 and allow 50 trials")
    assert planned.calls[0].action == "update_goal"
