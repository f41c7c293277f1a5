"""The compliance log: an append-only, hash-chained list of policy decisions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storage.db import session_scope
from storage.models import ComplianceEvent, utcnow

GENESIS = "0" * 64
APPEND_ATTEMPTS = 20


@dataclass(frozen=True)
class ComplianceRecord:
    id: int
    created_at: datetime
    user_id: int | None
    username: str
    action: str
    phase: str
    rule: str
    outcome: str
    details: dict[str, Any] | None
    prev_hash: str
    hash: str


def _record(row: ComplianceEvent) -> ComplianceRecord:
    return ComplianceRecord(
        row.id,
        row.created_at,
        row.user_id,
        row.username,
        row.action,
        row.phase,
        row.rule,
        row.outcome,
        row.details,
        row.prev_hash,
        row.hash,
    )


def event_hash(
    prev_hash: str,
    created_at: datetime,
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
) -> str:
    canonical = json.dumps(
        [
            prev_hash,
            created_at.isoformat(timespec="microseconds"),
            user_id,
            username,
            action,
            phase,
            rule,
            outcome,
            details,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(
    user_id: int | None,
    username: str,
    action: str,
    phase: str,
    rule: str,
    outcome: str,
    details: dict[str, Any] | None,
) -> ComplianceRecord:
    """Append one decision; retries when another writer took the same chain head."""
    for _ in range(APPEND_ATTEMPTS):
        try:
            with session_scope() as session:
                head = session.scalar(
                    select(ComplianceEvent.hash).order_by(ComplianceEvent.id.desc()).limit(1)
                )
                prev_hash = head or GENESIS
                created_at = utcnow()
                digest = event_hash(
                    prev_hash, created_at, user_id, username, action, phase, rule, outcome, details
                )
                row = ComplianceEvent(
                    created_at=created_at,
                    user_id=user_id,
                    username=username,
                    action=action,
                    phase=phase,
                    rule=rule,
                    outcome=outcome,
                    details=details,
                    prev_hash=prev_hash,
                    hash=digest,
                )
                session.add(row)
                session.flush()
                return _record(row)
        except IntegrityError:
            continue
    raise RuntimeError("could not append to the compliance log: too much contention")


def iterate_chain(batch: int = 5000):
    """Every event in id order, in batches (the chain can be long)."""
    last_id = 0
    while True:
        with session_scope() as session:
            rows = list(
                session.scalars(
                    select(ComplianceEvent)
                    .where(ComplianceEvent.id > last_id)
                    .order_by(ComplianceEvent.id)
                    .limit(batch)
                )
            )
            records = [_record(row) for row in rows]
        if not records:
            return
        yield from records
        last_id = records[-1].id


def search(
    *,
    action: str | None = None,
    outcome: str | None = None,
    rule: str | None = None,
    username: str | None = None,
    limit: int = 500,
) -> list[ComplianceRecord]:
    with session_scope() as session:
        query = select(ComplianceEvent).order_by(ComplianceEvent.id.desc()).limit(limit)
        for column, value in (
            (ComplianceEvent.action, action),
            (ComplianceEvent.outcome, outcome),
            (ComplianceEvent.rule, rule),
            (ComplianceEvent.username, username),
        ):
            if value:
                query = query.where(column == value)
        return [_record(row) for row in session.scalars(query)]


def counts_by_rule() -> list[tuple[str, str, int]]:
    with session_scope() as session:
        rows = session.execute(
            select(ComplianceEvent.rule, ComplianceEvent.outcome, func.count()).group_by(
                ComplianceEvent.rule, ComplianceEvent.outcome
            )
        )
        return [(rule, outcome, count) for rule, outcome, count in rows]
