"""Run one job's action: the single code path shared by inline calls and every backend.

Progress events are buffered and written in batches so a tight loop calling
``ctx.progress`` cannot flood the database; cancellation is polled at most a few
times a second for the same reason.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.actions.base import ActionError, ActionResult, JobCancelled
from engine.actions.context import ActionContext, UserRef
from engine.executor.protocol import JobRunner, installed_runner

if TYPE_CHECKING:
    from pydantic import BaseModel

    from storage.repositories.jobs import JobRecord

log = logging.getLogger("mltrainer.executor")

MAX_STORED_TABLE_ROWS = 20_000
EVENT_FLUSH_SECONDS = 0.5
EVENT_FLUSH_COUNT = 2_000
CANCEL_POLL_SECONDS = 0.5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class EventBuffer:
    """Collects progress points and writes them in batches."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.started = time.monotonic()
        self.pending: list[tuple[float, float, dict[str, float]]] = []
        self.last_flush = self.started

    def add(self, fraction: float, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        self.pending.append((now - self.started, fraction, metrics))
        if len(self.pending) >= EVENT_FLUSH_COUNT or now - self.last_flush >= EVENT_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        from storage.repositories import jobs

        if self.pending:
            batch, self.pending = self.pending, []
            jobs.append_events(self.job_id, batch)
        self.last_flush = time.monotonic()


class CancelPoller:
    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last_poll = 0.0
        self.cancelled = False

    def __call__(self) -> bool:
        from storage.repositories import jobs

        now = time.monotonic()
        if not self.cancelled and now - self.last_poll >= CANCEL_POLL_SECONDS:
            self.last_poll = now
            self.cancelled = jobs.is_cancel_requested(self.job_id)
        return self.cancelled


def resolve_user(user_id: int | None) -> UserRef:
    if user_id is None:
        return UserRef.system()
    from storage.repositories.users import get_user_by_id

    record = get_user_by_id(user_id)
    if record is None:
        return UserRef(user_id, f"user-{user_id}", "viewer")
    return UserRef(record.id, record.username, record.role)


def serialise_result(result: ActionResult) -> dict[str, Any]:
    return result.to_json(max_table_rows=MAX_STORED_TABLE_ROWS)


@dataclass
class JobRun:
    status: str
    result: ActionResult | None = None
    error: str | None = None


def execute_job(
    job_id: int,
    *,
    claimed: bool = False,
    worker: str | None = None,
    job: JobRecord | None = None,
    runner: JobRunner | None = None,
    params: BaseModel | None = None,
) -> JobRun:
    """Run a job whose row exists; returns its terminal status and in-memory result.

    ``claimed`` means the row is already `running` (inline calls create it so);
    otherwise the job is claimed here, and a job someone else took is left alone.
    ``worker`` is the name the job was claimed under: the final write then only lands if
    the job is still held by it (a worker declared dead cannot overwrite a new attempt).
    ``job``: the row as the claim returned it, which saves reading it again.
    ``runner``: what runs the action (default: the one installed in this process).
    ``params``: the parameters already validated in this process (an inline call), used
    instead of validating the stored row again.
    """
    from engine.observability.metrics import ACTION_CALLS, ACTION_SECONDS
    from storage.repositories import jobs

    runner = runner or installed_runner()
    if not claimed:
        worker = worker_name()
        job = jobs.claim_record(job_id, worker)
        if job is None:  # someone else took it, or it was cancelled
            current = jobs.get_job(job_id)
            return JobRun(
                current.status if current else "failed", None, current.error if current else None
            )
    elif job is None:
        job = jobs.get_job(job_id)
    if job is None:
        return JobRun("failed", None, f"Job {job_id} does not exist.")
    events = EventBuffer(job_id)
    poller = CancelPoller(job_id)
    started = time.perf_counter()
    status, result, result_json, error = "failed", None, None, None
    try:
        user = resolve_user(job.user_id)
        ctx = ActionContext(
            user=user,
            job_id=job_id,
            goal_id=job.goal_id,
            seed=int(job.params.get("seed", 0) or 0) if isinstance(job.params, dict) else 0,
            _progress_sink=events.add,
            _cancel_check=poller,
        )
        result = runner.run(job.action, params if params is not None else job.params, ctx)
        if not isinstance(result, ActionResult):
            raise TypeError(f"action {job.action} returned {type(result).__name__}")
        result_json = serialise_result(result)
        status = "succeeded"
    except JobCancelled:
        status, error = "cancelled", "Cancelled by request."
    except ActionError as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # an unexpected bug: log the traceback, show a clear message
        log.exception("job %s (%s) crashed", job_id, job.action)
        status = "failed"
        error = (
            f"Internal error in '{job.action}' ({type(exc).__name__}); see logs for job {job_id}."
        )
    finally:
        try:
            events.flush()
        except Exception:
            log.exception("could not write the last progress events of job %s", job_id)
    if not jobs.finish(job_id, status, result=result_json, error=error, worker=worker):
        log.warning("job %s ended %s here but is no longer held by this worker", job_id, status)
    ACTION_CALLS.labels(job.action, status).inc()
    ACTION_SECONDS.labels(job.action).observe(time.perf_counter() - started)
    return JobRun(status, result if status == "succeeded" else None, error)
