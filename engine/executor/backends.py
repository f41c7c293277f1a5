"""Where jobs run. A backend only ever runs ``worker.run_job(job_id)`` somewhere; the
database is the system of record, so results never travel back through the backend.

- ``LocalBackend``: supervised spawned processes for CPU-bound actions, threads for
  I/O-bound ones.
- ``DaskBackend``: a ``distributed.Client`` on MLTRAINER_DASK_ADDRESS; each job is one
  task calling ``worker.dask_run_job`` on a Dask worker.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.executor.config import ExecutorConfig
from engine.executor.pools import Outcome, ProcessWorkers, ThreadWorkers
from engine.executor.protocol import JobRunner

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger("mltrainer.executor")


class LocalBackend:
    name = "local"

    def __init__(self, config: ExecutorConfig, wake: Callable[[], None], runner: JobRunner):
        self.processes = ProcessWorkers(config.process_workers, runner)
        self.threads = ThreadWorkers(config.thread_workers, wake, runner)

    def start(self) -> None:
        self.processes.start()
        self.threads.start()

    def free(self, cpu_bound: bool) -> int:
        return self.processes.free() if cpu_bound else self.threads.free()

    def dispatch(self, job_id: int, action: str, cpu_bound: bool) -> bool:
        pool = self.processes if cpu_bound else self.threads
        return pool.dispatch(job_id, action)

    def waitables(self) -> list:
        return self.processes.waitables()

    def collect(self) -> list[Outcome]:
        return self.processes.collect() + self.threads.collect()

    def busy_jobs(self) -> set[int]:
        return self.processes.busy_jobs() | self.threads.busy_jobs()

    def worker_pids(self) -> list[int]:
        return self.processes.pids()

    def stoppable_jobs(self) -> set[int]:
        """Jobs whose process can be stopped from outside (not threads)."""
        return self.processes.busy_jobs()

    def stop_job(self, job_id: int) -> bool:
        return self.processes.stop_job(job_id)

    def warm_up(self, timeout: float) -> bool:
        """Wait until every pool process has imported the project and is ready."""
        deadline = time.monotonic() + timeout
        while self.processes.ready_count() < self.processes.size:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, *, terminate: bool, abandon_threads: bool = False) -> list[Outcome]:
        return self.processes.stop(terminate=terminate) + self.threads.stop(abandon=abandon_threads)


class DaskBackend:
    """Dask decides which worker runs a task; we only keep as many tasks in flight as the
    cluster has threads, so a task starts as soon as it is sent and the queue of record
    stays in the database (where it survives restarts and can be cancelled)."""

    name = "dask"
    CAPACITY_REFRESH_SECONDS = 2.0

    def __init__(self, config: ExecutorConfig, wake: Callable[[], None], runner: JobRunner):
        self.address = config.dask_address
        self._wake = wake
        self._runner = runner
        self._client: Client | None = None
        self._futures: dict[int, Future] = {}
        self._finished: queue.SimpleQueue[tuple[int, Future]] = queue.SimpleQueue()
        self._capacity = 0
        self._capacity_at = 0.0

    def start(self) -> None:
        from distributed import Client

        self._client = Client(self.address, set_as_default=False, timeout="30s")
        self._refresh_capacity(force=True)

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the Dask backend is not started")
        return self._client

    def _refresh_capacity(self, force: bool = False) -> int:
        now = time.monotonic()
        if force or now - self._capacity_at >= self.CAPACITY_REFRESH_SECONDS:
            try:
                self._capacity = sum(self.client.nthreads().values())
            except Exception:
                log.warning("could not ask the Dask scheduler for its workers", exc_info=True)
            self._capacity_at = now
        return self._capacity

    def free(self, cpu_bound: bool) -> int:
        return max(0, self._refresh_capacity() - len(self._futures))

    def dispatch(self, job_id: int, action: str, cpu_bound: bool) -> bool:
        from engine.executor.worker import dask_run_job

        if job_id in self._futures:
            return False
        future = self.client.submit(
            dask_run_job,
            job_id,
            action,
            self._runner,
            key=f"mltrainer-job-{job_id}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        self._futures[job_id] = future
        future.add_done_callback(lambda done, job_id=job_id: self._on_done(job_id, done))
        return True

    def _on_done(self, job_id: int, future: Future) -> None:  # runs on the client's event loop
        self._finished.put((job_id, future))
        self._wake()

    def waitables(self) -> list:
        return []

    def collect(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while True:
            try:
                job_id, future = self._finished.get_nowait()
            except queue.Empty:
                return outcomes
            if self._futures.get(job_id) is not future:
                continue
            del self._futures[job_id]
            if future.status == "finished":
                status, detail = future.result()
                outcomes.append(Outcome(job_id, "done", status=status, detail=detail))
            elif future.status == "cancelled":
                outcomes.append(Outcome(job_id, "error", detail="the Dask task was cancelled"))
            else:
                error = future.exception()
                outcomes.append(
                    Outcome(job_id, "error", detail=f"{type(error).__name__}: {error}"[:500])
                )
            future.release()

    def busy_jobs(self) -> set[int]:
        return set(self._futures)

    def stoppable_jobs(self) -> set[int]:
        return set()  # a running Dask task cannot be interrupted

    def stop_job(self, job_id: int) -> bool:
        return False

    def warm_up(self, timeout: float) -> bool:
        """Have every Dask worker import the project and the catalogue now."""
        from engine.executor.worker import prepare_process

        try:
            self.client.run(prepare_process, self._runner, wait=True)
            return True
        except Exception:
            log.warning("could not warm up the Dask workers", exc_info=True)
            return False

    def worker_pids(self) -> list[int]:
        import os

        try:
            return sorted(self.client.run(os.getpid).values())
        except Exception:
            return []

    def stop(self, *, terminate: bool, abandon_threads: bool = False) -> list[Outcome]:
        """Tasks already running finish on their workers and write their results; tasks
        not started yet are dropped with the client and stay queued in the database.
        (``abandon_threads``: nothing runs in this process's threads here.)"""
        outcomes = self.collect()
        if self._client is not None:
            try:
                self._client.close(timeout=10)
            except Exception:
                log.warning("closing the Dask client failed", exc_info=True)
        self._futures.clear()
        return outcomes


def build_backend(
    config: ExecutorConfig, wake: Callable[[], None], runner: JobRunner
) -> LocalBackend | DaskBackend:
    if config.backend == "dask":
        return DaskBackend(config, wake, runner)
    return LocalBackend(config, wake, runner)
