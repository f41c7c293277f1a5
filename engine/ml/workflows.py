"""What the long ML actions do: train one model, compare several on identical splits,
tune one with Optuna, and combine recorded trials into an ensemble.

Every evaluated configuration goes through :func:`engine.ml.pipeline.evaluate` and is
recorded as a trial (:func:`engine.ml.recording.record_run`), whichever action ran it.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from engine.actions.base import ActionError, ActionResult, JobCancelled, json_safe
from engine.actions.context import ActionContext, UserRef
from engine.feedback.overfitting import overfitting_table
from engine.lazy import pandas as pd
from engine.ml import checkpoint, dataset
from engine.ml import evaluation as ev
from engine.ml.budget import require_training_budget
from engine.ml.catalog_spec import ModelSpec
from engine.ml.params import (
    CompareParams,
    DataSpec,
    EnsembleParams,
    TrainParams,
    TuneParams,
)
from engine.ml.pipeline import (
    ModelConfig,
    TrainingRun,
    config_for,
    evaluate,
    fold_table,
    holdout_predictions,
    importance_table,
    resolve_spec,
    run_charts_data,
    run_summary,
    run_values,
    spec_pipeline,
)
from engine.ml.recording import record_failure, record_run
from engine.trials.record import parse
from engine.usage.meter import cpu_now

SHARED_FIELDS = tuple(
    name for name in TrainParams.model_fields if name not in ("model_id", "model_params")
)
# Settings that must agree for trials to be evaluated on the same rows and splits.
SAME_DATA_FIELDS = tuple(DataSpec.model_fields) + (
    "task",
    "validation",
    "n_splits",
    "embargo",
    "holdout_fraction",
    "allow_shuffled_dates",
)


def train_params(params: Any, model_id: str, model_params: dict[str, Any]) -> TrainParams:
    """The ``train_model`` parameters that re-run one model of a compare/tune action."""
    shared = {name: getattr(params, name) for name in SHARED_FIELDS if hasattr(params, name)}
    return TrainParams(**shared, model_id=model_id, model_params=model_params)


def setup(params: Any, ctx: ActionContext) -> tuple[dataset.PreparedData, ev.SplitPlan]:
    data = dataset.prepare(params, params.task, user_id=ctx.user.id)
    plan = ev.plan_splits(
        data,
        validation=params.validation,
        n_splits=params.n_splits,
        embargo=params.embargo,
        holdout_fraction=params.holdout_fraction,
        seed=params.seed,
    )
    return data, plan


def run_result(
    run: TrainingRun, trial_id: int, artifact: str | None, extra_values: dict | None = None
) -> ActionResult:
    values = run_values(run, trial_id)
    if extra_values:
        values.update(extra_values)
    tables = {"fold_metrics": fold_table(run), "feature_importances": importance_table(run)}
    predictions = holdout_predictions(run)
    if not predictions.empty:
        tables["holdout_predictions" if run.holdout is not None else "oos_predictions"] = (
            predictions
        )
    # The hold-out equity goes out once, as the series its chart is drawn from (not also
    # as a table of the same numbers).
    chart_tables, series = run_charts_data(run)
    tables.update(chart_tables)
    artifacts = {"model": artifact} if artifact else {}
    values.update(data_period(run.data))
    return ActionResult(
        summary=run_summary(run, trial_id),
        values=json_safe(values),
        tables=tables,
        series=series,
        artifacts=artifacts,
        value_units=run_value_units(values),
    )


def run_value_units(values: dict[str, Any]) -> dict[str, str]:
    """A training run's headline numbers (the primary metric out of sample and on the
    hold-out, the strategy's Sharpe beside buy and hold's, the data's size) and dates."""
    primary = str(values.get("metric_name"))
    units = {
        "trial_id": "id",
        "metric_value": primary,
        f"holdout_{primary}": primary,
        "sharpe": "ratio",
        "benchmark_sharpe": "ratio",
        "n_samples": "count",
        "n_features": "count",
        "n_folds": "count",
        "period_start": "date",
        "period_end": "date",
    }
    return {name: unit for name, unit in units.items() if name in values}


def overfitting_of(
    trial_ids: list[int], data: dataset.PreparedData, task: str, primary: str, ctx: ActionContext
) -> dict[str, Any]:
    """PBO and deflated Sharpe of a search's recorded trials, counting every trial the
    user tried on the same data (see engine.feedback.overfitting)."""
    from engine.feedback.overfitting import overfitting_report, tried_on_same_data
    from storage.repositories.trials import get_trial

    trials = [parse(row) for i in trial_ids if (row := get_trial(i)) is not None]
    n_tried = tried_on_same_data(ctx.user.id, data.dataset_id, task)
    return overfitting_report(
        trials, n_tried=n_tried, greater_is_better=ev.greater_is_better(primary)
    )


def _with_overfitting(
    summary: str,
    values: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    overfitting: dict[str, Any],
    value_units: dict[str, str] | None = None,
) -> ActionResult:
    """A search's result with its overfitting statistics in the summary, values and tables."""
    values["overfitting"] = overfitting
    return ActionResult(
        summary=f"{summary} Overfitting: {overfitting['verdict']}",
        values=json_safe(values),
        tables={**tables, "overfitting": overfitting_table(overfitting)},
        value_units=dict(value_units or {}),
    )


def fold_scores(runs: list[TrainingRun], primary: str) -> pd.DataFrame:
    """Each model's primary metric on each split (the folds, then the hold-out): the data
    of a paired comparison, since every model saw identical splits."""
    rows = [
        {
            "model": run.config.name,
            "model_id": run.config.model_id,
            "split": fold["split"],
            primary: fold["metrics"].get(primary),
        }
        for run in runs
        for fold in run.folds
    ]
    return pd.DataFrame(rows, columns=["model", "model_id", "split", primary])


def data_period(data: Any) -> dict[str, Any]:
    """The symbol and the dates of the rows a price-data model saw (none for a table)."""
    if getattr(data, "kind", None) != "prices" or not len(data.X):
        return {}
    return {
        "symbol": data.symbol,
        "period_start": data.X.index[0],
        "period_end": data.X.index[-1],
    }


def stopped_by_budget(ctx: ActionContext) -> bool:
    """The run's budget is spent (checked with the cancel poll): stop, keeping what is
    finished (the executor records the job as budget_exhausted)."""
    return ctx.cancelled() and ctx.budget_exhausted() is not None


# --- train ---------------------------------------------------------------------------------


def train(params: TrainParams, ctx: ActionContext, *, action: str = "train_model"):
    """Train and validate one model; record it as a trial (failures too)."""
    started = time.perf_counter()
    record_params = params.model_dump(mode="json")
    spec = data = None
    try:
        spec = resolve_spec(params.model_id, params.task)
        record_params["model_id"] = spec.id
        primary = ev.primary_metric(params.task, params.metric, bool(params.symbols))
        config = config_for(spec, params.model_params, params.seed)
        data, plan = setup(params, ctx)
        dataset.refuse_binary_wrapper(spec.name, spec.multiclass_only, data)
        cost_started = (time.perf_counter(), cpu_now())
        run = evaluate(
            config,
            data,
            plan,
            primary=primary,
            cost_bps=params.cost_bps,
            ctx=ctx,
            score_holdout=params.score_holdout,
        )
        if params.model_id != spec.id:
            run.notes.insert(0, f"Model '{params.model_id}' was read as {spec.id}.")
        trial = record_run(
            run,
            ctx,
            action=action,
            params=record_params,
            extra={"requested_model": params.model_id},
            started=started,
            cost_started=cost_started,
        )
    except JobCancelled:
        raise
    except Exception as error:
        record_failure(
            ctx,
            action=action,
            params=record_params,
            error=error,
            model_id=spec.id if spec is not None else params.model_id,
            family=spec.family if spec is not None else None,
            task=params.task,
            dataset_id=data.dataset_id if data is not None else None,
            seed=params.seed,
            started=started,
        )
        raise
    return run_result(run, trial.id, trial.artifact_path)


# --- compare -------------------------------------------------------------------------------


def _leaderboard_row(run: TrainingRun, trial_id: int) -> dict[str, Any]:
    primary = run.primary
    row: dict[str, Any] = {
        "model": run.config.name,
        "model_id": run.config.model_id,
        "family": run.config.family,
        "status": "succeeded",
        primary: run.metric_value,
        f"{primary}_std": run.cv.get(primary, {}).get("std"),
    }
    if run.holdout is not None:
        row[f"holdout_{primary}"] = run.holdout.get(primary)
    if run.strategy is not None and primary != "sharpe":
        row["sharpe"] = run.strategy["sharpe"]
        if run.holdout is not None:
            row["holdout_sharpe"] = run.holdout.get("sharpe")
    row["fit_seconds"] = run.fit_seconds
    row["trial_id"] = trial_id
    return row


def rank(board: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Best first by ``metric`` (failed and undefined last), with a rank column."""
    ascending = not ev.greater_is_better(metric)
    if metric not in board:
        board[metric] = np.nan
    ordered = board.sort_values(metric, ascending=ascending, na_position="last", kind="stable")
    ordered = ordered.reset_index(drop=True)
    ordered.insert(0, "rank", range(1, len(ordered) + 1))
    return ordered


def compare(params: CompareParams, ctx: ActionContext) -> ActionResult:
    primary = ev.primary_metric(params.task, params.metric, bool(params.symbols))
    specs: list[ModelSpec] = []
    for text in params.model_ids:
        spec = resolve_spec(text, params.task)
        if spec.id not in [s.id for s in specs]:
            specs.append(spec)
    if len(specs) < 2:
        raise ActionError(
            f"{', '.join(params.model_ids)} all name {specs[0].name}; compare at least two "
            "different models."
        )
    data, plan = setup(params, ctx)
    dropped = [s for s in specs if s.multiclass_only and len(data.classes or []) == 2]
    specs = [s for s in specs if s not in dropped]
    if len(specs) < 2:
        raise ActionError(
            "On a two-class target one-vs-rest/one-vs-one are their base models; compare at "
            "least two other models."
        )
    configs = [config_for(spec, {}, params.seed) for spec in specs]
    require_training_budget(len(specs), "models", data, plan)
    rows: list[dict[str, Any]] = []
    runs: dict[int, TrainingRun] = {}
    n = len(configs)
    for position, (spec, config) in enumerate(zip(specs, configs, strict=True)):
        if stopped_by_budget(ctx):
            break
        ctx.raise_if_cancelled()
        record_params = train_params(params, spec.id, {}).model_dump(mode="json")
        started = time.perf_counter()
        cost_started = (started, cpu_now())
        extra = {"comparison": {"models": [s.id for s in specs], "position": position}}
        try:
            run = evaluate(
                config,
                data,
                plan,
                primary=primary,
                cost_bps=params.cost_bps,
                ctx=ctx,
                span=(position / n, (position + 1) / n),
            )
            trial = record_run(
                run,
                ctx,
                action="compare_models",
                params=record_params,
                extra=extra,
                started=started,
                cost_started=cost_started,
            )
        except JobCancelled:
            if ctx.budget_exhausted():
                break  # the budget ran out mid-model: keep the finished ones
            raise
        except ActionError as error:
            failed = record_failure(
                ctx,
                action="compare_models",
                params=record_params,
                error=error,
                model_id=spec.id,
                family=spec.family,
                task=params.task,
                dataset_id=data.dataset_id,
                seed=params.seed,
                started=started,
                extra=extra,
            )
            rows.append(
                {
                    "model": spec.name,
                    "model_id": spec.id,
                    "family": spec.family,
                    "status": "failed",
                    "error": str(error),
                    "trial_id": failed.id if failed is not None else None,
                }
            )
            continue
        runs[trial.id] = run
        rows.append(_leaderboard_row(run, trial.id))
    budget = ctx.budget_exhausted()
    if not runs:
        if budget:
            raise JobCancelled()  # nothing finished before the budget ran out
        reasons = "; ".join(f"{row['model']}: {row['error']}" for row in rows)
        raise ActionError(f"Every model failed. {reasons}")
    board = rank(pd.DataFrame(rows), primary)
    best = board.iloc[0]
    best_run = runs[int(best["trial_id"])]
    values: dict[str, Any] = {
        "metric_name": primary,
        "metric_value": best_run.metric_value,
        "best_model_id": best_run.config.model_id,
        "best_model_name": best_run.config.name,
        "best_trial_id": int(best["trial_id"]),
        "task": params.task,
        "evaluation": plan.evaluation,
        "greater_is_better": ev.greater_is_better(primary),
        "n_models": len(specs),
        "n_failed": int((board["status"] == "failed").sum()),
        "n_samples": data.n_rows,
        "n_folds": plan.n_folds,
        "trial_ids": [int(t) for t in board["trial_id"].dropna()],
        "split_fingerprint": plan.fingerprint(),
        "dataset_id": data.dataset_id,
        "fingerprint": data.fingerprint,
        "seed": params.seed,
    }
    if best_run.holdout is not None:
        values[f"holdout_{primary}"] = best_run.holdout.get(primary)
    values.update(data_period(data))
    value_units = {"best_trial_id": "id", "metric_value": primary}
    if f"holdout_{primary}" in values:
        value_units[f"holdout_{primary}"] = primary
    value_units.update(
        {"n_models": "count", "n_failed": "count", "n_folds": "count", "n_samples": "count"}
    )
    if "period_start" in values:
        value_units.update({"period_start": "date", "period_end": "date"})
    how = "walk-forward" if plan.evaluation == "walk_forward" else "shuffled k-fold"
    summary = (
        f"Compared {len(specs)} models on {data.describe()} with identical {how} splits "
        f"({plan.n_folds} folds{' + hold-out' if plan.holdout is not None else ''}). Best by "
        f"{primary}: {best_run.config.name} {best_run.metric_value:.4f}"
    )
    if best_run.holdout is not None:
        summary += f" (hold-out {best_run.holdout.get(primary, math.nan):.4f})"
    summary += (
        ". The best of several cross-validated scores is optimistic; the hold-out column is "
        "the untouched check. Each model is a recorded trial."
    )
    failed = board[board["status"] == "failed"]
    if len(failed):
        summary += f" Failed: {', '.join(failed['model'])}."
    if dropped:
        summary += (
            f" Left out {', '.join(s.name for s in dropped)}: on two classes it is its base model."
        )
    if budget:
        values["budget_exhausted"] = budget
        summary += f" Stopped after {len(rows)} of {len(specs)} models: {budget}."
    overfitting = overfitting_of(list(runs), data, params.task, primary, ctx)
    tables = {"leaderboard": board, "fold_scores": fold_scores(list(runs.values()), primary)}
    return _with_overfitting(summary, values, tables, overfitting, value_units)


# --- tune ----------------------------------------------------------------------------------


def tune(params: TuneParams, ctx: ActionContext) -> ActionResult:
    import optuna

    from engine.ml.search_spaces import suggest_space

    primary = ev.primary_metric(params.task, params.metric, bool(params.symbols))
    spec = resolve_spec(params.model_id, params.task)
    space = {k: v for k, v in spec.search_space.items() if k not in params.model_params}
    if not space:
        raise ActionError(
            f"{spec.name} has no tunable parameters in the catalogue"
            f"{' besides the fixed ones' if spec.search_space else ''}; train it with "
            "train_model instead."
        )
    config_for(spec, params.model_params, params.seed)  # fixed parameters are valid
    data, plan = setup(params, ctx)
    dataset.refuse_binary_wrapper(spec.name, spec.multiclass_only, data)
    require_training_budget(params.n_trials, "trials", data, plan)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    greater = ev.greater_is_better(primary)
    # A retried job carries on from the trials its lost attempts recorded.
    state = checkpoint.tune_study(
        ctx, name=f"tune-{spec.id}", greater=greater, seed=params.seed, primary=primary
    )
    study = state.study
    rows: list[dict[str, Any]] = state.rows
    completed: dict[int, checkpoint.TunedTrial] = state.completed
    n = params.n_trials
    best_value: float | None = state.best_value
    if state.next_number:
        ctx.progress(
            min(state.next_number / n, 1.0),
            trial=state.next_number - 1,
            **({"best": best_value} if best_value is not None else {}),
        )
    for number in range(state.next_number, n):
        if stopped_by_budget(ctx):
            break
        ctx.raise_if_cancelled()
        optuna_trial = study.ask()
        suggested = suggest_space(optuna_trial, space)
        model_params = {**params.model_params, **suggested}
        record_params = train_params(params, spec.id, model_params).model_dump(mode="json")
        extra = {
            "study": {
                "number": number,
                "n_trials": n,
                "sampler": "TPE",
                "seed": params.seed,
                "optuna_number": optuna_trial.number,
            }
        }
        started = time.perf_counter()
        cost_started = (started, cpu_now())
        try:
            config = config_for(spec, model_params, params.seed)
            run = evaluate(
                config,
                data,
                plan,
                primary=primary,
                cost_bps=params.cost_bps,
                ctx=ctx,
                span=(number / n, (number + 1) / n),
            )
            trial = record_run(
                run,
                ctx,
                action="tune_model",
                params=record_params,
                extra=extra,
                started=started,
                cost_started=cost_started,
            )
        except JobCancelled:
            study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
            if ctx.budget_exhausted():
                break  # the budget ran out mid-trial: keep the finished ones
            raise
        except ActionError as error:
            study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
            failed = record_failure(
                ctx,
                action="tune_model",
                params=record_params,
                error=error,
                model_id=spec.id,
                family=spec.family,
                task=params.task,
                dataset_id=data.dataset_id,
                seed=params.seed,
                started=started,
                extra=extra,
            )
            rows.append(
                {
                    "number": number,
                    "trial_id": failed.id if failed is not None else None,
                    "status": "failed",
                    primary: math.nan,
                    "params": json.dumps(json_safe(model_params), sort_keys=True),
                    "error": str(error),
                }
            )
            continue
        value = run.metric_value
        if value is not None and math.isfinite(value):
            study.tell(optuna_trial, value)
            if best_value is None or (value > best_value if greater else value < best_value):
                best_value = value
        else:
            study.tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
        completed[trial.id] = checkpoint.TunedTrial(
            run.metric_value, run.config.model_params, run.holdout
        )
        row = {
            "number": number,
            "trial_id": trial.id,
            "status": "succeeded",
            primary: value,
            f"{primary}_std": run.cv.get(primary, {}).get("std"),
        }
        if run.holdout is not None:
            row[f"holdout_{primary}"] = run.holdout.get(primary)
        row["params"] = json.dumps(json_safe(model_params), sort_keys=True)
        rows.append(row)
        ctx.progress(
            (number + 1) / n,
            trial=number,
            **({"best": best_value} if best_value is not None else {}),
        )
    budget = ctx.budget_exhausted()
    if not completed:
        if budget:
            raise JobCancelled()  # nothing finished before the budget ran out
        raise ActionError(f"Every trial failed; the first error: {rows[0].get('error')}")
    history = pd.DataFrame(rows)
    scored = history.dropna(subset=[primary])
    if scored.empty:
        raise ActionError(f"No trial produced a {primary} value.")
    best_row = scored.sort_values(primary, ascending=not greater, kind="stable").iloc[0]
    best_run = completed[int(best_row["trial_id"])]
    values: dict[str, Any] = {
        "metric_name": primary,
        "metric_value": best_run.metric_value,
        "best_trial_id": int(best_row["trial_id"]),
        "best_params": best_run.model_params,
        "model_id": spec.id,
        "model_name": spec.name,
        "task": params.task,
        "evaluation": plan.evaluation,
        "greater_is_better": greater,
        "n_trials": n,
        "n_completed": len(completed),
        "n_failed": len(rows) - len(completed),
        "n_samples": data.n_rows,
        "split_fingerprint": plan.fingerprint(),
        "dataset_id": data.dataset_id,
        "fingerprint": data.fingerprint,
        "seed": params.seed,
    }
    if best_run.holdout is not None:
        values[f"holdout_{primary}"] = best_run.holdout.get(primary)
    values.update(data_period(data))
    value_units = {
        name: unit
        for name, unit in (
            ("best_trial_id", "id"),
            ("metric_value", primary),
            (f"holdout_{primary}", primary),
            ("n_trials", "count"),
            ("n_completed", "count"),
            ("n_failed", "count"),
            ("n_samples", "count"),
            ("period_start", "date"),
            ("period_end", "date"),
        )
        if name in values
    }
    summary = (
        f"Tuned {spec.name} on {data.describe()} with {n} Optuna (TPE) trials on identical "
        f"{plan.evaluation.replace('_', '-')} splits. Best {primary} "
        f"{best_run.metric_value:.4f} (trial {int(best_row['trial_id'])})"
    )
    if best_run.holdout is not None:
        summary += f"; its hold-out {primary} is {best_run.holdout.get(primary, math.nan):.4f}"
    summary += (
        f". The best of {len(rows)} cross-validated scores is biased upwards; trust the "
        f"hold-out. {len(rows) - len(completed)} trial(s) failed."
    )
    if budget:
        values["budget_exhausted"] = budget
        summary += f" Stopped after {len(rows)} of {n} trials: {budget}."
    overfitting = overfitting_of(list(completed), data, params.task, primary, ctx)
    return _with_overfitting(summary, values, {"trials": history}, overfitting, value_units)


# --- ensembles -----------------------------------------------------------------------------


def _members(trial_ids: list[int], user: UserRef):
    from engine.ml.predict import visible_trial

    members = []
    for trial_id in dict.fromkeys(trial_ids):
        trial = visible_trial(user, trial_id)
        if trial.status != "succeeded":
            raise ActionError(f"Trial {trial_id} {trial.status}; only succeeded trials combine.")
        try:
            member_params = TrainParams.model_validate(trial.params)
        except Exception:  # noqa: BLE001 - not a single-model trial
            raise ActionError(
                f"Trial {trial_id} ({trial.action}) is not a single model; ensembles combine "
                "trials of train_model, compare_models or tune_model."
            ) from None
        members.append((parse(trial), member_params))
    if len(members) < 2:
        raise ActionError("An ensemble needs at least two different trials.")
    first = members[0][1]
    for trial, member in members[1:]:
        for name in SAME_DATA_FIELDS:
            if getattr(member, name) != getattr(first, name):
                raise ActionError(
                    f"Trial {trial.id} differs from trial {members[0][0].id} in {name} "
                    f"({getattr(member, name)!r} vs {getattr(first, name)!r}); ensemble members "
                    "must use the same data, task and splits."
                )
        if first.validation == "kfold" and member.seed != first.seed:
            raise ActionError(
                f"Trial {trial.id} has seed {member.seed}, trial {members[0][0].id} seed "
                f"{first.seed}: k-fold splits depend on the seed, so they would differ."
            )
    return members


def ensemble_config(
    members: list[tuple[Any, TrainParams]],
    params: EnsembleParams,
    *,
    task: str,
    temporal: bool,
    seed: int,
    horizon: int = 1,
    embargo: int = 0,
) -> ModelConfig:
    from sklearn.ensemble import (
        StackingClassifier,
        StackingRegressor,
        VotingClassifier,
        VotingRegressor,
    )
    from sklearn.model_selection import KFold, StratifiedKFold

    from engine.ml.catalog import get_model
    from engine.ml.splits import PurgedKFold

    specs = [(get_model(member.model_id), member) for _, member in members]
    notes: list[str] = []
    voting = params.voting
    if task == "classification" and voting == "soft":
        lacking = [spec.name for spec, _ in specs if not spec.predicts_proba]
        if lacking:
            voting = "hard"
            notes.append(f"Hard voting: {', '.join(lacking)} give no probabilities.")
    final_spec = None
    if params.method == "stacking":
        default = "sklearn.LogisticRegression" if task == "classification" else "sklearn.Ridge"
        final_spec = resolve_spec(params.final_model_id or default, task)
        config_for(final_spec, {}, seed)

    def factory(numeric: list[str], categorical: list[str]):
        estimators = [
            (f"m{i}", spec_pipeline(spec, member.model_params, member.seed, numeric, categorical))
            for i, (spec, member) in enumerate(specs)
        ]
        if params.method == "voting":
            if task == "classification":
                return VotingClassifier(estimators, voting=voting, n_jobs=1)
            return VotingRegressor(estimators, n_jobs=1)
        if final_spec is None:  # never: it is resolved above for stacking
            raise ValueError("stacking needs a final model")
        # Stacking's inner folds only split the training rows of each outer fold; on
        # temporal data they are contiguous blocks purged and embargoed like the outer
        # walk-forward (by dates when rows share one), so no member is fitted on rows
        # whose labels reach into the block it predicts for the meta-model.
        purged = PurgedKFold(5, horizon=horizon, embargo=embargo)
        if task == "classification":
            inner = purged if temporal else StratifiedKFold(5, shuffle=True, random_state=seed)
            return StackingClassifier(
                estimators, final_estimator=final_spec.build({}, seed), cv=inner, n_jobs=1
            )
        inner = purged if temporal else KFold(5, shuffle=True, random_state=seed)
        return StackingRegressor(
            estimators, final_estimator=final_spec.build({}, seed), cv=inner, n_jobs=1
        )

    names = " + ".join(spec.name for spec, _ in specs)
    label = "Voting" if params.method == "voting" else "Stacking"
    member_info = [
        {
            "trial_id": trial.id,
            "model_id": member.model_id,
            "model_params": member.model_params,
            "seed": member.seed,
        }
        for trial, member in members
    ]
    model_params: dict[str, Any] = {"method": params.method, "voting": voting}
    if final_spec is not None:
        model_params["final_model_id"] = final_spec.id
    return ModelConfig(
        model_id=f"ensemble.{params.method}",
        name=f"{label} ensemble ({names})",
        family="ensemble",
        task=task,
        model_params=model_params,
        seed=seed,
        factory=factory,
        members=member_info,
        notes=notes,
    )


def build_ensemble(params: EnsembleParams, ctx: ActionContext) -> ActionResult:
    started = time.perf_counter()
    record_params = params.model_dump(mode="json")
    members = _members(params.trial_ids, ctx.user)
    base = members[0][1]
    data = None
    try:
        primary = ev.primary_metric(base.task, base.metric, bool(base.symbols))
        data, plan = setup(base, ctx)
        config = ensemble_config(
            members,
            params,
            task=base.task,
            temporal=data.temporal,
            seed=base.seed,
            horizon=data.horizon,
            embargo=base.embargo,
        )
        run = evaluate(config, data, plan, primary=primary, cost_bps=base.cost_bps, ctx=ctx)
        changed = [
            trial.id
            for trial, _ in members
            if trial.reproducibility.split_fingerprint != plan.fingerprint()
        ]
        if changed:
            run.notes.append(
                f"Trial(s) {', '.join(map(str, changed))} were evaluated on other splits "
                "(the data changed since); their recorded scores are not directly comparable."
            )
        trial = record_run(
            run,
            ctx,
            action="build_ensemble",
            params=record_params,
            extra={"members": config.members, "train_params": base.model_dump(mode="json")},
            started=started,
        )
    except JobCancelled:
        raise
    except Exception as error:
        record_failure(
            ctx,
            action="build_ensemble",
            params=record_params,
            error=error,
            model_id=f"ensemble.{params.method}",
            family="ensemble",
            task=base.task,
            dataset_id=data.dataset_id if data is not None else None,
            seed=base.seed,
            started=started,
        )
        raise
    result = run_result(run, trial.id, trial.artifact_path, {"member_trial_ids": params.trial_ids})
    comparison = [
        {
            "model": "ensemble",
            "trial_id": trial.id,
            primary: run.metric_value,
            f"holdout_{primary}": (run.holdout or {}).get(primary),
        }
    ]
    for member_trial, member in members:
        comparison.append(
            {
                "model": member.model_id,
                "trial_id": member_trial.id,
                primary: member_trial.metric_value
                if member_trial.metric_name == primary
                else member_trial.cv_mean(primary),
                f"holdout_{primary}": (member_trial.holdout or {}).get(primary),
            }
        )
    result.tables = {"members": pd.DataFrame(comparison), **result.tables}
    return result
