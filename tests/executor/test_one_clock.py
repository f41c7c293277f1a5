"""Heartbeats and stale cut-offs use the database's clock: a worker whose clock runs 45 s
behind (its time source patched in its own process, tests.executor.skewed_clock) keeps
its jobs alive; judged by its own clock, every job it claimed was declared dead."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from engine import executor
from storage.models import utcnow
from storage.repositories import jobs
from tests.conftest import need_service
from tests.executor.conftest import STALE_SECONDS, TEST_ENV, wait_for, wait_running
from tests.executor.isolated import own_executor, postgres_schema
from tests.executor.skewed_clock import OFFSET_VARIABLE

BEHIND_SECONDS = 45.0

SKEWED_WORKERS = {
    "MLTRAINER_EXTRA_ACTION_MODULES": (
        TEST_ENV["MLTRAINER_EXTRA_ACTION_MODULES"] + ",tests.executor.skewed_clock"
    ),
    OFFSET_VARIABLE: str(BEHIND_SECONDS),
}


@pytest.fixture(params=["sqlite", "postgres"])
def skewed_executor(request, tmp_path):
    if request.param == "sqlite":
        with own_executor(f"sqlite:///{tmp_path / 'clock.sqlite'}", SKEWED_WORKERS):
            yield
        return
    need_service("PostgreSQL", "127.0.0.1", 5432)
    from tests.conftest import POSTGRES_ADMIN_URL

    with postgres_schema() as schema:
        url = f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
        with own_executor(url, SKEWED_WORKERS):
            yield


def test_a_worker_with_a_slow_clock_keeps_its_jobs(skewed_executor, system_user):
    seconds = 3 * STALE_SECONDS
    job_id = executor.submit("test_sleep", {"seconds": seconds, "step": 0.05}, system_user)
    running = wait_running(job_id)
    # Stamped by the database's clock, not the worker's (45 s behind).
    assert abs(running.heartbeat_at - utcnow()) < timedelta(seconds=BEHIND_SECONDS / 3)
    wait_for(
        lambda: jobs.get_job(job_id).heartbeat_at > running.heartbeat_at,
        10,
        what="a heartbeat from the skewed worker",
    )
    job = executor.wait(job_id, 60)
    assert job.status == "succeeded", job.error
    assert job.attempts == 1
    assert job.result["values"]["pid"] != os.getpid()  # run by a skewed pool process
