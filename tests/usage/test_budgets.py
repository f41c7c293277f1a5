"""Budgets stop real runs: a tune with a CPU budget ends budget_exhausted keeping its
finished trials, a goal loop stops budget_exhausted, a spent budget refuses a run
before any job exists and one that would be crossed asks for confirmation; usage is
measured on the server; two users' budgets are independent; only admins change them."""

from __future__ import annotations

import pytest

from engine.actions import ActionError, PermissionDenied, call
from engine.usage.budgets import BudgetConfirmation, BudgetExhausted
from storage.repositories import jobs, trials, usage
from tests.usage.test_estimates import PRICE, seed_family

TREE = {"model_id": "sklearn.DecisionTreeClassifier"}


def _job_count() -> int:
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Job

    with session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(Job)))


def _exported_cpu(action: str) -> float:
    """mltrainer_usage_cpu_seconds_total{action} summed over every process's samples."""
    from engine.observability.metrics import metrics_registry

    value = metrics_registry().get_sample_value(
        "mltrainer_usage_cpu_seconds_total", {"action": action}
    )
    return value or 0.0


def _set(admin, **request):
    return call("set_budget", request, admin)


def test_only_admins_change_budgets(fresh_db, make_user):
    admin = make_user("root", "admin")
    alice = make_user("alice", "analyst")
    vic = make_user("vic", "viewer")
    request = {"scope": "default", "max_cpu_minutes": 1.0}
    for who in (alice, vic):
        with pytest.raises(PermissionDenied):
            call("set_budget", request, who)
        with pytest.raises(PermissionDenied):
            call("set_budget", {"scope": "user", "username": who.username, "max_tokens": 9}, who)
    assert usage.list_budgets() == []
    _set(admin, **request)
    _set(admin, scope="user", username="alice", max_tokens=500)
    assert [b.scope_key for b in usage.list_budgets()] == ["default", f"user:{alice.id}"]
    # the override replaces the default limit by limit
    from engine.usage.budgets import user_limits

    limits = user_limits(alice.id)
    assert (limits.cpu_minutes, limits.tokens, limits.dollars) == (1.0, 500, None)
    assert user_limits(vic.id).tokens is None
    # everyone sees their own usage; only admins another user's
    own = call("usage_report", {}, vic)
    assert own.result.values["limits"]["max_cpu_minutes"] == 1.0
    refused = call("usage_report", {"username": "alice"}, vic)
    assert refused.status == "failed" and refused.result is None and refused.error
    assert call("usage_report", {"username": "alice"}, admin).result.values["user_id"] == alice.id
    _set(admin, scope="user", username="alice", clear=True)
    assert [b.scope_key for b in usage.list_budgets()] == ["default"]


def test_a_spent_budget_refuses_before_any_job_and_users_are_independent(fresh_db, make_user):
    admin = make_user("root", "admin")
    alice = make_user("alice")
    bob = make_user("bob")
    _set(admin, scope="default", max_cpu_minutes=1.0)
    usage.add_usage(kind="cpu", source="train_model", user_id=alice.id, cpu_seconds=61.0)
    before = _job_count()
    with pytest.raises(BudgetExhausted, match="daily CPU budget of 1 min is spent"):
        call("train_model", {**PRICE, **TREE}, alice)
    assert _job_count() == before
    # Bob's day is his own: his estimate (a prior of seconds) fits in his minute.
    from engine.usage.admission import check_before_start
    from engine.usage.estimate import estimate_for

    check_before_start("train_model", {**PRICE, **TREE}, bob, None, confirmed=False)
    assert estimate_for("train_model", {**PRICE, **TREE}, bob).cpu_seconds < 60
    # a run whose estimate would cross the line asks first, with the estimate
    seed_family("tree", 25, scale=10)  # each evaluation costs seconds on this data
    with pytest.raises(BudgetConfirmation) as asked:
        call("tune_model", {**PRICE, **TREE, "n_trials": 200}, bob)
    assert asked.value.estimate["cpu_seconds"] > 60
    assert "Confirm to run it anyway" in str(asked.value)
    assert _job_count() == before


def test_a_tune_stops_at_its_cpu_budget_and_keeps_finished_trials(running_executor, make_user):
    admin = make_user("root", "admin")
    alice = make_user("alice")
    _set(admin, scope="user", username="alice", max_cpu_minutes=0.1)  # 6 CPU-seconds
    params = {**PRICE, **TREE, "n_trials": 200, "seed": 3}
    exported_before = _exported_cpu("tune_model")
    with pytest.raises(BudgetConfirmation):  # 200 trials would cross the line
        call("tune_model", params, alice)
    outcome = call("tune_model", params, alice, confirmed=True, wait=600)
    assert outcome.status == "budget_exhausted", outcome.error
    assert "daily CPU budget of 0.1 min is spent" in outcome.error
    values = outcome.result.values  # the partial result is kept on the job
    assert 1 <= values["n_completed"] < 200
    assert "budget" in values["budget_exhausted"]
    recorded = [t for t in trials.trials_for_job(outcome.job_id) if t.status == "succeeded"]
    assert len(recorded) == values["n_completed"]
    assert values["best_trial_id"] in {t.id for t in recorded}
    job = jobs.get_job(outcome.job_id)
    assert job.status == "budget_exhausted" and job.result is not None
    # the CPU was measured in the worker and charged to alice: past her line now
    spent = usage.totals(user_id=alice.id, since=usage.day_start())
    assert spent.cpu_seconds >= 6.0
    # each finished evaluation left a cost record for the estimator
    from storage.repositories.usage import cost_history

    assert len(cost_history("tree")) == values["n_completed"]
    # and the next long run is refused outright
    from engine.observability.metrics import BUDGET_EXHAUSTED

    refused_before = BUDGET_EXHAUSTED.labels("user", "cpu")._value.get()
    with pytest.raises(BudgetExhausted):
        call("train_model", {**PRICE, **TREE}, alice)
    assert BUDGET_EXHAUSTED.labels("user", "cpu")._value.get() == refused_before + 1
    # the worker's CPU is exported as a metric (aggregated over the pool's processes)
    assert _exported_cpu("tune_model") - exported_before == pytest.approx(
        spent.cpu_seconds, rel=0.01
    )


def test_the_goal_loop_stops_with_budget_exhausted(running_executor, make_user):
    from storage.repositories import goals as goal_repo
    from tests.autonomy.goal_helpers import make_goal, searched

    admin = make_user("root", "admin")
    alice = make_user("alice")
    goal = make_goal(alice, threshold=0.99, max_trials=40, stagnation_trials=40, max_minutes=60)
    # the history says a trial costs a few hundredths of a second, so each trial is
    # admitted; the trials' measured CPU then spends the goal's 6 seconds
    seed_family("linear", 25, noise=0.0)
    _set(admin, scope="goal", goal_id=goal.id, max_cpu_minutes=0.1)
    outcome = call("run_goal_loop", {"goal_id": goal.id}, alice, goal_id=goal.id, wait=900)
    assert outcome.status == "budget_exhausted", outcome.error
    after = goal_repo.get_goal(goal.id)
    assert after.status == "budget_exhausted"
    assert "goal" in after.stop_reason and "budget" in after.stop_reason
    done = searched(goal.id)
    assert 1 <= len(done) < 40  # the trials run before the line stay recorded
    assert outcome.result.values["trials"] >= 1
    spent = usage.totals(goal_id=goal.id, since=usage.day_start())
    if "would cross" in after.stop_reason:  # stopped before a trial that would go over
        assert spent.cpu_seconds > 0
    else:  # stopped at the line
        assert spent.cpu_seconds >= 6.0, after.stop_reason
    # the owner's budget was not touched by the goal's limit: alice may run other work
    from engine.usage.budgets import scopes_for

    assert scopes_for(alice.id, None) == []


def test_budget_changes_need_valid_targets(fresh_db, make_user):
    admin = make_user("root", "admin")
    ghost = _set(admin, scope="user", username="ghost", max_tokens=1)
    assert ghost.status == "failed" and "no user 'ghost'" in ghost.error
    missing = _set(admin, scope="goal", goal_id=424242, max_tokens=1)
    assert missing.status == "failed" and "424242" in missing.error
    assert usage.list_budgets() == []
    with pytest.raises(ActionError, match="needs username"):  # refused before any job
        _set(admin, scope="user", max_tokens=1)


def test_the_budget_overview_is_for_administrators_only(make_user):
    from engine.actions import ActionError
    from engine.usage.budgets import admin_overview

    budgets, usage = admin_overview(make_user("root", role="admin"))
    assert isinstance(budgets, list) and isinstance(usage, list)
    for role in ("analyst", "viewer"):
        with pytest.raises(ActionError):
            admin_overview(make_user(f"someone-{role}", role=role))
