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
    at.selectbox(key="goal_form-metric").set_value("rmse")  # the metric picker
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


def test_goal_card_shows_the_holdout_check_and_insights_show_overfitting(fresh_db, make_user):
    from engine.goals.spec import GoalSpec
    from engine.trials.record import TrialMetrics
    from storage.repositories.trials import create_trial
    from tests.trials.conftest import reproducibility

    alice = make_user("alice")
    goal = goals.create(alice, GoalSpec(name="checked", symbols=["SPX"], threshold=0.55))

    def trial(value, holdout=None, check_of=None):
        metrics = TrialMetrics.model_validate(
            {"balanced_accuracy": {"mean": value, "std": 0.01}}
        ).model_dump(mode="json", exclude_none=True)
        return create_trial(
            goal_id=goal.id,
            user_id=alice.id,
            action="train_model",
            model_id="m.linear",
            family="linear",
            task="classification",
            status="succeeded",
            metric_name="balanced_accuracy",
            metric_value=value,
            params={"model_params": {}},
            metrics=metrics,
            holdout_metrics={"balanced_accuracy": holdout} if holdout is not None else None,
            reproducibility=reproducibility(**({"holdout_check_of": check_of} if check_of else {})),
            duration_s=1.0,
        )

    first = trial(0.52)
    best = trial(0.58)
    trial(0.58, holdout=0.50, check_of=best.id)
    at = log_in(new_app(), "alice")
    at.switch_page("pages/goals.py").run()
    assert not at.exception, at.exception
    # plain dataframes carry no key in AppTest: the trials table is the one with roles
    table = next(d.value for d in at.dataframe if "role" in d.value.columns)
    roles = dict(zip(table["trial"], table["role"], strict=True))
    assert roles[first.id] == "search" and roles[best.id] == "search"
    assert list(roles.values()).count(f"hold-out check of trial {best.id}") == 1
    captions = [c.value for c in at.caption]
    assert any(
        f"Best model (trial {best.id}): walk-forward 0.5800, hold-out 0.5000" in c
        and "likely overfit" in c
        for c in captions
    )
    at.button(key=f"goal-{goal.id}-insights-button").click().run()
    assert not at.exception, at.exception
    assert any("Overfitting: 2 trial(s) tried on this data" in t.value for t in at.text)
    assert any("overfitting" in c.value for c in at.caption)
