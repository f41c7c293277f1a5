"""The executor's public functions (re-exported by ``engine.executor``)."""

from __future__ import annotations

import time
from typing import Any

from engine.actions.base import ActionError, PermissionDenied, json_safe
from engine.actions.context import UserRef
from engine.executor import service as _service
from engine.executor.dag import check_parents
from engine.executor.downsample import SeriesCache
from engine.executor.protocol import JobKind, installed_runner
from storage.repositories import jobs
from storage.repositories.jobs import JobRecord

# States after which a job never changes again. ``interrupted`` is only a moment in this
# executor's life (it is resolved into a retry, ``failed`` or ``cancelled`` right away).
SETTLED = ("succeeded", "failed", "cancelled", "budget_exhausted")
# wait(): longest pause between two status reads without a notification.
RECHECK_SECONDS = 0.25
LOCAL_RECHECK_SECONDS = 1.0
LOCAL_FIRST_RECHECK_SECONDS = 0.05

_series = SeriesCache()


def submit(
    action: str,
    params: dict[str, Any] | None,
    user: UserRef,
    depends_on: list[int] | tuple[int, ...] = (),
    goal_id: int | None = None,
    *,
    max_attempts: int | None = None,
) -> int:
    """Queue a job for ``action`` and return its id (the row is committed before anything
    runs). It starts when every job in ``depends_on`` has succeeded; if one fails or is
    cancelled, this job is cancelled with an error naming it. ``params`` are validated by
    this process's runner first (``ActionError`` when they are invalid).

    Permissions and policy checks belong to ``engine.actions.call``, which validates the
    parameters itself and queues them with :func:`enqueue`.
    """
    runner = installed_runner()
    kind = runner.describe(action)
    stored = runner.validate(kind.name, params)
    return enqueue(
        kind, stored, user, depends_on=depends_on, goal_id=goal_id, max_attempts=max_attempts
    )


def enqueue(
    kind: JobKind,
    params: dict[str, Any],
    user: UserRef,
    *,
    depends_on: list[int] | tuple[int, ...] = (),
    goal_id: int | None = None,
    max_attempts: int | None = None,
) -> int:
    """Queue a job whose ``params`` the caller has already validated (JSON-safe, as
    stored); see :func:`submit`. The worker validates them again when it reads the row."""
    from engine.executor.config import max_attempts_from_env
    from engine.observability.metrics import JOBS_SUBMITTED

    parents = check_parents(list(depends_on or ()))
    attempts = max_attempts or max_attempts_from_env()
    job_id = jobs.create_job(
        kind.name,
        json_safe(params),
        user.id,
        goal_id=goal_id,
        cpu_bound=kind.cpu_bound,
        idempotent=kind.idempotent,
        max_attempts=attempts,
        depends_on=parents,
    )
    JOBS_SUBMITTED.labels(kind.name).inc()
    running = _service.current()
    if running is not None:
        running.wake()
    return job_id


def status(job_id: int) -> JobRecord | None:
    return jobs.get_job(job_id)


def _require(job_id: int) -> JobRecord:
    job = jobs.get_job(job_id)
    if job is None:
        raise ActionError(f"Job {job_id} does not exist.")
    return job


def cancel(job_id: int, by_user: UserRef) -> JobRecord:
    """Cancel a job for a signed-in user: a queued one is cancelled at once and never
    starts; a running one stops at its action's next ``ctx.cancelled()`` check.
    ``by_user`` must own the job or be an admin (``engine.auth.permissions``); without a
    user nothing is cancelled. A job the user may not see answers like a missing one.
    Cancelling a finished job changes nothing. Code that is not a user's request (tests,
    maintenance) uses :func:`cancel_as_operator`."""
    from engine.auth import permissions

    if by_user is None:
        raise PermissionDenied("Sign in to cancel a job.")
    job = jobs.get_job(job_id)
    if job is None or not permissions.can_read(by_user, "job", job.user_id):
        # A missing job and another user's job answer alike: ids cannot be probed.
        raise PermissionDenied(permissions.not_found("job", job_id))
    permissions.require(
        by_user,
        "write",
        permissions.Resource.owned("job", job.user_id),
        f"Only the owner of job {job_id} or an admin can cancel it.",
    )
    return _cancel(job)


def cancel_as_operator(job_id: int) -> JobRecord:
    """Cancel a job on behalf of the system (no user, no permission check): for
    maintenance code and tests, never for a request that comes from a page or chat."""
    return _cancel(_require(job_id))


def _cancel(job: JobRecord) -> JobRecord:
    from engine.observability.metrics import JOBS_FINISHED

    job_id = job.id
    if job.status in SETTLED:
        return job
    jobs.request_cancel(job_id)
    if jobs.finish(job_id, "cancelled", error="Cancelled by request.", only_from=("queued",)):
        JOBS_FINISHED.labels(job.action, "cancelled").inc()
        from engine.executor import recovery

        recovery.cancel_blocked()
        _service.notify_changed()
    running = _service.current()
    if running is not None:
        running.wake(cascade=True)
    return _require(job_id)


def wait(job_id: int, timeout: float | None = None) -> JobRecord:
    """Block until the job has settled (succeeded, failed, cancelled) or ``timeout`` seconds
    passed; returns its record either way.

    This process's executor service notifies when a job it runs ends, so the waiter
    sleeps on that notification; it still re-reads the status now and then, sooner at
    first (``LOCAL_FIRST_RECHECK_SECONDS`` doubling to ``LOCAL_RECHECK_SECONDS`` while
    a local service runs; 5 ms doubling to ``RECHECK_SECONDS`` without one), for jobs
    that end elsewhere (another process's executor or a cancellation there)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    # With a local service its notification ends the wait; reads are only a backstop.
    local = _service.current() is not None
    delay = LOCAL_FIRST_RECHECK_SECONDS if local else 0.005
    while True:
        seen = _service.changes_seen()
        # Polled by status alone; the whole row (its result JSON) is read once, at the end.
        state = jobs.get_status(job_id)
        if state is None:
            raise ActionError(f"Job {job_id} does not exist.")
        if state in SETTLED:
            return _require(job_id)
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _require(job_id)
            pause = min(delay, remaining)
        else:
            pause = delay
        with _service.changed:
            if _service.changes_seen() == seen:
                _service.changed.wait(pause)
        delay = min(delay * 2, LOCAL_RECHECK_SECONDS if local else RECHECK_SECONDS)


def events(job_id: int, max_points: int = 500) -> list[dict[str, Any]]:
    """Progress points of the job's current attempt for a chart: at most ``max_points``
    dicts with ``elapsed_s``, ``fraction`` and one key per metric, downsampled with
    min-max decimation (spikes and both ends are kept). Only new events are read on
    repeated calls."""
    job = jobs.get_job(job_id)
    if job is None:
        return []
    lock, series = _series.get((job_id, job.attempts, job.created_at))
    with lock:
        series.extend(jobs.read_events_after(job_id, series.last_event_id))
        return series.points(max_points)


def list_recent(
    user: UserRef,
    limit: int = 20,
    *,
    all_users: bool = False,
    statuses: tuple[str, ...] | None = None,
    include_inline: bool = False,
) -> list[JobRecord]:
    """The user's most recent background jobs (newest first); ``all_users`` (admins only)
    lists everyone's."""
    from engine.auth import permissions

    if all_users:
        permissions.require(
            user,
            "read",
            permissions.Resource.area("all_jobs"),
            "Only an admin can list everyone's jobs.",
        )
        scope = permissions.scope_for(user, "job")
    else:
        scope = permissions.own_rows(user, "job")
    return jobs.list_jobs(
        scope,
        statuses=statuses,
        limit=limit,
        inline=None if include_inline else False,
    )
