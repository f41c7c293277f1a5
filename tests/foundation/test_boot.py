"""The app keeps its executor running: a service that stopped after the process booted
(a crash, a shutdown) is started again by the next page run, so submitted jobs run."""

from __future__ import annotations

from engine import executor
from tests.foundation.apptest_helpers import new_app


def test_a_stopped_executor_is_started_again_by_the_next_run(fresh_db):
    new_app()  # the process boots (once per process) and starts the executor
    assert executor.current() is not None
    executor.shutdown(grace=0)
    assert executor.current() is None

    new_app()  # boot is cached for the process; the executor check is not
    service = executor.current()
    try:
        assert service is not None, "the app did not start the executor again"
    finally:
        executor.shutdown(grace=0)
