"""Trials read for comparisons and chat questions: only the columns those need.

A comparison of 500 trials reads their parameters, metric summaries and hold-out values
(the ``reproducibility`` record, importances, feature lists and errors stay in the
database; the split plan's fingerprint, which overfitting statistics group by, is read
out of the JSON by the query). Curves are read for at most a few trials, the hold-out
row of each only. The reader's :class:`~storage.access.OwnerScope` is applied inside
every query, like the listings of :mod:`storage.repositories.trials`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, case, cast, exists, func, literal, select

from storage.access import OwnerScope
from storage.db import get_engine, session_scope
from storage.models import ModelResult, Trial
from storage.repositories.trials import SORTABLE, TrialFilter, _apply


@dataclass(frozen=True)
class CompareRecord:
    """A trial as a comparison or a chat answer reads it."""

    id: int
    job_id: int | None
    goal_id: int | None
    user_id: int | None
    dataset_id: int | None
    action: str
    model_id: str | None
    family: str | None
    task: str | None
    status: str
    metric_name: str | None
    metric_value: float | None
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    holdout_metrics: dict[str, Any] | None
    duration_s: float | None
    created_at: datetime
    split_fingerprint: str | None


def _split_fingerprint(dialect: str) -> Any:
    if dialect == "postgresql":
        return Trial.reproducibility.op("->>")(literal("split_fingerprint"))
    return cast(func.json_extract(Trial.reproducibility, "$.split_fingerprint"), String)


def _columns(dialect: str) -> list[Any]:
    return [
        Trial.id,
        Trial.job_id,
        Trial.goal_id,
        Trial.user_id,
        Trial.dataset_id,
        Trial.action,
        Trial.model_id,
        Trial.family,
        Trial.task,
        Trial.status,
        Trial.metric_name,
        Trial.metric_value,
        Trial.params,
        Trial.metrics,
        Trial.holdout_metrics,
        Trial.duration_s,
        Trial.created_at,
        _split_fingerprint(dialect),
    ]


def _records(query: Select) -> list[CompareRecord]:
    with session_scope() as session:
        return [CompareRecord(*row) for row in session.execute(query).all()]


def compare_records(trial_ids: list[int], scope: OwnerScope) -> list[CompareRecord]:
    """The given trials ``scope`` may see, in the order asked (missing and invisible ids
    are left out: the caller answers both the same way)."""
    if not trial_ids:
        return []
    dialect = get_engine().dialect.name
    query = _apply(select(*_columns(dialect)), TrialFilter(ids=list(trial_ids)), scope)
    rows = {row.id: row for row in _records(query)}
    return [rows[i] for i in trial_ids if i in rows]


def _has_symbol(dialect: str, symbol: str) -> Any:
    """``params.symbols`` (a JSON list) holds ``symbol``."""
    if dialect == "postgresql":
        symbols = Trial.params.op("->")(literal("symbols"))
        array = case(
            (func.json_typeof(symbols) == "array", symbols),
            else_=cast(literal("[]"), Trial.params.type),
        )
        elements = func.json_array_elements_text(array).table_valued("value")
        return exists(select(literal(1)).select_from(elements).where(elements.c.value == symbol))
    elements = func.json_each(Trial.params, "$.symbols").table_valued("value")
    # a list only, as on PostgreSQL (json_each would also walk a single string)
    is_list = func.json_type(Trial.params, "$.symbols") == "array"
    return is_list & exists(
        select(literal(1)).select_from(elements).where(elements.c.value == symbol)
    )


@dataclass(frozen=True)
class ChatFilter:
    """What chat questions add to the table's filters: several model ids (a model name
    like "xgboost" names a whole group of catalogue entries), a traded symbol, and
    trials with a metric value only."""

    model_ids: tuple[str, ...] = ()
    symbol: str | None = None
    dataset_id: int | None = None
    with_value: bool = False


def _chat_query(
    query: Select, flt: TrialFilter, extra: ChatFilter, scope: OwnerScope, dialect: str
) -> Select:
    query = _apply(query, flt, scope)
    if extra.model_ids:
        query = query.where(Trial.model_id.in_(list(extra.model_ids)))
    if extra.symbol:
        query = query.where(_has_symbol(dialect, extra.symbol))
    if extra.dataset_id is not None:
        query = query.where(Trial.dataset_id == extra.dataset_id)
    if extra.with_value:
        query = query.where(Trial.metric_value.is_not(None))
    return query


def find_trials(
    flt: TrialFilter,
    extra: ChatFilter,
    scope: OwnerScope,
    *,
    sort: str = "created_at",
    descending: bool = True,
    limit: int = 20,
) -> tuple[list[CompareRecord], int]:
    """The newest (or best, by ``sort``) ``limit`` matching trials and how many match."""
    dialect = get_engine().dialect.name
    column = SORTABLE.get(sort, Trial.created_at)
    order: list[Any] = (
        [column.desc(), Trial.id.desc()] if descending else [column.asc(), Trial.id.asc()]
    )
    if sort == "metric_value":  # trials without a value last, whichever the direction
        order.insert(0, Trial.metric_value.is_(None))
    query = _chat_query(select(*_columns(dialect)), flt, extra, scope, dialect)
    count = _chat_query(select(func.count(Trial.id)), flt, extra, scope, dialect)
    with session_scope() as session:
        total = int(session.scalar(count) or 0)
    return _records(query.order_by(*order).limit(limit)), total


def metric_counts(flt: TrialFilter, extra: ChatFilter, scope: OwnerScope) -> dict[str, int]:
    """How many matching trials have a value of each primary metric, most first."""
    dialect = get_engine().dialect.name
    query = _chat_query(
        select(Trial.metric_name, func.count(Trial.id)).where(
            Trial.metric_name.is_not(None), Trial.metric_value.is_not(None)
        ),
        flt,
        extra,
        scope,
        dialect,
    ).group_by(Trial.metric_name)
    with session_scope() as session:
        rows = [(name, int(n)) for name, n in session.execute(query).all() if name]
    return dict(sorted(rows, key=lambda item: (-item[1], item[0])))


def matching_ids(
    flt: TrialFilter,
    scope: OwnerScope,
    *,
    sort: str = "created_at",
    descending: bool = True,
    limit: int = 500,
) -> list[int]:
    """The ids of the first ``limit`` trials of the table's filters and order (what
    "compare all matching" compares)."""
    column = SORTABLE.get(sort, Trial.created_at)
    order = (column.desc(), Trial.id.desc()) if descending else (column.asc(), Trial.id.asc())
    query = _apply(select(Trial.id), flt, scope).order_by(*order).limit(limit)
    with session_scope() as session:
        return [int(i) for i in session.scalars(query)]


def holdout_equity(trial_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored hold-out equity curve (``model_results.metrics["equity"]``) of each
    given trial that has one. Callers pass trials they already checked the reader may
    see, and only a few (each curve is hundreds of points)."""
    if not trial_ids:
        return {}
    dialect = get_engine().dialect.name
    if dialect == "postgresql":
        equity: Any = ModelResult.metrics.op("->")(literal("equity"))
    else:
        equity = func.json_extract(ModelResult.metrics, "$.equity")
    query = select(ModelResult.trial_id, equity).where(
        ModelResult.trial_id.in_(list(trial_ids)),
        ModelResult.split == "holdout",
        equity.is_not(None),
    )
    out: dict[int, dict[str, Any]] = {}
    with session_scope() as session:
        for trial_id, curve in session.execute(query).all():
            if isinstance(curve, str):  # SQLite's json_extract answers text
                curve = json.loads(curve)
            if isinstance(curve, dict):
                out[int(trial_id)] = curve
    return out


__all__ = [
    "ChatFilter",
    "CompareRecord",
    "compare_records",
    "find_trials",
    "holdout_equity",
    "matching_ids",
    "metric_counts",
]


def database_today() -> datetime:
    """The database server's current UTC time (relative periods such as "last week"
    count from it, like every other timestamp the app compares)."""
    from storage.clock import database_now

    with session_scope() as session:
        value = session.scalar(select(database_now()))
    if not isinstance(value, datetime):  # pragma: no cover - every dialect answers one
        raise RuntimeError(f"the database answered {value!r} for its clock")
    return value
