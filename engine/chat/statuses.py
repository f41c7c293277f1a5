"""Tool messages stay true: a chat message that recorded an action call as ``queued`` or
``running`` is brought up to date once its job has ended.

The chat stores a ``tool`` message when it calls an action; a long action is a job that
is still queued at that moment. The job's row is the record of what happened, so when a
conversation is read, every tool message still marked as pending is compared with its
job and, if the job has settled (succeeded, failed, cancelled), the stored message is
updated: status, error, whether the cancel was requested, and the result's summary (its
text becomes that summary, or the error). The page, the transcript export, the offline
planner's "what did the last backtest return?" and the context Claude reads then all say
the same thing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from storage.repositories import conversations as repo
from storage.repositories import jobs

PENDING = ("queued", "running")
SETTLED = ("succeeded", "failed", "cancelled", "budget_exhausted")  # "interrupted": retried later


def is_pending(message: repo.MessageRecord) -> bool:
    payload = message.payload or {}
    return (
        message.role == "tool" and payload.get("status") in PENDING and bool(payload.get("job_id"))
    )


def settle(messages: list[repo.MessageRecord]) -> list[repo.MessageRecord]:
    """``messages`` with each pending tool message whose job has ended updated (in the
    database too). Reads one job row per pending message: usually none or one."""
    settled = []
    for message in messages:
        if is_pending(message):
            message = _settle_one(message)
        settled.append(message)
    return settled


def _settle_one(message: repo.MessageRecord) -> repo.MessageRecord:
    payload: dict[str, Any] = dict(message.payload or {})
    job = jobs.get_job(int(payload["job_id"]))
    content = None
    if job is None:
        payload.update(status="gone", error=f"Job {payload['job_id']} no longer exists.")
        content = payload["error"]
    elif job.status in PENDING or job.status == payload.get("status"):
        return message
    elif job.status not in SETTLED:  # interrupted: retried or failed later; shown as it is
        return dataclasses.replace(message, payload={**payload, "status": job.status})
    else:
        payload.update(status=job.status, error=job.error, cancel_requested=job.cancel_requested)
        summary = (job.result or {}).get("summary") if isinstance(job.result, dict) else None
        if summary:
            payload["summary"] = summary
        content = summary or job.error or f"The job ended as {job.status}."
    repo.update_message_payload(message.id, payload, content=content)
    return dataclasses.replace(message, payload=payload, content=content or message.content)
