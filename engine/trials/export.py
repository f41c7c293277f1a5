"""The trials table as CSV: every row the reader may see that matches the filters (not
only the page on screen), in the table's order."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from engine.actions.context import UserRef
from engine.auth import permissions
from engine.trials.query import TrialQuery, scope, to_filter
from engine.trials.record import Trial
from storage.repositories import trials as repo

MAX_EXPORT_ROWS = 200_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "id",
    "created_at",
    "user",
    "goal_id",
    "goal",
    "job_id",
    "action",
    "model_id",
    "family",
    "task",
    "status",
    "metric_name",
    "metric_value",
    "metric_std",
    "holdout_value",
    "duration_s",
    "seed",
    "dataset_id",
    "artifact_path",
    "error",
    "params",
    "metrics",
    "holdout_metrics",
)


def csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def csv_row(t: Trial, users: dict[int, str], goals: dict[int, str]) -> list[Any]:
    summary = t.metrics.model_dump(mode="json") if t.metrics else {}
    return [
        t.id,
        t.created_at.isoformat(),
        users.get(t.user_id, "") if t.user_id is not None else "system",
        t.goal_id,
        goals.get(t.goal_id, "") if t.goal_id is not None else "",
        t.job_id,
        t.action,
        t.model_id,
        t.family,
        t.task,
        t.status,
        t.metric_name,
        t.metric_value,
        t.primary_std,
        t.primary_holdout,
        t.duration_s,
        t.seed,
        t.dataset_id,
        t.artifact_path,
        t.error,
        _json(t.params),
        _json(summary) if summary else "",
        _json(t.holdout) if t.holdout else "",
    ]


def export_csv(user: UserRef, query: TrialQuery, limit: int = MAX_EXPORT_ROWS) -> bytes:
    """UTF-8 CSV of the filtered table; JSON columns hold the parameters, the metrics
    summary (each metric's mean and standard deviation over the folds, and the pooled
    trading statistics of price targets) and the hold-out."""
    trials = scope(user)
    users = repo.usernames(scope=trials)
    goals = repo.goal_names(scope=permissions.scope_for(user, "goal"))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in repo.iter_trials(
        to_filter(query), trials, sort=query.sort, descending=query.descending, limit=limit
    ):
        values = csv_row(Trial.from_row(row), users, goals)
        writer.writerow(["" if v is None else csv_cell(v) for v in values])
    return buffer.getvalue().encode("utf-8")
