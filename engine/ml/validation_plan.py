"""Which validation a training runs, decided in one place for ``train_model``, the goal
loop and the autonomy benchmark.

- :func:`detect_time_column`: an uploaded table whose rows carry dates (a column the
  upload parsed as dates) is a time series, whatever the caller said. Its rows are
  validated walk-forward along that column, purged and embargoed by *dates* (rows that
  share a date move together), never with shuffled folds — unless the caller sets
  ``allow_shuffled_dates`` explicitly, which is recorded with the trial and warned about
  in the result.
- :func:`trial_params`: the ``train_model`` parameters of one configuration tried by an
  automatic search (a goal's loop or the benchmark): walk-forward, a purge of
  ``horizon`` time steps and an embargo of as many, the time column given or detected.
  ``engine.autonomy.loop`` and ``engine.autonomy.meta_tasks.evaluate`` (the benchmark)
  both build their trials with it, so the benchmark measures the path goals take.
"""

from __future__ import annotations

from typing import Any

from engine.lazy import pandas as pd

# Preferred names when a table has several date columns (lower case).
TIME_NAMES = ("date", "datetime", "timestamp", "time", "day", "as_of", "asof", "period")
DEFAULT_SPLITS = 5


def detect_time_column(table: pd.DataFrame, exclude: tuple[str | None, ...] = ()) -> str | None:
    """The column that dates the rows: a date/time column (the upload parses dates into
    one), preferring a conventional name ("date", "timestamp", ...); None without one."""
    dated = [
        str(name)
        for name in table.columns
        if name not in exclude
        and pd.api.types.is_datetime64_any_dtype(table[name])
        and table[name].notna().any()
    ]
    if not dated:
        return None
    by_name = {name.lower(): name for name in dated}
    for preferred in TIME_NAMES:
        if preferred in by_name:
            return by_name[preferred]
    return dated[0]


def shuffle_warning(time_column: str) -> str:
    return (
        f"WARNING: the rows are dated by {time_column!r} but were validated with shuffled "
        "k-fold because allow_shuffled_dates was set: folds train on rows later than the "
        "ones they test, so the scores are optimistic for a time series."
    )


def refuse_shuffle_message(time_column: str) -> str:
    return (
        f"The table's rows are dated by column {time_column!r}, so shuffled k-fold would "
        "train on the future. Use validation='walk_forward' (the default), or set "
        "allow_shuffled_dates=true to shuffle anyway (recorded with the trial, with a "
        "warning)."
    )


def trial_params(
    *,
    data: dict[str, Any],
    task: str,
    metric: str | None,
    model_id: str,
    model_params: dict[str, Any],
    seed: int,
    horizon: int,
    n_splits: int = DEFAULT_SPLITS,
    time_column: str | None = None,
    allow_shuffled_dates: bool = False,
) -> dict[str, Any]:
    """``train_model`` parameters of one configuration of an automatic search.

    ``data``: ``symbols``/``source``/``start``/``end`` or ``dataset_id``/
    ``target_column`` (None values are dropped). Price data and dated tables are
    validated walk-forward with a purge of ``horizon`` time steps and an embargo of as
    many; a table without dates gets shuffled k-fold (its rows are independent);
    ``time_column`` None lets ``train_model`` detect the table's date column."""
    params: dict[str, Any] = {k: v for k, v in data.items() if v is not None}
    params.update(
        {
            "model_id": model_id,
            "model_params": dict(model_params or {}),
            "task": task,
            "metric": metric,
            # walk_forward is what a dated table gets; an undated table falls back to
            # shuffled k-fold inside the pipeline (its rows are independent).
            "validation": "walk_forward",
            "horizon": int(horizon),
            "embargo": int(horizon),
            "n_splits": int(n_splits),
            "seed": int(seed),
        }
    )
    if time_column:
        params["time_column"] = time_column
    if allow_shuffled_dates:
        params["validation"] = "kfold"
        params["allow_shuffled_dates"] = True
    return params
