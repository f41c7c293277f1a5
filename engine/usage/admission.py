"""Admission of a long run against the budgets (engine.actions.call asks before it
queues): a spent budget refuses it, an estimate that would cross one asks for
confirmation. Apart from :mod:`engine.usage.budgets` because it needs the estimators
(and through them the action registry), which the executor must not import."""

from __future__ import annotations

import logging
from typing import Any

from engine.usage.budgets import (
    BudgetConfirmation,
    BudgetExhausted,
    Scope,
    count_exhausted,
    scopes_for,
)
from storage.repositories.usage import UsageTotals

log = logging.getLogger("mltrainer.usage")


class LongWorkConfirmation(BudgetConfirmation):
    """The chat asked for long work (its estimate is over the chat's threshold, or it
    calls Claude): it starts only when the user has seen the estimate and confirms."""


def check_before_start(
    action: str,
    params: Any,
    user: Any,
    goal_id: int | None,
    confirmed: bool,
    confirm_over: float | None = None,
) -> None:
    """Refuse a run when a budget it spends is spent (CPU; tokens and dollars too when
    it calls Claude); ask for confirmation when its estimate would cross one. Costs one
    query when no budget applies. ``confirm_over`` (the chat's threshold, in wall
    seconds): ask for confirmation, with the estimate, when the run is estimated longer
    or would call Claude."""
    scopes = scopes_for(user.id, goal_id, getattr(user, "username", None))
    if not scopes:
        if confirm_over is not None and not confirmed:
            _confirm_long_work(action, params, user, goal_id, confirm_over)
        return
    spent = [scope.spent() for scope in scopes]
    _refuse_if_spent(scopes, spent, ("cpu",))
    from engine.usage.estimate import estimate_call

    try:
        estimate = estimate_call(action, params, user, goal_id=goal_id)
    except Exception as error:  # noqa: BLE001 - no estimate: the guard still stops the run
        log.info("no estimate for %s (%s); the running budget check still applies", action, error)
        return
    if estimate.tokens:  # it will call Claude: its token and dollar budgets count too
        _refuse_if_spent(scopes, spent, ("tokens", "dollars"))
    if confirmed:
        return
    if estimate.upper_bound:
        _ask_if_long(action, estimate, confirm_over)
        return
    crossings = (
        scope.would_cross(used, estimate) for scope, used in zip(scopes, spent, strict=True)
    )
    over = [why for why in crossings if why]
    if over:
        raise BudgetConfirmation(
            f"'{action}' is estimated at {estimate.describe()}; that would reach "
            f"{'; '.join(over)}. Confirm to run it anyway: it stops cleanly when the budget "
            "is spent, keeping what it finished.",
            estimate.to_json(),
            "; ".join(over),
        )
    _ask_if_long(action, estimate, confirm_over)


def _confirm_long_work(
    action: str, params: Any, user: Any, goal_id: int | None, confirm_over: float
) -> None:
    from engine.usage.estimate import estimate_call

    try:
        estimate = estimate_call(action, params, user, goal_id=goal_id)
    except Exception as error:  # noqa: BLE001 - no estimate: nothing to show, nothing to ask
        log.info("no estimate for %s (%s); not asking the chat to confirm", action, error)
        return
    _ask_if_long(action, estimate, confirm_over)


def _ask_if_long(action: str, estimate: Any, confirm_over: float | None) -> None:
    if confirm_over is None:
        return
    if estimate.wall_seconds > confirm_over or estimate.tokens > 0:
        raise LongWorkConfirmation(
            f"'{action}' is long work: estimated at {estimate.describe()}. Run it, or cancel.",
            estimate.to_json(),
        )


def _refuse_if_spent(scopes: list[Scope], spent: list[UsageTotals], resources: tuple[str, ...]):
    for scope, used in zip(scopes, spent, strict=True):
        crossed = scope.crossed(used, resources=resources)
        if crossed is not None:
            count_exhausted("goal" if scope.goal_id is not None else "user", crossed[0])
            raise BudgetExhausted(
                f"Not started: {crossed[1]}. It resets at midnight UTC; an administrator "
                "can raise it on the Users page."
            )
