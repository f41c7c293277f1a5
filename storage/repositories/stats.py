"""Aggregates for performance tracking: how actions and model families behave."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from storage.db import session_scope
from storage.models import Job


def action_performance(since=None) -> list[dict[str, Any]]:
    """Per action: calls, success rate and mean/max run time of finished jobs."""
    seconds = func.julianday(Job.finished_at) - func.julianday(Job.started_at)
    with session_scope() as session:
        dialect = session.get_bind().dialect.name
        if dialect != "sqlite":
            seconds = func.extract("epoch", Job.finished_at - Job.started_at) / 86400.0
        query = (
            select(
                Job.action,
                func.count(Job.id),
                func.sum(case((Job.status == "succeeded", 1), else_=0)),
                func.avg(seconds) * 86400.0,
                func.max(seconds) * 86400.0,
            )
            .where(Job.finished_at.is_not(None), Job.started_at.is_not(None))
            .group_by(Job.action)
            .order_by(func.count(Job.id).desc())
        )
        if since is not None:
            query = query.where(Job.created_at >= since)
        return [
            {
                "action": action,
                "calls": calls,
                "success_rate": (ok or 0) / calls if calls else None,
                "mean_seconds": mean,
                "max_seconds": longest,
            }
            for action, calls, ok, mean, longest in session.execute(query)
        ]
