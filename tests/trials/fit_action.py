"""A test-only quick action that records a trial, like train_model does: re-running it
with the same parameters gives the same metrics unless ``drift`` is set."""

from __future__ import annotations

import itertools
import random

from pydantic import BaseModel

from engine.actions import ActionResult
from engine.actions.base import Action
from engine.actions.registry import add, remove
from engine.ml.recording import library_versions
from engine.trials.record import Reproducibility, TrialMetrics
from storage.repositories import trials as trial_repo

NAME = "test_fit_trial"
_runs = itertools.count()


class FitParams(BaseModel):
    model_id: str = "RandomForest"
    seed: int = 0
    drift: bool = False


def fit(params: FitParams, ctx) -> ActionResult:
    rng = random.Random(params.seed)
    folds = [0.5 + rng.random() / 10 for _ in range(3)]
    if params.drift:
        folds = [v + next(_runs) / 1000 for v in folds]
    mean = sum(folds) / len(folds)
    trial = trial_repo.create_trial(
        job_id=ctx.job_id,
        user_id=ctx.user.id,
        action=NAME,
        model_id=params.model_id,
        family="ensemble",
        task="classification",
        status="succeeded",
        metric_name="balanced_accuracy",
        metric_value=mean,
        params=params.model_dump(),
        metrics=TrialMetrics.model_validate(
            {"balanced_accuracy": {"mean": mean, "std": 0.01}}
        ).model_dump(mode="json", exclude_none=True),
        reproducibility=Reproducibility(seed=params.seed, versions=library_versions()).model_dump(
            mode="json", exclude_none=True
        ),
        seed=params.seed,
    )
    trial_repo.add_model_results(
        trial.id,
        [
            {"model_id": params.model_id, "split": f"fold_{i}", "metrics": {"balanced_accuracy": v}}
            for i, v in enumerate(folds)
        ],
    )
    return ActionResult(f"trial {trial.id}", {"trial_id": trial.id, "metric_value": mean})


def install() -> None:
    add(Action(NAME, "Test: record a trial.", FitParams, fit, category="test"), replace=True)


def uninstall() -> None:
    remove(NAME)
