"""Trials (one evaluated configuration each) and their per-split model results."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Select,
    String,
    Text,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.access import OwnerScope
from storage.db import get_engine, session_scope
from storage.models import Goal, ModelResult, Trial, TrialRollup, User


@dataclass(frozen=True)
class TrialRecord:
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
    feature_set: list[Any] | None
    importances: dict[str, Any] | None
    reproducibility: dict[str, Any] | None
    seed: int
    artifact_path: str | None
    error: str | None
    duration_s: float | None
    created_at: datetime


@dataclass(frozen=True)
class ModelResultRecord:
    trial_id: int
    model_id: str
    split: str
    metrics: dict[str, Any]
    fit_seconds: float | None
    predict_seconds: float | None
    n_train: int | None
    n_test: int | None


TRIAL_FIELDS = tuple(TrialRecord.__dataclass_fields__)


def _trial(row: Trial) -> TrialRecord:
    return TrialRecord(**{name: getattr(row, name) for name in TRIAL_FIELDS})


def create_trial(**fields: Any) -> TrialRecord:
    unknown = set(fields) - set(TRIAL_FIELDS)
    if unknown:
        raise ValueError(f"unknown trial fields {sorted(unknown)}")
    with session_scope() as session:
        row = Trial(**fields)
        session.add(row)
        session.flush()
        if not row.superseded:
            _add_to_rollups(session, row)
        return _trial(row)


def add_model_results(trial_id: int, results: list[dict[str, Any]]) -> None:
    if not results:
        return
    with session_scope() as session:
        session.add_all(ModelResult(trial_id=trial_id, **result) for result in results)


def get_trial(trial_id: int) -> TrialRecord | None:
    with session_scope() as session:
        row = session.get(Trial, trial_id)
        return _trial(row) if row else None


def model_results(trial_id: int) -> list[ModelResultRecord]:
    with session_scope() as session:
        rows = session.scalars(
            select(ModelResult).where(ModelResult.trial_id == trial_id).order_by(ModelResult.id)
        )
        return [
            ModelResultRecord(
                r.trial_id,
                r.model_id,
                r.split,
                r.metrics,
                r.fit_seconds,
                r.predict_seconds,
                r.n_train,
                r.n_test,
            )
            for r in rows
        ]


@dataclass
class TrialFilter:
    goal_id: int | None = None
    family: str | None = None
    action: str | None = None
    status: str | None = None
    user_id: int | None = None
    model_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    metric_name: str | None = None
    metric_min: float | None = None
    metric_max: float | None = None
    ids: list[int] | None = None


# A superseded trial (a lost attempt's copy of one its job's retry recorded again) is
# kept but never listed or counted; only get_trial still finds it by id.
_COUNTED = Trial.superseded.is_(False)


def _scoped(query: Select, scope: OwnerScope) -> Select:
    query = query.where(_COUNTED)
    condition = scope.where(Trial.user_id)
    return query if condition is None else query.where(condition)


def _apply(query: Select, flt: TrialFilter, scope: OwnerScope) -> Select:
    query = _scoped(query, scope)
    conditions = {
        Trial.goal_id: flt.goal_id,
        Trial.family: flt.family,
        Trial.action: flt.action,
        Trial.status: flt.status,
        Trial.user_id: flt.user_id,
        Trial.model_id: flt.model_id,
        Trial.metric_name: flt.metric_name,
    }
    for column, value in conditions.items():
        if value is not None:
            query = query.where(column == value)
    if flt.created_from is not None:
        query = query.where(Trial.created_at >= flt.created_from)
    if flt.created_to is not None:
        query = query.where(Trial.created_at <= flt.created_to)
    if flt.metric_min is not None:
        query = query.where(Trial.metric_value >= flt.metric_min)
    if flt.metric_max is not None:
        query = query.where(Trial.metric_value <= flt.metric_max)
    if flt.ids:
        query = query.where(Trial.id.in_(flt.ids))
    return query


SORTABLE = {
    "created_at": Trial.created_at,
    "metric_value": Trial.metric_value,
    "id": Trial.id,
    "duration_s": Trial.duration_s,
    "model_id": Trial.model_id,
    "family": Trial.family,
}


def search_statements(
    flt: TrialFilter,
    scope: OwnerScope,
    *,
    sort: str = "created_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[Select, Select]:
    """(count, page ids) statements of :func:`search_trials` (also used to show query
    plans). The page is found as ids first (read from the sort's index), then only
    those rows are loaded."""
    ids = _ordered(_apply(select(Trial.id), flt, scope), sort, descending)
    return count_statement(flt, scope), ids.offset(offset).limit(limit)


def _ordered(query: Select, sort: str, descending: bool) -> Select:
    column = SORTABLE.get(sort, Trial.created_at)
    order = (column.desc(), Trial.id.desc()) if descending else (column.asc(), Trial.id.asc())
    return query.order_by(*order)


def search_trials(
    flt: TrialFilter,
    scope: OwnerScope,
    *,
    sort: str = "created_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[TrialRecord], int]:
    """One page of the trials ``scope`` may see and their total count, filtered and
    sorted in the database."""
    count, page = search_statements(
        flt, scope, sort=sort, descending=descending, offset=offset, limit=limit
    )
    with session_scope() as session:
        total = int(session.scalar(count) or 0)
        ids = list(session.scalars(page))
        if not ids:
            return [], total
        rows = {
            row.id: _trial(row) for row in session.scalars(select(Trial).where(Trial.id.in_(ids)))
        }
        return [rows[i] for i in ids if i in rows], total


def _guarded(column: Any, prefixes: tuple[str, ...]) -> Any:
    """``column``, with a quote put before a value that starts with one of ``prefixes``."""
    if not prefixes:
        return column
    starts = func.substr(column, 1, 1).in_([literal(p) for p in prefixes])
    return case((starts, literal("'") + column), else_=column)


def _primary_numbers(dialect: str) -> tuple[Any, Any]:
    """(the primary metric's ``std`` in the metrics summary, its hold-out value), read
    from the JSON in the database rather than parsed row by row in Python."""
    std: Any
    holdout: Any
    if dialect == "postgresql":
        std = Trial.metrics.op("->")(Trial.metric_name).op("->>")(literal("std"))
        holdout = Trial.holdout_metrics.op("->>")(Trial.metric_name)
    else:  # SQLite's JSON1 functions
        std = func.json_extract(Trial.metrics, literal('$."') + Trial.metric_name + '".std')
        holdout = func.json_extract(Trial.holdout_metrics, literal('$."') + Trial.metric_name + '"')
    return cast(std, Float), cast(holdout, Float)


def _iso_created(dialect: str) -> Any:
    """``created_at`` as the text ``datetime.isoformat`` gives its UTC value (fractions
    of a second only when not zero, then ``+00:00``), written by the database."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", Trial.created_at)
        whole = func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
        micros = func.extract("microseconds", Trial.created_at) % 1_000_000
        fraction = case((micros == 0, literal("")), else_=func.to_char(utc, ".US"))
        return whole + fraction + "+00:00"
    # SQLite holds "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's format for its DATETIME)
    stored = cast(Trial.created_at, Text)
    date_time = func.substr(stored, 1, 10) + "T" + func.substr(stored, 12, 8)
    digits = func.substr(stored, 20)
    return date_time + case((digits.in_(["", ".000000"]), literal("")), else_=digits) + "+00:00"


def export_batches(
    flt: TrialFilter,
    scope: OwnerScope,
    *,
    sort: str = "created_at",
    descending: bool = True,
    limit: int | None = None,
    batch: int = 2000,
    guard_prefixes: tuple[str, ...] = (),
) -> Iterator[list[tuple[Any, ...]]]:
    """The trials ``scope`` may see matching ``flt``, in the table's order, as batches of
    tuples (the CSV export): id, created_at (ISO 8601 text), user_id, goal_id, job_id,
    action, model_id, family, task, status, metric_name, metric_value, the primary
    metric's std over the folds and its hold-out value, duration_s, seed, dataset_id,
    artifact_path, error,
    and the params, metrics and holdout_metrics JSON as stored (text). Text columns that
    start with one of ``guard_prefixes`` get a leading quote. Read through a server-side
    cursor on PostgreSQL, so memory holds one batch whatever the count."""
    engine = get_engine()
    std, holdout = _primary_numbers(engine.dialect.name)
    created = _iso_created(engine.dialect.name)
    text = [
        _guarded(column, guard_prefixes)
        for column in (
            Trial.action,
            Trial.model_id,
            Trial.family,
            Trial.task,
            Trial.status,
            Trial.metric_name,
        )
    ]
    columns = [
        Trial.id,
        created,
        Trial.user_id,
        Trial.goal_id,
        Trial.job_id,
        *text,
        Trial.metric_value,
        std,
        holdout,
        Trial.duration_s,
        Trial.seed,
        Trial.dataset_id,
        _guarded(Trial.artifact_path, guard_prefixes),
        _guarded(Trial.error, guard_prefixes),
        # The JSON columns as the text stored: an export copies them, it need not parse them.
        cast(Trial.params, Text),
        cast(Trial.metrics, Text),
        cast(Trial.holdout_metrics, Text),
    ]
    query = _ordered(_apply(select(*columns), flt, scope), sort, descending)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch).execute(query)
        for partition in result.partitions():
            yield [tuple(row) for row in partition]


def get_trials(trial_ids: list[int], scope: OwnerScope) -> list[TrialRecord]:
    """The given trials ``scope`` may see, in the order asked (missing and invisible ids
    are left out)."""
    if not trial_ids:
        return []
    query = _scoped(select(Trial).where(Trial.id.in_(trial_ids)), scope)
    with session_scope() as session:
        rows = {row.id: _trial(row) for row in session.scalars(query)}
    return [rows[i] for i in trial_ids if i in rows]


def annotate_trial(trial_id: int, **notes: Any) -> None:
    """Merge ``notes`` into a trial's reproducibility record: provenance that is not a
    training parameter (who proposed the configuration and why)."""
    with session_scope() as session:
        row = session.get(Trial, trial_id)
        if row is None:
            return
        # A new dict, so the JSON column is seen as changed.
        row.reproducibility = {**(row.reproducibility or {}), **notes}


def trial_for_job(job_id: int) -> TrialRecord | None:
    """The newest trial recorded by a job (a re-run finds its new trial this way)."""
    with session_scope() as session:
        row = session.scalars(
            select(Trial).where(Trial.job_id == job_id, _COUNTED).order_by(Trial.id.desc()).limit(1)
        ).first()
        return _trial(row) if row else None


def trials_for_job(job_id: int) -> list[TrialRecord]:
    """Every counted trial a job recorded, over all its attempts, oldest first."""
    with session_scope() as session:
        rows = session.scalars(
            select(Trial).where(Trial.job_id == job_id, _COUNTED).order_by(Trial.id)
        )
        return [_trial(row) for row in rows]


def supersede_job_trials(job_id: int, keep: set[int]) -> int:
    """Mark the job's counted trials other than ``keep`` superseded (a retry replaces
    them); returns how many. Their rollup buckets are recounted in the same
    transaction."""
    condition = [Trial.job_id == job_id, _COUNTED]
    if keep:
        condition.append(Trial.id.not_in(sorted(keep)))
    with session_scope() as session:
        touched = session.execute(select(*_BUCKET_COLUMNS).where(*condition)).all()
        if not touched:
            return 0
        result = session.execute(
            update(Trial)
            .where(*condition)
            .values(superseded=True)
            .execution_options(synchronize_session=False)
        )
        _recount_buckets(session, {_bucket_of(*values) for values in touched})
        return int(getattr(result, "rowcount", 0) or 0)


def usernames(
    user_ids: set[int] | list[int] | None = None, scope: OwnerScope | None = None
) -> dict[int, str]:
    """Username by id: of the given users, or of everyone who owns a trial ``scope`` may
    see (the user filter's choices)."""
    with session_scope() as session:
        query = select(User.id, User.username)
        if user_ids is None:
            if scope is None:
                raise ValueError("usernames of trial owners need the reader's scope")
            if get_engine().dialect.name == "sqlite":  # see distinct_values
                owners = _scoped(
                    select(Trial.user_id).where(Trial.user_id.is_not(None)).distinct(), scope
                )
            else:
                owners = _apply_rollups(
                    select(TrialRollup.user_id).where(TrialRollup.user_id.is_not(None)).distinct(),
                    TrialFilter(),
                    scope,
                )
            query = query.where(User.id.in_(owners))
        else:
            ids = [i for i in user_ids if i is not None]
            if not ids:
                return {}
            query = query.where(User.id.in_(ids))
        return dict(session.execute(query.order_by(User.username)).all())


def goal_names(
    goal_ids: set[int] | list[int] | None = None, scope: OwnerScope | None = None
) -> dict[int, str]:
    """Goal name by id: of the given goals, or of every goal ``scope`` (a goal scope)
    may see."""
    with session_scope() as session:
        query = select(Goal.id, Goal.name)
        if goal_ids is not None:
            ids = [i for i in goal_ids if i is not None]
            if not ids:
                return {}
            query = query.where(Goal.id.in_(ids))
        elif scope is None:
            raise ValueError("listing goal names needs the reader's scope")
        if scope is not None:
            condition = scope.where(Goal.user_id)
            if condition is not None:
                query = query.where(condition)
        return dict(session.execute(query.order_by(Goal.id.desc())).all())


def trials_for_goal(goal_id: int, after_id: int = 0) -> list[TrialRecord]:
    """The goal's counted trials, oldest first; with ``after_id`` only the newer ones
    (a live view adds what the loop wrote since its last look)."""
    query = select(Trial).where(Trial.goal_id == goal_id, _COUNTED)
    if after_id:
        query = query.where(Trial.id > after_id)
    with session_scope() as session:
        return [_trial(row) for row in session.scalars(query.order_by(Trial.id))]


def goal_trials_mark(goal_id: int) -> tuple[int, int]:
    """(how many counted trials the goal has, the newest one's id; 0 when none): a live
    view compares it with what it holds and reads trials only when it moved."""
    with session_scope() as session:
        count, newest = session.execute(
            select(func.count(Trial.id), func.max(Trial.id)).where(
                Trial.goal_id == goal_id, _COUNTED
            )
        ).one()
        return int(count), int(newest or 0)


def distinct_values(column_name: str, scope: OwnerScope) -> list[str]:
    """The distinct non-empty values of one column over the trials ``scope`` may see.
    PostgreSQL reads them from the rollups (it has no skip scan: a DISTINCT walks a
    whole index); SQLite from the trials' own indexes, which it skips through."""
    sqlite = get_engine().dialect.name == "sqlite"
    if column_name == "model_id" or sqlite:
        column = {
            "family": Trial.family,
            "action": Trial.action,
            "status": Trial.status,
            "metric_name": Trial.metric_name,
            "model_id": Trial.model_id,
        }[column_name]
        query = _scoped(select(column).distinct().order_by(column), scope)
    else:
        column = {
            "family": TrialRollup.family,
            "action": TrialRollup.action,
            "status": TrialRollup.status,
            "metric_name": TrialRollup.metric_name,
        }[column_name]
        query = _apply_rollups(select(column).distinct().order_by(column), TrialFilter(), scope)
    with session_scope() as session:
        return [v for v in session.scalars(query) if v]


@dataclass(frozen=True)
class GoalOutcome:
    """One trial of a goal, reduced to what a proposer learns across goals from."""

    goal_id: int
    family: str
    model_id: str | None
    metric_name: str | None
    metric_value: float | None
    status: str


def outcomes_of_other_goals(
    task: str, exclude_goal_id: int | None = None, limit: int = 5000
) -> list[GoalOutcome]:
    """The newest ``limit`` trials of goals other than ``exclude_goal_id`` on ``task``
    (classification or regression) that name a model family, newest first."""
    with session_scope() as session:
        query = (
            select(
                Trial.goal_id,
                Trial.family,
                Trial.model_id,
                Trial.metric_name,
                Trial.metric_value,
                Trial.status,
            )
            .where(
                Trial.goal_id.is_not(None),
                Trial.task == task,
                Trial.family.is_not(None),
                _COUNTED,
            )
            .order_by(Trial.id.desc())
            .limit(limit)
        )
        if exclude_goal_id is not None:
            query = query.where(Trial.goal_id != exclude_goal_id)
        outcomes = []
        for goal_id, family, model_id, metric_name, metric_value, status in session.execute(
            query
        ).all():
            if goal_id is not None and family is not None:  # always: the query filters them
                outcomes.append(
                    GoalOutcome(goal_id, family, model_id, metric_name, metric_value, status)
                )
        return outcomes


def trials_on_dataset(dataset_id: int, scope: OwnerScope, task: str | None = None) -> int:
    """How many configurations ``scope``'s owner tried on one dataset (every action and
    goal, failures too; re-runs that only scored a hold-out are not new tries): the
    number of trials a deflated Sharpe ratio and PBO must account for."""
    query = select(Trial.reproducibility).where(Trial.dataset_id == dataset_id, _COUNTED)
    if task is not None:
        query = query.where(Trial.task == task)
    condition = scope.where(Trial.user_id)
    if condition is not None:
        query = query.where(condition)
    with session_scope() as session:
        return sum(
            1 for notes in session.scalars(query) if not (notes or {}).get("holdout_check_of")
        )


def succeeded_on_dataset(
    dataset_id: int, scope: OwnerScope, task: str | None = None, limit: int = 1000
) -> list[TrialRecord]:
    """The newest succeeded trials ``scope``'s owner ran on one dataset (the trials a
    PBO over that data is computed from)."""
    query = select(Trial).where(Trial.dataset_id == dataset_id, Trial.status == "succeeded")
    if task is not None:
        query = query.where(Trial.task == task)
    query = _scoped(query, scope).order_by(Trial.id.desc()).limit(limit)
    with session_scope() as session:
        return [_trial(row) for row in session.scalars(query)]


# --- rollups: counted trials summed per day and filter values -------------------------
#
# ``trial_rollups`` holds, per UTC day and per (owner, goal, action, family, status,
# metric name), how many counted trials there are and the sum, minimum and maximum of
# their metric values. create_trial adds to a bucket with an upsert in its own
# transaction; supersede_job_trials recounts the buckets it touched from the trials.
# The Trials page's totals, filter choices and charts read the rollups whenever the
# filter is one they can answer (no metric range, whole days), so their cost grows with
# days × filter values, not with trials.

_BUCKET_COLUMNS = (
    Trial.created_at,
    Trial.user_id,
    Trial.goal_id,
    Trial.action,
    Trial.family,
    Trial.status,
    Trial.metric_name,
)


@dataclass(frozen=True)
class Bucket:
    day: date
    user_id: int | None
    goal_id: int | None
    action: str
    family: str | None
    status: str
    metric_name: str | None

    @property
    def key(self) -> str:
        """The bucket's unique text (its values as a JSON list: no two buckets share it)."""
        return json.dumps(
            [
                self.day.isoformat(),
                self.user_id,
                self.goal_id,
                self.action,
                self.family,
                self.status,
                self.metric_name,
            ],
            separators=(",", ":"),
        )


def utc_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def _bucket_of(created_at, user_id, goal_id, action, family, status, metric_name) -> Bucket:
    return Bucket(utc_day(created_at), user_id, goal_id, action, family, status, metric_name)


def _merged(old: Any, new: Any, lowest: Any, highest: Any) -> dict[str, Any]:
    """The SET of an upsert that adds ``new``'s counts and values to ``old``'s."""

    def either(a: Any, b: Any) -> Any:  # NULL only when both are
        return func.coalesce(a, b)

    return {
        "trials": old.trials + new.trials,
        "valued": old.valued + new.valued,
        "value_sum": func.coalesce(old.value_sum + new.value_sum, old.value_sum, new.value_sum),
        "value_min": lowest(
            either(old.value_min, new.value_min), either(new.value_min, old.value_min)
        ),
        "value_max": highest(
            either(old.value_max, new.value_max), either(new.value_max, old.value_max)
        ),
    }


def _upsert_rollup(session: Session, bucket: Bucket, add: dict[str, Any]) -> None:
    """Add counts and values to one bucket (created when missing), atomically."""
    values = {
        "bucket": bucket.key,
        "day": bucket.day,
        "user_id": bucket.user_id,
        "goal_id": bucket.goal_id,
        "action": bucket.action,
        "family": bucket.family,
        "status": bucket.status,
        "metric_name": bucket.metric_name,
        **add,
    }
    old = TrialRollup.__table__.c
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(TrialRollup).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[old.bucket],
            set_=_merged(old, statement.excluded, func.least, func.greatest),
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(TrialRollup).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[old.bucket],
            # SQLite's two-argument min() and max() are scalar functions
            set_=_merged(
                old,
                statement.excluded,
                lambda a, b: func.min(a, b),
                lambda a, b: func.max(a, b),
            ),
        )
    session.execute(statement)


def _add_to_rollups(session: Session, row: Trial) -> None:
    value = row.metric_value
    _upsert_rollup(
        session,
        _bucket_of(*(getattr(row, column.key) for column in _BUCKET_COLUMNS)),
        {
            "trials": 1,
            "valued": 0 if value is None else 1,
            "value_sum": value,
            "value_min": value,
            "value_max": value,
        },
    )


def _is(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _recount_buckets(session: Session, buckets: Iterable[Bucket]) -> None:
    """Set each bucket to what the counted trials say now. The bucket's row is locked
    first (PostgreSQL), so a concurrent create_trial's increment lands after the
    recount, not inside it."""
    for bucket in sorted(buckets, key=lambda b: b.key):  # one lock order: no deadlocks
        session.execute(
            select(TrialRollup.id).where(TrialRollup.bucket == bucket.key).with_for_update()
        ).all()
        start = datetime.combine(bucket.day, day_time.min, UTC)
        trials, valued, total, low, high = session.execute(
            select(
                func.count(Trial.id),
                func.count(Trial.metric_value),
                func.sum(Trial.metric_value),
                func.min(Trial.metric_value),
                func.max(Trial.metric_value),
            ).where(
                _COUNTED,
                Trial.created_at >= start,
                Trial.created_at < start + timedelta(days=1),
                _is(Trial.user_id, bucket.user_id),
                _is(Trial.goal_id, bucket.goal_id),
                Trial.action == bucket.action,
                _is(Trial.family, bucket.family),
                Trial.status == bucket.status,
                _is(Trial.metric_name, bucket.metric_name),
            )
        ).one()
        if not trials:
            session.execute(delete(TrialRollup).where(TrialRollup.bucket == bucket.key))
            continue
        session.execute(delete(TrialRollup).where(TrialRollup.bucket == bucket.key))
        _upsert_rollup(
            session,
            bucket,
            {
                "trials": trials,
                "valued": valued,
                "value_sum": total,
                "value_min": low,
                "value_max": high,
            },
        )


def _day_of_created(dialect: str) -> Any:
    """The UTC day of ``trials.created_at`` in SQL (a date on PostgreSQL, 'YYYY-MM-DD'
    text on SQLite)."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", Trial.created_at), Date)
    return func.substr(cast(Trial.created_at, String), 1, 10)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def rebuild_rollups() -> int:
    """Recount every bucket from the trials (after a bulk load that bypassed
    create_trial, or to repair); returns the number of buckets."""
    engine = get_engine()
    day = _day_of_created(engine.dialect.name)
    keys = (
        Trial.user_id,
        Trial.goal_id,
        Trial.action,
        Trial.family,
        Trial.status,
        Trial.metric_name,
    )
    query = (
        select(
            day,
            *keys,
            func.count(Trial.id),
            func.count(Trial.metric_value),
            func.sum(Trial.metric_value),
            func.min(Trial.metric_value),
            func.max(Trial.metric_value),
        )
        .where(_COUNTED)
        .group_by(day, *keys)
    )
    with session_scope() as session:
        session.execute(delete(TrialRollup))
        rows = []
        for (
            raw_day,
            user_id,
            goal_id,
            action,
            family,
            status,
            metric,
            n,
            valued,
            total,
            low,
            high,
        ) in session.execute(query):
            bucket = Bucket(_as_date(raw_day), user_id, goal_id, action, family, status, metric)
            rows.append(
                {
                    "bucket": bucket.key,
                    "day": bucket.day,
                    "user_id": user_id,
                    "goal_id": goal_id,
                    "action": action,
                    "family": family,
                    "status": status,
                    "metric_name": metric,
                    "trials": n,
                    "valued": valued,
                    "value_sum": total,
                    "value_min": low,
                    "value_max": high,
                }
            )
        for start in range(0, len(rows), 5000):
            session.execute(insert(TrialRollup), rows[start : start + 5000])
        return len(rows)


def _whole_day(moment: datetime | None, *, end: bool) -> bool:
    if moment is None:
        return True
    clock = moment.astimezone(UTC).timetz().replace(tzinfo=None)
    return clock == (day_time.max if end else day_time.min)


def rollups_answer(flt: TrialFilter) -> bool:
    """Whether the rollups hold the answer for ``flt``: no metric range, model or id
    list, and dates that are whole UTC days."""
    return (
        flt.metric_min is None
        and flt.metric_max is None
        and flt.model_id is None
        and not flt.ids
        and _whole_day(flt.created_from, end=False)
        and _whole_day(flt.created_to, end=True)
    )


def _apply_rollups(query: Select, flt: TrialFilter, scope: OwnerScope) -> Select:
    condition = scope.where(TrialRollup.user_id)
    if condition is not None:
        query = query.where(condition)
    conditions = {
        TrialRollup.goal_id: flt.goal_id,
        TrialRollup.family: flt.family,
        TrialRollup.action: flt.action,
        TrialRollup.status: flt.status,
        TrialRollup.user_id: flt.user_id,
        TrialRollup.metric_name: flt.metric_name,
    }
    for column, value in conditions.items():
        if value is not None:
            query = query.where(column == value)
    if flt.created_from is not None:
        query = query.where(TrialRollup.day >= utc_day(flt.created_from))
    if flt.created_to is not None:
        query = query.where(TrialRollup.day <= utc_day(flt.created_to))
    return query


def count_statement(
    flt: TrialFilter, scope: OwnerScope, *, use_rollups: bool | None = None
) -> Select:
    """How many trials match: summed from the rollups when they can answer (or
    ``use_rollups`` says so), else counted in the trials."""
    if rollups_answer(flt) if use_rollups is None else use_rollups:
        return _apply_rollups(select(func.coalesce(func.sum(TrialRollup.trials), 0)), flt, scope)
    return _apply(select(func.count(Trial.id)), flt, scope)


@dataclass(frozen=True)
class SummaryRow:
    """Counted trials of one UTC day, family, status and metric name."""

    day: date
    family: str | None
    status: str
    metric_name: str | None
    trials: int
    valued: int
    value_sum: float | None
    value_min: float | None
    value_max: float | None


def summary_statement(
    flt: TrialFilter, scope: OwnerScope, *, use_rollups: bool | None = None
) -> Select:
    """Counts and metric sums per day, family, status and metric name of the trials
    matching ``flt``: from the rollups when they can answer (or ``use_rollups`` says
    so), else aggregated over the trials in the database."""
    if rollups_answer(flt) if use_rollups is None else use_rollups:
        keys: tuple[Any, ...] = (
            TrialRollup.day,
            TrialRollup.family,
            TrialRollup.status,
            TrialRollup.metric_name,
        )
        query = select(
            *keys,
            func.sum(TrialRollup.trials),
            func.sum(TrialRollup.valued),
            func.sum(TrialRollup.value_sum),
            func.min(TrialRollup.value_min),
            func.max(TrialRollup.value_max),
        )
        return _apply_rollups(query, flt, scope).group_by(*keys).order_by(*keys)
    day = _day_of_created(get_engine().dialect.name)
    keys = (day, Trial.family, Trial.status, Trial.metric_name)
    query = select(
        *keys,
        func.count(Trial.id),
        func.count(Trial.metric_value),
        func.sum(Trial.metric_value),
        func.min(Trial.metric_value),
        func.max(Trial.metric_value),
    )
    return _apply(query, flt, scope).group_by(*keys).order_by(*keys)


def summary(
    flt: TrialFilter, scope: OwnerScope, *, use_rollups: bool | None = None
) -> list[SummaryRow]:
    statement = summary_statement(flt, scope, use_rollups=use_rollups)
    with session_scope() as session:
        return [
            SummaryRow(
                _as_date(day), family, status, metric, int(n), int(valued or 0), total, low, high
            )
            for day, family, status, metric, n, valued, total, low, high in session.execute(
                statement
            )
        ]
