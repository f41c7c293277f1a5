"""Usage and budget actions: each user sees what they spent (today, this month) against
their limits; administrators set the default limits, per-user overrides and per-goal
limits (checked here, on the server, for every caller)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions import ActionContext, ActionError, ActionResult, register
from engine.actions.base import json_safe
from engine.actions.bounds import Name
from engine.auth import permissions
from engine.auth.permissions import Resource
from engine.lazy import pandas as pd


class UsageParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Name | None = Field(
        None, description="Administrators: another user's usage (default: your own)."
    )
    goal_id: int | None = Field(None, ge=1, description="Also a goal's usage and limits.")


class BudgetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["default", "user", "goal"] = Field(
        ..., description="default: every user; user: one user's override; goal: one goal."
    )
    username: Name | None = Field(None, description="scope='user': whose override.")
    goal_id: int | None = Field(None, ge=1, description="scope='goal': which goal.")
    max_cpu_minutes: float | None = Field(
        None, ge=0, le=1_000_000, description="CPU-minutes per day (empty: no limit)."
    )
    max_tokens: int | None = Field(
        None, ge=0, le=10_000_000_000, description="Claude tokens per day (empty: no limit)."
    )
    max_dollars: float | None = Field(
        None, ge=0, le=1_000_000, description="Claude dollars per day (empty: no limit)."
    )
    clear: bool = Field(False, description="Remove this scope's limits instead.")

    @model_validator(mode="after")
    def _target(self) -> BudgetParams:
        if self.scope == "user" and not self.username:
            raise ValueError("scope 'user' needs username")
        if self.scope == "goal" and self.goal_id is None:
            raise ValueError("scope 'goal' needs goal_id")
        return self


def _user_id(username: str) -> int:
    from storage.repositories.users import get_user

    record = get_user(username.strip().lower())
    if record is None:
        raise ActionError(f"There is no user '{username}'.")
    return record.id


def _limits_text(limits: dict) -> str:
    parts = []
    if limits.get("max_cpu_minutes") is not None:
        parts.append(f"{limits['max_cpu_minutes']:g} CPU-min")
    if limits.get("max_tokens") is not None:
        parts.append(f"{limits['max_tokens']:,} tokens")
    if limits.get("max_dollars") is not None:
        parts.append(f"${limits['max_dollars']:,.2f}")
    return ", ".join(parts) + " per day" if parts else "no limits"


@register(
    "usage_report",
    description="""What you spent today and this month: CPU-minutes of your jobs (measured
    in the workers), Claude tokens and dollars (from the API's usage fields, priced from
    the price table), next to your daily budgets. Give goal_id for a goal's usage too.
    Administrators may name another user and also get every user's usage today.""",
    params=UsageParams,
    min_role="viewer",
    cpu_bound=False,
    category="usage",
)
def usage_report(params: UsageParams, ctx: ActionContext) -> ActionResult:
    from engine.usage.budgets import usage_report as report
    from storage.repositories import usage

    user = ctx.user
    if params.username and params.username.strip().lower() != user.username:
        permissions.require(user, "read", Resource.area("usage"))
        user_id = _user_id(params.username)
        who = params.username.strip().lower()
    else:
        if user.id is None:
            raise ActionError("The system user has no budget; name a user.")
        user_id, who = user.id, user.username
    if params.goal_id is not None:
        from engine.goals import service as goals_service

        goals_service.get(user, params.goal_id)  # not visible: answers like a missing one
    values = report(user_id, params.goal_id)
    today, month, limits = values["today"], values["month"], values["limits"]
    rows = [
        {"period": "today", **today},
        {"period": "this month", **month},
    ]
    tables = {"usage": pd.DataFrame(rows)}
    units = {
        "usage": {
            "cpu_minutes": "minutes",
            "tokens": "count",
            "input_tokens": "count",
            "output_tokens": "count",
            "dollars": "USD",
        }
    }
    if permissions.allowed(user, "read", Resource.area("usage")):
        everyone = usage.usage_by_user(usage.day_start())
        if everyone:
            tables["everyone_today"] = pd.DataFrame(everyone)
    summary = (
        f"{who} today: {today['cpu_minutes']:.2f} CPU-min, {today['tokens']:,} tokens, "
        f"${today['dollars']:,.4f}; this month: {month['cpu_minutes']:.2f} CPU-min, "
        f"{month['tokens']:,} tokens, ${month['dollars']:,.4f}. Daily budget: "
        f"{_limits_text(limits)}."
    )
    return ActionResult(summary, json_safe(values), tables, units=units)


@register(
    "set_budget",
    description="""Administrators: set daily limits (CPU-minutes, Claude tokens, dollars)
    for every user (scope 'default'), one user (scope 'user', overriding the default limit
    by limit; an empty limit keeps the default's) or one goal (scope 'goal'). A run that
    would cross a limit asks for confirmation; a running one stops cleanly at the line
    (budget_exhausted). clear=true removes the scope's limits.""",
    params=BudgetParams,
    min_role="admin",
    cpu_bound=False,
    category="usage",
)
def set_budget(params: BudgetParams, ctx: ActionContext) -> ActionResult:
    from storage.repositories import usage
    from storage.repositories.goals import get_goal

    # The action is admin-only in the registry; this is the same rule, asked again where
    # the change is made.
    permissions.require(ctx.user, "administer", Resource.area("usage"))
    user_id = goal_id = None
    if params.scope == "user":
        user_id = _user_id(params.username or "")
        label = f"user {params.username}"
    elif params.scope == "goal":
        goal_id = params.goal_id
        if goal_id is None or get_goal(goal_id) is None:
            raise ActionError(permissions.not_found("goal", goal_id))
        label = f"goal {goal_id}"
    else:
        label = "the default"
    from engine.usage.budgets import forget_cached_limits

    forget_cached_limits()  # other processes' caches expire within seconds
    key = usage.scope_key(user_id, goal_id)
    if params.clear:
        removed = usage.delete_budget(key)
        return ActionResult(
            f"Removed the limits of {label}." if removed else f"{label} had no limits.",
            {"scope_key": key, "cleared": removed},
        )
    limits = {
        "max_cpu_minutes": params.max_cpu_minutes,
        "max_tokens": params.max_tokens,
        "max_dollars": params.max_dollars,
    }
    record = usage.set_budget(
        user_id=user_id, goal_id=goal_id, limits=limits, updated_by=ctx.user.id
    )
    return ActionResult(
        f"Daily budget of {label}: {_limits_text(limits)}.",
        json_safe({"scope_key": record.scope_key, **limits}),
    )
