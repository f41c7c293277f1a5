"""An executor of its own for fault-injection tests: its own database URL (e.g. through a
proxy that can cut the line) and extra environment for the workers it spawns. The shared
``stack`` of the package is stopped meanwhile; the next test that uses it starts it again
(``_leave_stack_idle``), on the database it had."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, use_database
from tests.executor.conftest import TEST_ENV

# Backoff small enough that a job resumes within a fraction of a second of the database
# coming back; the outage budget long enough to outlast any outage a test injects.
FAST_RETRY_ENV = {
    "MLTRAINER_DB_RETRY_FIRST_SECONDS": "0.05",
    "MLTRAINER_DB_RETRY_MAX_SECONDS": "0.25",
    "MLTRAINER_DB_OUTAGE_SECONDS": "60",
    "MLTRAINER_DB_CONNECT_TIMEOUT": "2",
}


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema; yields its name."""
    from sqlalchemy import create_engine, text

    schema = f"fx_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        from storage.db import dispose_all

        dispose_all()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def own_executor(url: str, env: dict[str, str] | None = None) -> Iterator[object]:
    """This process and the workers it starts use ``url``; yields the running service."""
    from engine import executor
    from engine.actions.registry import all_actions
    from engine.config import reset_settings
    from tests.executor import sample_actions

    previous = os.environ["DATABASE_URL"]
    had_test_actions = any(action.name == "test_echo" for action in all_actions())
    executor.shutdown(grace=0)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**TEST_ENV, **FAST_RETRY_ENV, **(env or {})}.items():
            patch.setenv(name, value)
        patch.setenv("DATABASE_URL", url)
        use_database(url)
        sample_actions.register_all()
        try:
            reset_settings()
            service = executor.ensure_started()
            assert service.warm_up(180), "workers did not start"
            yield service
        finally:
            executor.shutdown(grace=0)
            if not had_test_actions:
                sample_actions.unregister_all()
    use_database(previous)


def files_appear(*paths, timeout: float = 60.0) -> None:
    """Wait for marker files a job leaves (no database involved)."""
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if time.monotonic() >= deadline:
            missing = [str(path) for path in paths if not path.exists()]
            raise AssertionError(f"timed out after {timeout}s waiting for {missing}")
        time.sleep(0.02)
