"""Record trials: the Trial row, one ModelResult row per fold and for the hold-out,
the saved model and its out-of-sample predictions. Failed trainings are recorded too.

Every JSON column is built through the typed record of :mod:`engine.trials.record`
(its pydantic models validate what is stored). The row holds what a re-run needs to
get the same numbers: the action's parameters (for train/compare/tune the exact
``train_model`` parameters of that model), the seed, the dataset id and fingerprint,
the feature set, the split plan (row ranges and a hash of every test block) and the
library versions.

The trial writes ride through a database outage (storage.outage: retried with backoff):
a training that took an hour is not lost to a few seconds without the database.
"""

from __future__ import annotations

import importlib.metadata
import logging
import platform
import time
from functools import lru_cache
from typing import Any

from engine.actions.base import json_safe
from engine.actions.context import ActionContext
from engine.ml import persistence
from engine.ml.pipeline import TrainingRun
from engine.trials.record import (
    EquityCurve,
    Importances,
    Reproducibility,
    SplitResult,
    TrialMetrics,
)
from storage.outage import retry_through_outage

log = logging.getLogger("mltrainer.ml")

LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "xgboost", "lightgbm", "skops", "optuna")
# Libraries published under more than one distribution name: the CPU-only wheel
# `xgboost-cpu` (what requirements.txt installs) and the CUDA build `xgboost`
# (requirements-gpu.txt) both provide the `xgboost` module.
DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu")}


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        version = None
        for distribution in DISTRIBUTIONS.get(name, (name,)):
            try:
                version = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        out["sklearn" if name == "scikit-learn" else name] = version
    return out


def reproducibility(run: TrainingRun, extra: dict[str, Any] | None = None) -> Reproducibility:
    data = run.data
    out = {
        "dataset_id": data.dataset_id,
        "fingerprint": data.fingerprint,
        "data": data.spec(),
        "seed": run.config.seed,
        "model": run.config.describe(),
        "evaluation": run.plan.evaluation,
        "validation": run.plan.description(),
        "splitter": run.plan.splitter,
        "split_fingerprint": run.plan.fingerprint(),
        "splits": run.plan.describe(data.X.index),
        "primary_metric": run.primary,
        "cost_bps": run.cost_bps,
        "versions": library_versions(),
    }
    if extra:
        out.update(extra)
    return Reproducibility.model_validate(json_safe(out))


def equity_curve(run: TrainingRun) -> EquityCurve | None:
    """The hold-out equity curve (price targets with a hold-out)."""
    equity = run.equity
    if equity is None or equity.empty:
        return None
    return EquityCurve(
        dates=[str(d) for d in json_safe(list(equity.index))],
        strategy=json_safe(equity["strategy"].to_numpy()),
        buy_and_hold=json_safe(equity["buy_and_hold"].to_numpy()),
        cost_bps=run.cost_bps,
    )


def metric_summary(run: TrainingRun) -> TrialMetrics:
    """The ``metrics`` column: each metric over the folds; for price targets the Sharpe
    ratio pooled over every out-of-sample day and the trading statistics."""
    metrics: dict[str, Any] = {name: dict(stats) for name, stats in run.cv.items()}
    if run.strategy is not None:
        fold_sharpe = metrics.get("sharpe", {})
        metrics["sharpe"] = {
            "mean": run.strategy["sharpe"],
            "std": fold_sharpe.get("std"),
            "fold_mean": fold_sharpe.get("mean"),
            "pooled": True,
        }
        metrics["strategy"] = dict(run.strategy)
    if run.oos_blocks is not None:
        metrics["oos_blocks"] = list(run.oos_blocks)
    return TrialMetrics.model_validate(json_safe(metrics))


def split_results(run: TrainingRun) -> list[SplitResult]:
    """One result per fold and for the hold-out (with its equity curve, price targets)."""
    described = {row["split"]: row for row in run.plan.describe(run.data.X.index)}
    equity = equity_curve(run)
    return [
        SplitResult.model_validate(
            json_safe(
                {
                    "model_id": run.config.model_id,
                    "split": fold["split"],
                    "metrics": fold["metrics"],
                    "info": described.get(fold["split"]),
                    "equity": equity if fold["split"] == "holdout" else None,
                    "fit_seconds": fold["fit_seconds"],
                    "predict_seconds": fold["predict_seconds"],
                    "n_train": fold["n_train"],
                    "n_test": fold["n_test"],
                }
            )
        )
        for fold in run.folds
    ]


def record_run(
    run: TrainingRun,
    ctx: ActionContext,
    *,
    action: str,
    params: dict[str, Any],
    extra: dict[str, Any] | None = None,
    started: float | None = None,
    cost_started: tuple[float, float] | None = None,
):
    """Save the model and its predictions, then write the trial and its model results.

    ``cost_started``: (``time.perf_counter()``, ``engine.usage.meter.cpu_now()``) when the
    evaluation began; what it cost is then recorded for the run-time estimator."""
    from engine.ml import checkpoint
    from storage.repositories import trials

    checkpoint.before_first_record(ctx)
    metrics = metric_summary(run)
    importances = Importances.model_validate(
        json_safe({"kind": run.importance_kind, "values": run.importances})
    )
    provenance = reproducibility(run, extra)
    splits = split_results(run)
    path = persistence.new_model_path()
    persistence.save_model(run.estimator, path)
    try:
        # the equity curve is part of the record (the hold-out's SplitResult)
        persistence.save_side_tables(path, run.predictions, None)
        duration = time.perf_counter() - started if started is not None else run.seconds
        fields = dict(
            job_id=ctx.job_id,
            goal_id=ctx.goal_id,
            user_id=ctx.user.id,
            dataset_id=run.data.dataset_id,
            action=action,
            model_id=run.config.model_id,
            family=run.config.family,
            task=run.data.task,
            status="succeeded",
            metric_name=run.primary,
            metric_value=json_safe(run.metric_value),
            params=json_safe(params),
            metrics=metrics.model_dump(mode="json"),
            holdout_metrics=json_safe(run.holdout) if run.holdout is not None else None,
            feature_set=list(run.data.feature_names),
            importances=importances.model_dump(mode="json"),
            reproducibility=provenance.model_dump(mode="json", exclude_none=True),
            seed=run.config.seed,
            artifact_path=str(path),
            duration_s=duration,
        )
        trial = retry_through_outage(
            lambda: trials.create_trial(**fields), what=f"the trial of {action}"
        )
        results = [
            {
                "model_id": split.model_id,
                "split": split.split,
                "metrics": split.stored_metrics(),
                "fit_seconds": split.fit_seconds,
                "predict_seconds": split.predict_seconds,
                "n_train": split.n_train,
                "n_test": split.n_test,
            }
            for split in splits
        ]
        retry_through_outage(
            lambda: trials.add_model_results(trial.id, results),
            what=f"the model results of trial {trial.id}",
        )
    except BaseException:
        persistence.remove_model(path)
        raise
    if cost_started is not None:
        record_cost(run, ctx, action, trial.id, cost_started)
    return trial


def record_cost(
    run: TrainingRun,
    ctx: ActionContext,
    action: str,
    trial_id: int | None,
    cost_started: tuple[float, float],
) -> None:
    """What the evaluation cost (CPU of this worker, wall), with the sizes that explain
    it: one row of the estimator's history (never raises)."""
    from engine.usage.meter import cpu_now
    from storage.repositories import usage

    wall_started, cpu_started = cost_started
    try:
        usage.add_cost_record(
            trial_id=trial_id,
            job_id=ctx.job_id,
            action=action,
            family=run.config.family or "unknown",
            model_id=run.config.model_id,
            rows=int(run.data.n_rows),
            cols=max(len(run.data.feature_names), 1),
            folds=int(run.plan.n_folds),
            cpu_seconds=max(cpu_now() - cpu_started, 0.0),
            wall_seconds=max(time.perf_counter() - wall_started, 0.0),
        )
    except Exception:  # noqa: BLE001 - the trial is recorded; its cost is a bonus
        log.exception("could not record the cost of trial %s", trial_id)


def record_failure(
    ctx: ActionContext,
    *,
    action: str,
    params: dict[str, Any],
    error: BaseException,
    model_id: str | None = None,
    family: str | None = None,
    task: str | None = None,
    dataset_id: int | None = None,
    seed: int = 0,
    started: float | None = None,
    extra: dict[str, Any] | None = None,
):
    """A trial with status 'failed' and the error message (never raises)."""
    from storage.repositories import trials

    if _is_action_error(error):
        message = str(error)
    else:
        message = f"{type(error).__name__}: {error}"
    try:
        from engine.ml import checkpoint

        checkpoint.before_first_record(ctx)
        return trials.create_trial(
            job_id=ctx.job_id,
            goal_id=ctx.goal_id,
            user_id=ctx.user.id,
            dataset_id=dataset_id,
            action=action,
            model_id=model_id,
            family=family,
            task=task,
            status="failed",
            params=json_safe(params),
            reproducibility=Reproducibility.model_validate(
                json_safe({"seed": seed, "versions": library_versions(), **(extra or {})})
            ).model_dump(mode="json", exclude_none=True),
            seed=seed,
            error=message[:5000],
            duration_s=time.perf_counter() - started if started is not None else None,
        )
    except Exception:  # recording must not hide the original error
        log.exception("could not record the failed trial of %s", action)
        return None


def _is_action_error(error: BaseException) -> bool:
    from engine.actions.base import ActionError

    return isinstance(error, ActionError)
