"""One trial in detail: its typed record, per-split results, job, dataset and owner,
and the tables the Trials and Models pages and the HTML report show."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.actions.base import ActionError
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.auth.permissions import Resource
from engine.lazy import pandas as pd
from engine.trials.query import get_trial
from engine.trials.record import EquityCurve, SplitResult, Trial
from storage.repositories import trials as repo
from storage.repositories.jobs import JobRecord

DETAIL_POINTS = 1_000  # progress points of one trial's chart


@dataclass
class TrialDetail:
    trial: Trial
    splits: list[SplitResult]
    job: JobRecord | None
    dataset: Any | None  # DatasetRecord
    owner: str
    goal: str | None
    points: list[dict[str, Any]] = field(default_factory=list)

    @property
    def equity(self) -> EquityCurve | None:
        """The hold-out equity curve of a price target."""
        return next((s.equity for s in self.splits if s.equity is not None), None)

    @property
    def live(self) -> bool:
        return self.job is not None and not self.job.terminal


def load_detail(user: UserRef, trial_id: int, max_points: int = DETAIL_POINTS) -> TrialDetail:
    """A trial the user may read, with what its detail view needs."""
    from engine import executor
    from storage.repositories.datasets import get_dataset

    trial = get_trial(user, trial_id)
    job = executor.status(trial.job_id) if trial.job_id is not None else None
    if job is not None and not permissions.allowed(
        user, "read", Resource.owned("job", job.user_id)
    ):
        job = None  # a job is private to its owner (and admins), even when its trial is not
    points = executor.events(job.id, max_points) if job is not None else []
    dataset = get_dataset(trial.dataset_id) if trial.dataset_id is not None else None
    owner = "system"
    if trial.user_id is not None:
        owner = repo.usernames({trial.user_id}).get(trial.user_id, f"user {trial.user_id}")
    goal = None
    if trial.goal_id is not None:
        goal = repo.goal_names({trial.goal_id}).get(trial.goal_id, f"goal {trial.goal_id}")
    splits = sorted(
        (SplitResult.from_row(row) for row in repo.model_results(trial.id)),
        key=lambda s: s.order,
    )
    return TrialDetail(trial, splits, job, dataset, owner, goal, points)


def format_mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def fold_table(detail: TrialDetail) -> pd.DataFrame:
    """One row per split (fold_0, ..., holdout) and one column per metric, then the mean
    and standard deviation (n-1) over the folds."""
    rows = {s.split: {k: v for k, v in s.metrics.items() if v is not None} for s in detail.splits}
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index")
    folds = frame.loc[[s.split for s in detail.splits if s.is_fold]]
    if len(folds):
        frame.loc["mean (folds)"] = folds.mean(numeric_only=True)
        frame.loc["std (folds)"] = folds.std(ddof=1, numeric_only=True)
    return frame


def split_table(detail: TrialDetail) -> pd.DataFrame:
    """One row per split: sizes, test dates, the metrics and the fitting time."""
    rows = []
    for s in detail.splits:
        row: dict[str, Any] = {"split": s.split, "n_train": s.n_train, "n_test": s.n_test}
        if s.info is not None and s.info.test_first_date is not None:
            row["test_first_date"] = s.info.test_first_date
            row["test_last_date"] = s.info.test_last_date
        row.update(s.metrics)
        row["fit_seconds"] = s.fit_seconds
        rows.append(row)
    return pd.DataFrame(rows)


def metric_summary(detail: TrialDetail) -> pd.DataFrame:
    """metric | mean | std | mean ± std | holdout, from the trial's stored summary."""
    trial = detail.trial
    cv = trial.metrics.cv if trial.metrics is not None else {}
    holdout = trial.holdout or {}
    names = list(cv) + [n for n, v in holdout.items() if n not in cv and v is not None]
    rows = []
    for name in names:
        stats = cv.get(name)
        mean, std = (stats.mean, stats.std) if stats is not None else (None, None)
        held = holdout.get(name)
        if mean is None and held is None:
            continue
        rows.append(
            {
                "metric": name,
                "mean": mean,
                "std": std,
                "mean ± std": format_mean_std(mean, std),
                "holdout": held,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "mean", "std", "mean ± std", "holdout"])


def headline(trial: Trial) -> dict[str, Any]:
    """The few numbers a trial is known by (the Models page's tiles)."""
    out: dict[str, Any] = {
        "trial": trial.id,
        "model": trial.model_id,
        "status": trial.status,
        "metric": trial.metric_name,
        "value": trial.metric_value,
    }
    if trial.holdout is not None and trial.metric_name:
        out["hold-out"] = trial.primary_holdout
    if trial.strategy is not None:
        out["Sharpe (out of sample)"] = trial.strategy.sharpe
        if trial.holdout is not None:
            out["hold-out Sharpe"] = trial.holdout.get("sharpe")
    return out


def importance_frame(trial: Trial) -> pd.DataFrame:
    """feature | importance | kind, largest magnitude first."""
    columns = ["feature", "importance", "kind"]
    if trial.importances is None:
        return pd.DataFrame(columns=columns)
    kind = trial.importances.kind
    return pd.DataFrame(
        [{"feature": k, "importance": v, "kind": kind} for k, v in trial.importances.ranked()],
        columns=columns,
    )


def flatten_params(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model_params": {"max_depth": 3}}`` -> ``{"max_depth": 3}`` (nested keys keep a
    dotted prefix only when a name would clash)."""
    flat: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            for inner, inner_value in flatten_params(value).items():
                nested[f"{key}.{inner}"] = inner_value
        else:
            flat[f"{prefix}{key}"] = value
    for dotted, value in nested.items():
        short = dotted.split(".", 1)[1]
        flat[dotted if short in flat or short in params else short] = value
    return flat


def short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def params_frame(params: dict[str, Any]) -> pd.DataFrame:
    rows = [{"parameter": k, "value": short_value(v)} for k, v in flatten_params(params).items()]
    return pd.DataFrame(rows, columns=["parameter", "value"])


def provenance(detail: TrialDetail) -> dict[str, Any]:
    """The dataset record and the reproducibility record, as plain JSON."""
    out: dict[str, Any] = {}
    if detail.dataset is not None:
        ds = detail.dataset
        out["dataset"] = {
            "id": ds.id,
            "name": ds.name,
            "source": ds.source,
            "symbols": ds.symbols,
            "start": ds.start_date,
            "end": ds.end_date,
            "rows": ds.rows,
            "fingerprint": ds.fingerprint,
            "synthetic": ds.is_synthetic,
            "fetched_at": ds.fetched_at.isoformat() if ds.fetched_at else None,
            "provenance": ds.provenance,
        }
    elif detail.trial.dataset_id is not None:
        out["dataset"] = {"id": detail.trial.dataset_id, "note": "record no longer exists"}
    out["reproducibility"] = detail.trial.reproducibility.model_dump(mode="json", exclude_none=True)
    out["seed"] = detail.trial.seed
    if detail.trial.feature_set:
        out["features"] = detail.trial.feature_set
    return out


def points_column(points: list[dict[str, Any]], name: str) -> np.ndarray:
    """One metric of the progress points as floats (NaN where a point lacks it): numpy
    arrays skip Plotly's per-element validation."""
    values = (p.get(name) for p in points)
    return np.fromiter((math.nan if v is None else v for v in values), float, len(points))


def event_log(detail: TrialDetail) -> pd.DataFrame:
    """The job's life in order: queued, started, its progress points, how it ended."""
    columns = ["at", "seconds", "progress", "event"]
    job = detail.job
    if job is None:
        return pd.DataFrame(columns=columns)

    def moment(at: datetime | None, what: str) -> pd.DataFrame:
        rows = [{"at": at, "seconds": None, "progress": None, "event": what}] if at else []
        return pd.DataFrame(rows, columns=columns)

    attempt = f" (attempt {job.attempts})" if job.attempts > 1 else ""
    parts = [moment(job.created_at, "queued"), moment(job.started_at, "started" + attempt)]
    if detail.points:
        started = job.started_at or job.created_at
        seconds = points_column(detail.points, "elapsed_s")
        names = sorted({k for p in detail.points for k in p} - {"elapsed_s", "fraction"})
        text = [
            ", ".join(f"{k}={p[k]:.4g}" for k in names if isinstance(p.get(k), (int, float)))
            for p in detail.points
        ]
        parts.append(
            pd.DataFrame(
                {
                    "at": pd.Timestamp(started) + pd.to_timedelta(seconds, unit="s"),
                    "seconds": seconds,
                    "progress": points_column(detail.points, "fraction"),
                    "event": text,
                }
            )
        )
    parts.append(moment(job.finished_at, job.status + (f": {job.error}" if job.error else "")))
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def artifact_file(trial: Trial) -> Path | None:
    """The trial's saved model, only if it exists inside the data directory."""
    if not trial.artifact_path:
        return None
    from engine.config import get_settings

    root = get_settings().data_dir.resolve()
    path = Path(trial.artifact_path)
    path = (path if path.is_absolute() else root / path).resolve()
    if not path.is_file() or not path.is_relative_to(root):
        return None
    return path


# --- re-run ----------------------------------------------------------------------------

# compare_models and tune_model record each model's exact train_model parameters
REPRODUCED_BY = ("train_model",)


def _validates(action: str, params: dict[str, Any]) -> bool:
    from engine.actions.dispatch import resolve_action, validate_params

    try:
        validate_params(resolve_action(action), params)
    except ActionError:
        return False
    return True


def rerun_call(detail: TrialDetail) -> tuple[str, dict[str, Any]]:
    """The action and parameters that reproduce this one trial: its recorded parameters
    with its action; else with ``train_model`` (a trial of compare_models or tune_model
    records the exact train_model parameters of its model); else the parameters of the
    job that ran it."""
    trial = detail.trial
    recorded = dict(trial.params)
    candidates = [(trial.action, recorded)]
    candidates += [(name, recorded) for name in REPRODUCED_BY if name != trial.action]
    if detail.job is not None and detail.job.action == trial.action and detail.job.params:
        candidates.append((trial.action, dict(detail.job.params)))
    for action, params in candidates:
        if _validates(action, params):
            return action, params
    return trial.action, recorded
