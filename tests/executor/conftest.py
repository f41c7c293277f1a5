"""Executor fixtures: a real service on a real backend and database, shared per package.

``stack`` is parametrised per test (see ``pytest_generate_tests``): the local backend on
SQLite; tests marked ``all_databases`` also run on PostgreSQL (a fresh schema, skipped
when the server is unreachable unless MLTRAINER_REQUIRE_SERVICES=1). The Dask matrix (the
same tests on a ``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)``) is
opt-in: MLTRAINER_DASK_TESTS=1 adds the dask-* stacks beside the local ones (``.ci/run``
sets it, so CI runs both; a plain ``make test`` runs the local stacks only). Starting
worker processes costs seconds, so one stack serves every test that uses it; each test
leaves it idle (nothing queued or running) for the next.

The environment the workers need (DATABASE_URL, the test action module, short heartbeat
and stale thresholds) is set before they start and restored afterwards, so nothing leaks
into other test packages.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, need_service, use_database

STACKS = ("local-sqlite", "dask-sqlite", "local-postgres", "dask-postgres")
DEFAULT_STACKS = ("local-sqlite", "dask-sqlite")
DASK_VARIABLE = "MLTRAINER_DASK_TESTS"
DASK_SKIP = f"the Dask stacks run only with {DASK_VARIABLE}=1 (.ci/run sets it)"

HEARTBEAT_SECONDS = 0.25
STALE_SECONDS = 2.5

TEST_ENV = {
    "MLTRAINER_EXTRA_ACTION_MODULES": "tests.executor.sample_actions",
    "MLTRAINER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
    "MLTRAINER_JOB_STALE_SECONDS": str(STALE_SECONDS),
    "MLTRAINER_SCHEDULER_POLL_SECONDS": "0.2",
    "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
    "MLTRAINER_CANCEL_GRACE_SECONDS": "1.5",
    "MLTRAINER_PROCESS_WORKERS": "2",
    "MLTRAINER_THREAD_WORKERS": "4",
    "MLTRAINER_EXECUTOR": "local",
}

SETTLED = ("succeeded", "failed", "cancelled")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "all_databases: run on the PostgreSQL stacks too, not only on SQLite"
    )
    config.addinivalue_line("markers", "stacks(*names): run only on these executor stacks")


def pytest_generate_tests(metafunc):
    if "stack" not in metafunc.fixturenames:
        return
    names = DEFAULT_STACKS
    if metafunc.definition.get_closest_marker("all_databases"):
        names = STACKS
    only = metafunc.definition.get_closest_marker("stacks")
    if only:
        names = tuple(name for name in names if name in only.args) or tuple(only.args)
    metafunc.parametrize("stack", enabled_stacks(names), indirect=True, scope="package")


def dask_stacks_enabled() -> bool:
    return os.environ.get(DASK_VARIABLE) == "1"


def enabled_stacks(names: tuple[str, ...]) -> list:
    """``names`` without the Dask stacks unless MLTRAINER_DASK_TESTS=1. A test meant only
    for Dask stacks keeps them as skipped parameters (named, with the reason) instead of
    silently running on none."""
    if dask_stacks_enabled():
        return list(names)
    local = [name for name in names if not name.startswith("dask-")]
    if local:
        return local
    return [pytest.param(name, marks=pytest.mark.skip(reason=DASK_SKIP)) for name in names]


@dataclass
class Stack:
    name: str
    backend: str
    database: str
    url: str
    cluster: object | None = None

    @property
    def service(self):
        from engine import executor

        return executor.current()

    def restart(self, *, grace: float = 0.0):
        """Stop this process's executor service and start a new one."""
        from engine import executor

        executor.shutdown(grace=grace)
        return self.start()

    def start(self):
        from engine import executor
        from engine.config import reset_settings

        # A service left by an earlier test in this process (e.g. the app's boot under
        # AppTest) has other settings and workers that lack the test actions: replace it.
        executor.shutdown(grace=0)
        reset_settings()
        service = executor.ensure_started()
        assert service.warm_up(180), f"{self.name}: workers did not start"
        return service


def _new_schema() -> tuple[str, str]:
    from sqlalchemy import create_engine, text

    schema = f"ex_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"


def _drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="package")
def stack(request, session_database, tmp_path_factory):
    from engine import executor
    from storage.db import dispose_all
    from tests.executor import sample_actions

    backend, database = request.param.split("-")
    schema = None
    if database == "postgres":
        need_service("PostgreSQL", "127.0.0.1", 5432)
        schema, url = _new_schema()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('executor')}/{request.param}.sqlite"
    cluster = None
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TEST_ENV.items():
            patch.setenv(name, value)
        patch.setenv("DATABASE_URL", url)
        use_database(url)
        sample_actions.register_all()
        try:
            if backend == "dask":
                from distributed import LocalCluster

                cluster = LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    memory_limit=0,
                    silence_logs=logging.ERROR,
                )
                patch.setenv("MLTRAINER_EXECUTOR", "dask")
                patch.setenv("MLTRAINER_DASK_ADDRESS", cluster.scheduler_address)
            built = Stack(request.param, backend, database, url, cluster)
            built.start()
            yield built
        finally:
            executor.shutdown(grace=0)
            if cluster is not None:
                cluster.close(timeout=30)
            dispose_all()
            if schema is not None:
                _drop_schema(schema)
    use_database(session_database)
    sample_actions.unregister_all()


def _quiesce(timeout: float = 30.0) -> None:
    """Cancel whatever a test left behind and wait until nothing is queued or running."""
    from engine import executor
    from storage.access import OwnerScope
    from storage.repositories import jobs

    open_states = ("queued", "running", "interrupted")
    deadline = time.monotonic() + timeout
    for job in jobs.list_jobs(OwnerScope.all_rows(), statuses=open_states, limit=10_000):
        executor.cancel_as_operator(job.id)
    while time.monotonic() < deadline:
        if not jobs.list_jobs(OwnerScope.all_rows(), statuses=open_states, limit=1):
            return
        time.sleep(0.1)
    still_open = jobs.list_jobs(OwnerScope.all_rows(), statuses=open_states)
    left = [(j.id, j.action, j.status) for j in still_open]
    raise AssertionError(f"jobs still open after the test: {left}")


@pytest.fixture(autouse=True)
def _leave_stack_idle(request):
    if "stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("stack")
    if stack.service is None:
        stack.start()
    yield
    if stack.service is None:  # the test stopped it
        stack.start()
    _quiesce()


@pytest.fixture
def system_user():
    from engine.actions import UserRef

    return UserRef.system()


@pytest.fixture
def users(stack):
    """Factory of real users in the stack's database (unique names per call)."""
    from engine.actions import UserRef
    from engine.auth.service import create_user

    def factory(role: str = "analyst"):
        name = f"{role}{uuid.uuid4().hex[:8]}"
        record = create_user(name, name.title(), "Correct-h0rse-1", role)
        return UserRef(record.id, record.username, record.role)

    return factory


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_running(job_id: int, timeout: float = 60.0):
    """The job's record once it is running with a worker (and, for sleeps, has started)."""
    from storage.repositories import jobs

    def running():
        job = jobs.get_job(job_id)
        assert job is not None
        if job.status in SETTLED:
            raise AssertionError(f"job {job_id} ended {job.status} before it was seen running")
        return job if job.status == "running" and job.worker else None

    return wait_for(running, timeout, what=f"job {job_id} to run")


def worker_pid(job) -> int:
    """The process id in a worker name (host:pid:thread)."""
    return int(job.worker.split(":")[-2])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
