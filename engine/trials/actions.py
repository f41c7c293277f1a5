"""Read-only actions over the trials and jobs: what chat (Claude's tools and the offline
planner) asks about past work. They read through the same scoped queries as the Trials
and Jobs pages (a viewer sees every trial, an analyst their own and the system's; jobs
are private to their owner), and a trial that is not visible answers like a missing one.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from engine.actions import ActionContext, ActionError, ActionResult, register
from engine.actions.bounds import MAX_QUERY_ROWS, Name, Symbol
from engine.lazy import pandas as pd
from engine.trials import ask, compare
from engine.trials.query import MAX_COMPARE, MAX_ROW_ID

TrialId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class TrialQuestionParams(BaseModel):
    """Filters shared by query_trials and compare_trials."""

    symbol: Symbol | None = Field(
        None, description="Only trials trained on this symbol, e.g. KO or SPX."
    )
    dataset_id: RowId | None = Field(None, description="Only trials on this recorded dataset.")
    model: Name | None = Field(
        None,
        description="A model name or catalogue id ('xgboost', 'random forest', "
        "'xgboost.XGBClassifier'); a name matches every catalogue entry it names.",
    )
    family: Name | None = Field(None, description="A model family (boosting, linear, tree...).")
    metric: Name | None = Field(
        None,
        description="The primary metric (sharpe, balanced_accuracy, rmse...): only trials "
        "ranked by it. Default: the most common among the matches.",
    )
    goal_id: RowId | None = None
    status: Literal["succeeded", "failed"] | None = None
    period: ask.Period | None = Field(
        None,
        description="Created in this period (UTC, from today): 'last week' is last_7_days, "
        "previous_week is the calendar week before this one.",
    )
    created_from: date | None = Field(None, description="Created on or after this day.")
    created_to: date | None = Field(None, description="Created on or before this day.")
    mine: bool = Field(False, description="Only the caller's own trials ('my trials').")

    def question(self, order: ask.Order, limit: int) -> ask.TrialQuestion:
        return ask.TrialQuestion(
            symbol=self.symbol,
            dataset_id=self.dataset_id,
            model=self.model,
            family=self.family,
            metric=self.metric,
            goal_id=self.goal_id,
            status=self.status,
            period=self.period,
            created_from=self.created_from,
            created_to=self.created_to,
            mine=self.mine,
            order=order,
            limit=limit,
        )


class QueryTrialsParams(TrialQuestionParams):
    order: ask.Order = Field(
        "newest",
        description="best or worst by the metric (in its direction: lower rmse is better), "
        "or newest or oldest first.",
    )
    limit: int = Field(20, ge=1, le=ask.MAX_QUERY_LIMIT)


def _span(answer: ask.TrialAnswer) -> dict:
    if answer.span is None:
        return {}
    return {"created_from": answer.span[0].isoformat(), "created_to": answer.span[1].isoformat()}


@register(
    "query_trials",
    description="Find recorded trials (trained models) and answer questions about them: the "
    "best (or worst) by a metric, the newest or oldest, filtered by symbol, dataset, model "
    "name or family, metric, goal, status and creation date ('last week'), e.g. 'what was my "
    "best model on KO last week?'. Read-only; only trials the user may see.",
    params=QueryTrialsParams,
    cpu_bound=False,
    min_role="viewer",
    category="trials",
)
def query_trials(params: QueryTrialsParams, ctx: ActionContext) -> ActionResult:
    answer = ask.ask(ctx.user, params.question(params.order, params.limit))
    table = ask.answer_frame(answer)
    values: dict = {
        "count": len(answer.trials),
        "total_matching": answer.total,
        "order": params.order,
        "metric": answer.metric,
        "trial_ids": answer.ids,
        **_span(answer),
    }
    if not answer.trials:
        return ActionResult(f"No {answer.described} match.", values, {"trials": table})
    lines = []
    if params.order in ("best", "worst") and answer.metric:
        top = answer.trials[0]
        stats = top.metrics.stats(top.metric_name) if top.metrics is not None else None
        spread = f" ± {stats.std:.4f}" if stats is not None and stats.std is not None else ""
        held = (top.holdout or {}).get(answer.metric)
        lines.append(
            f"{params.order.capitalize()} of {answer.total} {answer.described} by "
            f"{answer.metric}: trial {top.id}, {ask.plain(top.model_id or top.action)}"
            + (f" on {ask.symbols_of(top)}" if ask.symbols_of(top) else "")
            + f", {answer.metric} {top.metric_value:.4f}{spread} (walk-forward)"
            + (f", hold-out {held:.4f}" if held is not None else "")
            + f", created {top.created_at:%Y-%m-%d %H:%M} UTC."
        )
        values.update(best_trial_id=top.id, best_value=top.metric_value)
        if answer.left_out:
            others = ", ".join(f"{n} of {name}" for name, n in answer.left_out.items())
            lines.append(f"Trials ranked by other metrics are not compared: {others}.")
    else:
        lines.append(
            f"{answer.total} {answer.described}; showing the {len(answer.trials)} {params.order}."
        )
    return ActionResult("\n".join(lines), values, {"trials": table})


class CompareTrialsParams(TrialQuestionParams):
    trial_ids: Annotated[list[TrialId], Field(max_length=MAX_COMPARE)] | None = Field(
        None,
        description=f"The trials to compare (2 to {MAX_COMPARE}); without them the newest "
        "`last` trials matching the filters are compared.",
    )
    last: int = Field(
        20, ge=2, le=MAX_COMPARE, description="How many of the newest matching trials."
    )
    baseline: TrialId | None = Field(
        None, description="The trial the others are measured against (default: the first)."
    )
    importance: bool = Field(
        True, description="Also rank the parameters by importance (fANOVA, random forest)."
    )


@register(
    "compare_trials",
    description="Compare recorded trials against a baseline: which parameters differ, each "
    "metric's delta against the baseline, the best trial, and which parameters matter most "
    "for the metric (fANOVA and random-forest importance). Give trial_ids, or filters "
    "('my last 20 XGBoost trials': model='xgboost', mine=true, last=20). Read-only.",
    params=CompareTrialsParams,
    cpu_bound=False,
    min_role="viewer",
    category="trials",
)
def compare_trials(params: CompareTrialsParams, ctx: ActionContext) -> ActionResult:
    described = ""
    if params.trial_ids:
        ids = list(params.trial_ids)
        described = "the trials given"
    else:
        answer = ask.ask(ctx.user, params.question("newest", min(params.last, MAX_COMPARE)))
        ids = answer.ids[::-1]  # oldest first: the first one is the default baseline
        described = f"the {len(ids)} newest of {answer.total} {answer.described}"
        if not ids:
            raise ActionError(f"No {answer.described} to compare.")
    comparison = compare.build(ctx.user, ids, params.baseline)
    base = comparison.baseline
    overview = comparison.overview()
    values: dict = {
        "trial_ids": comparison.ids,
        "baseline": base.id,
        "metric": comparison.metric,
        "greater_is_better": comparison.greater_is_better,
        "differing_parameters": comparison.differing,
    }
    lines = [f"Compared {described} against baseline trial {base.id}."]
    best = comparison.best()
    if best is not None and comparison.metric:
        value = comparison.primary(best)
        base_value = comparison.primary(base)
        lines.append(
            f"Best by {comparison.metric}: trial {best.id} "
            f"({ask.plain(best.model_id or best.action)}) {value:.4f}"
            + (
                f", {value - base_value:+.4f} against the baseline"
                if value is not None and base_value is not None
                else ""
            )
            + "."
        )
        values.update(best_trial_id=best.id, best_value=value, baseline_value=base_value)
    if comparison.differing:
        shown = ", ".join(comparison.differing[:12])
        more = (
            f" and {len(comparison.differing) - 12} more" if len(comparison.differing) > 12 else ""
        )
        lines.append(f"Parameters that differ: {shown}{more}.")
    tables = {
        "overview": overview,
        "parameters": comparison.params_table(diff_only=True),
        "metrics": comparison.metrics_table(),
    }
    if params.importance:
        importance = compare.importance(comparison)
        if importance.table.empty:
            lines.append(importance.note)
        else:
            top = importance.table.iloc[0]
            lines.append(
                f"Most important for {comparison.metric} over {importance.n_trials} trials: "
                f"{top['parameter']} (fANOVA {top['fanova']:.2f}, random-forest impurity "
                f"{top['rf_impurity']:.2f})."
            )
            tables["importance"] = importance.table
            values["most_important"] = importance.ranked[:5]
            values["importance_trials"] = importance.n_trials
    return ActionResult("\n".join(line for line in lines if line), values, tables)


JobStatus = Literal[
    "queued", "running", "succeeded", "failed", "cancelled", "interrupted", "budget_exhausted"
]


class QueryJobsParams(BaseModel):
    status: Annotated[list[JobStatus], Field(max_length=7)] | None = Field(
        None, description="Only jobs in these states."
    )
    action: Name | None = Field(None, description="Only jobs of this action.")
    goal_id: RowId | None = None
    everyone: bool = Field(False, description="Every user's jobs (admins only).")
    limit: int = Field(20, ge=1, le=MAX_QUERY_ROWS)


@register(
    "query_jobs",
    description="List the user's recent jobs (background runs and quick calls), newest "
    "first, with their status, progress, errors and timing; filter by status, action or goal. "
    "Read-only; everyone's jobs for admins only.",
    params=QueryJobsParams,
    cpu_bound=False,
    min_role="viewer",
    category="trials",
)
def query_jobs(params: QueryJobsParams, ctx: ActionContext) -> ActionResult:
    from engine.auth import permissions
    from storage.repositories import jobs

    if params.everyone:
        permissions.require(
            ctx.user,
            "read",
            permissions.Resource.area("all_jobs"),
            "Only an admin can list everyone's jobs.",
        )
        readers = permissions.scope_for(ctx.user, "job")
    else:
        readers = permissions.own_rows(ctx.user, "job")
    found = jobs.list_jobs(
        readers,
        statuses=tuple(params.status) if params.status else None,
        limit=params.limit,
        goal_id=params.goal_id,
        action=params.action,
    )
    if ctx.job_id is not None:  # this very call is a job too: leave it out
        found = [job for job in found if job.id != ctx.job_id]
    table = pd.DataFrame(
        [
            {
                "job": job.id,
                "action": job.action,
                "status": job.status,
                "progress": job.progress,
                "created": job.created_at,
                "seconds": (job.finished_at - job.started_at).total_seconds()
                if job.finished_at and job.started_at
                else None,
                "goal": job.goal_id,
                "error": job.error or "",
            }
            for job in found
        ],
        columns=["job", "action", "status", "progress", "created", "seconds", "goal", "error"],
    )
    counts = table["status"].value_counts().to_dict() if len(table) else {}
    summary = (
        f"{len(found)} job(s)"
        + (": " + ", ".join(f"{n} {status}" for status, n in counts.items()) if counts else "")
        + "."
    )
    return ActionResult(summary, {"count": len(found), "by_status": counts}, {"jobs": table})
