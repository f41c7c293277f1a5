"""Jobs whose worker died, and jobs that can never run.

A running job whose worker is known to be dead (its process exited) or whose heartbeat
went stale becomes ``interrupted``; it is then requeued if its action is idempotent and
it has attempts left, cancelled if someone asked for that, and failed otherwise. Every
transition re-checks its precondition in the UPDATE itself, so several services sharing
a database can run these functions at the same time.
"""

from __future__ import annotations

import logging

from engine.executor.outages import DATABASE, interruption_cause
from storage.access import OwnerScope
from storage.outage import is_transient
from storage.repositories import jobs

log = logging.getLogger("mltrainer.executor")

DIED = "the worker running this job died"
DATABASE_LOST = "the connection to the database was lost while it ran"
FORCED = "the action ignored the cancel request, so its process was stopped"
# A deploy or restart is not a crash: the attempt is not charged (see interrupt()).
SHUTDOWN = "its worker was shut down (a deploy or restart) before it finished"


def _finished(action: str, status: str) -> None:
    from engine.observability.metrics import JOBS_FINISHED

    JOBS_FINISHED.labels(action, status).inc()


def resolve_interrupted(job_id: int) -> str | None:
    """interrupted -> queued (retry) | cancelled | failed. Returns the new status."""
    job = jobs.get_job(job_id)
    if job is None or job.status != "interrupted":
        return None
    reason = job.error or f"Interrupted: {DIED}."
    cause = interruption_cause(job.error, DIED)
    if job.cancel_requested:
        error = "Cancelled by request."
        if FORCED in (job.error or ""):
            error = f"Cancelled by request; {FORCED}."
        if jobs.finish(job_id, "cancelled", error=error, only_from=("interrupted",)):
            _finished(job.action, "cancelled")
            return "cancelled"
        return None
    shutdown = SHUTDOWN in reason
    if job.idempotent and shutdown:
        note = f"{reason} It runs again on the next free worker; this did not count as an attempt."
        if jobs.requeue(job_id, note):
            log.warning("job %s (%s) stopped by a shutdown; requeued", job_id, job.action)
            return "queued"
        return None
    if job.idempotent and job.attempts < job.max_attempts:
        note = f"{reason} Retrying (attempt {job.attempts + 1} of {job.max_attempts})."
        if jobs.requeue(job_id, note):
            log.warning("job %s (%s) interrupted; requeued", job_id, job.action)
            return "queued"
        return None
    if job.idempotent:
        error = f"Failed: {cause} on each of its {job.attempts} attempts."
    else:
        error = (
            f"Failed: {cause}, and '{job.action}' is not safe to run twice, so it was not retried."
        )
    if jobs.finish(job_id, "failed", error=error, only_from=("interrupted",)):
        log.error("job %s (%s) failed: %s", job_id, job.action, error)
        _finished(job.action, "failed")
        return "failed"
    return None


def interrupt(job_id: int, reason: str, *, counted: bool = True, **conditions) -> str | None:
    """running -> interrupted (if ``conditions`` still hold), then resolved. ``counted``:
    whether the lost attempt counts against the job's attempts (not for a shutdown)."""
    job = jobs.get_job(job_id)
    if job is None:
        return None
    if not jobs.mark_interrupted(job_id, f"Interrupted: {reason}.", counted=counted, **conditions):
        return None
    _finished(job.action, "interrupted")
    return resolve_interrupted(job_id) or "interrupted"


def interrupt_dead_worker(job_id: int, worker_prefix: str, reason: str = DIED) -> str | None:
    """The process whose worker names start with ``worker_prefix`` is gone; when it was
    stopped by a shutdown (``reason`` SHUTDOWN) the attempt is not counted."""
    return interrupt(job_id, reason, counted=reason != SHUTDOWN, worker_prefix=worker_prefix)


def recover(stale_seconds: float, inline_stale_seconds: float) -> list[tuple[int, str]]:
    """Stale running jobs, leftover interrupted ones, and quick calls whose process died.

    Heartbeat ages are measured by the database's clock; they are only judged once this
    process has reached the database (reads and writes) for a whole ``stale_seconds``
    (engine.executor.outages).
    """
    try:
        return _recover(stale_seconds, inline_stale_seconds)
    except Exception as error:
        if is_transient(error):
            DATABASE.failed()
        raise


def _recover(stale_seconds: float, inline_stale_seconds: float) -> list[tuple[int, str]]:
    changed: list[tuple[int, str]] = []
    stale = jobs.stale_running(stale_seconds)
    DATABASE.reached(max_gap=stale_seconds / 2)
    if DATABASE.reachable_for() < stale_seconds:
        stale = []  # back from an outage: the workers have not had time to beat yet
    for job in stale:
        outcome = interrupt(
            job.id,
            f"{DIED} (no heartbeat for {stale_seconds:g}s)",
            stale_seconds=stale_seconds,
        )
        if outcome:
            changed.append((job.id, outcome))
    for job in jobs.list_jobs(OwnerScope.all_rows(), statuses=("interrupted",), limit=500):
        outcome = resolve_interrupted(job.id)
        if outcome:
            changed.append((job.id, outcome))
    for job in jobs.stale_running(inline_stale_seconds, inline=True):
        error = f"Failed: the process running this call stopped ({inline_stale_seconds:g}s)."
        if jobs.finish(job.id, "failed", error=error, only_from=("running",)):
            _finished(job.action, "failed")
            changed.append((job.id, "failed"))
    for job_id in jobs.queued_cancel_requested():
        if jobs.finish(job_id, "cancelled", error="Cancelled by request.", only_from=("queued",)):
            changed.append((job_id, "cancelled"))
    return changed


def cancel_blocked() -> list[int]:
    """Queued jobs with a failed or cancelled dependency are cancelled, naming it; repeated
    so a whole chain below a failure goes in one call."""
    cancelled: list[int] = []
    for _ in range(100):
        blocked = jobs.blocked_dependents()
        if not blocked:
            break
        progressed = False
        done: set[int] = set()
        for job_id, parent_id, parent_action, parent_status in blocked:
            if job_id in done:
                continue
            done.add(job_id)
            error = (
                f"Cancelled: it depends on job {parent_id} ({parent_action}), "
                f"which {parent_status}."
            )
            if jobs.finish(job_id, "cancelled", error=error, only_from=("queued",)):
                job = jobs.get_job(job_id)
                _finished(job.action if job else "unknown", "cancelled")
                cancelled.append(job_id)
                progressed = True
        if not progressed:
            break
    return cancelled
