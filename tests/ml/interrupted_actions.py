"""A test-only action whose first attempt dies in the middle of a tune.

``test_tune_dies_once`` is ``tune_model`` (the same workflow, recording trials as
``tune_model``) whose first attempt ends its worker process with ``os._exit`` inside
trial ``die_after`` (after ``die_after`` trials were recorded and reported to Optuna,
while the next one is being evaluated): a worker lost mid-trial, as with the OOM killer
or a node failure. The retry runs normally. Worker processes import this module through
MLTRAINER_EXTRA_ACTION_MODULES.
"""

from __future__ import annotations

import os

from pydantic import Field

from engine.actions import ActionResult
from engine.actions.base import Action
from engine.actions.registry import add
from engine.ml import workflows
from engine.ml.params import TuneParams

NAMES = ("test_tune_dies_once",)
DIED_EXIT_CODE = 3


class DyingTuneParams(TuneParams):
    die_after: int = Field(..., ge=0)


def test_tune_dies_once(params: DyingTuneParams, ctx) -> ActionResult:
    from storage.repositories import jobs

    job = jobs.get_job(ctx.job_id) if ctx.job_id is not None else None
    if job is not None and job.attempts == 1:
        report = ctx._progress_sink
        finished = []

        def dying_progress(fraction: float, metrics: dict[str, float]) -> None:
            if "trial" in metrics:  # tune reports each finished trial with its number
                finished.append(metrics["trial"])
            elif len(finished) >= params.die_after:  # a fold of the next trial
                os._exit(DIED_EXIT_CODE)
            report(fraction, metrics)

        ctx._progress_sink = dying_progress
    tune = TuneParams.model_validate(params.model_dump(exclude={"die_after"}))
    return workflows.tune(tune, ctx)


def register_all() -> None:
    add(
        Action(
            "test_tune_dies_once",
            "Test: tune_model whose first attempt's worker dies mid-trial.",
            DyingTuneParams,
            test_tune_dies_once,
            long=True,
            min_role="viewer",
            category="test",
        ),
        replace=True,
    )


def unregister_all() -> None:
    from engine.actions.registry import remove

    for name in NAMES:
        remove(name)


register_all()
