"""A deploy is not a crash: SIGTERM to a real ``python -m engine worker`` whose grace
period is too short for its jobs. The jobs it was running (in pool processes and in
threads) are requeued without charging an attempt, one unsafe to repeat fails saying
why, and the process ends right after its executor stopped, without waiting for work
its jobs had started (here a blocking call in a thread pool with ten minutes left)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from engine import executor
from engine.config import PROJECT_ROOT
from engine.executor import recovery
from storage.repositories import jobs
from tests.executor.conftest import wait_for, wait_running

SHUTDOWN_ERROR = f"Interrupted: {recovery.SHUTDOWN}."
# Generous: the abandoned blocking call still has minutes to go when the worker must end.
EXIT_TIMEOUT = 60


def _worker_events(log_path) -> list[str]:
    """The messages the worker process itself logged, in order."""
    messages = []
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        messages.append((entry["pid"], entry["message"]))
    return messages


@pytest.mark.stacks("local-sqlite")
def test_sigterm_requeues_running_jobs_without_charging_an_attempt_and_exits_promptly(
    stack, system_user, tmp_path
):
    executor.shutdown(grace=0)  # only the standalone worker may take these jobs
    log_path = tmp_path / "worker.jsonl"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"],
            cwd=PROJECT_ROOT,
            env={
                **os.environ,
                "MLTRAINER_LOG_STDERR": "1",
                "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
            },
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        in_process = executor.submit("test_sleep", {"seconds": 600, "step": 0.05}, system_user)
        in_thread = executor.submit("test_pool_sleep", {"seconds": 600}, system_user)
        unsafe = executor.submit("test_sleep_once", {"seconds": 600}, system_user)
        for job_id in (in_process, in_thread, unsafe):
            assert wait_running(job_id, 180).attempts == 1
        job_worker = jobs.get_job(in_process).worker
        wait_for(lambda: jobs.count_events(in_thread), 60, what="the blocking call to start")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(EXIT_TIMEOUT) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)

    for job_id in (in_process, in_thread):
        job = jobs.get_job(job_id)
        assert job.status == "queued", (job_id, job.status, job.error)
        assert job.attempts == 0, "a shutdown must not use up an attempt"
        assert job.error.startswith(SHUTDOWN_ERROR) and "did not count" in job.error
        history = jobs.attempt_history(job_id)
        assert [(a.attempt, a.error, a.counted) for a in history] == [(1, SHUTDOWN_ERROR, False)]
    failed = jobs.get_job(unsafe)
    assert failed.status == "failed"
    assert failed.error == (
        f"Failed: {recovery.SHUTDOWN}, and 'test_sleep_once' is not safe to run twice, so "
        "it was not retried."
    )

    # The worker's own log, in order: the signal, every job given back, the executor
    # stopped, and the process exiting as its very last act (nothing ran after it).
    events = [message for pid, message in _worker_events(log_path) if pid == worker.pid]
    signalled = events.index("worker received signal 15; shutting down")
    stopped = events.index("executor stopped")
    assert events[-1] == "worker process exiting" and stopped == len(events) - 2
    given_back = [m for m in events[signalled:stopped] if "stopped by a shutdown" in m]
    assert len(given_back) == 2

    # The next worker (this process's executor) picks the requeued job up as attempt 1.
    executor.cancel_as_operator(in_thread)
    stack.start()
    again = wait_running(in_process, 120)
    assert again.attempts == 1 and again.worker != job_worker
    executor.cancel_as_operator(in_process)
    assert executor.wait(in_process, 60).status == "cancelled"


@pytest.mark.stacks("local-sqlite")
def test_an_exiting_apps_executor_gives_back_the_jobs_of_its_processes_and_threads(
    stack, system_user
):
    """The app's exit (atexit) stops its executor with ``exiting``: jobs in its pool
    processes and in its threads, which die with it, are requeued uncharged."""
    in_process = executor.submit("test_sleep", {"seconds": 600, "step": 0.05}, system_user)
    in_thread = executor.submit("test_pool_sleep", {"seconds": 3}, system_user)
    for job_id in (in_process, in_thread):
        wait_running(job_id)
    wait_for(lambda: jobs.count_events(in_thread), 60, what="the blocking call to start")
    executor.shutdown(grace=0, exiting=True)
    for job_id in (in_process, in_thread):
        job = jobs.get_job(job_id)
        assert (job.status, job.attempts) == ("queued", 0), (job_id, job.status, job.error)
        assert job.error.startswith(SHUTDOWN_ERROR)
        executor.cancel_as_operator(job_id)
    # The thread still running here cannot overwrite the requeued (now cancelled) job.
    assert executor.wait(in_thread, 30).status == "cancelled"
