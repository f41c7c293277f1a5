"""The background executor: a durable job queue on the database (see docs/executor.md).

Jobs go ``queued -> running -> succeeded | failed | cancelled`` (``interrupted`` when
the worker running one died: it is then retried or failed). Backends: ``local`` (spawned
processes for CPU-bound actions, threads for I/O-bound ones) and ``dask``. Workers write
progress and results to the database themselves; the service only schedules.
"""

from engine.executor.api import (
    cancel,
    cancel_as_operator,
    enqueue,
    events,
    list_recent,
    status,
    submit,
    wait,
)
from engine.executor.config import ExecutorConfig
from engine.executor.protocol import (
    JobKind,
    JobRunner,
    RunnerNotInstalled,
    install_runner,
    installed_runner,
)
from engine.executor.service import (
    ExecutorService,
    current,
    ensure_started,
    exit_worker_process,
    run_worker_forever,
    shutdown,
    start,
)
from storage.repositories.jobs import JobRecord

__all__ = [
    "ExecutorConfig",
    "ExecutorService",
    "JobKind",
    "JobRecord",
    "JobRunner",
    "RunnerNotInstalled",
    "cancel",
    "cancel_as_operator",
    "current",
    "enqueue",
    "ensure_started",
    "events",
    "exit_worker_process",
    "install_runner",
    "installed_runner",
    "list_recent",
    "run_worker_forever",
    "shutdown",
    "start",
    "status",
    "submit",
    "wait",
]
