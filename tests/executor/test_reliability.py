"""Real processes, no mocks: workers killed with SIGKILL, many concurrent submitters,
service restarts, stale heartbeats. Whatever happens, every job reaches a settled state."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from engine import executor
from engine.config import PROJECT_ROOT
from storage.access import OwnerScope
from storage.db import session_scope
from storage.models import Job, utcnow
from storage.repositories import jobs
from tests.executor.conftest import (
    HEARTBEAT_SECONDS,
    STALE_SECONDS,
    pid_alive,
    wait_for,
    wait_running,
    worker_pid,
)

OPEN = ("queued", "running", "interrupted")
DETECTED = r"(?: \(no heartbeat for [0-9.]+s\))?"


def _kill_worker_of(job_id: int) -> int:
    job = wait_running(job_id)
    time.sleep(0.3)  # let it get into its loop
    pid = worker_pid(job)
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    return pid


@pytest.mark.all_databases
def test_killed_worker_job_is_interrupted_and_retried_others_finish(stack, system_user):
    victim = executor.submit("test_sleep", {"seconds": 2.0, "step": 0.05}, system_user)
    others = [executor.submit("test_echo", {"value": i}, system_user) for i in range(6)]
    killed = _kill_worker_of(victim)

    job = executor.wait(victim, 90)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2  # the killed attempt, then the retry
    assert worker_pid(job) != killed
    for i, other in enumerate(others):
        done = executor.wait(other, 60)
        assert done.status == "succeeded" and done.result["values"]["doubled"] == 2 * i
    assert not jobs.list_jobs(OwnerScope.all_rows(), statuses=OPEN)
    # the pool replaced the dead process and still runs CPU-bound jobs
    again = executor.wait(executor.submit("test_echo", {"value": 9}, system_user), 90)
    assert again.status == "succeeded"


def test_killed_worker_of_a_job_unsafe_to_repeat_fails_it_clearly(stack, system_user):
    victim = executor.submit("test_sleep_once", {"seconds": 30, "step": 0.05}, system_user)
    _kill_worker_of(victim)
    job = executor.wait(victim, 60)
    assert job.status == "failed"
    assert job.attempts == 1
    # A stack that sees the process die says so; one that only sees its heartbeat stop
    # (Dask) names how long it waited.
    assert re.fullmatch(
        rf"Failed: the worker running this job died{DETECTED}, and 'test_sleep_once' is not "
        r"safe to run twice, so it was not retried\.",
        job.error,
    ), job.error
    assert not jobs.list_jobs(OwnerScope.all_rows(), statuses=OPEN)


def test_retries_are_bounded_by_max_attempts(stack, system_user):
    victim = executor.submit(
        "test_sleep", {"seconds": 30, "step": 0.05}, system_user, max_attempts=2
    )
    first = _kill_worker_of(victim)
    wait_for(
        lambda: (j := jobs.get_job(victim)).status == "running" and j.attempts == 2 and j.worker,
        60,
        what="the second attempt",
    )
    second = _kill_worker_of(victim)
    assert second != first
    job = executor.wait(victim, 60)
    assert job.status == "failed"
    assert re.fullmatch(
        rf"Failed: the worker running this job died{DETECTED} on each of its 2 attempts\.",
        job.error,
    ), job.error


@pytest.mark.all_databases
def test_two_hundred_jobs_from_several_threads_all_settle_correctly(stack, system_user):
    submitted: dict[int, tuple[str, int]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def submitter(offset: int) -> None:
        try:
            for i in range(offset, 200, 8):
                action = "test_io_echo" if i % 4 == 0 else "test_echo"
                job_id = executor.submit(action, {"value": i}, system_user)
                with lock:
                    submitted[job_id] = (action, i)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=submitter, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(submitted) == 200
    deadline = time.monotonic() + 240
    for job_id, (action, value) in submitted.items():
        job = executor.wait(job_id, max(1.0, deadline - time.monotonic()))
        assert job.status == "succeeded", (job_id, job.status, job.error)
        assert job.action == action
        assert job.result["values"]["doubled"] == 2 * value
        assert job.attempts == 1
    assert not jobs.list_jobs(OwnerScope.all_rows(), statuses=OPEN)


def test_a_long_silent_job_keeps_its_heartbeat_and_is_not_interrupted(stack, system_user):
    seconds = STALE_SECONDS * 1.6
    job_id = executor.submit("test_sleep", {"seconds": seconds, "step": 0.05}, system_user)
    first = wait_running(job_id).heartbeat_at
    wait_for(
        lambda: jobs.get_job(job_id).heartbeat_at > first + timedelta(seconds=HEARTBEAT_SECONDS),
        10,
        what="a fresher heartbeat",
    )
    job = executor.wait(job_id, 60)
    assert job.status == "succeeded" and job.attempts == 1


def test_jobs_queued_while_the_service_is_down_run_after_a_restart(stack, system_user):
    from engine.executor import shutdown

    shutdown(grace=0)
    queued = [executor.submit("test_echo", {"value": i}, system_user) for i in range(5)]
    queued.append(executor.submit("test_io_echo", {"value": 5}, system_user))
    time.sleep(0.5)
    assert {jobs.get_job(job_id).status for job_id in queued} == {"queued"}
    stack.start()
    for i, job_id in enumerate(queued):
        job = executor.wait(job_id, 90)
        assert job.status == "succeeded" and job.result["values"]["doubled"] == 2 * i


@pytest.mark.all_databases
def test_stale_running_jobs_are_recovered_when_a_service_starts(stack, system_user):
    from engine.executor import shutdown

    shutdown(grace=0)
    retryable = jobs.create_job("test_echo", {"value": 4}, None)
    unsafe = jobs.create_job("test_sleep_once", {"seconds": 0}, None, idempotent=False)
    long_ago = utcnow() - timedelta(minutes=10)
    for job_id in (retryable, unsafe):
        assert jobs.claim(job_id, "ghost-host:999999:1")
        with session_scope() as session:  # a worker that died ten minutes ago
            session.get(Job, job_id).heartbeat_at = long_ago
    stack.start()
    job = executor.wait(retryable, 60)
    assert job.status == "succeeded" and job.attempts == 2
    failed = executor.wait(unsafe, 60)
    assert failed.status == "failed" and "not safe to run twice" in failed.error


def _start_standalone_worker() -> subprocess.Popen:
    """``python -m engine worker`` in its own process, with this test's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "worker"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.stacks("local-sqlite")
def test_standalone_worker_runs_jobs_and_stops_gracefully_on_sigterm(stack, system_user):
    from engine.executor import shutdown

    shutdown(grace=0)  # only the standalone worker may run this job
    worker = _start_standalone_worker()
    try:
        job = executor.wait(executor.submit("test_echo", {"value": 8}, system_user), 120)
        assert job.status == "succeeded", job.error
        assert job.result["values"]["pid"] not in (os.getpid(), worker.pid)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


@pytest.mark.stacks("local-sqlite", "local-postgres")
def test_service_killed_with_sigkill_its_jobs_are_recovered_by_the_next(stack, system_user):
    """A whole service process (scheduler + its pool processes) dies: its pool process
    exits by itself, the job's heartbeat goes stale, and the next service retries it."""
    from engine.executor import shutdown

    shutdown(grace=0)  # the standalone worker must be the one to take the job
    worker = _start_standalone_worker()
    try:
        job_id = executor.submit("test_sleep", {"seconds": 3, "step": 0.05}, system_user)
        running = wait_running(job_id, 120)
        pool_pid = worker_pid(running)
        assert pool_pid not in (os.getpid(), worker.pid)
        worker.kill()  # SIGKILL: no clean-up at all
        worker.wait(10)
        wait_for(lambda: not pid_alive(pool_pid), 10, what="the orphaned pool process to exit")
        assert jobs.get_job(job_id).status == "running"  # until its heartbeat goes stale
        stack.start()
        job = executor.wait(job_id, 90)
        assert job.status == "succeeded", job.error
        assert job.attempts == 2
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


@pytest.mark.stacks("local-sqlite")
def test_a_cpu_job_ignoring_its_cancel_request_has_its_process_stopped(stack, system_user):
    stuck = executor.submit("test_spin", {"iterations": 10**12}, system_user)
    job = wait_running(stuck)
    executor.cancel(stuck, by_user=system_user)
    done = executor.wait(stuck, 30)
    assert done.status == "cancelled"
    assert done.error == (
        "Cancelled by request; the action ignored the cancel request, so its process was stopped."
    )
    assert wait_for(lambda: not pid_alive(worker_pid(job)), 10, what="the stopped process")
    after = executor.wait(executor.submit("test_echo", {"value": 2}, system_user), 90)
    assert after.status == "succeeded"


@pytest.mark.stacks("local-sqlite")
def test_workers_that_cannot_reach_the_database_fail_the_job_without_looping(
    stack, system_user, monkeypatch
):
    """Pool processes started with an unusable DATABASE_URL (this process keeps its cached
    settings): each claim fails, the job is held back longer each time, then failed with a
    message saying what to check."""
    from engine.executor import ensure_started, shutdown
    from engine.executor.service import MAX_CLAIM_ERRORS

    shutdown(grace=0)
    monkeypatch.setenv("DATABASE_URL", "sqlite:////proc/no-such-dir/mltrainer.db")
    try:
        assert ensure_started().warm_up(120)
        job_id = executor.submit("test_echo", {"value": 1}, system_user)
        job = executor.wait(job_id, 180)  # held back longer after each failed claim
        assert job.status == "failed"
        assert job.error.startswith(
            f"The workers could not start this job {MAX_CLAIM_ERRORS} times in a row ("
        )
        assert "check that they reach the same database (DATABASE_URL)" in job.error
        assert job.attempts == 0 and job.started_at is None
    finally:
        shutdown(grace=0)
