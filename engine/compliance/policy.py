"""Evaluate the rules on every action call and record each decision."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from engine.actions.base import Action, ActionResult, PermissionDenied, PolicyBlocked
from engine.actions.context import UserRef
from engine.compliance import rules as rulebook

log = logging.getLogger("mltrainer.compliance")
_installed = False


class RoleBlocked(PolicyBlocked, PermissionDenied):
    """A block by the role rule is also a permission error for callers."""


def _goal_spec(goal_id: int | None) -> dict[str, Any] | None:
    if goal_id is None:
        return None
    from storage.repositories.goals import get_goal

    goal = get_goal(goal_id)
    return goal.spec if goal else None


def evaluate(phase: str, rules, facts: rulebook.CallFacts) -> None:
    """Record every applicable rule's decision up to the first block, in one append
    (one transaction, one checkpoint of the chain's head), then raise on that block."""
    from engine.observability.metrics import COMPLIANCE_DECISIONS
    from storage.repositories import compliance as log_repo

    decided: list[tuple[rulebook.Rule, rulebook.Decision]] = []
    user, action = facts.user, facts.action
    try:
        for rule in rules:
            decision = rule(facts)
            if decision is None:
                continue
            decided.append((rule, decision))
            if not decision.passed:
                break  # later rules are not evaluated once one blocks
    finally:  # a rule that crashes still leaves the decisions taken before it
        log_repo.append_many(
            [
                log_repo.PendingEvent(
                    user.id,
                    user.username,
                    action.name,
                    phase,
                    rule.__name__,
                    "pass" if decision.passed else "block",
                    {"message": decision.message, **decision.details},
                )
                for rule, decision in decided
            ]
        )
    for rule, decision in decided:
        COMPLIANCE_DECISIONS.labels(rule.__name__, "pass" if decision.passed else "block").inc()
        if not decision.passed:
            log.info("blocked %s by %s: %s", action.name, rule.__name__, decision.message)
            error = RoleBlocked if rule is rulebook.role_allowed else PolicyBlocked
            raise error(rule.__name__, decision.message)


def before_call(action: Action, params: BaseModel, user: UserRef, info: dict[str, Any]) -> None:
    facts = rulebook.CallFacts(
        action,
        params.model_dump(),
        user,
        goal=_goal_spec(info.get("goal_id")),
        confirmed=bool(info.get("confirmed")),
    )
    evaluate("before", rulebook.BEFORE_RULES, facts)


def after_call(
    action: Action, params: BaseModel, user: UserRef, result: ActionResult, info: dict[str, Any]
) -> None:
    facts = rulebook.CallFacts(action, params.model_dump(), user, result=result)
    evaluate("after", rulebook.AFTER_RULES, facts)


def install() -> None:
    """Register the policy with the action layer (idempotent). Entry points call it
    through ``engine.runtime.install()``; the action layer never imports this package."""
    global _installed
    if _installed:
        return
    from engine.actions.hooks import install_policy

    install_policy("compliance", before_call, after_call)
    _installed = True
