"""Goal actions: the same functions behind the Goals form, the chat and the loop."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engine.actions import ActionContext, ActionError, ActionResult, register
from engine.actions.bounds import Name
from engine.goals import service
from engine.goals.spec import Families, GoalSpec


class CreateGoalParams(GoalSpec):
    """A new goal (see GoalSpec)."""


class UpdateGoalParams(BaseModel):
    """Only the fields to change; the rest of the goal stays as it is."""

    goal_id: int
    name: Name | None = None
    threshold: float | None = None
    metric: Name | None = None
    direction: Literal[">=", "<="] | None = None
    horizon: int | None = Field(None, ge=1, le=60)
    max_trials: int | None = Field(None, ge=1, le=2000)
    max_minutes: float | None = Field(None, gt=0, le=24 * 60)
    families: Families | None = None
    stagnation_trials: int | None = Field(None, ge=2, le=500)
    data_policy: Literal["real_only", "synthetic_allowed"] | None = None
    notes: str | None = Field(None, max_length=5000)


class ControlGoalParams(BaseModel):
    goal_id: int
    command: Literal["start", "pause", "resume", "stop"]
    reason: str | None = Field(None, max_length=500)


class ListGoalsParams(BaseModel):
    status: Name | None = None


def _spec(params: GoalSpec) -> GoalSpec:
    return GoalSpec.model_validate(params.model_dump())


@register(
    "create_goal",
    description="Create a goal for the autonomous loop: data (symbols or an uploaded table), "
    "task (classification of next-h-day direction or regression of the return), a metric with a "
    "threshold evaluated walk-forward (e.g. balanced_accuracy >= 0.55, or sharpe >= 1.0 for "
    "trading the predictions), a budget of trials and minutes, allowed model families and a "
    "data policy (real_only or synthetic_allowed). Needs the user's confirmation.",
    params=CreateGoalParams,
    cpu_bound=False,
    needs_confirmation=True,
    category="goals",
)
def create_goal(params: CreateGoalParams, ctx: ActionContext) -> ActionResult:
    goal = service.create(ctx.user, _spec(params))
    return ActionResult(
        f"Goal {goal.id} '{goal.name}' created: {goal.spec['metric']} "
        f"{goal.spec['direction']} {goal.spec['threshold']} within {goal.spec['max_trials']} "
        f"trials. Start it from the Goals page or with control_goal.",
        {"goal_id": goal.id, "status": goal.status, **goal.spec},
    )


@register(
    "update_goal",
    description="Change some fields of an existing goal (threshold, metric, budget, families, "
    "notes...); the others stay. Needs the user's confirmation.",
    params=UpdateGoalParams,
    cpu_bound=False,
    needs_confirmation=True,
    category="goals",
)
def update_goal(params: UpdateGoalParams, ctx: ActionContext) -> ActionResult:
    current = service.spec_of(service.get(ctx.user, params.goal_id)).model_dump()
    changes = params.model_dump(exclude={"goal_id"}, exclude_none=True)
    if "metric" in changes and "direction" not in changes:
        current.pop("direction", None)  # re-derive it for the new metric
    try:
        spec = GoalSpec.model_validate({**current, **changes})
    except ValueError as error:
        raise ActionError(f"Invalid goal: {error}") from None
    goal = service.update(ctx.user, params.goal_id, spec)
    return ActionResult(f"Goal {goal.id} updated.", {"goal_id": goal.id, **goal.spec})


@register(
    "control_goal",
    description="Start, pause, resume or stop a goal's autonomous loop.",
    params=ControlGoalParams,
    cpu_bound=False,
    needs_confirmation=True,
    category="goals",
)
def control_goal(params: ControlGoalParams, ctx: ActionContext) -> ActionResult:
    status = service.transition(ctx.user, params.goal_id, params.command, params.reason)
    values: dict = {"goal_id": params.goal_id, "status": status}
    if params.command in ("start", "resume"):
        from engine.autonomy.loop import launch

        values["loop_job_id"] = launch(ctx.user, params.goal_id)
    return ActionResult(f"Goal {params.goal_id} is now {status}.", values)


@register(
    "list_goals",
    description="List goals with their status, best value so far and threshold.",
    params=ListGoalsParams,
    cpu_bound=False,
    min_role="viewer",
    category="goals",
)
def list_goals(params: ListGoalsParams, ctx: ActionContext) -> ActionResult:
    import pandas as pd

    goals = [g for g in service.listing(ctx.user) if params.status in (None, g.status)]
    table = pd.DataFrame(
        [
            {
                "id": g.id,
                "name": g.name,
                "status": g.status,
                "metric": g.spec.get("metric"),
                "direction": g.spec.get("direction"),
                "threshold": g.spec.get("threshold"),
                "best": g.best_value,
                "trials": g.trials_run,
                "stop reason": g.stop_reason,
            }
            for g in goals
        ]
    )
    return ActionResult(f"{len(goals)} goal(s).", {"count": len(goals)}, {"goals": table})


class GoalInsightsParams(BaseModel):
    goal_id: int


@register(
    "goal_insights",
    description="What a goal's trials say so far: trend of the metric (Mann-Kendall with a "
    "Theil-Sen slope), best and worst model families, failure rates and common errors, trials "
    "since the last improvement, overfitting statistics (the deflated Sharpe ratio of the best "
    "strategy and the probability of backtest overfitting, PBO by CSCV, both counting every "
    "trial tried on the same data), the best model's walk-forward vs hold-out gap, parameter "
    "importances, and recommendations for what to try next.",
    params=GoalInsightsParams,
    cpu_bound=False,
    min_role="viewer",
    category="goals",
)
def goal_insights(params: GoalInsightsParams, ctx: ActionContext) -> ActionResult:
    import pandas as pd

    from engine.feedback.insights import goal_insights as compute
    from engine.feedback.overfitting import overfitting_table

    goal = service.get(ctx.user, params.goal_id)
    report = compute(
        goal.id,
        service.spec_of(goal),
        service.trials(ctx.user, goal.id),
        owner_id=goal.user_id,
    )
    trend = report["trend"]
    lines = [
        f"Goal {goal.id}: {report['trials']} trials, best {report['best_value']}, "
        f"trend {trend['label']}"
        + (f" (p={trend['p_value']:.3f})" if trend["p_value"] is not None else "")
        + ".",
        f"Overfitting: {report['overfitting']['verdict']}",
    ]
    gap = report["holdout_gap"]
    if gap is not None:
        lines.append(
            f"Best model (trial {gap['trial_id']}): walk-forward {gap['walk_forward']:.4f}, "
            f"hold-out {gap['holdout']:.4f}, gap {gap['gap']:+.4f}"
            + (" — likely overfit." if gap["likely_overfit"] else ".")
        )
    lines += [f"- {r['what']}: {r['why']}" for r in report["recommendations"]]
    tables = {"families": pd.DataFrame(report["families"])}
    if report["common_errors"]:
        tables["errors"] = pd.DataFrame(report["common_errors"])
    if report["recommendations"]:
        tables["recommendations"] = pd.DataFrame(report["recommendations"])
    tables["overfitting"] = overfitting_table(report["overfitting"], gap)
    values = {k: v for k, v in report.items() if k not in ("families", "common_errors")}
    return ActionResult("\n".join(lines), values, tables)
