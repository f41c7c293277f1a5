"""The pages through Streamlit's AppTest: a long action's form shows its estimate next to
the submit button without running anything, admins set budgets on the Users page, and
every user sees their own usage on the Home page."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from storage.db import session_scope
from storage.models import Job
from storage.repositories import usage
from tests.foundation.apptest_helpers import errors, log_in, new_app


def _jobs() -> int:
    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)))


def test_the_train_form_shows_an_estimate_without_running(fresh_db, make_user):
    make_user("alice", "analyst")
    at = log_in(new_app(), "alice")
    at.switch_page("pages/models.py").run()
    at.selectbox(key="models-train-model_id").set_value("sklearn.DecisionTreeClassifier")
    at.date_input(key="models-train-start").set_value(date(2016, 1, 1))
    at.button(key="FormSubmitter:models-train-Estimate").click().run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    captions = [c.value.replace("\\", "") for c in at.caption]  # shown escaped (md_escape)
    shown = [text for text in captions if text.startswith("Estimate:")]
    assert len(shown) == 1, captions
    assert "CPU" in shown[0] and "recorded evaluation(s) of family 'tree'" in shown[0]
    assert _jobs() == 0 and "models-train-job" not in at.session_state


def test_admins_set_budgets_on_the_users_page_and_users_see_their_usage(fresh_db, make_user):
    make_user("root", "admin")
    alice = make_user("alice", "analyst")
    usage.add_usage(kind="cpu", source="train_model", user_id=alice.id, cpu_seconds=90.0)
    at = log_in(new_app(), "root")
    at.switch_page("pages/admin.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="budget_scope").set_value("user")
    at.selectbox(key="budget_user").set_value("alice")
    at.number_input(key="budget_cpu").set_value(30.0)
    at.button(key="FormSubmitter:set_budget-Save budget").click().run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    (record,) = usage.list_budgets()
    assert (record.scope_key, record.max_cpu_minutes, record.max_tokens) == (
        f"user:{alice.id}",
        30.0,
        None,
    )
    today = next(d.value for d in at.dataframe if "cpu_minutes" in d.value.columns)
    assert today.set_index("user").loc["alice", "cpu_minutes"] == 1.5

    home = log_in(new_app(), "alice")
    home.switch_page("pages/home.py").run()
    assert not home.exception, home.exception
    table = next(d.value for d in home.dataframe if "CPU-minutes" in d.value.columns)
    rows = table.set_index("")
    assert rows.loc["today", "CPU-minutes"] == 1.5
    assert rows.loc["this month", "CPU-minutes"] == 1.5
    assert rows.loc["daily budget", "CPU-minutes"] == 30.0
