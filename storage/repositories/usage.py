"""Usage (CPU seconds, Claude tokens and dollars), daily budgets and the cost history
the run-time estimator is fitted on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from storage.db import session_scope
from storage.models import Budget, ChatMessage, Conversation, CostRecord, UsageRecord, User, utcnow

LIMIT_FIELDS = ("max_cpu_minutes", "max_tokens", "max_dollars")


@dataclass(frozen=True)
class UsageTotals:
    cpu_seconds: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    dollars: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class BudgetRecord:
    scope_key: str
    user_id: int | None
    goal_id: int | None
    max_cpu_minutes: float | None
    max_tokens: int | None
    max_dollars: float | None
    updated_by: int | None
    updated_at: datetime


@dataclass(frozen=True)
class CostRow:
    family: str
    model_id: str | None
    action: str
    rows: int
    cols: int
    folds: int
    cpu_seconds: float
    wall_seconds: float


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of today: the day budgets count from."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime | None = None) -> datetime:
    return day_start(now).replace(day=1)


# --- usage -------------------------------------------------------------------------------


def add_usage(
    *,
    kind: str,
    source: str,
    user_id: int | None,
    goal_id: int | None = None,
    job_id: int | None = None,
    cpu_seconds: float = 0.0,
    wall_seconds: float = 0.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    dollars: float = 0.0,
    model: str | None = None,
) -> None:
    with session_scope() as session:
        session.add(
            UsageRecord(
                kind=kind,
                source=source[:100],
                user_id=user_id,
                goal_id=goal_id,
                job_id=job_id,
                cpu_seconds=float(cpu_seconds),
                wall_seconds=float(wall_seconds),
                input_tokens=int(input_tokens),
                output_tokens=int(output_tokens),
                dollars=float(dollars),
                model=model,
                at=utcnow(),
            )
        )


def totals(
    *, user_id: int | None = None, goal_id: int | None = None, since: datetime
) -> UsageTotals:
    """Usage of one user or one goal (give exactly one) since ``since``."""
    if (user_id is None) == (goal_id is None):
        raise ValueError("give user_id or goal_id")
    column = UsageRecord.user_id if user_id is not None else UsageRecord.goal_id
    owner = user_id if user_id is not None else goal_id
    with session_scope() as session:
        row = session.execute(
            select(
                func.coalesce(func.sum(UsageRecord.cpu_seconds), 0.0),
                func.coalesce(func.sum(UsageRecord.input_tokens), 0),
                func.coalesce(func.sum(UsageRecord.output_tokens), 0),
                func.coalesce(func.sum(UsageRecord.dollars), 0.0),
            ).where(column == owner, UsageRecord.at >= since)
        ).one()
    return UsageTotals(float(row[0]), int(row[1]), int(row[2]), float(row[3]))


def usage_by_user(since: datetime) -> list[dict[str, Any]]:
    """Every user's usage since ``since`` (the admin's overview)."""
    with session_scope() as session:
        rows = session.execute(
            select(
                User.id,
                User.username,
                func.coalesce(func.sum(UsageRecord.cpu_seconds), 0.0),
                func.coalesce(func.sum(UsageRecord.input_tokens + UsageRecord.output_tokens), 0),
                func.coalesce(func.sum(UsageRecord.dollars), 0.0),
            )
            .join(UsageRecord, UsageRecord.user_id == User.id)
            .where(UsageRecord.at >= since)
            .group_by(User.id, User.username)
            .order_by(User.username)
        ).all()
    return [
        {
            "user_id": row[0],
            "user": row[1],
            "cpu_minutes": float(row[2]) / 60,
            "tokens": int(row[3]),
            "dollars": float(row[4]),
        }
        for row in rows
    ]


def job_costs(action: str, limit: int = 200) -> list[tuple[float, float]]:
    """(cpu seconds, wall seconds) of the latest finished jobs of ``action``."""
    with session_scope() as session:
        rows = session.execute(
            select(UsageRecord.cpu_seconds, UsageRecord.wall_seconds)
            .where(UsageRecord.kind == "cpu", UsageRecord.source == action)
            .order_by(UsageRecord.id.desc())
            .limit(limit)
        ).all()
    return [(float(cpu), float(wall)) for cpu, wall in rows]


def llm_requests(
    source: str, *, user_id: int | None = None, limit: int = 100
) -> list[tuple[int, int]]:
    """(input, output) tokens of the latest Claude requests of ``source`` (``user_id``:
    that user's only)."""
    statement = select(UsageRecord.input_tokens, UsageRecord.output_tokens).where(
        UsageRecord.kind == "llm", UsageRecord.source == source
    )
    if user_id is not None:
        statement = statement.where(UsageRecord.user_id == user_id)
    with session_scope() as session:
        rows = session.execute(statement.order_by(UsageRecord.id.desc()).limit(limit)).all()
    return [(int(i), int(o)) for i, o in rows]


def chat_turn_tokens(user_id: int | None = None, limit: int = 50) -> list[tuple[int, int]]:
    """(input, output) tokens of the latest Claude chat replies (one per turn)."""
    statement = (
        select(ChatMessage.input_tokens, ChatMessage.output_tokens)
        .join(Conversation, Conversation.id == ChatMessage.conversation_id)
        .where(ChatMessage.role == "assistant", ChatMessage.input_tokens.is_not(None))
    )
    if user_id is not None:
        statement = statement.where(Conversation.user_id == user_id)
    with session_scope() as session:
        rows = session.execute(statement.order_by(ChatMessage.id.desc()).limit(limit)).all()
    return [(int(i or 0), int(o or 0)) for i, o in rows]


# --- budgets -----------------------------------------------------------------------------


def _budget(row: Budget) -> BudgetRecord:
    return BudgetRecord(
        row.scope_key,
        row.user_id,
        row.goal_id,
        row.max_cpu_minutes,
        row.max_tokens,
        row.max_dollars,
        row.updated_by,
        row.updated_at,
    )


def scope_key(user_id: int | None = None, goal_id: int | None = None) -> str:
    if goal_id is not None:
        return f"goal:{goal_id}"
    if user_id is not None:
        return f"user:{user_id}"
    return "default"


def get_budget(key: str) -> BudgetRecord | None:
    with session_scope() as session:
        row = session.scalars(select(Budget).where(Budget.scope_key == key)).first()
        return _budget(row) if row else None


def get_budgets(keys: list[str]) -> dict[str, BudgetRecord]:
    with session_scope() as session:
        rows = session.scalars(select(Budget).where(Budget.scope_key.in_(keys))).all()
        return {row.scope_key: _budget(row) for row in rows}


def set_budget(
    *,
    user_id: int | None,
    goal_id: int | None,
    limits: dict[str, float | int | None],
    updated_by: int | None,
) -> BudgetRecord:
    """Create or replace the limits of one scope (every field of ``limits`` is written;
    None clears that limit)."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limits {sorted(unknown)}")
    key = scope_key(user_id, goal_id)
    with session_scope() as session:
        row = session.scalars(select(Budget).where(Budget.scope_key == key)).first()
        if row is None:
            row = Budget(scope_key=key, user_id=user_id, goal_id=goal_id)
            session.add(row)
        for name in LIMIT_FIELDS:
            setattr(row, name, limits.get(name))
        row.updated_by = updated_by
        row.updated_at = utcnow()
        session.flush()
        return _budget(row)


def delete_budget(key: str) -> bool:
    with session_scope() as session:
        row = session.scalars(select(Budget).where(Budget.scope_key == key)).first()
        if row is None:
            return False
        session.delete(row)
        return True


def list_budgets() -> list[BudgetRecord]:
    with session_scope() as session:
        return [_budget(r) for r in session.scalars(select(Budget).order_by(Budget.scope_key))]


# --- cost history ------------------------------------------------------------------------


def add_cost_record(**fields: Any) -> None:
    with session_scope() as session:
        session.add(CostRecord(at=utcnow(), **fields))


def cost_history(family: str | None = None, limit: int = 500) -> list[CostRow]:
    """The latest recorded model evaluations (of ``family``), newest first."""
    statement = select(CostRecord)
    if family is not None:
        statement = statement.where(CostRecord.family == family)
    with session_scope() as session:
        rows = session.scalars(statement.order_by(CostRecord.id.desc()).limit(limit)).all()
        return [
            CostRow(
                r.family,
                r.model_id,
                r.action,
                r.rows,
                r.cols,
                r.folds,
                r.cpu_seconds,
                r.wall_seconds,
            )
            for r in rows
        ]
