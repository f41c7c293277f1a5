"""The goal form round trip through the Goals page (AppTest)."""

from __future__ import annotations

from engine.goals import service as goals
from tests.foundation.apptest_helpers import log_in, new_app


def test_goal_form_creates_a_goal_and_lists_it(fresh_db, make_user):
    alice = make_user("alice")
    at = log_in(new_app(), "alice")
    at.switch_page("pages/goals.py").run()
    assert not at.exception, at.exception
    at.text_input(key="goal_form-name").input("AAPL direction")
    at.text_input(key="goal_form-symbols").input("AAPL")
    at.number_input(key="goal_form-threshold").set_value(0.56)
    at.button(key="FormSubmitter:goal_form-Create goal").click().run()
    assert not at.exception, at.exception
    assert any("created" in s.value for s in at.success)
    [goal] = goals.listing(alice)
    assert goal.name == "AAPL direction" and goal.spec["threshold"] == 0.56
    assert goal.spec["symbols"] == ["AAPL"] and goal.spec["direction"] == ">="
    assert "AAPL direction" in [h.value for h in at.subheader]


def test_invalid_goal_shows_a_clear_message(fresh_db, make_user):
    make_user("alice")
    at = log_in(new_app(), "alice")
    at.switch_page("pages/goals.py").run()
    at.text_input(key="goal_form-name").input("bad")
    at.text_input(key="goal_form-symbols").input("SPX")
    at.text_input(key="goal_form-metric").input("rmse")
    at.button(key="FormSubmitter:goal_form-Create goal").click().run()
    assert not at.exception
    assert any("does not fit" in e.value for e in at.error)


def test_viewer_sees_goals_without_the_form(fresh_db, make_user):
    alice = make_user("alice")
    make_user("vic", "viewer")
    from engine.goals.spec import GoalSpec

    goals.create(alice, GoalSpec(name="visible", symbols=["SPX"]))
    at = log_in(new_app(), "vic")
    at.switch_page("pages/goals.py").run()
    assert "visible" in [h.value for h in at.subheader]
    assert all(b.key != "FormSubmitter:goal_form-Create goal" for b in at.button)
