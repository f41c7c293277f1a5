"""The executor service of a process: one scheduler thread plus a backend.

The scheduler loop, on every wake-up (a submit or cancel in this process, a job ending,
a worker process exiting) and at least every ``poll_seconds``:

1. collects what the backend reports: finished jobs, and jobs whose process died (those
   are interrupted at once, then retried or failed);
2. every ``maintenance`` period: recovers jobs with a stale heartbeat (their worker died
   somewhere else), cancels queued jobs whose dependency failed or was cancelled, and
   publishes the queue depth;
3. dispatches queued jobs whose dependencies all succeeded, oldest first, up to the free
   capacity; the worker claims each one atomically, so several services (app replicas,
   ``python -m engine worker``) can share one database.

Nothing is held only in memory: a restarted service picks up where the database says.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import wait as wait_for
from typing import NoReturn

from engine.executor import recovery
from engine.executor.backends import build_backend
from engine.executor.config import ExecutorConfig
from engine.executor.pools import Outcome
from engine.executor.protocol import JobRunner, installed_runner
from engine.executor.worker import CLAIM_ERROR, ERROR
from storage.repositories import jobs

log = logging.getLogger("mltrainer.executor")

READY_TTL = 0.5  # seconds a fetched list of ready jobs is reused
MAX_CLAIM_ERRORS = 5

# Notified whenever this process sees a job change state (wait() sleeps on it).
changed = threading.Condition()
_changes = 0  # how many notifications so far: a waiter cannot miss one between checks


def notify_changed() -> None:
    global _changes
    with changed:
        _changes += 1
        changed.notify_all()


def changes_seen() -> int:
    """The notification count (read it before checking a job, then wait only if it has
    not moved: a notification sent in between is not lost)."""
    return _changes


class ExecutorService:
    def __init__(self, config: ExecutorConfig | None = None, runner: JobRunner | None = None):
        self.config = config or ExecutorConfig.from_env()
        # What runs the jobs (default: this process's; none installed is an error here,
        # before any worker starts, rather than in every job).
        self.runner = runner or installed_runner()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_pending = False
        self._wake_w.setblocking(False)
        self.backend = build_backend(self.config, self.wake, self.runner)
        self._inflight: dict[int, str] = {}  # job id -> action, dispatched by this service
        self._ready_jobs: deque[tuple[int, str, bool]] = deque()
        self._ready_at = 0.0
        self._claim_errors: dict[int, int] = {}  # job id -> claim failures in a row
        self._held: dict[int, float] = {}  # job id -> not dispatched again before this time
        self._cancel_seen: dict[int, float] = {}  # job id -> when its cancel was first seen
        self._stopped: dict[int, str] = {}  # job id -> why this service stopped its process
        self._stop = threading.Event()
        self._stop_deadline = 0.0
        self._exiting = False  # the process ends after this stop: its threads die with it
        self._terminating = False  # the grace period is over: workers are being stopped
        self._cascade = threading.Event()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mltrainer-scheduler", daemon=True)
        self.maintenance_seconds = max(0.2, min(1.0, self.config.stale_seconds / 4))

    # -- lifecycle --------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> ExecutorService:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the executor service did not start in time")
        if self._start_error is not None:
            raise RuntimeError(
                f"the executor could not start: {self._start_error}"
            ) from self._start_error
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def stop(self, grace: float | None = None, *, exiting: bool = False) -> None:
        """Stop dispatching; running jobs get ``grace`` seconds to finish, then their
        processes are stopped and the jobs requeued without charging an attempt (or
        failed when not idempotent). ``exiting``: the process ends next, so jobs still
        running in its threads are given up the same way (else they run on untracked)."""
        grace = self.config.shutdown_grace_seconds if grace is None else grace
        self._exiting = exiting
        self._stop_deadline = time.monotonic() + grace
        self._stop.set()
        self.wake()
        self._thread.join(grace + 30)
        for sock in (self._wake_r, self._wake_w):
            try:
                sock.close()
            except OSError:
                pass

    def wake(self, cascade: bool = False) -> None:
        if cascade:
            self._cascade.set()
            self._ready_at = 0.0  # something was cancelled: fetch the ready list afresh
        if self._wake_pending:
            return  # a wake-up is already on its way: a burst of submits costs one
        self._wake_pending = True
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already awake, or closed

    def inflight(self) -> dict[int, str]:
        return dict(self._inflight)

    def worker_pids(self) -> list[int]:
        return self.backend.worker_pids()

    def warm_up(self, timeout: float = 120.0) -> bool:
        """Block until the workers are ready to run jobs (pool processes started, Dask
        workers have imported the project); returns False on timeout."""
        return self.backend.warm_up(timeout)

    # -- the loop ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.backend.start()
        except BaseException as error:
            log.exception("executor backend %s could not start", self.config.backend)
            self._start_error = error
            self._ready.set()
            return
        self._ready.set()
        log.info(
            "executor started: backend=%s processes=%s threads=%s",
            self.config.backend,
            self.config.process_workers,
            self.config.thread_workers,
        )
        next_maintenance = 0.0
        while True:
            stopping = self._stop.is_set()
            try:
                self._handle(self.backend.collect())
                now = time.monotonic()
                if now >= next_maintenance:
                    self._maintain()
                    next_maintenance = now + self.maintenance_seconds
                if self._cascade.is_set():
                    self._cascade.clear()
                    if recovery.cancel_blocked():
                        notify_changed()
                if not stopping:
                    self._dispatch()
            except Exception:
                log.exception("executor scheduler step failed; retrying")
                time.sleep(min(1.0, self.config.poll_seconds))
            if stopping and (not self._inflight or time.monotonic() >= self._stop_deadline):
                break
            try:
                ready = wait_for(
                    [self._wake_r, *self.backend.waitables()], timeout=self.config.poll_seconds
                )
            except OSError:
                ready = []
            if self._wake_r in ready:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
                # Cleared after draining: a wake sent from here on leaves its byte, and one
                # skipped before this point finds its job in the dispatch that follows.
                self._wake_pending = False
        self._terminating = True
        try:
            self._handle(self.backend.stop(terminate=True, abandon_threads=self._exiting))
        except Exception:
            log.exception("stopping the executor backend failed")
        if self._inflight:
            log.warning("jobs %s were still running at shutdown", sorted(self._inflight))
        log.info("executor stopped")

    def _handle(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        for outcome in outcomes:
            self._inflight.pop(outcome.job_id, None)
            if outcome.kind == "done":
                if outcome.status in ("failed", "cancelled", "budget_exhausted"):
                    self._cascade.set()
                elif outcome.status == CLAIM_ERROR:
                    self._claim_failed(outcome)
                elif outcome.status == ERROR:
                    log.error(
                        "job %s: the runner failed (%s); it will be recovered when its "
                        "heartbeat goes stale",
                        outcome.job_id,
                        outcome.detail,
                    )
                if outcome.status != CLAIM_ERROR:
                    self._claim_errors.pop(outcome.job_id, None)
            elif outcome.kind == "died":
                # Past the grace period this service stopped the worker itself: a shutdown.
                default = recovery.SHUTDOWN if self._terminating else recovery.DIED
                reason = self._stopped.pop(outcome.job_id, default)
                prefix = outcome.detail or ""  # a "died" outcome always names its worker
                if prefix and recovery.interrupt_dead_worker(outcome.job_id, prefix, reason):
                    self._cascade.set()
            elif outcome.kind == "error":
                self._backend_error(outcome)
        notify_changed()

    def _claim_failed(self, outcome: Outcome) -> None:
        """A worker could not claim the job (its database is unreachable or not this one):
        hold the job back, longer each time, and fail it after MAX_CLAIM_ERRORS tries in a
        row rather than hand it to workers in a tight loop."""
        count = self._claim_errors.get(outcome.job_id, 0) + 1
        self._claim_errors[outcome.job_id] = count
        log.error(
            "a worker could not claim job %s (%s), attempt %s of %s",
            outcome.job_id,
            outcome.detail,
            count,
            MAX_CLAIM_ERRORS,
        )
        if count < MAX_CLAIM_ERRORS:
            self._held[outcome.job_id] = time.monotonic() + min(30.0, 0.25 * 2**count)
            return
        self._claim_errors.pop(outcome.job_id, None)
        job = jobs.get_job(outcome.job_id)
        error = (
            f"The workers could not start this job {MAX_CLAIM_ERRORS} times in a row "
            f"({outcome.detail}); check that they reach the same database (DATABASE_URL)."
        )
        if job is not None and jobs.finish(
            outcome.job_id, "failed", error=error, only_from=("queued",)
        ):
            recovery._finished(job.action, "failed")
            self._cascade.set()

    def _backend_error(self, outcome: Outcome) -> None:
        """The backend could not run the task at all (e.g. a Dask worker that cannot import
        the project or uses another database). A job still queued fails with the reason; a
        running one is left to heartbeat recovery."""
        job = jobs.get_job(outcome.job_id)
        log.error(
            "job %s could not run on the %s backend: %s",
            outcome.job_id,
            self.config.backend,
            outcome.detail,
        )
        if job is not None and job.status == "queued":
            error = f"The {self.config.backend} backend could not run this job: {outcome.detail}"
            if jobs.finish(outcome.job_id, "failed", error=error, only_from=("queued",)):
                recovery._finished(job.action, "failed")
                self._cascade.set()

    def _maintain(self) -> None:
        from engine.observability.metrics import QUEUE_DEPTH

        if recovery.recover(self.config.stale_seconds, self.config.inline_stale_seconds):
            self._cascade.set()
            notify_changed()
        self._cascade.set()  # dependencies may have failed in another process
        QUEUE_DEPTH.set(jobs.count_by_status().get("queued", 0))
        self._stop_ignored_cancels()

    def _stop_ignored_cancels(self) -> None:
        """A job in a pool process that ignores its cancel request for the grace period
        has its process stopped; it then ends cancelled (see recovery.FORCED)."""
        stoppable = self.backend.stoppable_jobs()
        asked = set(jobs.cancel_requested_among(stoppable)) if stoppable else set()
        now = time.monotonic()
        for job_id in list(self._cancel_seen):
            if job_id not in asked:
                del self._cancel_seen[job_id]
        for job_id in asked:
            first = self._cancel_seen.setdefault(job_id, now)
            if now - first >= self.config.cancel_grace_seconds and job_id not in self._stopped:
                log.warning(
                    "job %s ignored its cancel request for %.0fs; stopping its process",
                    job_id,
                    now - first,
                )
                if self.backend.stop_job(job_id):
                    self._stopped[job_id] = recovery.FORCED

    def _dispatch(self) -> None:
        """Send ready jobs to free workers. The ready list is fetched in batches and reused
        for up to READY_TTL seconds (a job in it stays ready: its parents have succeeded;
        one cancelled or taken meanwhile is simply not claimed by the worker)."""
        free_cpu = self.backend.free(True)
        free_io = self.backend.free(False)
        if free_cpu <= 0 and free_io <= 0:
            return
        now = time.monotonic()
        if not self._ready_jobs or now - self._ready_at > READY_TTL:
            limit = len(self._inflight) + 4 * (free_cpu + free_io) + 16
            self._ready_jobs = deque(
                row for row in jobs.ready_queued(limit) if row[0] not in self._inflight
            )
            self._ready_at = now
        passed_over = []
        while self._ready_jobs and (self.backend.free(True) > 0 or self.backend.free(False) > 0):
            row = self._ready_jobs.popleft()
            job_id, action, cpu_bound = row
            if job_id in self._inflight:
                continue
            if job_id in self._held:
                if now < self._held[job_id]:
                    continue
                del self._held[job_id]
            if self.backend.free(cpu_bound) <= 0:
                passed_over.append(row)
                continue
            if self.backend.dispatch(job_id, action, cpu_bound):
                self._inflight[job_id] = action
        self._ready_jobs.extendleft(reversed(passed_over))


# -- the service of this process --------------------------------------------------------
_service: ExecutorService | None = None
_service_pid: int | None = None
_service_lock = threading.Lock()
_atexit_registered = False


def current() -> ExecutorService | None:
    """The running service of this process, if any."""
    service = _service
    if service is not None and _service_pid == os.getpid() and service.alive:
        return service
    return None


def ensure_started(config: ExecutorConfig | None = None) -> ExecutorService:
    """Start this process's executor service unless it runs already (idempotent)."""
    global _service, _service_pid, _atexit_registered
    with _service_lock:
        service = current()
        if service is not None:
            return service
        service = ExecutorService(config).start()
        _service, _service_pid = service, os.getpid()
        if not _atexit_registered:
            atexit.register(_shutdown_at_exit)
            _atexit_registered = True
        return service


start = ensure_started


def shutdown(grace: float | None = None, *, exiting: bool = False) -> None:
    """Stop this process's service (see ExecutorService.stop)."""
    global _service, _service_pid
    with _service_lock:
        service, _service, _service_pid = _service, None, None
    if service is not None:
        service.stop(grace, exiting=exiting)


def _shutdown_at_exit() -> None:
    if _service_pid == os.getpid():
        shutdown(exiting=True)


def run_worker_forever(config: ExecutorConfig | None = None) -> None:
    """``python -m engine worker``: migrate, serve metrics, run a service until SIGTERM or
    Ctrl-C, then shut down gracefully (running jobs get the shutdown grace period)."""
    from engine.observability.logging import configure_logging
    from engine.observability.metrics import start_metrics_server
    from storage.migrate import upgrade

    configure_logging()
    upgrade()
    start_metrics_server()
    stop = threading.Event()

    def _request_stop(signum, _frame) -> None:
        log.info("worker received signal %s; shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service = ensure_started(config)
        log.info("standalone worker running (backend %s)", service.config.backend)
        while not stop.wait(1.0):
            if current() is None:
                log.error("the executor service stopped unexpectedly; restarting it")
                ensure_started(config)
    finally:
        shutdown(exiting=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_worker_process(code: int = 0) -> NoReturn:
    """End a standalone worker as soon as its service has stopped.

    Everything of record is in the database by then (finished jobs written, the others
    requeued), so the interpreter's own teardown is skipped: it waits for the thread
    pools that abandoned jobs started (until their work ends), finalises every library
    the catalogue imported and collects the models still in memory, which took from
    seconds to longer than a container's grace period. Logs are flushed first.
    """
    log.info("worker process exiting")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
