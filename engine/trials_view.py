"""What the Trials and Jobs pages show: queries, tables, figures and exports of trials.

Pages only draw what these functions return. Access rule (the same as goals and
conversations): admins and viewers see everyone's trials, analysts their own.
Every string that came from a user or a model and goes into a figure is HTML-escaped,
because Plotly interprets a few tags (``<b>``, ``<a href>``) in labels.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import threading
import time as time_module
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.actions.base import ActionError
from engine.actions.context import UserRef
from storage.repositories import trials as repo
from storage.repositories.jobs import JobRecord
from storage.repositories.trials import ModelResultRecord, TrialFilter, TrialRecord

MAX_COMPARE = 10
PAGE_SIZES = (25, 50, 100, 200)
MAX_EXPORT_ROWS = 200_000
DETAIL_POINTS = 1_000  # progress points of one trial's chart
COMPARE_POINTS = 3_000  # all curves of a comparison together
MAX_PARALLEL_DIMENSIONS = 12
SORT_LABELS = {
    "created_at": "created",
    "metric_value": "metric value",
    "duration_s": "duration",
    "model_id": "model",
    "family": "family",
    "id": "trial id",
}
FIGURE_HINTS = ("confusion", "residual", "equity", "importance", "prediction", "roc")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def label(text: Any) -> str:
    """A string that Plotly shows literally (it renders a few HTML tags in labels)."""
    return html.escape(str(text), quote=False)


# --- access ----------------------------------------------------------------------------


def sees_everyone(user: UserRef) -> bool:
    return user.role in ("admin", "viewer")


def _owner_scope(user: UserRef) -> int | None:
    return None if sees_everyone(user) else user.id


def can_see(user: UserRef, trial: TrialRecord) -> bool:
    return sees_everyone(user) or trial.user_id == user.id


def get_trial(user: UserRef, trial_id: int) -> TrialRecord:
    trial = repo.get_trial(int(trial_id))
    if trial is None or not can_see(user, trial):
        raise ActionError(f"Trial {trial_id} does not exist or is not visible to you.")
    return trial


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialQuery:
    """The table's filters and order as the page's widgets give them."""

    goal_id: int | None = None
    family: str | None = None
    action: str | None = None
    status: str | None = None
    user_id: int | None = None
    model_id: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    metric_name: str | None = None
    metric_min: float | None = None
    metric_max: float | None = None
    sort: str = "created_at"
    descending: bool = True


def to_filter(user: UserRef, query: TrialQuery) -> TrialFilter:
    """The repository filter, with the access rule applied (an analyst asking for someone
    else's trials gets an empty page, not theirs)."""
    scope = _owner_scope(user)
    user_id = query.user_id if scope is None else scope
    if scope is not None and query.user_id not in (None, scope):
        user_id = -1
    return TrialFilter(
        goal_id=query.goal_id,
        family=query.family,
        action=query.action,
        status=query.status,
        user_id=user_id,
        model_id=query.model_id,
        created_from=(
            datetime.combine(query.created_from, time.min, UTC) if query.created_from else None
        ),
        created_to=datetime.combine(query.created_to, time.max, UTC) if query.created_to else None,
        metric_name=query.metric_name,
        metric_min=query.metric_min,
        metric_max=query.metric_max,
    )


@dataclass(frozen=True)
class FilterOptions:
    families: list[str]
    actions: list[str]
    statuses: list[str]
    metric_names: list[str]
    goals: dict[int, str]
    users: dict[int, str]  # empty when the user only sees their own trials


FILTER_OPTIONS_TTL = 15.0  # seconds a process reuses the filter choices
_options_cache: dict[tuple, tuple[float, FilterOptions]] = {}
_options_lock = threading.Lock()


def filter_options(user: UserRef) -> FilterOptions:
    """The choices of the filter widgets (distinct values over all trials), reused for
    FILTER_OPTIONS_TTL seconds: every rerun of the page needs them."""
    from engine.config import get_settings

    key = (get_settings().database_url, _owner_scope(user))
    now = time_module.monotonic()
    with _options_lock:
        hit = _options_cache.get(key)
        if hit is not None and now - hit[0] < FILTER_OPTIONS_TTL:
            return hit[1]
    options = _load_filter_options(user)
    with _options_lock:
        if len(_options_cache) > 256:
            _options_cache.clear()
        _options_cache[key] = (now, options)
    return options


def clear_filter_options() -> None:
    with _options_lock:
        _options_cache.clear()


def _load_filter_options(user: UserRef) -> FilterOptions:
    scope = _owner_scope(user)
    return FilterOptions(
        families=repo.distinct_values("family"),
        actions=repo.distinct_values("action"),
        statuses=repo.distinct_values("status"),
        metric_names=repo.distinct_values("metric_name"),
        goals=repo.goal_names(user_id=scope),
        users=repo.usernames() if scope is None else {},
    )


@dataclass(frozen=True)
class TrialPage:
    records: list[TrialRecord]
    total: int
    page: int
    page_size: int
    frame: pd.DataFrame

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.page_size)


def search(user: UserRef, query: TrialQuery, page: int = 1, page_size: int = 50) -> TrialPage:
    """One page of the table, filtered, sorted and paginated in the database."""
    page_size = max(1, min(int(page_size), max(PAGE_SIZES)))
    page = max(1, int(page))
    flt = to_filter(user, query)
    records, total = repo.search_trials(
        flt,
        sort=query.sort,
        descending=query.descending,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    last_page = max(1, math.ceil(total / page_size))
    if page > last_page and total:
        return search(user, query, last_page, page_size)
    return TrialPage(records, total, page, page_size, table_frame(records))


def _metric_parts(trial: TrialRecord) -> tuple[float | None, float | None]:
    """(std across folds, hold-out value) of the trial's primary metric."""
    std = holdout = None
    if trial.metric_name:
        entry = (trial.metrics or {}).get(trial.metric_name)
        if isinstance(entry, dict):
            std = _number(entry.get("std"))
        holdout = _number((trial.holdout_metrics or {}).get(trial.metric_name))
        if isinstance((trial.holdout_metrics or {}).get(trial.metric_name), dict):
            holdout = _number(trial.holdout_metrics[trial.metric_name].get("mean"))
    return std, holdout


def params_summary(params: dict[str, Any] | None, limit: int = 120) -> str:
    flat = flatten_params(params or {})
    text = ", ".join(f"{k}={_short(v)}" for k, v in flat.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def table_frame(
    records: list[TrialRecord],
    *,
    users: dict[int, str] | None = None,
    goals: dict[int, str] | None = None,
) -> pd.DataFrame:
    """The rows the table shows (owner and goal names looked up in one query each)."""
    if users is None:
        users = repo.usernames({r.user_id for r in records if r.user_id is not None})
    if goals is None:
        goals = repo.goal_names({r.goal_id for r in records if r.goal_id is not None})
    rows = []
    for r in records:
        std, holdout = _metric_parts(r)
        rows.append(
            {
                "trial": r.id,
                "created": r.created_at,
                "user": users.get(r.user_id, "") if r.user_id is not None else "system",
                "goal": goals.get(r.goal_id, str(r.goal_id)) if r.goal_id is not None else "",
                "action": r.action,
                "model": r.model_id or "",
                "family": r.family or "",
                "status": r.status,
                "metric": r.metric_name or "",
                "value": r.metric_value,
                "± std": std,
                "holdout": holdout,
                "seconds": r.duration_s,
                "params": params_summary(r.params),
            }
        )
    columns = [
        "trial",
        "created",
        "user",
        "goal",
        "action",
        "model",
        "family",
        "status",
        "metric",
        "value",
        "± std",
        "holdout",
        "seconds",
        "params",
    ]
    return pd.DataFrame(rows, columns=columns)


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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


def export_csv(user: UserRef, query: TrialQuery, limit: int = MAX_EXPORT_ROWS) -> bytes:
    """Every trial matching the filters (not only the current page), in the table's order,
    as UTF-8 CSV; JSON columns hold the parameters and metrics."""
    flt = to_filter(user, query)
    users = repo.usernames()
    goals = repo.goal_names()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in repo.iter_trials(flt, sort=query.sort, descending=query.descending, limit=limit):
        std, holdout = _metric_parts(r)
        row = [
            r.id,
            r.created_at.isoformat(),
            users.get(r.user_id, "") if r.user_id is not None else "system",
            r.goal_id,
            goals.get(r.goal_id, "") if r.goal_id is not None else "",
            r.job_id,
            r.action,
            r.model_id,
            r.family,
            r.task,
            r.status,
            r.metric_name,
            r.metric_value,
            std,
            holdout,
            r.duration_s,
            r.seed,
            r.dataset_id,
            r.artifact_path,
            r.error,
            json.dumps(r.params, sort_keys=True, default=str),
            json.dumps(r.metrics, sort_keys=True, default=str) if r.metrics else "",
            json.dumps(r.holdout_metrics, sort_keys=True, default=str) if r.holdout_metrics else "",
        ]
        writer.writerow(["" if v is None else _csv_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8")


# --- one trial -------------------------------------------------------------------------


@dataclass
class TrialDetail:
    trial: TrialRecord
    results: list[ModelResultRecord]
    job: JobRecord | None
    dataset: Any | None  # DatasetRecord
    owner: str
    goal: str | None
    points: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.job is not None and not self.job.terminal


def load_detail(user: UserRef, trial_id: int, max_points: int = DETAIL_POINTS) -> TrialDetail:
    from engine import executor
    from storage.repositories.datasets import get_dataset

    trial = get_trial(user, trial_id)
    job = executor.status(trial.job_id) if trial.job_id is not None else None
    points = executor.events(job.id, max_points) if job is not None else []
    dataset = get_dataset(trial.dataset_id) if trial.dataset_id is not None else None
    owner = "system"
    if trial.user_id is not None:
        owner = repo.usernames({trial.user_id}).get(trial.user_id, f"user {trial.user_id}")
    goal = None
    if trial.goal_id is not None:
        goal = repo.goal_names({trial.goal_id}).get(trial.goal_id, f"goal {trial.goal_id}")
    return TrialDetail(trial, repo.model_results(trial.id), job, dataset, owner, goal, points)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    return None


def format_mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    if std is None:
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def fold_table(detail: TrialDetail) -> pd.DataFrame:
    """One row per split (fold_0, ..., holdout) and one column per metric, then the mean
    and standard deviation (n-1) over the folds."""
    rows = {}
    for result in detail.results:
        rows[result.split] = {
            k: _number(v) for k, v in (result.metrics or {}).items() if _number(v) is not None
        }
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame.from_dict(rows, orient="index")
    folds = frame.loc[[s for s in frame.index if s.startswith("fold")]]
    order = sorted(folds.index, key=_split_order) + [s for s in frame.index if s not in folds.index]
    frame = frame.loc[order]
    if len(folds):
        frame.loc["mean (folds)"] = folds.mean(numeric_only=True)
        frame.loc["std (folds)"] = folds.std(ddof=1, numeric_only=True)
    return frame


def _split_order(split: str) -> int:
    try:
        return int(split.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return 10**6


def metric_summary(detail: TrialDetail) -> pd.DataFrame:
    """metric | mean | std | mean ± std | holdout: from the trial's stored summary, else
    computed from its folds."""
    trial = detail.trial
    stored = trial.metrics or {}
    holdout = trial.holdout_metrics or {}
    folds = (
        fold_table(detail)
        if not stored or not all(isinstance(v, dict) and "mean" in v for v in stored.values())
        else pd.DataFrame()
    )
    names = list(stored) or [c for c in folds.columns]
    names += [n for n in holdout if n not in names and _number(holdout[n]) is not None]
    rows = []
    for name in names:
        entry = stored.get(name)
        mean = std = None
        if isinstance(entry, dict):
            mean, std = _number(entry.get("mean")), _number(entry.get("std"))
        elif _number(entry) is not None:
            mean = _number(entry)
        elif name in folds.columns and "mean (folds)" in folds.index:
            mean = _number(folds.loc["mean (folds)", name])
            std = _number(folds.loc["std (folds)", name])
        if isinstance(entry, list):
            continue
        held = holdout.get(name)
        held = _number(held.get("mean")) if isinstance(held, dict) else _number(held)
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


def params_frame(params: dict[str, Any]) -> pd.DataFrame:
    rows = [{"parameter": k, "value": _short(v)} for k, v in flatten_params(params).items()]
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
    out["reproducibility"] = detail.trial.reproducibility or {}
    out["seed"] = detail.trial.seed
    if detail.trial.feature_set:
        out["features"] = detail.trial.feature_set
    return out


# --- figures ---------------------------------------------------------------------------


def _layout(figure: go.Figure, height: int = 320, **kwargs: Any) -> go.Figure:
    kwargs.setdefault("margin", dict(l=10, r=10, t=30, b=10))
    figure.update_layout(height=height, legend=dict(orientation="h"), **kwargs)
    return figure


def progress_figure(
    points: list[dict[str, Any]],
    metrics: Iterable[str] | None = None,
    *,
    title: str | None = "Progress",
    height: int = 300,
) -> go.Figure | None:
    """One line per reported metric against elapsed seconds (the learning curve)."""
    if not points:
        return None
    names = sorted({k for p in points for k in p if k not in ("elapsed_s", "fraction")})
    if metrics is not None:
        wanted = [m for m in metrics if m in names]
        names = wanted or names
    if not names:
        return None
    xs = np.fromiter((p["elapsed_s"] for p in points), dtype=float, count=len(points))
    traces = [
        go.Scatter(x=xs, y=_column(points, name), mode="lines", name=label(name)) for name in names
    ]
    figure = go.Figure(data=traces)
    if title is None:
        return _layout(figure, height, xaxis_title="seconds", margin=dict(l=10, r=10, t=10, b=10))
    return _layout(figure, height, xaxis_title="seconds", title=title)


def _column(points: list[dict[str, Any]], name: str) -> np.ndarray:
    """One metric of the progress points as floats (NaN where a point lacks it): numpy
    arrays skip Plotly's per-element validation."""
    values = (p.get(name) for p in points)
    return np.fromiter((math.nan if v is None else v for v in values), float, len(points))


def importance_figure(importances: dict[str, Any] | None, top: int = 25) -> go.Figure | None:
    if not importances:
        return None
    if isinstance(importances.get("values"), dict):  # {"kind": ..., "values": {...}}
        importances = importances["values"]
    values = {}
    for name, value in importances.items():
        number = _number(value.get("mean")) if isinstance(value, dict) else _number(value)
        if number is not None:
            values[name] = number
    if not values:
        return None
    ranked = sorted(values.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top][::-1]
    figure = go.Figure(
        go.Bar(
            x=[v for _, v in ranked],
            y=[label(k) for k, _ in ranked],
            orientation="h",
            name="importance",
        )
    )
    return _layout(figure, max(240, 22 * len(ranked)), title="Feature importances")


def confusion_figure(matrix: Any, labels: list[Any] | None = None) -> go.Figure | None:
    try:
        rows = [[float(v) for v in row] for row in matrix]
    except (TypeError, ValueError):
        return None
    if not rows or any(len(r) != len(rows) for r in rows):
        return None
    names = [label(x) for x in (labels or range(len(rows)))]
    figure = go.Figure(
        go.Heatmap(
            z=rows,
            x=names,
            y=names,
            colorscale="Blues",
            text=[[f"{v:g}" for v in r] for r in rows],
            texttemplate="%{text}",
        )
    )
    figure.update_yaxes(autorange="reversed", title="actual")
    figure.update_xaxes(title="predicted", type="category")
    figure.update_yaxes(type="category")
    return _layout(figure, 320, title="Confusion matrix (hold-out)")


def residual_figure(residuals: Any, predicted: Any = None) -> go.Figure | None:
    try:
        values = [float(v) for v in residuals]
    except (TypeError, ValueError):
        return None
    if not values:
        return None
    figure = go.Figure()
    if predicted is not None and len(predicted) == len(values):
        figure.add_scatter(x=list(predicted), y=values, mode="markers", name="residual")
        figure.update_xaxes(title="predicted")
    else:
        figure.add_scatter(y=values, mode="markers", name="residual")
        figure.update_xaxes(title="observation")
    figure.add_hline(y=0, line_dash="dash")
    return _layout(figure, 300, title="Residuals (hold-out)", yaxis_title="actual − predicted")


def equity_figure(curve: Any) -> go.Figure | None:
    """An equity curve given as a list of values, ``{date: value}``, or
    ``{"dates": [...], "values": [...]}``."""
    if isinstance(curve, dict) and "values" in curve:
        xs, ys = curve.get("dates") or list(range(len(curve["values"]))), curve["values"]
    elif isinstance(curve, dict):
        xs, ys = list(curve), list(curve.values())
    elif isinstance(curve, list):
        xs, ys = list(range(len(curve))), curve
    else:
        return None
    try:
        ys = [float(v) for v in ys]
    except (TypeError, ValueError):
        return None
    if not ys:
        return None
    figure = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", name="strategy"))
    return _layout(figure, 300, title="Equity curve", yaxis_title="growth of 1")


def _stored(detail: TrialDetail, key: str) -> Any:
    """A value stored with the trial: hold-out metrics, metrics, then the job's result."""
    for source in (detail.trial.holdout_metrics, detail.trial.metrics):
        if isinstance(source, dict) and key in source:
            return source[key]
    result = detail.job.result if detail.job is not None else None
    if isinstance(result, dict):
        values = result.get("values") or {}
        if key in values:
            return values[key]
    return None


def _side_table_figures(detail: TrialDetail) -> dict[str, go.Figure]:
    """Charts from the out-of-sample predictions and the hold-out equity curve saved
    beside the trial's model (by the ML pipeline)."""
    path = artifact_file(detail.trial)
    if path is None:
        return {}
    try:
        from engine.ml import charts as ml_charts
        from engine.ml import persistence
    except ImportError:  # an installation without the ML pipeline
        return {}
    try:
        tables = persistence.load_side_tables(path)
    except (OSError, ValueError) as error:
        import logging

        logging.getLogger("mltrainer.trials").warning("side tables of %s: %s", path, error)
        return {}
    figures: dict[str, go.Figure] = {}
    predictions = tables.get("predictions")
    if predictions is not None and {"actual", "predicted"} <= set(predictions.columns):
        if detail.trial.task == "classification":
            folds = predictions
            if "split" in predictions.columns:
                folds = predictions[predictions["split"] != "holdout"]
            if len(folds):
                figures["confusion_matrix"] = ml_charts.confusion_figure(
                    folds["actual"].to_numpy(),
                    folds["predicted"].to_numpy(),
                    None,
                    "Confusion matrix, out-of-sample folds",
                )
        elif "split" in predictions.columns:
            figures["residuals"] = ml_charts.residual_figure(predictions, "Residuals out of sample")
    equity = tables.get("equity")
    if equity is not None and len(equity):
        figures["holdout_equity"] = ml_charts.equity_figure(
            equity, "Hold-out equity, long/flat vs buy and hold"
        )
    return figures


def _job_figures(detail: TrialDetail) -> dict[str, go.Figure]:
    """The charts of the job's result, when that job recorded exactly this trial."""
    import plotly.io as pio

    result = detail.job.result if detail.job is not None else None
    if not isinstance(result, dict):
        return {}
    if (result.get("values") or {}).get("trial_id") != detail.trial.id:
        return {}
    figures: dict[str, go.Figure] = {}
    for name, spec in (result.get("figures") or {}).items():
        try:
            figures[str(name)] = pio.from_json(spec) if isinstance(spec, str) else go.Figure(spec)
        except (ValueError, TypeError):
            continue
    return figures


def result_figures(detail: TrialDetail) -> dict[str, go.Figure]:
    """The trial's charts: confusion matrix or residuals and the equity curve from the
    predictions saved with the model, else the charts of the job that recorded the trial,
    else charts drawn from arrays stored in the trial's metrics; and the importances."""
    figures = _side_table_figures(detail)
    for name, figure in _job_figures(detail).items():
        figures.setdefault(name, figure)
    have = " ".join(figures).lower()
    if "confusion" not in have:
        matrix = _stored(detail, "confusion_matrix")
        labels = _stored(detail, "labels") or _stored(detail, "classes")
        if isinstance(matrix, dict):
            labels, matrix = matrix.get("labels") or labels, matrix.get("matrix")
        figure = confusion_figure(matrix, labels) if matrix is not None else None
        if figure is not None:
            figures["confusion_matrix"] = figure
    if "residual" not in have:
        residuals = _stored(detail, "residuals")
        predicted = None
        if isinstance(residuals, dict):
            predicted, residuals = residuals.get("predicted"), residuals.get("residuals")
        figure = residual_figure(residuals, predicted) if residuals is not None else None
        if figure is not None:
            figures["residuals"] = figure
    if "equity" not in have:
        curve = _stored(detail, "equity_curve")
        figure = equity_figure(curve) if curve is not None else None
        if figure is not None:
            figures["equity_curve"] = figure
    if "importance" not in have:
        figure = importance_figure(detail.trial.importances)
        if figure is not None:
            figures["feature_importances"] = figure
    return figures


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
        seconds = _column(detail.points, "elapsed_s")
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
                    "progress": _column(detail.points, "fraction"),
                    "event": text,
                }
            )
        )
    parts.append(moment(job.finished_at, job.status + (f": {job.error}" if job.error else "")))
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def artifact_file(trial: TrialRecord) -> Path | None:
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
    recorded = dict(trial.params or {})
    candidates = [(trial.action, recorded)]
    candidates += [(name, recorded) for name in REPRODUCED_BY if name != trial.action]
    if detail.job is not None and detail.job.action == trial.action and detail.job.params:
        candidates.append((trial.action, dict(detail.job.params)))
    for action, params in candidates:
        if _validates(action, params):
            return action, params
    return trial.action, recorded


def _flat_metrics(trial: TrialRecord) -> dict[str, float]:
    out: dict[str, float] = {}
    if trial.metric_name and trial.metric_value is not None:
        out[trial.metric_name] = trial.metric_value
    for name, entry in (trial.metrics or {}).items():
        value = _number(entry.get("mean")) if isinstance(entry, dict) else _number(entry)
        if value is not None:
            out.setdefault(name, value)
    for name, entry in (trial.holdout_metrics or {}).items():
        value = _number(entry)
        if value is not None:
            out[f"holdout {name}"] = value
    return out


def rerun_comparison(
    original: TrialRecord, again: TrialRecord, tolerance: float = 1e-9
) -> tuple[pd.DataFrame, bool]:
    """Metrics of the original and the re-run side by side, and whether all match
    (relative and absolute tolerance ``tolerance``)."""
    old, new = _flat_metrics(original), _flat_metrics(again)
    rows, same = [], bool(old) and set(old) == set(new)
    for name in list(old) + [n for n in new if n not in old]:
        a, b = old.get(name), new.get(name)
        match = (
            a is not None
            and b is not None
            and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
        )
        same = same and match
        rows.append({"metric": name, "original": a, "re-run": b, "match": match})
    return pd.DataFrame(rows, columns=["metric", "original", "re-run", "match"]), same


# --- comparison ------------------------------------------------------------------------


def parse_ids(text: str | Iterable[Any]) -> list[int]:
    """'12, 15 18' -> [12, 15, 18] (duplicates dropped, order kept)."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out: list[int] = []
    for part in parts:
        try:
            value = int(str(part).strip().lstrip("#"))
        except ValueError:
            raise ActionError(f"'{part}' is not a trial id.") from None
        if value not in out:
            out.append(value)
    return out


def compare_trials(user: UserRef, trial_ids: list[int]) -> list[TrialRecord]:
    if len(trial_ids) > MAX_COMPARE:
        raise ActionError(f"Compare at most {MAX_COMPARE} trials at a time.")
    found = {t.id: t for t in repo.get_trials(trial_ids) if can_see(user, t)}
    missing = [i for i in trial_ids if i not in found]
    if missing:
        raise ActionError(
            "Not found or not visible to you: " + ", ".join(f"trial {i}" for i in missing)
        )
    return [found[i] for i in trial_ids]


def compare_frame(trials: list[TrialRecord]) -> pd.DataFrame:
    """Rows: model, status, primary metric, every metric's mean (± std) and hold-out,
    duration; one column per trial."""
    columns: dict[str, dict[str, Any]] = {}
    for t in trials:
        column: dict[str, Any] = {
            "model": t.model_id or "",
            "family": t.family or "",
            "status": t.status,
            "primary metric": t.metric_name or "",
            "value": "" if t.metric_value is None else f"{t.metric_value:.4f}",
        }
        for name, entry in (t.metrics or {}).items():
            if isinstance(entry, dict):
                mean, std = _number(entry.get("mean")), _number(entry.get("std"))
            else:
                mean, std = _number(entry), None
            if mean is not None:
                column[f"{name} (cv)"] = format_mean_std(mean, std)
        for name, entry in (t.holdout_metrics or {}).items():
            if _number(entry) is not None:
                column[f"{name} (holdout)"] = f"{_number(entry):.4f}"
        column["seconds"] = "" if t.duration_s is None else f"{t.duration_s:.1f}"
        columns[f"trial {t.id}"] = column
    frame = pd.DataFrame(columns)
    return frame.fillna("")


def parallel_figure(trials: list[TrialRecord]) -> go.Figure | None:
    """Parallel coordinates: each trial's parameters (numbers, and categories as ranks)
    then its metric; lines coloured by the metric."""
    if not trials:
        return None
    flats = [flatten_params(t.params or {}) for t in trials]
    names: list[str] = []
    for flat in flats:
        names += [n for n, v in flat.items() if n not in names and _scalar(v)]
    varying = [n for n in names if len({json.dumps(f.get(n), default=str) for f in flats}) > 1]
    names = (varying or names)[:MAX_PARALLEL_DIMENSIONS]
    dimensions = []
    for name in names:
        values = [f.get(name) for f in flats]
        numbers = [_number(v) for v in values]
        if all(n is not None or v is None for n, v in zip(numbers, values, strict=True)) and any(
            n is not None for n in numbers
        ):
            dimensions.append(dict(label=label(name), values=numbers))
        else:
            categories = sorted({str(v) for v in values})
            dimensions.append(
                dict(
                    label=label(name),
                    values=[categories.index(str(v)) for v in values],
                    tickvals=list(range(len(categories))),
                    ticktext=[label(c) for c in categories],
                )
            )
    metric_names = {t.metric_name for t in trials if t.metric_name}
    metric_label = metric_names.pop() if len(metric_names) == 1 else "metric"
    metric_values = [t.metric_value for t in trials]
    dimensions.append(dict(label=label(metric_label), values=metric_values))
    known = [v for v in metric_values if v is not None]
    line = dict(color=[v if v is not None else math.nan for v in metric_values])
    if known:
        line.update(colorscale="Viridis", showscale=True, cmin=min(known), cmax=max(known))
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    return _layout(figure, 380, title="Parameters against the metric")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def overlay_figure(
    trials: list[TrialRecord], total_points: int = COMPARE_POINTS
) -> go.Figure | None:
    """Each trial's progress curve of its primary metric (or its first metric) on one
    chart; the point budget is shared so the chart stays light."""
    from engine import executor

    with_jobs = [t for t in trials if t.job_id is not None]
    if not with_jobs:
        return None
    budget = max(50, total_points // len(with_jobs))
    figure = go.Figure()
    for t in with_jobs:
        points = executor.events(t.job_id, budget)
        if not points:
            continue
        names = sorted({k for p in points for k in p if k not in ("elapsed_s", "fraction")})
        if not names:
            continue
        name = t.metric_name if t.metric_name in names else names[0]
        figure.add_scatter(
            x=_column(points, "elapsed_s"),
            y=_column(points, name),
            mode="lines",
            name=label(f"trial {t.id} · {name}"),
        )
    if not figure.data:
        return None
    return _layout(figure, 320, xaxis_title="seconds", title="Progress curves")


# --- jobs ------------------------------------------------------------------------------


def owner_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    return repo.usernames({i for i in user_ids if i is not None})


def running_jobs(user: UserRef, limit: int = 5) -> list[JobRecord]:
    """The user's queued and running background jobs (newest first)."""
    from engine import executor

    return executor.list_recent(user, limit, statuses=("queued", "running"))


def jobs_frame(records: list[JobRecord], owners: dict[int, str] | None = None) -> pd.DataFrame:
    owners = owners if owners is not None else repo.usernames({j.user_id for j in records})
    rows = []
    for job in records:
        end = job.finished_at
        seconds = None
        if job.started_at is not None:
            seconds = ((end or datetime.now(UTC)) - job.started_at).total_seconds()
        rows.append(
            {
                "job": job.id,
                "action": job.action,
                "user": owners.get(job.user_id, "system") if job.user_id else "system",
                "status": job.status,
                "progress": float(min(max(job.progress or 0.0, 0.0), 1.0)),
                "created": job.created_at,
                "seconds": seconds,
                "attempts": job.attempts,
                "error": (job.error or "")[:200],
            }
        )
    columns = [
        "job",
        "action",
        "user",
        "status",
        "progress",
        "created",
        "seconds",
        "attempts",
        "error",
    ]
    return pd.DataFrame(rows, columns=columns)


_MARKDOWN_SPECIAL = "\\`*_{}[]()<>#+-.!|~$"


def md_escape(text: Any) -> str:
    """Text for Streamlit elements that parse Markdown (errors, captions): shown literally,
    so a stored error or parameter cannot turn into a link or an image."""
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in str(text))
