"""A job's life on every backend and database: queued -> running -> a settled state, with
its result or a clear error committed, progress points for charts, and metrics."""

from __future__ import annotations

import json
import os

import pytest

from engine import executor
from engine.actions import ActionError, call
from storage.repositories import jobs
from tests.executor.conftest import wait_for

pytestmark = pytest.mark.all_databases


def test_job_runs_in_a_worker_and_stores_its_result(stack, system_user):
    job_id = executor.submit("test_echo", {"value": 21}, system_user)
    assert jobs.get_job(job_id) is not None  # committed before it is dispatched
    job = executor.wait(job_id, timeout=60)
    assert job.status == "succeeded", job.error
    assert job.result["values"]["doubled"] == 42
    assert job.result["values"]["pid"] != os.getpid()  # CPU-bound: another process
    assert job.progress == 1.0
    assert job.attempts == 1
    assert job.error is None
    assert job.started_at is not None and job.finished_at >= job.started_at
    assert executor.status(job_id) == job


def test_io_bound_job_runs_on_the_local_thread_pool(stack, system_user):
    job = executor.wait(executor.submit("test_io_echo", {"value": 5}, system_user), 60)
    assert job.status == "succeeded", job.error
    assert job.result["values"]["doubled"] == 10
    pid = job.result["values"]["pid"]
    assert (pid == os.getpid()) is (stack.backend == "local")  # Dask: on a Dask worker


def test_failures_end_failed_with_a_clear_message(stack, system_user):
    from engine.config import get_settings

    failing = executor.submit("test_fail", {"message": "the data has gaps"}, system_user)
    crashing = executor.submit("test_crash", {"message": "boom"}, system_user)
    failed = executor.wait(failing, 60)
    assert failed.status == "failed"
    assert failed.error == "the data has gaps"
    crashed = executor.wait(crashing, 60)
    assert crashed.status == "failed"
    assert crashed.error == (
        f"Internal error in 'test_crash' (ZeroDivisionError); see logs for job {crashing}."
    )
    # the worker logged the traceback where the logs live
    log_file = get_settings().log_dir / "mltrainer.jsonl"
    entries = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    crash_logs = [e for e in entries if e["message"] == f"job {crashing} (test_crash) crashed"]
    assert crash_logs and "ZeroDivisionError: boom" in crash_logs[-1]["traceback"]


def test_submit_refuses_what_cannot_run(stack, system_user):
    with pytest.raises(ActionError, match="Unknown action 'test_nope'"):
        executor.submit("test_nope", {}, system_user)
    with pytest.raises(ActionError, match="Invalid parameters"):
        executor.submit("test_sleep", {"seconds": -1}, system_user)
    with pytest.raises(ActionError, match="do not exist"):
        executor.submit("test_echo", {}, system_user, depends_on=[10**9])


def test_long_actions_called_through_the_registry_run_on_the_executor(stack, system_user):
    outcome = call("test_echo", {"value": 4}, system_user, wait=60)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result.values["doubled"] == 8
    job = jobs.get_job(outcome.job_id)
    assert job.inline is False and job.worker is not None


def test_progress_points_are_downsampled_for_charts_keeping_extremes(stack, system_user):
    job_id = executor.submit(
        "test_progress", {"points": 5000, "spike_at": 3210, "nan_at": 10}, system_user
    )
    assert executor.wait(job_id, 60).status == "succeeded"
    assert jobs.count_events(job_id) == 5000
    points = executor.events(job_id, 200)
    assert 100 <= len(points) <= 200
    losses = [p["loss"] for p in points if p["loss"] is not None]
    assert max(losses) == 1000.0  # the one-step spike survives
    assert min(losses) == pytest.approx(1 / 5000)
    assert points[0]["step"] == 0 and points[-1]["step"] == 4999  # both ends
    elapsed = [p["elapsed_s"] for p in points]
    assert elapsed == sorted(elapsed)
    assert set(points[0]) == {"elapsed_s", "fraction", "loss", "step"}
    everything = executor.events(job_id, 10_000)
    assert everything[-1]["fraction"] == 1.0
    assert everything[10]["loss"] is None and everything[10]["step"] == 10  # NaN -> null
    assert executor.events(10**9, 10) == []


def test_jobs_panel_lists_recent_jobs_of_the_user(stack, users):
    owner, other, admin = users("analyst"), users("analyst"), users("admin")
    mine = [executor.submit("test_echo", {"value": i}, owner) for i in range(3)]
    executor.wait(mine[-1], 60)
    recent = executor.list_recent(owner, limit=10)
    assert [job.id for job in recent] == mine[::-1]
    assert executor.list_recent(other) == []
    assert {job.id for job in executor.list_recent(admin, 50, all_users=True)} >= set(mine)
    with pytest.raises(ActionError, match="Only an admin"):
        executor.list_recent(owner, all_users=True)


def test_metrics_count_jobs_by_action_and_status(stack, system_user):
    from prometheus_client import generate_latest

    from engine.observability.metrics import metrics_registry

    def sample(name: str, **labels) -> float:
        text = generate_latest(metrics_registry()).decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(name + "{"):
                series, value = line.rsplit(" ", 1)
                found = ",".join(sorted(series[len(name) + 1 : -1].split(",")))
                if found == wanted:
                    return float(value)
        return 0.0

    before_ok = sample("mltrainer_jobs_finished_total", action="test_echo", status="succeeded")
    before_sub = sample("mltrainer_jobs_submitted_total", action="test_echo")
    before_n = sample("mltrainer_job_duration_seconds_count", action="test_echo")
    executor.wait(executor.submit("test_echo", {"value": 1}, system_user), 60)
    # The worker counts the job just after committing it; Dask workers on this machine share
    # PROMETHEUS_MULTIPROC_DIR, so their samples are aggregated here too.
    wait_for(
        lambda: (
            sample("mltrainer_jobs_finished_total", action="test_echo", status="succeeded")
            == before_ok + 1
        ),
        timeout=10,
        what="the finished-jobs counter",
    )
    assert sample("mltrainer_jobs_submitted_total", action="test_echo") == before_sub + 1
    assert sample("mltrainer_job_duration_seconds_count", action="test_echo") == before_n + 1
