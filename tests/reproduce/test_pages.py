"""The pages through AppTest: the Jobs page re-runs a job and shows the diff (identical,
or which numbers moved), and both the Jobs and the Trials page offer the reproduction
bundle and the notebook."""

from __future__ import annotations

import pytest

from engine.actions import call
from storage.repositories.trials import trial_for_job
from tests.foundation.apptest_helpers import errors, log_in, new_app
from tests.trials.conftest import add_job


@pytest.fixture
def fit_action():
    from tests.trials import fit_action

    fit_action.install()
    yield fit_action
    fit_action.uninstall()


def page(username: str, path: str, **query):
    at = log_in(new_app(), username)
    at.switch_page(path).run()
    if query:
        at.query_params.update({k: str(v) for k, v in query.items()})
        at.run()
    assert not at.exception, at.exception
    return at


def background_fit(fit_action, user, **params) -> int:
    """A finished background job of the test fit action, with the trial it recorded."""
    from engine.actions import ActionContext

    job_id = add_job(
        user, action=fit_action.NAME, params=fit_action.FitParams(**params).model_dump()
    )
    fit_action.fit(fit_action.FitParams(**params), ActionContext(user=user, job_id=job_id))
    return job_id


def download_labels(at) -> list[str]:
    return [element.proto.label for element in at.get("download_button")]


@pytest.mark.parametrize("drift", [False, True])
def test_jobs_page_reruns_a_job_and_shows_what_moved(people, fit_action, drift):
    original = background_fit(fit_action, people["alice"], seed=4, drift=drift)
    at = page("alice", "pages/jobs.py")
    at.selectbox(key="jobs_inspect").select(original).run()
    assert {"Reproduction bundle (zip)", "Notebook (ipynb)"} <= set(download_labels(at))
    at.button(key=f"jobs-rerun-{original}").click().run()
    assert not at.exception and not errors(at), errors(at)
    again = at.session_state[f"job_rerun_{original}"]
    assert again != original and trial_for_job(again) is not None
    table = next(d.value for d in at.dataframe if "re-run" in d.value.columns)
    if drift:
        assert f"Job {again} does not reproduce job {original}" in at.warning[0].value
        assert not table["match"].all()
    else:
        assert at.success[0].value == (
            f"Reproduced: job {again} gave the same numbers as job {original}."
        )
        assert table["match"].all() and "balanced_accuracy" in set(table["metric"])


def test_trial_detail_offers_bundle_and_notebook_to_readers(people, fit_action):
    trial = trial_for_job(call(fit_action.NAME, {"seed": 2}, people["alice"]).job_id)
    for username in ("alice", "vic"):
        at = page(username, "pages/trials.py", trial=trial.id)
        assert {"Reproduction bundle (zip)", "Notebook (ipynb)"} <= set(download_labels(at))
    at = page("bob", "pages/trials.py", trial=trial.id)
    assert not download_labels(at) and "not visible" in errors(at)[0]


def test_a_backtest_on_the_finance_page_offers_its_bundle(people):
    from tests.finance.test_page import finance_page, submit

    at = finance_page("alice")
    assert "Reproduction bundle (zip)" not in download_labels(at)
    submit(at, "backtest_strategy", "Backtest", start="2015-01-01")
    assert not errors(at), errors(at)
    assert "Reproduction bundle (zip)" in download_labels(at)


def test_a_goal_with_trials_offers_its_bundle_and_notebook(people, fit_action):
    from storage.db import session_scope
    from storage.models import Trial
    from storage.repositories.goals import create_goal

    goal = create_goal(people["alice"].id, "a goal", _goal_spec(), None)
    trial = trial_for_job(call(fit_action.NAME, {"seed": 2}, people["alice"]).job_id)
    with session_scope() as session:
        session.get(Trial, trial.id).goal_id = goal.id
    for username in ("alice", "vic"):
        at = page(username, "pages/goals.py")
        assert {"Reproduction bundle (zip)", "Notebook (ipynb)"} <= set(download_labels(at))


def _goal_spec() -> dict:
    from engine.goals.spec import GoalSpec

    return GoalSpec(name="a goal", symbols=["SPX"]).model_dump(mode="json")


def test_a_conversation_that_ran_actions_offers_its_bundle_and_notebook(people):
    from engine.chat import conversations
    from engine.chat.turn import record_tool_call

    alice = people["alice"]
    idle = conversations.start(alice, "nothing run yet")
    ran = conversations.start(alice, "a backtest")
    params = {"symbols": ["AAPL"], "strategy": "momentum", "start": "2016-01-01"}
    record_tool_call(alice, ran.id, "backtest_strategy", params)
    at = page("alice", "pages/chat.py")
    at.session_state["conversation_id"] = idle.id
    at.run()
    assert "Reproduction bundle (zip)" not in download_labels(at)
    at.session_state["conversation_id"] = ran.id
    at.run()
    assert not at.exception, at.exception
    assert {"Reproduction bundle (zip)", "Notebook (ipynb)"} <= set(download_labels(at))
