"""Every compliance rule passes and blocks; decisions are hash-chained; tampering shows."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from engine.actions import ActionError, PermissionDenied, UserRef, call
from engine.actions.base import ActionResult, PolicyBlocked
from engine.actions.registry import get_action
from engine.compliance import rules, verify_chain
from storage.db import get_engine
from storage.repositories import compliance as log_repo
from storage.repositories import goals as goal_repo

OPTION = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
ANALYST = UserRef(None, "analyst-bot", "analyst")


def facts(action="price_option", params=None, user=ANALYST, **extra):
    return rules.CallFacts(get_action(action), params or {}, user, **extra)


def test_role_rule_passes_and_blocks():
    assert rules.role_allowed(facts()).passed
    assert not rules.role_allowed(facts(user=UserRef(1, "v", "viewer"))).passed


def test_resource_caps():
    assert rules.resource_caps(facts(params={"paths": 10_000})).passed
    blocked = rules.resource_caps(facts(params={"paths": 50_000_000}))
    assert not blocked.passed and "exceeds the cap" in blocked.message
    assert rules.resource_caps(facts(params={"spot": 1})) is None


def test_data_provenance_follows_the_goal_policy():
    real_only = {"data_policy": "real_only"}
    assert rules.data_provenance(facts(params={"source": "bundled"}, goal=real_only)).passed
    assert not rules.data_provenance(facts(params={"source": "synthetic"}, goal=real_only)).passed
    relaxed = {"data_policy": "synthetic_allowed"}
    assert rules.data_provenance(facts(params={"source": "synthetic"}, goal=relaxed)).passed
    assert rules.data_provenance(facts(params={"source": "synthetic"})) is None


def test_temporal_validation():
    prices = {"symbols": ["AAPL"], "validation": "walk_forward"}
    assert rules.temporal_validation(facts(params=prices)).passed
    shuffled = {"symbols": ["AAPL"], "validation": "kfold"}
    assert not rules.temporal_validation(facts(params=shuffled)).passed
    table = {"dataset_id": 3, "validation": "kfold"}
    assert rules.temporal_validation(facts(params=table)).passed


def test_dynamic_code_needs_approval_or_confirmation():
    from dataclasses import replace

    dynamic = replace(get_action("price_option"), category="dynamic")
    assert not rules.dynamic_code_approved(rules.CallFacts(dynamic, {}, ANALYST)).passed
    assert rules.dynamic_code_approved(rules.CallFacts(dynamic, {}, ANALYST, confirmed=True)).passed
    assert rules.dynamic_code_approved(facts()) is None


def test_after_rules_check_bounds_and_out_of_sample():
    good = ActionResult("ok", {"sharpe": 1.2, "accuracy": 0.55, "evaluation": "walk_forward"})
    assert rules.results_in_bounds(facts(result=good)).passed
    assert rules.out_of_sample(facts(result=good)).passed
    too_good = ActionResult("suspicious", {"sharpe": 45.0})
    assert "look-ahead" in rules.results_in_bounds(facts(result=too_good)).message
    in_sample = ActionResult("x", {"evaluation": "in_sample"})
    assert not rules.out_of_sample(facts(result=in_sample)).passed


def test_calls_record_decisions_and_blocks_name_the_rule(fresh_db, make_user):
    alice, vic = make_user("alice"), make_user("vic", "viewer")
    call("price_option", OPTION, alice)
    with pytest.raises(PermissionDenied, match="role_allowed"):
        call("price_option", OPTION, vic)
    with pytest.raises(PolicyBlocked, match="resource_caps"):
        call("price_option", {**OPTION, "method": "monte_carlo", "paths": 9_000_000}, alice)
    events = log_repo.search()
    outcomes = {(e.username, e.rule, e.outcome) for e in events}
    assert ("alice", "role_allowed", "pass") in outcomes
    assert ("vic", "role_allowed", "block") in outcomes
    assert ("alice", "resource_caps", "block") in outcomes
    assert verify_chain().intact


def test_goal_data_policy_blocks_synthetic_data_through_call(fresh_db, make_user):
    alice = make_user("alice")
    goal = goal_repo.create_goal(alice.id, "real only", {"data_policy": "real_only"}, None)
    params = {"symbols": ["AAPL"], "source": "synthetic", "strategy": "buy_and_hold"}
    with pytest.raises(ActionError, match="data_provenance"):
        call("backtest_strategy", params, alice, goal_id=goal.id)


def test_tampering_is_detected_at_the_first_broken_link(fresh_db, make_user):
    alice = make_user("alice")
    for _ in range(3):
        call("price_option", OPTION, alice)
    report = verify_chain()
    assert report.intact and report.events >= 3
    victim = log_repo.search(limit=1000)[-2]  # an early event
    with get_engine().begin() as connection:
        connection.execute(
            text("UPDATE compliance_events SET outcome = 'pass', rule = 'edited' WHERE id = :id"),
            {"id": victim.id},
        )
    broken = verify_chain()
    assert not broken.intact and broken.first_broken_id == victim.id
    assert "edited" in broken.reason


def test_deleting_an_event_breaks_the_next_link(fresh_db, make_user):
    alice = make_user("alice")
    for _ in range(3):
        call("price_option", OPTION, alice)
    events = sorted(log_repo.search(limit=1000), key=lambda e: e.id)
    with get_engine().begin() as connection:
        connection.execute(
            text("DELETE FROM compliance_events WHERE id = :id"), {"id": events[1].id}
        )
    report = verify_chain()
    assert not report.intact and report.first_broken_id == events[2].id


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_appends_keep_one_chain(backend, request):
    request.getfixturevalue("fresh_db" if backend == "sqlite" else "postgres_db")

    def writer(index: int) -> None:
        for step in range(10):
            log_repo.append(None, f"w{index}", "x", "before", "rule", "pass", {"step": step})

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_chain()
    assert report.intact and report.events == 40
