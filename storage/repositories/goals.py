"""Goals the autonomous loop works toward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from storage.access import OwnerScope
from storage.db import rows_matched, session_scope
from storage.models import Goal, utcnow


@dataclass(frozen=True)
class GoalRecord:
    id: int
    user_id: int | None
    name: str
    spec: dict[str, Any]
    notes: str | None
    status: str
    best_value: float | None
    best_trial_id: int | None
    trials_run: int
    stop_reason: str | None
    loop_job_id: int | None
    created_at: datetime
    updated_at: datetime


GOAL_FIELDS = tuple(GoalRecord.__dataclass_fields__)
UPDATABLE = {
    "name",
    "spec",
    "notes",
    "status",
    "best_value",
    "best_trial_id",
    "trials_run",
    "stop_reason",
    "loop_job_id",
}


def _goal(row: Goal) -> GoalRecord:
    return GoalRecord(**{name: getattr(row, name) for name in GOAL_FIELDS})


def create_goal(
    user_id: int | None, name: str, spec: dict[str, Any], notes: str | None
) -> GoalRecord:
    with session_scope() as session:
        row = Goal(user_id=user_id, name=name, spec=spec, notes=notes, status="active")
        session.add(row)
        session.flush()
        return _goal(row)


def get_goal(goal_id: int) -> GoalRecord | None:
    with session_scope() as session:
        row = session.get(Goal, goal_id)
        return _goal(row) if row else None


def list_goals(scope: OwnerScope, status: str | None = None) -> list[GoalRecord]:
    """Newest first, of the goals ``scope`` admits."""
    with session_scope() as session:
        query = select(Goal).order_by(Goal.id.desc())
        owned = scope.where(Goal.user_id)
        if owned is not None:
            query = query.where(owned)
        if status is not None:
            query = query.where(Goal.status == status)
        return [_goal(row) for row in session.scalars(query)]


def update_goal(goal_id: int, **fields: Any) -> None:
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    with session_scope() as session:
        session.execute(
            update(Goal).where(Goal.id == goal_id).values(updated_at=utcnow(), **fields)
        )


def set_status_if(goal_id: int, expected: tuple[str, ...], status: str, **fields: Any) -> bool:
    """Change the status only from one of ``expected`` (so a stop is never overwritten)."""
    with session_scope() as session:
        changed = rows_matched(
            session.execute(
                update(Goal)
                .where(Goal.id == goal_id, Goal.status.in_(expected))
                .values(status=status, updated_at=utcnow(), **fields)
            )
        )
        return changed == 1
