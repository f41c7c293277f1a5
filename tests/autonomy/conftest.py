"""Fixtures of the autonomy tests: the chat tests' Messages API fake and the settings
pointing at it (one definition, in tests/llm/conftest.py), and a running executor."""

import pytest

from tests.llm.conftest import fake, settings  # noqa: F401  (fixtures, used by name)


@pytest.fixture
def running_executor(fresh_db, monkeypatch):
    from engine import executor
    from engine.config import reset_settings

    monkeypatch.setenv("MLTRAINER_PROCESS_WORKERS", "1")
    reset_settings()
    executor.ensure_started()
    yield
    executor.shutdown()
    reset_settings()
