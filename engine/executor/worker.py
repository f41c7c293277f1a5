"""What runs where the work happens: a pool process, a pool thread or a Dask worker.

Every backend ends in :func:`run_job`: claim the job atomically, keep its heartbeat
alive, and hand it to :func:`engine.executor.runner.execute_job` (the one code path that
runs a job and writes its progress, result or error straight to the database).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from engine.executor.heartbeat import HEARTBEATS
from engine.executor.protocol import JobRunner, install_runner, installed_runner
from engine.executor.runner import execute_job, worker_name

log = logging.getLogger("mltrainer.executor")

SKIPPED = "skipped"  # the claim failed: cancelled meanwhile, or another worker took it
CLAIM_ERROR = "claim-error"  # could not even claim it (e.g. no database); it is still queued
ERROR = "error"  # claimed, but the runner itself failed (e.g. the database went away)

_IMPORT_PID = os.getpid()
_prepared_pid: int | None = None
_prepare_lock = threading.Lock()


def heartbeat_seconds() -> float:
    raw = os.environ.get("MLTRAINER_HEARTBEAT_SECONDS", "")
    try:
        return float(raw) if raw.strip() else 2.0
    except ValueError:
        return 2.0


def prepare_process(runner: JobRunner | None = None, *, dispose: bool = False) -> None:
    """Once per worker process: own database engines, logs, and the runner (given, or
    the one installed here), which it installs and prepares (the action catalogue with
    MLTRAINER_EXTRA_ACTION_MODULES, and the compliance policy)."""
    global _prepared_pid
    with _prepare_lock:
        if _prepared_pid == os.getpid():
            return
        from engine.config import reset_settings
        from engine.observability.logging import configure_logging
        from storage.db import dispose_all

        if dispose or os.getpid() != _IMPORT_PID:  # engines inherited through fork are unsafe
            dispose_all()
            reset_settings()
        configure_logging()
        runner = runner or installed_runner()
        install_runner(runner)
        runner.prepare()
        _prepared_pid = os.getpid()


def run_job(
    job_id: int, action: str | None = None, runner: JobRunner | None = None
) -> tuple[str, str | None]:
    """Claim and run one job in this process with ``runner`` (default: the installed
    one). Returns (the job's final status, or SKIPPED, CLAIM_ERROR or ERROR; a one-line
    reason for the last two)."""
    from engine.observability.metrics import JOB_SECONDS, JOBS_FINISHED, JOBS_RUNNING
    from storage.repositories import jobs

    name = worker_name()
    try:
        job = jobs.claim_record(job_id, name)
        if job is None:
            return SKIPPED, None
    except Exception as error:
        log.exception("could not claim job %s", job_id)
        return CLAIM_ERROR, f"{type(error).__name__}: {error}".splitlines()[0][:300]
    HEARTBEATS.add(job_id, name, heartbeat_seconds())
    JOBS_RUNNING.inc()
    started = time.perf_counter()
    detail = None
    try:
        from storage.actor import acting_as

        with acting_as(job.actor):  # a command-line job's decisions name its operator
            status = execute_job(job_id, claimed=True, worker=name, job=job, runner=runner).status
    except Exception as error:
        # The job stays `running`; its heartbeat stops, so the scheduler recovers it.
        log.exception("the runner failed on job %s", job_id)
        status, detail = ERROR, f"{type(error).__name__}: {error}".splitlines()[0][:300]
    finally:
        HEARTBEATS.discard(job_id)
        JOBS_RUNNING.dec()
    if action and status != ERROR:
        JOBS_FINISHED.labels(action, status).inc()
        JOB_SECONDS.labels(action).observe(time.perf_counter() - started)
    return status, detail


def _exit_when_orphaned(parent_pid: int) -> None:
    """A pool process whose service died stops too; its job's heartbeat goes stale and the
    next service start recovers it."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(3)


def _exit_at_once() -> None:
    """A pool process told to stop holds no job: it ends without the interpreter's
    teardown (finalising every library the catalogue imported), which took seconds of
    a shutdown's time. Its logs are flushed first."""
    logging.shutdown()
    os._exit(0)


def child_main(conn, parent_pid: int, runner: JobRunner) -> None:
    """Body of a local pool process: receive job ids, run them with ``runner`` (the
    parent's, sent by value), report back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the service's to handle
    threading.Thread(
        target=_exit_when_orphaned, args=(parent_pid,), name="orphan-watch", daemon=True
    ).start()
    try:
        prepare_process(runner, dispose=True)
    except Exception:
        log.exception("worker process %s could not start", os.getpid())
        raise
    # One job at a time runs here: its CPU time is this process's (every thread of it).
    from engine.usage.meter import mark_dedicated_process

    mark_dedicated_process()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            _exit_at_once()
        job_id, action = message
        status, detail = run_job(job_id, action, runner)
        try:
            conn.send(("done", job_id, status, detail))
        except (BrokenPipeError, OSError):
            return


def dask_run_job(job_id: int, action: str, runner: JobRunner) -> tuple[str, str | None]:
    """The Dask task: runs inside a Dask worker, which must import this project and have
    the same DATABASE_URL (and MLTRAINER_* settings) as the app. ``runner`` is the
    submitting service's, sent with the task."""
    prepare_process(runner)
    status, detail = run_job(job_id, action, runner)
    if status == SKIPPED:
        from storage.repositories import jobs

        if jobs.get_job(job_id) is None:
            raise LookupError(
                f"Job {job_id} is not in this Dask worker's database: give the Dask workers "
                "the same DATABASE_URL as the app."
            )
    return status, detail
