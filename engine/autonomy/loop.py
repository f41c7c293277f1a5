"""The goal loop: propose a trial, run it through the registry, record, learn, check.

Claude proposes the trials when an API key is set (``MLTRAINER_LOOP_PROPOSER``
chooses otherwise), the offline bandit when not or whenever Claude cannot; each trial
records who proposed it and why. It stops when the goal is reached, the trial or time
budget is spent, progress stagnates, or the user pauses/stops it, and it writes why.
Every number it reports comes from a recorded trial. The loop keeps no state of its
own: after a restart it reads the goal's trials from the database and carries on.

Validation (:func:`engine.ml.validation_plan.trial_params`, the path the autonomy
benchmark takes too): price data and dated tables walk-forward, purged and embargoed
by the goal's horizon. Trials are chosen on their walk-forward score only; their
hold-out rows stay unseen (``score_holdout=False``). The hold-out is scored once per
reported best model (:func:`check_holdout`, a re-run recorded as a trial marked
``holdout_check_of``), and a goal is "achieved" only when the hold-out passes the
threshold too; a best model whose hold-out fails stays rejected and the search goes on.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel

from engine.actions import ActionContext, ActionError, ActionResult, UserRef, call, register
from engine.autonomy.proposer import BanditProposer, Proposal
from engine.goals import service as goals_service
from engine.goals.service import spec_of
from engine.goals.spec import GoalSpec
from engine.ml.validation_plan import trial_params
from engine.usage.estimate import Estimate, estimator
from storage.repositories import goals as goal_repo
from storage.repositories.trials import annotate_trial, trial_for_job, trials_for_goal

if TYPE_CHECKING:
    from engine.autonomy.claude_proposer import ClaudeProposer

log = logging.getLogger("mltrainer.autonomy")
TRIAL_TIMEOUT_SECONDS = 3600


class LoopParams(BaseModel):
    goal_id: int


def best_of(
    spec: GoalSpec, values: list[float | None], skip: frozenset[int] | set[int] = frozenset()
) -> tuple[float | None, int | None]:
    best, index = None, None
    for position, value in enumerate(values):
        if position not in skip and spec.better(value, best):
            best, index = value, position
    return best, index


def stop_reason(
    spec: GoalSpec,
    values: list[float | None],
    minutes_used: float,
    rejected: frozenset[int] | set[int] = frozenset(),
) -> tuple[str, str] | None:
    """(status, reason) when the loop must stop, else None. "reached" is a candidate:
    the loop confirms it on the hold-out; ``rejected`` are the positions of trials whose
    hold-out failed (they cannot reach the goal again)."""
    candidate, _ = best_of(spec, values, rejected)
    if spec.reached(candidate):
        return "reached", f"{spec.metric} {candidate:.4f} {spec.direction} {spec.threshold}"
    best, best_index = best_of(spec, values)
    if len(values) >= spec.max_trials:
        return "exhausted", f"trial budget of {spec.max_trials} spent (best {best})"
    if minutes_used >= spec.max_minutes:
        return "exhausted", f"time budget of {spec.max_minutes:g} minutes spent (best {best})"
    since = len(values) - 1 - best_index if best_index is not None else len(values)
    if since >= spec.stagnation_trials:
        return "exhausted", (
            f"no improvement in the last {since} trials "
            f"(stagnation limit {spec.stagnation_trials}; best {best})"
        )
    return None


def train_params(spec: GoalSpec, proposal: Proposal, seed: int) -> dict:
    """The trial's ``train_model`` parameters: the shared validation path, the hold-out
    kept unseen (it is scored once, for the reported best model)."""
    data = {
        k: v
        for k, v in spec.model_dump(mode="json").items()
        if k in ("symbols", "source", "start", "end", "dataset_id", "target_column")
    }
    params = trial_params(
        data=data,
        task=spec.task,
        metric=spec.metric,
        model_id=proposal.model_id,
        model_params=proposal.model_params,
        seed=seed,
        horizon=spec.horizon,
        time_column=spec.time_column,
        allow_shuffled_dates=spec.allow_shuffled_dates,
    )
    params["score_holdout"] = False
    return params


def holdout_checks(trials) -> dict[int, float | None]:
    """Hold-out value by checked trial id, from the goal's recorded check runs."""
    from engine.trials.record import parse

    out: dict[int, float | None] = {}
    for row in trials:
        of = (row.reproducibility or {}).get("holdout_check_of")
        if of is not None:
            out[int(of)] = parse(row).primary_holdout if row.status == "succeeded" else None
    return out


def check_holdout(user: UserRef, goal_id: int, trial_id: int) -> tuple[float | None, str]:
    """Score a trial's hold-out once: re-run its configuration (same data, splits and
    seed, so the same walk-forward score) with ``score_holdout``, recorded as a trial
    marked ``holdout_check_of``. Returns the hold-out value of the primary metric."""
    from storage.repositories.trials import get_trial

    trial = get_trial(trial_id)
    if trial is None:
        return None, f"trial {trial_id} is gone"
    params = {**(trial.params or {}), "score_holdout": True}
    try:
        outcome = call("train_model", params, user, goal_id=goal_id, wait=TRIAL_TIMEOUT_SECONDS)
    except ActionError as error:
        return None, str(error)
    job_trial = trial_for_job(outcome.job_id) if outcome.job_id else None
    if job_trial is not None:
        annotate_trial(job_trial.id, holdout_check_of=trial_id)
    if outcome.status != "succeeded" or outcome.result is None:
        return None, outcome.error or outcome.status
    metric = outcome.result.values.get("metric_name")
    return outcome.result.values.get(f"holdout_{metric}"), "ok"


class BudgetStop(Exception):
    """The goal's or its owner's daily budget is spent, or the next trial would cross it."""


def run_trial(user: UserRef, goal_id: int, params: dict) -> tuple[float | None, int | None, str]:
    """One trial through the registry (compliance, job, trial row); returns its metric,
    its trial id (None when the call was refused before a trial existed) and a note.
    Raises :class:`BudgetStop` when a budget refuses the trial (nobody is there to
    confirm an autonomous trial that would cross one)."""
    from engine.usage.budgets import BudgetConfirmation, BudgetExhausted

    try:
        outcome = call("train_model", params, user, goal_id=goal_id, wait=TRIAL_TIMEOUT_SECONDS)
    except BudgetConfirmation as error:
        estimate = (error.estimate or {}).get("text", "its estimate")
        raise BudgetStop(
            f"the next trial ({estimate}) would cross a budget: it would reach {error.over}"
        ) from None
    except BudgetExhausted as error:
        raise BudgetStop(str(error)) from None
    except ActionError as error:
        return None, None, str(error)
    if outcome.status != "succeeded" or outcome.result is None:
        failed = trial_for_job(outcome.job_id) if outcome.job_id else None
        return None, failed.id if failed else None, outcome.error or outcome.status
    values = outcome.result.values
    return values.get("metric_value"), values.get("trial_id"), "ok"


def _values(
    goal_id: int,
) -> tuple[list[tuple[str, float | None]], list[int | None], dict[int, float | None], float]:
    """The goal's search so far: (family, walk-forward value) per trial, their ids, the
    hold-out checks done, and the minutes spent (checks included)."""
    every = trials_for_goal(goal_id)
    checks = holdout_checks(every)
    trials = [t for t in every if (t.reproducibility or {}).get("holdout_check_of") is None]
    history = [
        (t.family or "", t.metric_value if t.status == "succeeded" else None) for t in trials
    ]
    minutes = sum(t.duration_s or 0 for t in every) / 60
    return history, [t.id for t in trials], checks, minutes


def _await_started_trials(ctx: ActionContext, goal_id: int) -> None:
    """Wait for the goal's trials that are still queued or running: a retried loop's lost
    attempt started them, they count towards the trial budget, and proposing more
    meanwhile would overrun it. (A cancel stops the wait; the loop then stops.)"""
    from engine import executor
    from engine.auth.permissions import scope_for
    from storage.repositories import jobs

    started = jobs.list_jobs(
        scope_for(ctx.user, "job"),
        statuses=("queued", "running", "interrupted"),
        goal_id=goal_id,
        action="train_model",
        limit=100,
    )
    for job in started:
        log.info("goal %s: waiting for trial job %s started before a retry", goal_id, job.id)
        deadline = time.monotonic() + TRIAL_TIMEOUT_SECONDS
        while not executor.wait(job.id, timeout=1.0).terminal:
            if ctx.cancelled():
                return
            if time.monotonic() >= deadline:
                break


def make_proposer(
    goal_id: int,
    spec: GoalSpec,
    history: list[tuple[str, float | None]],
    *,
    seed: int,
    minutes_used,
    user_id: int | None = None,
    job_id: int | None = None,
) -> BanditProposer | ClaudeProposer:
    """Claude (with the bandit as its fallback) when a key is set, else the bandit;
    ``MLTRAINER_LOOP_PROPOSER`` = claude | bandit overrides the choice."""
    from engine.config import LOOP_PROPOSERS, get_settings
    from storage.optuna_store import optuna_storage

    bandit = BanditProposer(goal_id, spec, history, seed=seed, storage=optuna_storage())
    settings = get_settings()
    choice = settings.loop_proposer
    if choice not in LOOP_PROPOSERS:
        log.warning(
            "MLTRAINER_LOOP_PROPOSER=%r is not one of %s; using auto",
            choice,
            ", ".join(LOOP_PROPOSERS),
        )
        choice = "auto"
    if choice == "bandit" or (choice == "auto" and not settings.anthropic_api_key):
        return bandit
    # With "claude" and no key every step falls back to the bandit and says why.
    # the Claude proposer (and the Claude client) load only when a loop uses them
    from engine.autonomy.claude_proposer import ClaudeProposer

    return ClaudeProposer(
        goal_id,
        spec,
        bandit,
        settings=settings,
        minutes_used=minutes_used,
        user_id=user_id,
        job_id=job_id,
    )


def _record_proposal(trial_id: int | None, proposal: Proposal, proposer) -> None:
    from engine.autonomy.claude_proposer import proposed_by

    if trial_id is None:
        return
    note = {"by": proposed_by(proposal), "reason": proposal.reason}
    if note["by"] == "claude":
        note["claude_model"] = proposer.model
    try:
        annotate_trial(trial_id, proposal=note)
    except Exception:  # noqa: BLE001 - provenance must not stop the loop
        log.exception("could not record the proposal of trial %s", trial_id)


def _proposals_summary(tally: dict[str, int], fallbacks: list[str]) -> tuple[str, dict]:
    values: dict = {"proposed_by": dict(tally)}
    text = ""
    if fallbacks:
        values["claude_fallbacks"] = fallbacks
        text = (
            f" The bandit stood in for Claude on {len(fallbacks)} trial(s); last because "
            f"{fallbacks[-1]}."
        )
    return text, values


@register(
    "run_goal_loop",
    description="Work toward a goal autonomously: propose a model and parameters, train it "
    "walk-forward as a recorded trial, learn from the result, and repeat until the goal is "
    "reached, its budget is spent, progress stagnates or the user stops it. Start it with "
    "control_goal.",
    params=LoopParams,
    long=True,
    cpu_bound=False,  # it waits on trial jobs that run in the process pool
    idempotent=True,  # stateless: a retry resumes from the recorded trials
    category="goals",
)
def run_goal_loop(params: LoopParams, ctx: ActionContext) -> ActionResult:
    from engine.autonomy.claude_proposer import ClaudeProposer, proposed_by

    # Only the goal's owner (or an admin) spends trials on it; a goal the user may not
    # see answers like a missing one.
    goal = goals_service.get(ctx.user, params.goal_id)
    goals_service.require_owner(ctx.user, goal)
    spec = spec_of(goal)
    _await_started_trials(ctx, goal.id)
    history, trial_ids, checks, minutes = _values(goal.id)
    started = time.monotonic()
    proposer = make_proposer(
        goal.id,
        spec,
        history,
        seed=ctx.seed or goal.id,
        minutes_used=lambda: minutes + (time.monotonic() - started) / 60,
        user_id=ctx.user.id,
        job_id=ctx.job_id,
    )
    tally = {"claude": 0, "bandit": 0}
    fallbacks: list[str] = []

    def rejected() -> set[int]:
        """Positions of trials whose hold-out check failed the goal."""
        return {
            position
            for position, trial_id in enumerate(trial_ids)
            if trial_id is None or (trial_id in checks and not spec.reached(checks[trial_id]))
        }

    def holdout_of(position: int | None) -> float | None:
        """The hold-out of the trial at ``position``, scored once (recorded)."""
        trial_id = trial_ids[position] if position is not None else None
        if trial_id is None:
            return None
        if trial_id not in checks:
            value, note = check_holdout(ctx.user, goal.id, trial_id)
            checks[trial_id] = value
            log.info("goal %s hold-out of trial %s: %s (%s)", goal.id, trial_id, value, note)
        return checks[trial_id]

    while True:
        current = goal_repo.get_goal(goal.id)
        if current is None:
            return ActionResult(f"Goal {goal.id} loop ended: the goal was deleted.")
        goal = current
        if goal.status != "active":
            return ActionResult(
                f"Goal {goal.id} loop ended: the goal is {goal.status}.",
                {"goal_id": goal.id, "status": goal.status},
            )
        spent = ctx.budget_exhausted() or budget_spent(
            ctx.user, goal.id, claude=isinstance(proposer, ClaudeProposer)
        )
        if spent is not None:
            return _budget_stop(ctx, goal.id, spent, history, trial_ids, tally, fallbacks)
        if ctx.cancelled():
            spent = ctx.budget_exhausted()  # the guard trips through the cancel check
            if spent is not None:
                return _budget_stop(ctx, goal.id, spent, history, trial_ids, tally, fallbacks)
            goal_repo.set_status_if(
                goal.id, ("active",), "stopped", stop_reason="the loop job was cancelled"
            )
            return ActionResult("Loop cancelled.", {"goal_id": goal.id, "status": "stopped"})
        values = [value for _, value in history]
        used = minutes + (time.monotonic() - started) / 60
        decision = stop_reason(spec, values, used, rejected())
        if decision is not None and decision[0] == "reached":
            _, position = best_of(spec, values, rejected())
            holdout = holdout_of(position)
            if spec.reached(holdout):
                decision = (
                    "achieved",
                    f"{decision[1]} walk-forward, and hold-out {holdout:.4f} passes too",
                )
            else:
                log.info(
                    "goal %s: trial at %s failed its hold-out (%s)", goal.id, position, holdout
                )
                continue  # rejected now; the budget rules decide whether to go on
        if decision is not None:
            status, reason = decision
            if status != "achieved":
                best, best_index = best_of(spec, values)
                holdout = holdout_of(best_index)
                reason += f"; its hold-out {spec.metric}: " + (
                    f"{holdout:.4f}" if holdout is not None else "n/a"
                )
            else:
                best, best_index = best_of(spec, values, rejected())
                holdout = holdout_of(best_index)  # scored above: read from the checks
            goal_repo.set_status_if(goal.id, ("active",), status, stop_reason=reason)
            if best_index is not None and trial_ids[best_index] is not None:
                goal_repo.update_goal(goal.id, best_trial_id=trial_ids[best_index])
            log.info("goal %s %s: %s", goal.id, status, reason)
            about, proposals = _proposals_summary(tally, fallbacks)
            return ActionResult(
                f"Goal {goal.id} {status}: {reason}.{about}",
                {
                    "goal_id": goal.id,
                    "status": status,
                    "best": best,
                    "best_trial_id": trial_ids[best_index] if best_index is not None else None,
                    "holdout": holdout,
                    "cv_holdout_gap": _gap(spec, best, holdout),
                    "trials": len(values),
                    **proposals,
                },
            )
        proposal = proposer.propose()
        source = proposed_by(proposal)
        tally[source] += 1
        if isinstance(proposer, ClaudeProposer) and proposer.last_fallback:
            fallbacks.append(proposer.last_fallback)
        try:
            value, trial_id, note = run_trial(
                ctx.user, goal.id, train_params(spec, proposal, seed=len(values))
            )
        except BudgetStop as stop:
            return _budget_stop(ctx, goal.id, str(stop), history, trial_ids, tally, fallbacks)
        _record_proposal(trial_id, proposal, proposer)
        if isinstance(proposer, ClaudeProposer):
            proposer.observe(proposal, value, recorded=trial_id is not None, note=note)
        else:
            proposer.observe(proposal, value)
        history = proposer.history
        trial_ids.append(trial_id)
        values = [v for _, v in history]
        best, best_index = best_of(spec, values)
        updates = {"trials_run": len(values), "best_value": best}
        if best_index == len(values) - 1 and trial_id is not None:
            updates["best_trial_id"] = trial_id
        goal_repo.update_goal(goal.id, **updates)
        ctx.progress(
            min(len(values) / spec.max_trials, 1.0),
            value=value if value is not None else float("nan"),
            best=best if best is not None else float("nan"),
        )
        log.info(
            "goal %s trial %s %s -> %s (%s; %s)",
            goal.id,
            len(values),
            proposal.model_id,
            value,
            proposal.reason,
            note,
        )


def budget_spent(user: UserRef, goal_id: int, *, claude: bool) -> str | None:
    """Why the goal's or its owner's daily budget is spent, else None: the CPU of the
    trials, and with Claude proposing its tokens and dollars."""
    from engine.usage.budgets import scopes_for, spent_line

    resources = ("cpu", "tokens", "dollars") if claude else ("cpu",)
    return spent_line(scopes_for(user.id, goal_id, user.username), resources)


def _budget_stop(
    ctx: ActionContext,
    goal_id: int,
    reason: str,
    history: list[tuple[str, float | None]],
    trial_ids: list[int | None],
    tally: dict[str, int],
    fallbacks: list[str],
) -> ActionResult:
    """Stop cleanly: the goal and the loop's job end ``budget_exhausted``; the trials
    run so far stay recorded and the best of them stays the goal's best."""
    goal_repo.set_status_if(goal_id, ("active",), "budget_exhausted", stop_reason=reason)
    ctx.stop_for_budget(reason)
    values = [value for _, value in history]
    goal = goal_repo.get_goal(goal_id)
    about, proposals = _proposals_summary(tally, fallbacks)
    log.info("goal %s stopped: %s", goal_id, reason)
    return ActionResult(
        f"Goal {goal_id} stopped after {len(values)} trial(s): {reason}.{about}",
        {
            "goal_id": goal_id,
            "status": "budget_exhausted",
            "best": goal.best_value if goal else None,
            "best_trial_id": goal.best_trial_id if goal else None,
            "trials": len(values),
            "budget_exhausted": reason,
            **proposals,
        },
    )


def _gap(spec: GoalSpec, cv: float | None, holdout: float | None) -> float | None:
    """Walk-forward minus hold-out, oriented so that a positive gap means the hold-out
    did worse (the walk-forward score was optimistic)."""
    if cv is None or holdout is None:
        return None
    return cv - holdout if spec.direction == ">=" else holdout - cv


def launch(user: UserRef, goal_id: int) -> int:
    """Start (or resume) a goal's loop as a background job; returns the job id."""
    outcome = call("run_goal_loop", {"goal_id": goal_id}, user, goal_id=goal_id)
    goal_repo.update_goal(goal_id, loop_job_id=outcome.job_id)
    return outcome.job_id


@estimator("run_goal_loop")
def estimate_loop(params: LoopParams, user: UserRef, goal_id: int | None) -> Estimate:
    """At most the goal's remaining trials, each priced on the goal's data for the model
    families the loop may pick (an even share each), capped by the goal's time budget;
    with Claude proposing, one proposal's tokens per trial. A ceiling: the loop may stop
    early (reached, stagnation)."""
    from engine.autonomy.proposer import eligible_models
    from engine.config import get_settings
    from engine.ml.catalog import get_model
    from engine.ml.estimates import data_size
    from engine.ml.params import TrainParams
    from engine.usage.estimate import evaluation_estimate, proposer_estimate

    goal = goals_service.get(user, params.goal_id)
    spec = spec_of(goal)
    remaining = max(spec.max_trials - goal.trials_run, 0)
    models = eligible_models(spec)
    if not models:
        raise ActionError("No eligible model for this goal.")
    family, ids = next(iter(models.items()))
    probe = Proposal(ids[0], family, {}, "estimate")
    rows, cols, folds = data_size(TrainParams.model_validate(train_params(spec, probe, 0)), user)
    share = remaining / len(models)
    evaluations = [(name, get_model(ids_[0]).cost, share) for name, ids_ in models.items()]
    estimate = evaluation_estimate("run_goal_loop", evaluations, rows, cols, folds)
    cap = spec.max_minutes * 60 - sum(t.duration_s or 0 for t in trials_for_goal(goal.id))
    if estimate.wall_seconds > max(cap, 0.0) > 0:
        scale = cap / estimate.wall_seconds
        estimate.wall_seconds *= scale
        estimate.cpu_seconds *= scale
        estimate.cpu_low *= scale
        estimate.cpu_high *= scale
        estimate.basis += f"; capped by the goal's {spec.max_minutes:g}-minute budget"
    settings = get_settings()
    claude = settings.loop_proposer == "claude" or (
        settings.loop_proposer == "auto" and bool(settings.anthropic_api_key)
    )
    if claude and remaining:
        tokens = proposer_estimate(settings.claude_model, remaining)
        estimate.tokens, estimate.dollars = tokens.tokens, tokens.dollars
        estimate.basis += f"; Claude proposer: {tokens.basis}"
    estimate.basis = f"at most {remaining} more trial(s); " + estimate.basis
    estimate.upper_bound = True
    return estimate
