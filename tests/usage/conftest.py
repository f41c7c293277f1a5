"""Fixtures for the usage, estimate and budget tests: a real executor on a fresh
database, and one BLAS thread per training (the machine's cores are shared)."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _single_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def running_executor(fresh_db, monkeypatch):
    from engine import executor
    from engine.config import reset_settings

    for name, value in {
        "MLTRAINER_PROCESS_WORKERS": "1",
        "MLTRAINER_THREAD_WORKERS": "2",
        "MLTRAINER_SCHEDULER_POLL_SECONDS": "0.2",
        "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
        "MLTRAINER_EXECUTOR": "local",
    }.items():
        monkeypatch.setenv(name, value)
    executor.shutdown(grace=0)  # one started earlier in this process uses another database
    reset_settings()
    service = executor.ensure_started()
    assert service.warm_up(180)
    yield service
    executor.shutdown(grace=0)
    reset_settings()
