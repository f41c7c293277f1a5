"""A retried job's trials: resume from them, or replace them without counting them twice.

A job is retried after its worker was lost (killed, a deploy, a database outage); the
trials its lost attempt recorded are still in the database. An action that can resume
(``tune_model``) reads them with :func:`prior_trials` and :func:`adopt`\\ s them; every
other trial the job recorded before is a copy of work the retry does again, so the
first trial the retry records marks those ``superseded`` (:func:`before_first_record`,
called by :mod:`engine.ml.recording`): kept for the record, left out of listings, goal
budgets and the deflated-Sharpe count.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.actions.base import json_safe
from engine.actions.context import ActionContext
from storage.repositories import trials
from storage.repositories.trials import TrialRecord

_ADOPTED = "checkpoint.adopted"  # ctx.extras: trial ids this run carries on from
_STARTED = "checkpoint.started"  # ctx.extras: this run has recorded a trial


def prior_trials(ctx: ActionContext, action: str) -> list[TrialRecord]:
    """The trials ``action`` recorded for this job before this run (none on a first run
    or outside a job), oldest first."""
    if ctx.job_id is None or ctx.extras.get(_STARTED):
        return []
    return [t for t in trials.trials_for_job(ctx.job_id) if t.action == action]


def adopt(ctx: ActionContext, trial_ids: list[int]) -> None:
    """This run carries on from these trials: they stay counted."""
    ctx.extras.setdefault(_ADOPTED, set()).update(trial_ids)


def before_first_record(ctx: ActionContext) -> None:
    """Before this run records its first trial: the job's earlier trials that it did not
    adopt are superseded by what it records now."""
    if ctx.job_id is None or ctx.extras.get(_STARTED):
        return
    ctx.extras[_STARTED] = True
    trials.supersede_job_trials(ctx.job_id, keep=set(ctx.extras.get(_ADOPTED, ())))


# --- tune_model ------------------------------------------------------------------------


@dataclass(frozen=True)
class TunedTrial:
    """What tune_model's result needs of a completed trial, whichever attempt ran it."""

    metric_value: float | None
    model_params: dict[str, Any]
    holdout: dict[str, Any] | None


@dataclass
class TuneState:
    """A tune's Optuna study and the trials already done (none on a first run)."""

    study: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    completed: dict[int, TunedTrial] = field(default_factory=dict)
    best_value: float | None = None
    next_number: int = 0


def tune_study(
    ctx: ActionContext, *, name: str, greater: bool, seed: int, primary: str
) -> TuneState:
    """The study of this tune: in Optuna's database for a job (named after it, so a retry
    loads the same study), with the trials its lost attempts recorded adopted. Optuna
    trials a lost attempt asked for but never recorded are closed as failed; one it
    recorded but did not report to Optuna gets its recorded value. The sampler is seeded
    with the seed plus the study's size, so a resumed study does not draw the first
    trials' configurations again (a fresh study uses the seed as it is)."""
    import optuna

    direction: Literal["maximize", "minimize"] = "maximize" if greater else "minimize"
    if ctx.job_id is None:
        study = optuna.create_study(
            direction=direction, sampler=optuna.samplers.TPESampler(seed=seed), study_name=name
        )
        return TuneState(study)
    from storage.optuna_store import optuna_storage

    study = optuna.create_study(
        direction=direction,
        storage=optuna_storage(),
        study_name=f"job-{ctx.job_id}-{name}",
        load_if_exists=True,
    )
    prior = _first_per_number(prior_trials(ctx, "tune_model"))
    adopt(ctx, [trial.id for _, trial in prior])
    by_optuna_number = {_study_info(trial).get("optuna_number"): trial for _, trial in prior}
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for frozen in running:
        trial = by_optuna_number.get(frozen.number)
        value = _finite(trial.metric_value) if trial and trial.status == "succeeded" else None
        if value is not None:
            study.tell(frozen.number, value, skip_if_finished=True)
        else:
            study.tell(frozen.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    state = TuneState(study)
    for number, trial in prior:
        state.rows.append(_history_row(number, trial, primary))
        state.next_number = number + 1
        if trial.status != "succeeded":
            continue
        model_params = dict((trial.params or {}).get("model_params") or {})
        state.completed[trial.id] = TunedTrial(
            trial.metric_value, model_params, trial.holdout_metrics
        )
        value = _finite(trial.metric_value)
        if value is not None and (
            state.best_value is None
            or (value > state.best_value if greater else value < state.best_value)
        ):
            state.best_value = value
    return state


def _study_info(trial: TrialRecord) -> dict[str, Any]:
    return dict((trial.reproducibility or {}).get("study") or {})


def _first_per_number(records: list[TrialRecord]) -> list[tuple[int, TrialRecord]]:
    """(study number, trial) in number order, one trial per number."""
    seen: dict[int, TrialRecord] = {}
    for trial in records:
        number = _study_info(trial).get("number")
        if isinstance(number, int) and number not in seen:
            seen[number] = trial
    return sorted(seen.items())


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _history_row(number: int, trial: TrialRecord, primary: str) -> dict[str, Any]:
    model_params = (trial.params or {}).get("model_params") or {}
    row: dict[str, Any] = {"number": number, "trial_id": trial.id, "status": trial.status}
    if trial.status != "succeeded":
        row[primary] = math.nan
        row["params"] = json.dumps(json_safe(model_params), sort_keys=True)
        row["error"] = trial.error
        return row
    row[primary] = trial.metric_value if trial.metric_value is not None else math.nan
    row[f"{primary}_std"] = ((trial.metrics or {}).get(primary) or {}).get("std")
    if trial.holdout_metrics is not None:
        row[f"holdout_{primary}"] = trial.holdout_metrics.get(primary)
    row["params"] = json.dumps(json_safe(model_params), sort_keys=True)
    return row
