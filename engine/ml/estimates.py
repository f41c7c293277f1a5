"""Estimates of the ML actions, before they run: the data is prepared and split exactly
as the run would (so rows, feature columns and folds are the run's), then each model's
family cost model (engine.usage.estimate) prices its evaluations."""

from __future__ import annotations

from typing import Any

from engine.actions.context import ActionContext, UserRef
from engine.ml.params import CompareParams, TrainParams, TuneParams
from engine.usage.estimate import Estimate, estimator, evaluation_estimate


def data_size(params: Any, user: UserRef) -> tuple[int, int, int]:
    """(rows, feature columns, folds) the run would evaluate on."""
    from engine.ml.workflows import setup

    data, plan = setup(params, ActionContext(user=user))
    return data.n_rows, max(len(data.feature_names), 1), plan.n_folds


def _spec(model_id: str, task: str):
    from engine.ml.pipeline import resolve_spec

    return resolve_spec(model_id, task)


@estimator("train_model")
def estimate_train(params: TrainParams, user: UserRef, goal_id: int | None) -> Estimate:
    spec = _spec(params.model_id, params.task)
    rows, cols, folds = data_size(params, user)
    return evaluation_estimate("train_model", [(spec.family, spec.cost, 1)], rows, cols, folds)


@estimator("compare_models")
def estimate_compare(params: CompareParams, user: UserRef, goal_id: int | None) -> Estimate:
    counts: dict[tuple[str, str], int] = {}
    seen: set[str] = set()
    for text in params.model_ids:
        spec = _spec(text, params.task)
        if spec.id in seen:
            continue
        seen.add(spec.id)
        counts[(spec.family, spec.cost)] = counts.get((spec.family, spec.cost), 0) + 1
    rows, cols, folds = data_size(params, user)
    evaluations = [(family, cost, n) for (family, cost), n in counts.items()]
    return evaluation_estimate("compare_models", evaluations, rows, cols, folds)


@estimator("tune_model")
def estimate_tune(params: TuneParams, user: UserRef, goal_id: int | None) -> Estimate:
    spec = _spec(params.model_id, params.task)
    rows, cols, folds = data_size(params, user)
    return evaluation_estimate(
        "tune_model", [(spec.family, spec.cost, params.n_trials)], rows, cols, folds
    )
