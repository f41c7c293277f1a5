"""Trials fixtures: trials, their fold results and the jobs that produced them, written
through the storage repositories in the shapes of the typed trial record
(:mod:`engine.trials.record`, the same the ML pipeline records). Tests that need a
trial the pipeline really trained use ``trained_trial``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.ml.recording import library_versions
from engine.trials.record import Importances, Reproducibility, SplitResult, TrialMetrics
from storage.repositories import jobs as job_repo
from storage.repositories import trials as trial_repo

FOLD_VALUES = (0.52, 0.55, 0.58, 0.54, 0.56)
HOLDOUT = 0.53


def reproducibility(seed: int = 0, **more) -> dict:
    """A failed-or-synthetic trial's reproducibility record (seed and versions)."""
    return Reproducibility(seed=seed, versions=library_versions(), **more).model_dump(
        mode="json", exclude_none=True
    )


def importances(values: dict[str, float], kind: str = "native") -> dict:
    return Importances(kind=kind, values=values).model_dump(mode="json")


def add_trial(user=None, *, folds=FOLD_VALUES, job_id=None, **fields):
    """A trial with five folds and a hold-out of balanced accuracy (mean of ``folds``)."""
    mean = sum(folds) / len(folds)
    std = (sum((v - mean) ** 2 for v in folds) / (len(folds) - 1)) ** 0.5
    values = {
        "action": "train_model",
        "model_id": "RandomForest",
        "family": "ensemble",
        "task": "classification",
        "status": "succeeded",
        "metric_name": "balanced_accuracy",
        "metric_value": mean,
        "params": {
            "model_id": "RandomForest",
            "symbols": ["SPX"],
            "model_params": {"max_depth": 3},
        },
        "metrics": TrialMetrics.model_validate(
            {"balanced_accuracy": {"mean": mean, "std": std}}
        ).model_dump(mode="json", exclude_none=True),
        "holdout_metrics": {"balanced_accuracy": HOLDOUT},
        "importances": importances({"ret_1": 0.4, "vol_20": 0.35, "rsi_14": 0.25}),
        "reproducibility": reproducibility(fingerprint="abc123"),
        "duration_s": 12.5,
        "user_id": user.id if user is not None else None,
        "job_id": job_id,
    }
    values.update(fields)
    trial = trial_repo.create_trial(**values)
    splits = [(f"fold_{i}", v) for i, v in enumerate(folds)] + [("holdout", HOLDOUT)]
    trial_repo.add_model_results(
        trial.id,
        [
            {
                "model_id": values["model_id"] or "x",
                "split": name,
                "metrics": SplitResult(
                    model_id=values["model_id"] or "x",
                    split=name,
                    metrics={"balanced_accuracy": value},
                ).stored_metrics(),
            }
            for name, value in splits
        ],
    )
    return trial


def add_job(user, *, action="train_model", status="succeeded", events=0, **fields):
    job_id = job_repo.create_job(
        action, fields.pop("params", {}), user.id if user else None, status="running", **fields
    )
    if events:
        job_repo.append_events(
            job_id,
            [
                (
                    i * 0.1,
                    (i + 1) / events,
                    {"loss": 1.0 / (1 + i), "score": 0.5 + i / (10 * events)},
                )
                for i in range(events)
            ],
        )
    if status != "running":
        job_repo.finish(
            job_id,
            status,
            result={"summary": "done", "values": {}} if status == "succeeded" else None,
            error="boom: the data had no rows" if status == "failed" else None,
        )
    return job_id


@pytest.fixture
def people(fresh_db, make_user):
    return {
        "root": make_user("root", "admin"),
        "alice": make_user("alice", "analyst"),
        "bob": make_user("bob", "analyst"),
        "vic": make_user("vic", "viewer"),
    }


def spread(n: int, user, **fields) -> list:
    """``n`` trials, one a minute apart, with metric values 0.50, 0.51, ..."""
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        out.append(
            add_trial(
                user,
                metric_value=0.5 + i / 100,
                family=("ensemble", "linear", "boosting")[i % 3],
                created_at=now - timedelta(minutes=n - i),
                **fields,
            )
        )
    return out
