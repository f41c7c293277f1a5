"""Fixtures of the autonomy tests: the chat tests' Messages API fake and the settings
pointing at it (one definition, in tests/llm/conftest.py), and a running executor."""

import pytest

from tests.llm.conftest import fake, settings  # noqa: F401  (fixtures, used by name)


@pytest.fixture
def running_executor(fresh_db, monkeypatch):
    from engine import executor
    from engine.config import reset_settings

    monkeypatch.setenv("MLTRAINER_PROCESS_WORKERS", "1")
    # A service an earlier test left in this process (the app's boot under AppTest, say)
    # polls another database with other settings: replace it, as the executor tests do.
    # (Under pytest-xdist a worker runs these files after other packages' tests.)
    executor.shutdown(grace=0)
    reset_settings()
    executor.ensure_started()
    yield
    executor.shutdown()
    reset_settings()
