"""Executor settings: the backend and pool sizes come from engine.config, the timings from
their own environment variables (all optional)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

BACKENDS = ("local", "dask")


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None


def max_attempts_from_env() -> int:
    value = _int("MLTRAINER_JOB_MAX_ATTEMPTS", 3)
    if value < 1:
        raise ValueError("MLTRAINER_JOB_MAX_ATTEMPTS must be >= 1")
    return value


@dataclass(frozen=True)
class ExecutorConfig:
    """How the executor service schedules and supervises jobs.

    - ``heartbeat_seconds`` (MLTRAINER_HEARTBEAT_SECONDS, 2): how often a worker refreshes
      the heartbeat of the jobs it runs.
    - ``stale_seconds`` (MLTRAINER_JOB_STALE_SECONDS, 30): a running job whose heartbeat is
      older than this is declared interrupted (its worker died), then retried or failed.
    - ``poll_seconds`` (MLTRAINER_SCHEDULER_POLL_SECONDS, 0.5): the scheduler's idle tick;
      local events (submit, a job ending) wake it at once.
    - ``max_attempts`` (MLTRAINER_JOB_MAX_ATTEMPTS, 3): attempts of an idempotent job.
    - ``shutdown_grace_seconds`` (MLTRAINER_SHUTDOWN_GRACE_SECONDS, 10): on shutdown, how
      long running jobs may finish before their processes are stopped (they are then
      requeued when idempotent).
    - ``cancel_grace_seconds`` (MLTRAINER_CANCEL_GRACE_SECONDS, 30): a job in a local pool
      process that ignores a cancel request this long has its process stopped (the job
      ends cancelled; the pool starts a new process). Threads and Dask tasks cannot be
      stopped from outside: their actions must check ``ctx.cancelled()``.
    - ``inline_stale_seconds`` (MLTRAINER_INLINE_STALE_SECONDS, 3600): quick calls run in
      the caller's process without a heartbeat; one still `running` after this long belongs
      to a process that died and is failed.
    """

    backend: str = "local"
    dask_address: str | None = None
    process_workers: int = 2
    thread_workers: int = 4
    heartbeat_seconds: float = 2.0
    stale_seconds: float = 30.0
    poll_seconds: float = 0.5
    max_attempts: int = 3
    shutdown_grace_seconds: float = 10.0
    cancel_grace_seconds: float = 30.0
    inline_stale_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(
                f"MLTRAINER_EXECUTOR must be one of {', '.join(BACKENDS)}, not {self.backend!r}"
            )
        if self.backend == "dask" and not self.dask_address:
            raise ValueError(
                "MLTRAINER_EXECUTOR=dask needs MLTRAINER_DASK_ADDRESS (e.g. tcp://scheduler:8786)"
            )
        if self.heartbeat_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError("heartbeat and poll intervals must be positive")
        if self.stale_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                f"MLTRAINER_JOB_STALE_SECONDS ({self.stale_seconds}) must be at least twice "
                f"MLTRAINER_HEARTBEAT_SECONDS ({self.heartbeat_seconds})"
            )
        if self.process_workers < 1 or self.thread_workers < 1:
            raise ValueError("MLTRAINER_PROCESS_WORKERS and MLTRAINER_THREAD_WORKERS must be >= 1")
        if self.max_attempts < 1:
            raise ValueError("MLTRAINER_JOB_MAX_ATTEMPTS must be >= 1")

    @classmethod
    def from_env(cls, **overrides) -> ExecutorConfig:
        from engine.config import get_settings

        settings = get_settings()
        config = cls(
            backend=settings.executor.strip().lower(),
            dask_address=settings.dask_address,
            process_workers=settings.process_workers,
            thread_workers=settings.thread_workers,
            heartbeat_seconds=_float("MLTRAINER_HEARTBEAT_SECONDS", 2.0),
            stale_seconds=_float("MLTRAINER_JOB_STALE_SECONDS", 30.0),
            poll_seconds=_float("MLTRAINER_SCHEDULER_POLL_SECONDS", 0.5),
            max_attempts=max_attempts_from_env(),
            shutdown_grace_seconds=_float("MLTRAINER_SHUTDOWN_GRACE_SECONDS", 10.0),
            cancel_grace_seconds=_float("MLTRAINER_CANCEL_GRACE_SECONDS", 30.0),
            inline_stale_seconds=_float("MLTRAINER_INLINE_STALE_SECONDS", 3600.0),
        )
        return replace(config, **overrides) if overrides else config
