"""One heartbeat thread per process refreshes every job this process is running.

A job that reports progress gets its heartbeat from the event writer too; this thread
covers jobs that report nothing for a while. Each beat is one UPDATE for all the jobs
held here, and only touches rows still held by the same worker name, so a process that
was declared dead (and replaced) cannot keep a new attempt's heartbeat alive.
"""

from __future__ import annotations

import logging
import os
import threading

from storage.outage import describe, is_transient

log = logging.getLogger("mltrainer.executor")


class Heartbeats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, str] = {}
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._wake = threading.Event()
        self.interval = 2.0

    def add(self, job_id: int, worker: str, interval: float | None = None) -> None:
        with self._lock:
            if interval is not None:
                self.interval = interval
            self._held[job_id] = worker
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="mltrainer-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, job_id: int) -> None:
        with self._lock:
            self._held.pop(job_id, None)

    def held(self) -> dict[int, str]:
        with self._lock:
            return dict(self._held)

    def _loop(self) -> None:
        from storage.repositories import jobs

        while True:
            self._wake.wait(self.interval)
            held = self.held()
            if not held:
                continue
            try:
                touched = jobs.touch_heartbeats(held)
            except Exception as error:  # the database may be briefly unreachable; next beat
                transient = is_transient(error)
                log.warning(
                    "heartbeat of jobs %s failed: %s",
                    sorted(held),
                    describe(error),
                    exc_info=not transient,  # an outage needs no traceback per beat
                )
                continue
            still_here = self.held()
            lost = [job_id for job_id in held if job_id not in touched and job_id in still_here]
            if lost:  # (a job that just ended here is simply no longer held)
                log.warning(
                    "jobs %s run here but are no longer held by this worker: they were "
                    "declared dead and will not be finished from here",
                    lost,
                )


HEARTBEATS = Heartbeats()
