"""Dynamic actions: versioned source of analyst- or Claude-written functions.

One row per ``(name, version)``. Saving changed source under an existing name adds the
next version (never rewrites one); a version's status moves between ``draft``,
``approved`` and ``retired``. Runs are ordinary jobs: :func:`runs_of` finds the jobs that
ran a name (by its registered action, or through ``test_dynamic_action``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.access import OwnerScope
from storage.db import rows_matched, session_scope
from storage.models import DynamicAction, Job, User, utcnow
from storage.repositories.jobs import JobRecord

STATUSES = ("draft", "approved", "retired")


@dataclass(frozen=True)
class DynamicActionRecord:
    id: int
    name: str
    version: int
    description: str
    parameters: dict[str, Any]
    source: str
    source_hash: str
    status: str
    author_id: int | None
    approved_by: int | None
    approved_at: datetime | None
    created_at: datetime
    author: str | None = None
    approver: str | None = None


_FIELDS = tuple(
    name for name in DynamicActionRecord.__dataclass_fields__ if name not in ("author", "approver")
)


def _record(row: DynamicAction, names: dict[int, str] | None = None) -> DynamicActionRecord:
    names = names or {}
    return DynamicActionRecord(
        **{name: getattr(row, name) for name in _FIELDS},
        author=names.get(row.author_id) if row.author_id is not None else None,
        approver=names.get(row.approved_by) if row.approved_by is not None else None,
    )


def _job_record(job: Job) -> JobRecord:
    return JobRecord(**{name: getattr(job, name) for name in JobRecord.__dataclass_fields__})


def _usernames(session, rows: list[DynamicAction]) -> dict[int, str]:
    ids = {i for row in rows for i in (row.author_id, row.approved_by) if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _records(session, rows: list[DynamicAction]) -> list[DynamicActionRecord]:
    names = _usernames(session, rows)
    return [_record(row, names) for row in rows]


def create_version(
    name: str,
    *,
    description: str,
    parameters: dict[str, Any],
    source: str,
    source_hash: str,
    author_id: int | None,
    attempts: int = 5,
) -> DynamicActionRecord:
    """Add the next version of ``name`` as a draft (version 1 for a new name).

    Two writers racing for the same version number: the loser retries with the next one.
    """
    for attempt in range(attempts):
        try:
            with session_scope() as session:
                current = session.scalar(
                    select(func.max(DynamicAction.version)).where(DynamicAction.name == name)
                )
                row = DynamicAction(
                    name=name,
                    version=(current or 0) + 1,
                    description=description,
                    parameters=parameters,
                    source=source,
                    source_hash=source_hash,
                    status="draft",
                    author_id=author_id,
                )
                session.add(row)
                session.flush()
                return _records(session, [row])[0]
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise RuntimeError("unreachable")


def get_version(name: str, version: int) -> DynamicActionRecord | None:
    with session_scope() as session:
        row = session.scalars(
            select(DynamicAction).where(
                DynamicAction.name == name, DynamicAction.version == version
            )
        ).first()
        return _records(session, [row])[0] if row else None


def get_by_id(action_id: int) -> DynamicActionRecord | None:
    with session_scope() as session:
        row = session.get(DynamicAction, action_id)
        return _records(session, [row])[0] if row else None


def versions(name: str) -> list[DynamicActionRecord]:
    """Every version of ``name``, newest first."""
    with session_scope() as session:
        rows = list(
            session.scalars(
                select(DynamicAction)
                .where(DynamicAction.name == name)
                .order_by(DynamicAction.version.desc())
            )
        )
        return _records(session, rows)


def latest(name: str, status: str | None = None) -> DynamicActionRecord | None:
    """The newest version of ``name`` (with ``status`` when given)."""
    with session_scope() as session:
        query = select(DynamicAction).where(DynamicAction.name == name)
        if status is not None:
            query = query.where(DynamicAction.status == status)
        row = session.scalars(query.order_by(DynamicAction.version.desc()).limit(1)).first()
        return _records(session, [row])[0] if row else None


def list_versions(
    scope: OwnerScope, *, status: str | None = None, limit: int = 2000
) -> list[DynamicActionRecord]:
    """Rows ordered by name, then newest version first: approved versions (the catalogue
    every user sees) and the drafts and retired versions whose author ``scope`` admits."""
    with session_scope() as session:
        query = select(DynamicAction)
        if status is not None:
            query = query.where(DynamicAction.status == status)
        owned = scope.where(DynamicAction.author_id)
        if owned is not None:
            query = query.where(or_(DynamicAction.status == "approved", owned))
        query = query.order_by(DynamicAction.name, DynamicAction.version.desc()).limit(limit)
        return _records(session, list(session.scalars(query)))


def latest_approved() -> list[DynamicActionRecord]:
    """For each name, its newest approved version."""
    with session_scope() as session:
        newest = (
            select(DynamicAction.name, func.max(DynamicAction.version).label("version"))
            .where(DynamicAction.status == "approved")
            .group_by(DynamicAction.name)
            .subquery()
        )
        rows = list(
            session.scalars(
                select(DynamicAction)
                .join(
                    newest,
                    (DynamicAction.name == newest.c.name)
                    & (DynamicAction.version == newest.c.version),
                )
                .order_by(DynamicAction.name)
            )
        )
        return _records(session, rows)


def set_status(
    action_id: int, status: str, *, approved_by: int | None = None, expected: tuple[str, ...] = ()
) -> bool:
    """Change one version's status (only from ``expected`` when given). Approving records
    who and when."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    values: dict[str, Any] = {"status": status}
    if status == "approved":
        values.update(approved_by=approved_by, approved_at=utcnow())
    with session_scope() as session:
        query = update(DynamicAction).where(DynamicAction.id == action_id)
        if expected:
            query = query.where(DynamicAction.status.in_(expected))
        return rows_matched(session.execute(query.values(**values))) == 1


def retire_all(name: str) -> int:
    """Retire every version of ``name``; returns how many changed."""
    with session_scope() as session:
        return rows_matched(
            session.execute(
                update(DynamicAction)
                .where(DynamicAction.name == name, DynamicAction.status != "retired")
                .values(status="retired")
            )
        )


def runs_of(
    name: str,
    scope: OwnerScope,
    *,
    limit: int = 50,
    via: tuple[str, ...] = ("test_dynamic_action",),
) -> list[JobRecord]:
    """Jobs that ran ``name``: its own registered action, or an action in ``via`` whose
    parameters name it. Newest first; only the jobs ``scope`` admits."""
    with session_scope() as session:
        query = select(Job).where(Job.action.in_((name, *via))).order_by(Job.id.desc())
        owned = scope.where(Job.user_id)
        if owned is not None:
            query = query.where(owned)
        found: list[JobRecord] = []
        for job in session.scalars(query.limit(limit * 20)):
            params = job.params if isinstance(job.params, dict) else {}
            if job.action == name or params.get("name") == name:
                found.append(_job_record(job))
                if len(found) >= limit:
                    break
        return found
