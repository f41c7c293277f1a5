"""Jobs, their dependencies and progress events."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from storage.access import OwnerScope
from storage.actor import process_actor
from storage.clock import database_now, older_than
from storage.db import (
    EncodedJSON,
    get_autocommit_engine,
    get_engine,
    rows_matched,
    session_scope,
)
from storage.models import (
    JOB_TERMINAL_STATES,
    Job,
    JobAttempt,
    JobDependency,
    JobEvent,
    UsageRecord,
    utcnow,
)


@dataclass(frozen=True)
class JobRecord:
    id: int
    action: str
    params: dict[str, Any]
    user_id: int | None
    goal_id: int | None
    status: str
    inline: bool
    cpu_bound: bool
    idempotent: bool
    progress: float
    attempts: int
    max_attempts: int
    cancel_requested: bool
    worker: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None
    actor: str | None = None  # the OS account of a command-line submission

    @property
    def terminal(self) -> bool:
        return self.status in JOB_TERMINAL_STATES


@dataclass(frozen=True)
class AttemptRecord:
    """An attempt of a job that was interrupted or failed (see ``JobAttempt``)."""

    attempt: int
    error: str
    counted: bool
    at: datetime


# The executor's hot path (create, get, claim, finish, ready, events) uses prebuilt Core
# statements on a plain connection: the ORM session and identity map cost several times
# the SQL itself for these one-row statements.
_JOBS = cast(Table, Job.__table__)  # typed as a FromClause; a declarative model's is a Table
_RECORD_COLUMNS = [_JOBS.c[name] for name in JobRecord.__dataclass_fields__]
_GET_JOB = select(*_RECORD_COLUMNS).where(_JOBS.c.id == bindparam("job_id"))
_INSERT_JOB = insert(_JOBS).returning(_JOBS.c.id)
# An inline call is created running: its stamps come from the database's clock, like a
# claimed job's (storage.clock), so the inline stale cut-off compares like with like.
_INSERT_RUNNING_JOB = (
    insert(_JOBS)
    .values(started_at=database_now(), heartbeat_at=database_now())
    .returning(_JOBS.c.id)
)
_INSERT_DEPENDENCY = insert(JobDependency)
# Attempt stamps come from the database's clock too (storage.clock).
_INSERT_ATTEMPT = insert(JobAttempt).values(at=database_now())
_INSERT_USAGE = insert(UsageRecord).values(at=database_now())


@contextmanager
def _transaction() -> Iterator[Any]:
    """A Core connection in a transaction (commits on success, rolls back on error)."""
    with get_engine().begin() as connection:
        yield connection


@contextmanager
def _single() -> Iterator[Any]:
    """A Core connection in autocommit mode, for one statement (atomic by itself): saves
    the BEGIN and COMMIT round trips on PostgreSQL."""
    with get_autocommit_engine().connect() as connection:
        yield connection


def _update_jobs():
    """UPDATE jobs without the ORM's in-session synchronisation (no objects are loaded in
    these short sessions; skipping it halves the cost of the hot-path updates)."""
    return update(Job).execution_options(synchronize_session=False)


def create_job(
    action: str,
    params: dict[str, Any],
    user_id: int | None,
    *,
    goal_id: int | None = None,
    inline: bool = False,
    cpu_bound: bool = True,
    idempotent: bool = True,
    max_attempts: int = 3,
    depends_on: list[int] | None = None,
    status: str = "queued",
) -> int:
    """Insert a job and its dependencies in one transaction; returns its id."""
    now = utcnow()
    running = status == "running"
    with _transaction() if depends_on else _single() as connection:
        job_id = connection.execute(
            _INSERT_RUNNING_JOB if running else _INSERT_JOB,
            {
                "action": action,
                "params": params,
                "user_id": user_id,
                "goal_id": goal_id,
                "inline": inline,
                "cpu_bound": cpu_bound,
                "idempotent": idempotent,
                "max_attempts": max_attempts,
                "status": status,
                "created_at": now,
                "actor": process_actor(),
            },
        ).scalar_one()
        if depends_on:
            connection.execute(
                _INSERT_DEPENDENCY,
                [{"job_id": job_id, "depends_on_id": parent} for parent in depends_on],
            )
        return job_id


def get_job(job_id: int) -> JobRecord | None:
    with _single() as connection:
        row = connection.execute(_GET_JOB, {"job_id": job_id}).first()
    return JobRecord(*row) if row is not None else None


_GET_STATUS = select(_JOBS.c.status).where(_JOBS.c.id == bindparam("job_id"))


def get_status(job_id: int) -> str | None:
    """Only the job's status (polling reads it without the params and result JSON)."""
    with _single() as connection:
        return connection.execute(_GET_STATUS, {"job_id": job_id}).scalar()


def list_jobs(
    scope: OwnerScope,
    *,
    statuses: tuple[str, ...] | None = None,
    limit: int = 50,
    inline: bool | None = None,
    goal_id: int | None = None,
    action: str | None = None,
) -> list[JobRecord]:
    """Newest first, of the jobs ``scope`` admits (``engine.auth.permissions.scope_for``;
    ``OwnerScope.all_rows()`` for maintenance); ``inline`` filters quick calls (True) or
    background jobs (False); ``goal_id`` and ``action`` keep one goal's, one action's."""
    query = select(*_RECORD_COLUMNS).order_by(_JOBS.c.id.desc()).limit(limit)
    owned = scope.where(_JOBS.c.user_id)
    if owned is not None:
        query = query.where(owned)
    if statuses:
        query = query.where(_JOBS.c.status.in_(statuses))
    if inline is not None:
        query = query.where(_JOBS.c.inline.is_(inline))
    if goal_id is not None:
        query = query.where(_JOBS.c.goal_id == goal_id)
    if action is not None:
        query = query.where(_JOBS.c.action == action)
    with _single() as connection:
        return [JobRecord(*row) for row in connection.execute(query)]


def dependencies(job_id: int) -> list[int]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(JobDependency.depends_on_id).where(JobDependency.job_id == job_id)
            )
        )


def dependency_edges(job_ids: set[int]) -> dict[int, list[int]]:
    """Parents of the given jobs (used to refuse cycles at submit time)."""
    with session_scope() as session:
        edges: dict[int, list[int]] = {}
        rows = session.execute(
            select(JobDependency.job_id, JobDependency.depends_on_id).where(
                JobDependency.job_id.in_(job_ids)
            )
        )
        for child, parent in rows:
            edges.setdefault(child, []).append(parent)
        return edges


def dependents(job_id: int) -> list[int]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(JobDependency.job_id).where(JobDependency.depends_on_id == job_id)
            )
        )


def statuses(job_ids: list[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    with session_scope() as session:
        return dict(session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids))).all())


_CLAIM = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("claim_id"),
        _JOBS.c.status == "queued",
        _JOBS.c.cancel_requested.is_(False),
    )
    .values(
        status="running",
        worker=bindparam("claim_worker"),
        started_at=database_now(),
        heartbeat_at=database_now(),
        attempts=_JOBS.c.attempts + 1,
    )
)
_CLAIM_RETURNING = _CLAIM.returning(*_RECORD_COLUMNS)


def claim(job_id: int, worker: str) -> bool:
    """queued -> running, atomically; False if someone else took it or it was cancelled."""
    return claim_record(job_id, worker) is not None


def claim_record(job_id: int, worker: str) -> JobRecord | None:
    """``claim`` that also returns the claimed job as it now is (one statement instead of
    a claim and a read: the worker needs the row anyway)."""
    with _single() as connection:
        row = connection.execute(
            _CLAIM_RETURNING, {"claim_id": job_id, "claim_worker": worker}
        ).first()
    return JobRecord(*row) if row is not None else None


def finish(
    job_id: int,
    status: str,
    *,
    result: dict[str, Any] | EncodedJSON | None = None,
    error: str | None = None,
    only_from: tuple[str, ...] = ("queued", "running"),
    worker: str | None = None,
    usage: dict[str, Any] | None = None,
) -> bool:
    """Store the result (a dict, or its JSON text as :class:`storage.db.EncodedJSON`) or
    error together with the terminal state, in one transaction.

    ``worker``: only if the job is still held by that worker (a worker that was declared
    dead and replaced cannot overwrite the new attempt). ``usage``: the columns of a
    ``usage_records`` row (what the attempt spent), written in the same transaction when
    the outcome lands, so whoever sees the outcome sees its usage too.
    """
    if status not in JOB_TERMINAL_STATES:
        raise ValueError(f"{status!r} is not a terminal state")
    statement = _finish_statement(
        tuple(only_from), worker is not None, result is not None, status == "succeeded"
    )
    parameters = {"f_id": job_id, "f_status": status, "f_error": error}
    if worker is not None:
        parameters["f_worker"] = worker
    if result is not None:
        parameters["f_result"] = result
    failed_attempt = status == "failed" and worker is not None and bool(error)
    if failed_attempt or usage is not None:
        with _transaction() as connection:
            attempt = connection.execute(
                statement.returning(_JOBS.c.attempts), parameters
            ).scalar_one_or_none()
            if attempt is None:
                return False
            if failed_attempt:
                # A worker's own attempt failed: keep its error in the attempt history too.
                connection.execute(
                    _INSERT_ATTEMPT,
                    {"job_id": job_id, "attempt": attempt, "error": error, "counted": True},
                )
            if usage is not None:
                connection.execute(_INSERT_USAGE, {"job_id": job_id, **usage})
            return True
    with _single() as connection:
        return connection.execute(statement, parameters).rowcount == 1


@lru_cache(maxsize=64)
def _finish_statement(only_from: tuple[str, ...], by_worker: bool, with_result: bool, done: bool):
    conditions = [_JOBS.c.id == bindparam("f_id"), _JOBS.c.status.in_(only_from)]
    if by_worker:
        conditions.append(_JOBS.c.worker == bindparam("f_worker"))
    values: dict[str, Any] = {
        "status": bindparam("f_status"),
        "finished_at": database_now(),
        "error": bindparam("f_error"),
    }
    if with_result:
        values["result"] = bindparam("f_result")
    if done:
        values["progress"] = 1.0
    return update(_JOBS).where(*conditions).values(**values)


def requeue(job_id: int, error: str, *, clear_events: bool = True) -> bool:
    """running|interrupted -> queued for another attempt; its old progress points go."""
    with session_scope() as session:
        changed = rows_matched(
            session.execute(
                _update_jobs()
                .where(Job.id == job_id, Job.status.in_(("running", "interrupted")))
                .values(status="queued", worker=None, heartbeat_at=None, progress=0.0, error=error)
            )
        )
        if changed == 1 and clear_events:
            session.execute(delete(JobEvent).where(JobEvent.job_id == job_id))
        return changed == 1


def mark_interrupted(
    job_id: int,
    error: str,
    *,
    stale_seconds: float | None = None,
    worker_prefix: str | None = None,
    worker: str | None = None,
    counted: bool = True,
) -> bool:
    """running -> interrupted, atomically re-checking why: the heartbeat is still older than
    ``stale_seconds`` by the database's clock, and/or the job is still held by a worker
    whose name starts with ``worker_prefix`` (host:pid: of a process known to be dead), or
    by ``worker`` itself (the worker that saw its attempt cut short). The attempt goes into
    the job's history; ``counted=False`` (a shutdown, not a failure) gives it back, so
    the retry runs as the same attempt number."""
    conditions = [Job.id == job_id, Job.status == "running"]
    if stale_seconds is not None:
        conditions.append(older_than(Job.heartbeat_at, stale_seconds))
    if worker_prefix is not None:
        conditions.append(Job.worker.startswith(worker_prefix, autoescape=True))
    if worker is not None:
        conditions.append(Job.worker == worker)
    values: dict[str, Any] = {"status": "interrupted", "error": error}
    if not counted:
        values["attempts"] = Job.attempts - 1  # claimed, so at least 1
    with session_scope() as session:
        attempt = session.execute(
            _update_jobs().where(*conditions).values(**values).returning(Job.attempts)
        ).scalar_one_or_none()
        if attempt is None:
            return False
        session.execute(
            _INSERT_ATTEMPT,
            {
                "job_id": job_id,
                "attempt": attempt if counted else attempt + 1,
                "error": error,
                "counted": counted,
            },
        )
        return True


def attempt_history(job_id: int) -> list[AttemptRecord]:
    """The job's interrupted and failed attempts, oldest first."""
    query = (
        select(JobAttempt.attempt, JobAttempt.error, JobAttempt.counted, JobAttempt.at)
        .where(JobAttempt.job_id == job_id)
        .order_by(JobAttempt.id)
    )
    with _single() as connection:
        return [AttemptRecord(*row) for row in connection.execute(query)]


def request_cancel(job_id: int) -> None:
    with session_scope() as session:
        session.execute(_update_jobs().where(Job.id == job_id).values(cancel_requested=True))


def is_cancel_requested(job_id: int) -> bool:
    with session_scope() as session:
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def heartbeat(job_ids: list[int], progress: dict[int, float] | None = None) -> None:
    if not job_ids:
        return
    with session_scope() as session:
        session.execute(
            _update_jobs().where(Job.id.in_(job_ids)).values(heartbeat_at=database_now())
        )
        for job_id, fraction in (progress or {}).items():
            session.execute(_update_jobs().where(Job.id == job_id).values(progress=fraction))


def touch_heartbeats(held: dict[int, str]) -> set[int]:
    """Refresh the heartbeat of running jobs still held by the given workers; returns the
    ids touched (a missing one has ended, or was taken from its worker)."""
    if not held:
        return set()
    with _single() as connection:
        rows = connection.execute(
            update(_JOBS)
            .where(
                _JOBS.c.status == "running",
                or_(
                    *(
                        and_(_JOBS.c.id == job_id, _JOBS.c.worker == name)
                        for job_id, name in held.items()
                    )
                ),
            )
            .values(heartbeat_at=database_now())
            .returning(_JOBS.c.id)
        )
        return {row[0] for row in rows}


def stale_running(stale_seconds: float, *, inline: bool = False) -> list[JobRecord]:
    """Running jobs whose heartbeat is more than ``stale_seconds`` old by the database's
    clock (or missing): no process's own clock takes part (storage.clock)."""
    query = select(*_RECORD_COLUMNS).where(
        _JOBS.c.status == "running",
        _JOBS.c.inline.is_(inline),
        older_than(_JOBS.c.heartbeat_at, stale_seconds),
    )
    with _single() as connection:
        return [JobRecord(*row) for row in connection.execute(query)]


_parent = aliased(Job)
_READY_QUEUED = (
    select(Job.id, Job.action, Job.cpu_bound)
    .where(
        Job.status == "queued",
        Job.cancel_requested.is_(False),
        ~exists(
            select(JobDependency.job_id)
            .join(_parent, _parent.id == JobDependency.depends_on_id)
            .where(JobDependency.job_id == Job.id, _parent.status != "succeeded")
        ),
    )
    .order_by(Job.id)
    .limit(bindparam("limit"))
)
_BLOCKED_DEPENDENTS = (
    select(Job.id, _parent.id, _parent.action, _parent.status)
    .join(JobDependency, JobDependency.job_id == Job.id)
    .join(_parent, _parent.id == JobDependency.depends_on_id)
    .where(
        Job.status == "queued",
        _parent.status.in_(("failed", "cancelled", "budget_exhausted")),
    )
    .order_by(Job.id, _parent.id)
)


def ready_queued(limit: int = 100) -> list[tuple[int, str, bool]]:
    """(id, action, cpu_bound) of queued jobs whose dependencies have all succeeded, oldest
    first."""
    with _single() as connection:
        rows = connection.execute(_READY_QUEUED, {"limit": limit})
        return [(job_id, action, bool(cpu)) for job_id, action, cpu in rows]


def blocked_dependents() -> list[tuple[int, int, str, str]]:
    """(job, parent, parent action, parent status) for queued jobs with a parent that failed
    or was cancelled: they can never run."""
    with session_scope() as session:
        return [
            (int(job_id), int(parent_id), str(action), str(status))
            for job_id, parent_id, action, status in session.execute(_BLOCKED_DEPENDENTS)
        ]


def cancel_requested_among(job_ids: set[int] | list[int]) -> list[int]:
    """Which of these jobs are running with a cancel request."""
    if not job_ids:
        return []
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job.id).where(
                    Job.id.in_(list(job_ids)),
                    Job.status == "running",
                    Job.cancel_requested.is_(True),
                )
            )
        )


def queued_cancel_requested() -> list[int]:
    """Queued jobs someone asked to cancel (normally cancelled at once; this is the backstop)."""
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job.id).where(Job.status == "queued", Job.cancel_requested.is_(True))
            )
        )


def queued_ids(limit: int = 1000) -> list[int]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(limit)
            )
        )


def count_by_status() -> dict[str, int]:
    with session_scope() as session:
        return dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())


def _json_number(value: Any) -> Any:
    """NaN and infinities are not JSON (PostgreSQL refuses them): store null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_COPY_EVENTS = "COPY job_events (job_id, elapsed_s, fraction, metrics) FROM STDIN"
_INSERT_EVENTS = "INSERT INTO job_events (job_id, elapsed_s, fraction, metrics) VALUES (?, ?, ?, ?)"


_STRICT_JSON = json.JSONEncoder(allow_nan=False).encode


def _metrics_json(metrics: dict[str, float]) -> str:
    try:
        return _STRICT_JSON(metrics)
    except ValueError:  # a NaN or an infinity: null instead
        return json.dumps({k: _json_number(v) for k, v in metrics.items()})


def append_events(job_id: int, events: list[tuple[float, float, dict[str, float]]]) -> None:
    """Insert many progress points at once and move the job's progress (one transaction).
    PostgreSQL gets them through COPY (psycopg's executemany sends one INSERT per row)."""
    if not events:
        return
    # The metrics go in as JSON text written here once (what the JSON column's own
    # serialiser would write), through the driver's executemany or COPY: SQLAlchemy's
    # per-row parameter processing costs more than the insert itself.
    rows = [
        (job_id, elapsed, fraction, _metrics_json(metrics)) for elapsed, fraction, metrics in events
    ]
    with _transaction() as connection:
        raw = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            with raw.cursor() as cursor:
                with cursor.copy(_COPY_EVENTS) as copy:
                    for row in rows:
                        copy.write_row(row)
        else:  # SQLite
            cursor = raw.cursor()
            try:
                cursor.executemany(_INSERT_EVENTS, rows)
            finally:
                cursor.close()
        connection.execute(
            update(_JOBS)
            .where(_JOBS.c.id == job_id)
            .values(progress=events[-1][1], heartbeat_at=database_now())
        )


def read_events(job_id: int) -> list[tuple[float, float, dict[str, float]]]:
    with session_scope() as session:
        rows = session.execute(
            select(JobEvent.elapsed_s, JobEvent.fraction, JobEvent.metrics)
            .where(JobEvent.job_id == job_id)
            .order_by(JobEvent.id)
        )
        return [(elapsed, fraction, metrics or {}) for elapsed, fraction, metrics in rows]


def read_events_after(
    job_id: int, after_id: int = 0, limit: int = 200_000
) -> list[tuple[int, float, float, dict[str, float]]]:
    """(event id, elapsed, fraction, metrics) newer than ``after_id`` (incremental charts)."""
    with session_scope() as session:
        rows = session.execute(
            select(JobEvent.id, JobEvent.elapsed_s, JobEvent.fraction, JobEvent.metrics)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
        return [
            (event_id, elapsed, fraction, metrics or {})
            for event_id, elapsed, fraction, metrics in rows
        ]


def count_events(job_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).where(JobEvent.job_id == job_id)) or 0


def delete_jobs(job_ids: list[int]) -> None:
    with session_scope() as session:
        session.execute(delete(Job).where(Job.id.in_(job_ids)))
