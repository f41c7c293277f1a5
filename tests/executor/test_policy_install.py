"""The compliance policy is installed explicitly, and it is active wherever actions run:
in the executor's worker processes (pool processes, Dask workers), in the command line,
and nowhere silently skipped: a process whose entry point installed nothing fails closed.
Parameters are validated once by ``call`` and once more when a worker reads the job row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine import executor
from engine.actions import call
from tests.executor import sample_actions

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_process_blocks_an_over_cap_call(stack, system_user):
    job = executor.wait(executor.submit("test_policy_probe", {}, system_user), 120)
    assert job.status == "succeeded", job.error
    values = job.result["values"]
    assert values["pid"] != os.getpid()  # ran in a spawned pool process or a Dask worker
    assert values["policies"] == ["compliance"]
    assert values["blocked_by"] == "resource_caps"


def test_a_worker_process_applies_the_after_call_rules(stack, system_user):
    job = executor.wait(executor.submit("test_implausible", {}, system_user), 120)
    assert job.status == "failed"
    assert "Blocked by rule 'results_in_bounds'" in job.error


def test_params_are_validated_once_inline_and_once_more_in_the_worker(stack, system_user):
    sample_actions.VALIDATIONS.clear()
    outcome = call("test_count_inline", {"value": 7}, system_user)
    assert outcome.status == "succeeded"
    assert sample_actions.VALIDATIONS == [7]  # by call(); the inline run reuses the model
    if stack.backend != "local":
        return  # below, the job must run on this process's thread pool to be counted
    sample_actions.VALIDATIONS.clear()
    outcome = call("test_count_io", {"value": 8}, system_user, wait=60)
    assert outcome.status == "succeeded", outcome.error
    # by call(), then by the worker that read the stored row; not by the queueing too
    assert sample_actions.VALIDATIONS == [8, 8]


def _run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_process_without_installation_fails_closed(fresh_db):
    """No entry point ran engine.runtime.install(): the call is refused, not unchecked,
    and the executor refuses to start."""
    env = dict(os.environ, DATABASE_URL=fresh_db)
    code = (
        "from engine.actions import UserRef, call\n"
        "from engine.actions.hooks import PolicyNotInstalled\n"
        "from engine.executor import ExecutorService, RunnerNotInstalled\n"
        "params = {'spot': 100, 'strike': 100, 'maturity_years': 1, 'rate': 0.05,\n"
        "          'volatility': 0.2}\n"
        "try:\n"
        "    call('price_option', params, UserRef.system())\n"
        "except PolicyNotInstalled:\n"
        "    print('call refused')\n"
        "try:\n"
        "    ExecutorService()\n"
        "except RunnerNotInstalled:\n"
        "    print('executor refused')\n"
    )
    done = _run_python(code, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["call", "refused", "executor", "refused"]


def test_the_command_line_blocks_an_over_cap_call(fresh_db):
    env = dict(os.environ, DATABASE_URL=fresh_db)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "action",
            "price_option",
            "--params",
            json.dumps(sample_actions.OVER_CAP_OPTION),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    payload = json.loads(done.stdout)
    assert done.returncode != 0 and payload["ok"] is False
    assert "Blocked by rule 'resource_caps'" in payload["error"]
