"""Approved dynamic actions through the real executor: a sandbox killed for its CPU time,
or cancelled, costs only its own job; the workers stay up and the next job succeeds."""

from __future__ import annotations

import time

import pytest

from engine.actions import call
from engine.sandbox import service

SPIN = (
    "def run(data):\n    total = 0\n    while total >= 0:\n        total += 1\n    return total\n"
)
LAST = "def run(data):\n    return {s: float(v) for s, v in data.iloc[-1].items()}\n"

ENV = {
    "MLTRAINER_EXECUTOR": "local",
    "MLTRAINER_PROCESS_WORKERS": "1",
    "MLTRAINER_THREAD_WORKERS": "2",
    "MLTRAINER_HEARTBEAT_SECONDS": "0.25",
    "MLTRAINER_JOB_STALE_SECONDS": "5",
    "MLTRAINER_SCHEDULER_POLL_SECONDS": "0.2",
    "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
    "MLTRAINER_SANDBOX_CPU_SECONDS": "2",
    "MLTRAINER_SANDBOX_WALL_SECONDS": "60",
}


@pytest.fixture
def running(fresh_db, make_user):
    from engine import executor
    from engine.config import reset_settings

    was_running = executor.current() is not None  # e.g. started by an app under AppTest
    alice, root = make_user("alice", "analyst"), make_user("root", "admin")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        reset_settings()
        for name, source in (("spin_forever", SPIN), ("last_close", LAST)):
            service.save_draft(alice, name, f"{name} for the executor test", source)
            service.approve(root, name)
        executor.shutdown(grace=0)
        live = executor.ensure_started()
        assert live.warm_up(180)
        yield live, alice
        executor.shutdown(grace=0)
    reset_settings()
    service.sync_registry()
    if was_running:  # leave the process as we found it
        executor.ensure_started()


def test_killed_and_cancelled_sandboxes_leave_the_pool_healthy(running):
    from engine import executor

    live, alice = running
    workers = live.worker_pids()
    bad = call("spin_forever", {"symbols": ["KO"]}, alice, wait=120)
    assert bad.status == "failed" and "CPU time limit" in bad.error, bad.error
    good = call("last_close", {"symbols": ["KO", "PEP"]}, alice, wait=120)
    assert good.status == "succeeded", good.error
    assert set(good.result.values) >= {"KO", "PEP", "run"}
    assert good.result.values["run"]["version"] == 1

    queued = call("spin_forever", {"symbols": ["KO"]}, alice)
    deadline = time.monotonic() + 60
    while executor.status(queued.job_id).status == "queued" and time.monotonic() < deadline:
        time.sleep(0.1)
    executor.cancel(queued.job_id, by_user=alice)
    assert executor.wait(queued.job_id, timeout=60).status == "cancelled"

    again = call("last_close", {"symbols": ["JPM"]}, alice, wait=120)
    assert again.status == "succeeded", again.error
    assert live.alive and live.worker_pids() == workers
