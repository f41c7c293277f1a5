"""The GitHub Actions workflows: stage order, the test matrix with real services, and
deployment through approval-gated environments. (They are parsed here; GitHub runs them.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def _load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def _needs(job: dict) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def _runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def test_ci_stages_run_in_order():
    jobs = _load("ci.yml")["jobs"]
    assert {"lint", "test", "security", "build"} <= set(jobs)
    assert _needs(jobs["test"]) == {"lint"}
    assert "test" in _needs(jobs["security"])
    assert {"test", "security"} <= _needs(jobs["build"])


def test_ci_runs_on_pushes_and_pull_requests():
    triggers = _load("ci.yml")["on"]
    assert "pull_request" in triggers and "push" in triggers


def test_the_test_job_uses_both_pythons_real_services_and_chromium():
    job = _load("ci.yml")["jobs"]["test"]
    assert [str(v) for v in job["strategy"]["matrix"]["python"]] == ["3.11", "3.12"]
    assert {"postgres", "redis"} <= set(job["services"])
    assert job["env"]["MLTRAINER_REQUIRE_SERVICES"] == "1"
    runs = _runs(job)
    assert re.search(r"apt-get install[^\n]*(\\\n[^\n]*)*chromium", runs)
    assert "prometheus" in runs, "promtool for tests/deploy/test_monitoring.py"
    assert "make test" in runs, "CI runs the same command as .ci/run"
    services = job["services"]
    assert services["postgres"]["env"]["POSTGRES_DB"] == "test"


def test_security_job_runs_bandit_and_pip_audit():
    runs = _runs(_load("ci.yml")["jobs"]["security"])
    assert "make security" in runs and "make audit" in runs
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test: .*security", makefile, re.M), "bandit is part of make test"
    assert re.search(r"^audit:", makefile, re.M)
    assert not re.search(r"^test: .*audit", makefile, re.M), "pip-audit needs the network"


def test_tool_versions_are_pinned():
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    for tool in ("bandit", "pip-audit", "ruff"):
        assert re.search(rf"^{tool}==\d", dev, re.M), f"{tool} is not pinned"


def test_build_pushes_only_from_pushes_with_a_commit_tag():
    job = _load("ci.yml")["jobs"]["build"]
    pushes = [s for s in job["steps"] if s.get("with", {}).get("push") is True]
    assert pushes and all(s.get("if") == "github.event_name == 'push'" for s in pushes)
    assert "sha-" in _runs(job), "images are tagged with the commit"
    assert "latest" not in yaml.safe_dump(job)


def test_deploy_goes_to_staging_then_production_through_environments():
    deploy = _load("deploy.yml")
    jobs = deploy["jobs"]
    assert "staging" in _needs(jobs["production"])
    reusable = _load("deploy-environment.yml")
    for name in ("staging", "production"):
        assert jobs[name]["uses"] == "./.github/workflows/deploy-environment.yml"
        assert jobs[name]["with"]["environment"] == name
    (job,) = reusable["jobs"].values()
    assert job["environment"]["name"] == "${{ inputs.environment }}"
    runs = _runs(job)
    assert "rollout status" in runs and "kubectl apply" in runs
    assert "$patch: delete" in runs or "\\$patch: delete" in runs, "never apply the Secret"
    assert deploy["concurrency"]["cancel-in-progress"] is False


def test_deploy_only_follows_a_successful_ci_on_main():
    deploy = _load("deploy.yml")
    assert deploy["on"]["workflow_run"]["workflows"] == ["CI"]
    assert deploy["on"]["workflow_run"]["branches"] == ["main"]
    assert "conclusion == 'success'" in deploy["jobs"]["prepare"]["if"]


def test_workflows_use_least_privilege_tokens():
    for path in WORKFLOWS.glob("*.yml"):
        document = _load(path.name)
        assert document.get("permissions") == {"contents": "read"}, path.name


def _ci_script_commands() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_script_requires_the_services_enables_the_dask_matrix_and_runs_make_test():
    commands = _ci_script_commands()
    assert "export MLTRAINER_REQUIRE_SERVICES=1" in commands
    assert "export MLTRAINER_DASK_TESTS=1" in commands, "CI runs the executor's Dask stacks"
    assert commands[-1] == "make test"
    job = _load("ci.yml")["jobs"]["test"]
    assert job["env"]["MLTRAINER_DASK_TESTS"] == "1", "the workflow runs the Dask stacks too"


def test_make_test_runs_the_suite_on_pinned_xdist_workers():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^test: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has a test target"
    pytest_line = next(line for line in recipe.group(1).splitlines() if "pytest" in line)
    assert re.search(r"-n \$\(TEST_WORKERS\)", pytest_line)
    assert "--dist loadfile" in pytest_line, "module fixtures stay on one worker"
    assert re.search(r"^TEST_WORKERS \?= 2$", makefile, re.M)
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert re.search(r"^pytest-xdist==\d", dev, re.M)
    lock = (ROOT / "requirements-dev.lock").read_text(encoding="utf-8")
    assert re.search(r"^pytest-xdist==\d", lock, re.M), "run `make lock`"


def test_each_xdist_worker_flushes_only_its_own_redis_database(monkeypatch):
    from tests.conftest import redis_test_url

    monkeypatch.delenv("MLTRAINER_TEST_REDIS_URL", raising=False)
    assert redis_test_url("") == "redis://127.0.0.1:6379/15"  # a run without xdist
    workers = [redis_test_url(f"gw{n}") for n in range(4)]
    assert workers[:2] == ["redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/14"]
    assert len(set(workers)) == len(workers)
    with pytest.raises(RuntimeError, match="no Redis database of its own"):
        redis_test_url("gw15")  # db 0 is the application's default: never flushed
    monkeypatch.setenv("MLTRAINER_TEST_REDIS_URL", "redis://127.0.0.1:6380/12")
    assert redis_test_url("gw2") == "redis://127.0.0.1:6380/10"


def test_the_dask_executor_stacks_are_opt_in(monkeypatch):
    from tests.executor.conftest import DASK_SKIP, DEFAULT_STACKS, STACKS, enabled_stacks

    monkeypatch.delenv("MLTRAINER_DASK_TESTS", raising=False)
    assert enabled_stacks(DEFAULT_STACKS) == ["local-sqlite"]
    assert enabled_stacks(STACKS) == ["local-sqlite", "local-postgres"]
    (only_dask,) = enabled_stacks(("dask-sqlite",))  # kept, skipped with the reason
    assert only_dask.values == ("dask-sqlite",)
    assert [mark.kwargs["reason"] for mark in only_dask.marks] == [DASK_SKIP]
    monkeypatch.setenv("MLTRAINER_DASK_TESTS", "1")
    assert enabled_stacks(DEFAULT_STACKS) == list(DEFAULT_STACKS)
    assert enabled_stacks(STACKS) == list(STACKS)
