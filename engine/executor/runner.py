"""Run one job's action: the single code path shared by inline calls and every backend.

Progress events are buffered and written in batches so a tight loop calling
``ctx.progress`` cannot flood the database; cancellation is polled at most a few
times a second for the same reason.

A database outage is never the action's failure: progress points wait in the buffer and
cancel checks keep their last answer while the database is away (retried with backoff,
storage.outage), the final write is retried, and a database error that still escapes the
action ends the attempt as *interrupted* (retried when the action is idempotent) rather
than failed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.actions.base import ActionError, ActionResult, JobCancelled
from engine.actions.context import ActionContext, UserRef
from engine.executor.protocol import JobRunner, installed_runner
from engine.executor.result_limits import encode_result
from engine.usage import meter
from engine.usage.budgets import BudgetGuard
from storage.outage import Backoff, describe, is_transient, retry_through_outage

if TYPE_CHECKING:
    from pydantic import BaseModel

    from storage.db import EncodedJSON
    from storage.repositories.jobs import JobRecord

log = logging.getLogger("mltrainer.executor")

MAX_STORED_TABLE_ROWS = 20_000
EVENT_FLUSH_SECONDS = 0.5
EVENT_FLUSH_COUNT = 2_000
CANCEL_POLL_SECONDS = 0.5
# Points kept while the database is away; beyond this the buffer is thinned by min-max
# decimation (engine.executor.downsample), which keeps both ends and every spike.
MAX_PENDING_EVENTS = 200_000


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class EventBuffer:
    """Collects progress points and writes them in batches; while the database is away
    the points stay here (up to MAX_PENDING_EVENTS, then thinned) and the write is
    retried with backoff."""

    def __init__(self, job_id: int, max_pending: int = MAX_PENDING_EVENTS):
        self.job_id = job_id
        self.started = time.monotonic()
        self.pending: list[tuple[float, float, dict[str, float]]] = []
        self.last_flush = self.started
        self.max_pending = max_pending
        self.backoff = Backoff()

    def add(self, fraction: float, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        self.pending.append((now - self.started, fraction, metrics))
        due = len(self.pending) >= EVENT_FLUSH_COUNT or now - self.last_flush >= EVENT_FLUSH_SECONDS
        if due and self.backoff.ready(now):
            self.flush()

    def flush(self) -> bool:
        """Write the pending points; False (points kept) if the database is away."""
        from storage.repositories import jobs

        written = True
        if self.pending:
            batch, self.pending = self.pending, []
            try:
                jobs.append_events(self.job_id, batch)
            except Exception as error:
                if not is_transient(error):
                    raise
                self.pending[:0] = batch
                self._thin()
                delay = self.backoff.failed()
                log.warning(
                    "job %s: progress kept in memory (%s points), database unavailable (%s); "
                    "next try in %.2fs",
                    self.job_id,
                    len(self.pending),
                    describe(error),
                    delay,
                )
                written = False
            else:
                lasted = self.backoff.succeeded()
                if lasted is not None:
                    log.warning("job %s: progress written again after %.1fs", self.job_id, lasted)
        self.last_flush = time.monotonic()
        return written

    def flush_final(self) -> None:
        """The last write, retried through an outage (storage.outage's budget)."""
        from storage.repositories import jobs

        if self.pending:
            batch, self.pending = self.pending, []
            retry_through_outage(
                lambda: jobs.append_events(self.job_id, batch),
                what=f"the last progress points of job {self.job_id}",
            )

    def _thin(self) -> None:
        if len(self.pending) <= self.max_pending:
            return
        import numpy as np

        from engine.executor.downsample import select_indices

        names = sorted({name for _, _, metrics in self.pending for name in metrics})
        columns = [np.array([point[1] for point in self.pending], dtype=float)]
        columns += [
            np.array([metrics.get(name, np.nan) for _, _, metrics in self.pending], dtype=float)
            for name in names
        ]
        keep = select_indices(columns, len(self.pending), self.max_pending // 2)
        self.pending = [self.pending[int(index)] for index in keep]


class CancelPoller:
    """``ctx.cancelled()``: polls the row at most every CANCEL_POLL_SECONDS; while the
    database is away it answers what it last knew and polls again with backoff.

    With a budget ``guard`` it also answers True once the job's CPU so far (``cpu_used``)
    plus the day's usage crosses a budget: the action stops at its next safe point."""

    def __init__(
        self,
        job_id: int,
        guard: BudgetGuard | None = None,
        cpu_used: Callable[[], float] | None = None,
    ):
        self.job_id = job_id
        self.last_poll = 0.0
        self.cancelled = False
        self.backoff = Backoff()
        self.guard = guard if guard is not None and guard.active else None
        self.cpu_used = cpu_used

    def __call__(self) -> bool:
        from storage.repositories import jobs

        if self.guard is not None and self.cpu_used is not None:
            if self.guard.check(self.cpu_used()) is not None:
                return True
        now = time.monotonic()
        if (
            not self.cancelled
            and now - self.last_poll >= CANCEL_POLL_SECONDS
            and self.backoff.ready(now)
        ):
            self.last_poll = now
            try:
                self.cancelled = jobs.is_cancel_requested(self.job_id)
            except Exception as error:
                if not is_transient(error):
                    raise
                self.backoff.failed(now)
            else:
                self.backoff.succeeded()
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
    return result.to_json(max_table_rows=MAX_STORED_TABLE_ROWS, columnar=True)


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
    cpu_started = meter.cpu_now()
    # Background jobs are held to their user's and goal's budgets while they run (quick
    # inline calls are checked before they start, in engine.actions.call).
    guard = None if job.inline else BudgetGuard.for_job(job.user_id, job.goal_id)
    poller = CancelPoller(job_id, guard, lambda: meter.cpu_now() - cpu_started)
    started = time.perf_counter()
    status, result, error = "failed", None, None
    result_json: EncodedJSON | None = None
    ctx: ActionContext | None = None
    try:
        user = resolve_user(job.user_id)
        ctx = ActionContext(
            user=user,
            job_id=job_id,
            goal_id=job.goal_id,
            seed=int(job.params.get("seed", 0) or 0) if isinstance(job.params, dict) else 0,
            _progress_sink=events.add,
            _cancel_check=poller,
            _budget_check=lambda: guard.reason if guard is not None else None,
        )
        result = runner.run(job.action, params if params is not None else job.params, ctx)
        if not isinstance(result, ActionResult):
            raise TypeError(f"action {job.action} returned {type(result).__name__}")
        result_json = encode_result(job.action, serialise_result(result))  # encoded once
        status = "succeeded"
        budget = ctx.budget_exhausted()
        if budget is not None:  # it stopped early and returned what it finished
            status, error = "budget_exhausted", f"Stopped: {budget}."
    except JobCancelled:
        budget = ctx.budget_exhausted() if ctx is not None else None
        if budget is not None:
            status, error = "budget_exhausted", f"Stopped: {budget}."
        else:
            status, error = "cancelled", "Cancelled by request."
    except Exception as exc:
        if is_transient(exc):  # the database went away under the action: not its failure
            log.warning("job %s (%s): database unavailable: %s", job_id, job.action, describe(exc))
            status, error = _database_lost(job, exc)
        elif isinstance(exc, ActionError):
            status, error = "failed", str(exc)
        else:  # an unexpected bug: log the traceback, show a clear message
            log.exception("job %s (%s) crashed", job_id, job.action)
            status = "failed"
            error = (
                f"Internal error in '{job.action}' ({type(exc).__name__}); "
                f"see logs for job {job_id}."
            )
    finally:
        try:
            events.flush_final()
        except Exception:
            log.exception("could not write the last progress events of job %s", job_id)
    # What the job spent, measured here in its worker: written with its outcome (one
    # transaction), so whoever sees the outcome sees the usage.
    wall = time.perf_counter() - started
    cpu = meter.cpu_now() - cpu_started
    usage = None
    if not job.inline or cpu >= meter.INLINE_RECORD_MIN_CPU_SECONDS:
        usage = meter.cpu_usage_row(
            action=job.action,
            user_id=job.user_id,
            goal_id=job.goal_id,
            cpu_seconds=cpu,
            wall_seconds=wall,
        )
    if not _final_write(job, status, result_json, error, worker, usage):
        log.warning("job %s ended %s here but is no longer held by this worker", job_id, status)
    ACTION_CALLS.labels(job.action, status).inc()
    ACTION_SECONDS.labels(job.action).observe(wall)
    kept = status in ("succeeded", "budget_exhausted")
    return JobRun(status, result if kept else None, error)


def _database_lost(job: JobRecord, error: BaseException) -> tuple[str, str]:
    """A background attempt is interrupted (then retried or failed by
    recovery.resolve_interrupted); an inline call, which nobody retries, fails clearly."""
    from engine.executor.recovery import DATABASE_LOST

    if job.inline:
        return "failed", (
            f"Failed: {DATABASE_LOST} ({describe(error)}). Nothing was saved; try again."
        )
    return "interrupted", f"Interrupted: {DATABASE_LOST} ({describe(error)})."


def _final_write(
    job: JobRecord,
    status: str,
    result_json: EncodedJSON | None,
    error: str | None,
    worker: str | None,
    usage: dict[str, Any] | None = None,
) -> bool:
    """Store the outcome (with ``usage``, what the attempt spent), retrying through an
    outage. Whether it landed (False: the job is no longer held by this worker, or the
    outage outlasted the retry budget, in which case the job's heartbeat has stopped and
    recovery takes it over)."""
    from engine.executor import recovery
    from storage.repositories import jobs
    from storage.repositories import usage as usage_repo

    what = f"the outcome of job {job.id}"
    try:
        if status != "interrupted":
            return retry_through_outage(
                lambda: jobs.finish(
                    job.id, status, result=result_json, error=error, worker=worker, usage=usage
                ),
                what=what,
            )
        assert error is not None
        if usage is not None:  # an interrupted attempt still spent its CPU
            retry_through_outage(
                lambda: usage_repo.add_usage(job_id=job.id, **usage), what=f"the usage of {what}"
            )
        if not retry_through_outage(
            lambda: jobs.mark_interrupted(job.id, error, worker=worker), what=what
        ):
            return False
        retry_through_outage(lambda: recovery.resolve_interrupted(job.id), what=what)
        return True
    except Exception:
        log.exception("could not store %s", what)
        return False
