"""What the Jobs page and the running-jobs panels show, read through the executor's API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd

from engine.actions.context import UserRef
from storage.repositories.jobs import JobRecord, attempt_history
from storage.repositories.trials import usernames

JOB_COLUMNS = [
    "job",
    "action",
    "user",
    "operator",
    "status",
    "progress",
    "created",
    "seconds",
    "attempts",
    "error",
]


def owner_names(user_ids: Iterable[int | None]) -> dict[int, str]:
    return usernames({i for i in user_ids if i is not None})


def running_jobs(user: UserRef, limit: int = 5) -> list[JobRecord]:
    """The user's queued and running background jobs (newest first)."""
    from engine import executor

    return executor.list_recent(user, limit, statuses=("queued", "running"))


def jobs_frame(records: list[JobRecord], owners: dict[int, str] | None = None) -> pd.DataFrame:
    owners = owners if owners is not None else owner_names(j.user_id for j in records)
    rows = []
    for job in records:
        seconds = None
        if job.started_at is not None:
            seconds = ((job.finished_at or datetime.now(UTC)) - job.started_at).total_seconds()
        rows.append(
            {
                "job": job.id,
                "action": job.action,
                "user": owners.get(job.user_id, "system") if job.user_id else "system",
                "operator": job.actor or "",
                "status": job.status,
                "progress": float(min(max(job.progress or 0.0, 0.0), 1.0)),
                "created": job.created_at,
                "seconds": seconds,
                "attempts": job.attempts,
                "error": (job.error or "")[:200],
            }
        )
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


ATTEMPT_COLUMNS = ["attempt", "ended", "error", "counted"]


def attempts_frame(job_id: int) -> pd.DataFrame:
    """The job's attempts that were interrupted or failed, oldest first: when, why, and
    whether each counted against its attempts (one cut short by a shutdown does not).
    For a job the caller may already see (the Jobs page lists only those)."""
    rows = [
        {
            "attempt": record.attempt,
            "ended": record.at,
            "error": record.error,
            "counted": record.counted,
        }
        for record in attempt_history(job_id)
    ]
    return pd.DataFrame(rows, columns=ATTEMPT_COLUMNS)


def job_statuses(job_ids: list[int]) -> dict[int, str]:
    """The current status of each of ``job_ids`` (missing ones are left out): one query,
    for a page that watches a few jobs end."""
    from storage.repositories import jobs

    return jobs.statuses(job_ids)
