"""The local backend's workers: a supervised pool of spawned processes and a pool of threads.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its processes dies, the
whole pool is declared broken and every other running job is lost with it. Here each
process is supervised on its own: a process that dies costs only the job it was running
(which the service marks interrupted at once, then retries or fails) and is replaced.

Everything in this module is driven from the service's scheduler thread, except the
thread workers' bodies, which report through a queue and wake the scheduler.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.executor.protocol import JobRunner
from engine.executor.worker import child_main, run_job

log = logging.getLogger("mltrainer.executor")

HOST = socket.gethostname()


@dataclass(frozen=True)
class Outcome:
    """What a backend reports to the scheduler about a dispatched job.

    ``kind``: ``done`` (the worker returned; ``status`` is the job's status or
    ``skipped``/``claim-error``/``error``, with ``detail`` saying why), ``died`` (the
    process running it is gone; ``detail`` is the ``host:pid:`` prefix of its worker
    name) or ``error`` (the backend could not run it; ``detail`` says why).
    """

    job_id: int
    kind: str
    status: str | None = None
    detail: str | None = None


@contextmanager
def _main_script_hidden() -> Iterator[None]:
    """Start spawned children without re-running the parent's ``__main__`` script.

    "spawn" re-executes the file of ``sys.modules["__main__"]`` in every child before the
    target runs. Streamlit points ``__main__`` at whichever script it ran last — app.py,
    or a page file, which draws the page at import and must not run in a worker. The
    worker needs nothing from ``__main__`` (its target and the actions are imported by
    name), so the child is shown a ``__main__`` without a file for the instant of
    ``start()``; the original is put back unless Streamlit replaced it meanwhile.
    """
    original = sys.modules.get("__main__")
    if (
        original is None
        or getattr(original, "__file__", None) is None
        or getattr(getattr(original, "__spec__", None), "name", None)
    ):
        yield  # nothing to re-run (interactive) or re-imported by module name (python -m)
        return
    placeholder = types.ModuleType("__main__")
    sys.modules["__main__"] = placeholder
    try:
        yield
    finally:
        if sys.modules.get("__main__") is placeholder:
            sys.modules["__main__"] = original


class _Child:
    __slots__ = ("process", "conn", "ready", "job", "pid")

    def __init__(self, process, conn):
        self.process = process
        self.conn = conn
        self.ready = False
        self.job: int | None = None
        self.pid = process.pid


class ProcessWorkers:
    """``size`` spawned processes, one job at a time each, running jobs with ``runner``
    (sent to each process when it starts)."""

    def __init__(self, size: int, runner: JobRunner):
        self.size = size
        self.runner = runner
        self._context = multiprocessing.get_context("spawn")
        self._children: list[_Child] = []
        self._stopping = False
        self._early_deaths = 0  # processes that died before they were ready, in a row
        self._next_spawn = 0.0

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def _spawn(self) -> None:
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(
            target=child_main,
            args=(child_conn, os.getpid(), self.runner),
            name="mltrainer-worker",
            daemon=True,
        )
        with _main_script_hidden():
            process.start()
        child_conn.close()
        self._children.append(_Child(process, parent_conn))

    def stop(self, *, terminate: bool) -> list[Outcome]:
        """Idle processes exit; busy ones are terminated when ``terminate`` (their jobs come
        back as ``died``), else awaited. Returns the outcomes still to handle. Busy ones
        are terminated at once rather than after the idle ones have exited, and all are
        awaited together, so stopping takes as long as the slowest process, not their sum."""
        self._stopping = True
        outcomes = self.collect()
        for child in self._children:
            if child.job is None or terminate:
                try:
                    child.conn.send(None)
                except OSError:
                    pass
        if terminate:
            for child in self._children:
                if child.job is not None and child.process.is_alive():
                    child.process.terminate()
        deadline = time.monotonic() + 2.0
        for child in self._children:
            if child.job is None or terminate:
                child.process.join(max(0.0, deadline - time.monotonic()))
        for child in self._children:
            if child.process.is_alive() and (terminate or child.job is None):
                child.process.terminate()
        for child in self._children:
            child.process.join(1.0)
            if child.process.is_alive():
                child.process.kill()
                child.process.join(1.0)
        outcomes += self.collect()
        return outcomes

    # -- dispatch -------------------------------------------------------------------
    def free(self) -> int:
        return sum(1 for child in self._children if child.ready and child.job is None)

    def ready_count(self) -> int:
        return sum(1 for child in list(self._children) if child.ready)

    def busy_jobs(self) -> set[int]:
        return {child.job for child in self._children if child.job is not None}

    def stop_job(self, job_id: int) -> bool:
        """Terminate the process running ``job_id`` (collect() then reports it ``died``)."""
        for child in self._children:
            if child.job == job_id and child.process.is_alive():
                child.process.terminate()
                return True
        return False

    def pids(self) -> list[int]:
        return [child.pid for child in self._children if child.process.is_alive()]

    def dispatch(self, job_id: int, action: str) -> bool:
        for child in self._children:
            if child.ready and child.job is None:
                try:
                    child.conn.send((job_id, action))
                except OSError:
                    continue  # it died; collect() replaces it
                child.job = job_id
                return True
        return False

    def waitables(self) -> list:
        items: list = []
        for child in self._children:
            items.append(child.conn)
            items.append(child.process.sentinel)
        return items

    def collect(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for child in list(self._children):
            dead = False
            try:
                while child.conn.poll():
                    message = child.conn.recv()
                    if message[0] == "ready":
                        child.ready = True
                        child.pid = message[1]
                        self._early_deaths = 0
                    elif message[0] == "done":
                        _, job_id, status, detail = message
                        outcomes.append(Outcome(job_id, "done", status=status, detail=detail))
                        child.job = None
            except (EOFError, OSError):
                dead = True
            if dead or not child.process.is_alive():
                outcomes.extend(self._bury(child))
        if not self._stopping:
            missing = self.size - len(self._children)
            if missing > 0 and time.monotonic() >= self._next_spawn:
                for _ in range(missing):
                    self._spawn()
        return outcomes

    def _bury(self, child: _Child) -> list[Outcome]:
        self._children.remove(child)
        child.process.join(0.5)
        try:
            child.conn.close()
        except OSError:
            pass
        code = child.process.exitcode
        if not self._stopping:
            log.warning("worker process %s exited (code %s); starting another", child.pid, code)
            if not child.ready:
                self._early_deaths += 1
                delay = min(30.0, 0.5 * 2**self._early_deaths)
                self._next_spawn = time.monotonic() + delay
                log.error("worker process failed to start; next try in %.1fs", delay)
        if child.job is None:
            return []
        return [Outcome(child.job, "died", detail=f"{HOST}:{child.pid}:")]


class ThreadWorkers:
    """``size`` daemon threads for I/O-bound jobs (daemon: a stuck job never blocks exit;
    if the process ends, its jobs' heartbeats stop and they are recovered)."""

    def __init__(self, size: int, wake: Callable[[], None], runner: JobRunner):
        self.size = size
        self._wake = wake
        self.runner = runner
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._active: set[int] = set()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.size):
            thread = threading.Thread(target=self._loop, name=f"mltrainer-io-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is None:
                return
            job_id, action = item
            try:
                status, detail = run_job(job_id, action, self.runner)
            except BaseException as error:  # run_job catches what it can; be safe anyway
                log.exception("thread worker failed on job %s", job_id)
                status, detail = "error", f"{type(error).__name__}: {error}"[:300]
            self._outbox.put(Outcome(job_id, "done", status=status, detail=detail))
            self._wake()

    def free(self) -> int:
        return self.size - len(self._active)

    def busy_jobs(self) -> set[int]:
        return set(self._active)

    def dispatch(self, job_id: int, action: str) -> bool:
        if len(self._active) >= self.size:
            return False
        self._active.add(job_id)
        self._inbox.put((job_id, action))
        return True

    def collect(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        while True:
            try:
                outcome = self._outbox.get_nowait()
            except queue.Empty:
                return outcomes
            self._active.discard(outcome.job_id)
            outcomes.append(outcome)

    def stop(self, *, abandon: bool = False) -> list[Outcome]:
        """Idle threads exit; running jobs carry on (nothing can stop a thread) and still
        write their results; the service no longer tracks them. ``abandon``: the process
        is about to end and its threads with it, so the jobs still running are reported
        ``died`` (the service requeues them; their threads' final writes are then
        refused, as for any worker that lost its job)."""
        for _ in self._threads:
            self._inbox.put(None)
        outcomes = self.collect()
        if abandon:
            prefix = f"{HOST}:{os.getpid()}:"
            outcomes += [Outcome(job_id, "died", detail=prefix) for job_id in self._active]
            self._active.clear()
        return outcomes
