"""The trials table as CSV: every row the reader may see that matches the filters (not
only the page on screen), in the table's order.

Written as a stream of chunks from a cursor read in batches: 100,000 trials do not
become 100,000 parsed records first. The JSON columns (parameters, metrics summary,
hold-out) are copied as stored — the pipeline stores them in the typed record's shape
(:mod:`engine.trials.record`) — and the primary metric's standard deviation and hold-out
value are read from them by the query, which also neutralises spreadsheet formulas in
text cells.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from typing import Any

from engine.actions.context import UserRef
from engine.auth import permissions
from engine.trials.query import TrialQuery, scope, to_filter
from storage.repositories import trials as repo

MAX_EXPORT_ROWS = 200_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EMPTY_JSON = (None, "null", "{}")

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


def _number(value: float | None) -> float | None:
    """NaN and infinities are empty cells (as the typed record reads them: None)."""
    return value if value is None or math.isfinite(value) else None


def _row(row: tuple[Any, ...], users: dict[int, str], goals: dict[int, str]) -> list[Any]:
    """One CSV row of an ``export_batches`` tuple (text already guarded in the query)."""
    (
        trial_id,
        created_at,
        user_id,
        goal_id,
        job_id,
        action,
        model_id,
        family,
        task,
        status,
        metric_name,
        metric_value,
        std,
        holdout,
        duration_s,
        seed,
        dataset_id,
        artifact_path,
        error,
        params_json,
        metrics_json,
        holdout_json,
    ) = row
    return [
        trial_id,
        created_at,
        users.get(user_id, "") if user_id is not None else "system",
        goal_id,
        goals.get(goal_id, "") if goal_id is not None else "",
        job_id,
        action,
        model_id,
        family,
        task,
        status,
        metric_name,
        _number(metric_value),
        _number(std),
        _number(holdout),
        _number(duration_s),
        seed,
        dataset_id,
        artifact_path,
        error,
        "{}" if params_json in (None, "null") else params_json,
        "" if metrics_json in _EMPTY_JSON else metrics_json,
        "" if holdout_json in _EMPTY_JSON else holdout_json,
    ]


def iter_csv(user: UserRef, query: TrialQuery, limit: int = MAX_EXPORT_ROWS) -> Iterator[bytes]:
    """The UTF-8 CSV of the filtered table, in chunks of a few thousand rows; the reader's
    scope is part of the SQL. JSON columns hold the parameters, the metrics summary (each
    metric's mean and standard deviation over the folds, and the pooled trading
    statistics of price targets) and the hold-out."""
    trials = scope(user)
    users = {k: csv_cell(v) for k, v in repo.usernames(scope=trials).items()}
    goals = {
        k: csv_cell(v)
        for k, v in repo.goal_names(scope=permissions.scope_for(user, "goal")).items()
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for batch in repo.export_batches(
        to_filter(query),
        trials,
        sort=query.sort,
        descending=query.descending,
        limit=limit,
        guard_prefixes=_FORMULA_START,
    ):
        writer.writerows([_row(row, users, goals) for row in batch])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def export_csv(user: UserRef, query: TrialQuery, limit: int = MAX_EXPORT_ROWS) -> bytes:
    """The whole of :func:`iter_csv` (the download button takes bytes: Streamlit holds the
    file in memory to serve it)."""
    return b"".join(iter_csv(user, query, limit))
