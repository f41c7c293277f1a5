"""Measure what a run spends, on the server, and record it.

CPU time comes from the process that runs the job: a local pool process runs one job at
a time, so its whole process CPU time (every thread, BLAS included) is the job's; a job
on a thread (the thread pool, a Dask worker, an inline call) is charged its thread's CPU
time. Tokens come from the ``usage`` fields of the Messages API's replies, never from a
client's claim, and are priced from ``prices.toml``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.usage.prices import usage_dollars

log = logging.getLogger("mltrainer.usage")

_dedicated_process = False
# Inline (quick) calls cheaper than this are not recorded one by one: a row per price
# lookup would cost more than the lookup.
INLINE_RECORD_MIN_CPU_SECONDS = 0.05


def mark_dedicated_process() -> None:
    """This process runs one job at a time (a local pool child): charge its process CPU."""
    global _dedicated_process
    _dedicated_process = True


def cpu_now() -> float:
    """The CPU clock a job in this process or thread is charged by (seconds)."""
    return time.process_time() if _dedicated_process else time.thread_time()


def _metrics():
    try:
        from engine.observability import metrics
    except Exception:  # noqa: BLE001 - metrics must never break accounting
        return None
    return metrics


def cpu_usage_row(
    *,
    action: str,
    user_id: int | None,
    goal_id: int | None,
    cpu_seconds: float,
    wall_seconds: float,
) -> dict[str, Any]:
    """The ``usage_records`` columns of a job's CPU (written with its outcome by
    ``storage.repositories.jobs.finish``); counted in the metrics here."""
    cpu_seconds = max(float(cpu_seconds), 0.0)
    metrics = _metrics()
    if metrics is not None:
        metrics.USAGE_CPU_SECONDS.labels(action).inc(cpu_seconds)
    return {
        "kind": "cpu",
        "source": action[:100],
        "user_id": user_id,
        "goal_id": goal_id,
        "cpu_seconds": cpu_seconds,
        "wall_seconds": max(float(wall_seconds), 0.0),
        "input_tokens": 0,
        "output_tokens": 0,
        "dollars": 0.0,
        "model": None,
    }


def charge_llm(
    *,
    source: str,
    model: str,
    usage: Any,
    user_id: int | None,
    goal_id: int | None = None,
    job_id: int | None = None,
    count_tokens: bool = True,
) -> tuple[int, float]:
    """Record one Claude request's tokens and price; returns (tokens, dollars).
    ``count_tokens``: also add them to the token counter (the chat's client does it
    itself)."""
    from storage.repositories import usage as repo

    def get(name: str) -> int:
        value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, 0)
        return int(value or 0)

    input_side = (
        get("input_tokens") + get("cache_read_input_tokens") + get("cache_creation_input_tokens")
    )
    output = get("output_tokens")
    dollars = usage_dollars(model, usage)
    try:
        repo.add_usage(
            kind="llm",
            source=source,
            user_id=user_id,
            goal_id=goal_id,
            job_id=job_id,
            input_tokens=input_side,
            output_tokens=output,
            dollars=dollars,
            model=model,
        )
    except Exception:  # noqa: BLE001
        log.exception("could not record the tokens of a %s request", source)
    metrics = _metrics()
    if metrics is not None:
        metrics.USAGE_DOLLARS.labels(source).inc(dollars)
        if count_tokens:
            for direction, value in (
                ("input", get("input_tokens")),
                ("output", output),
                ("cache_read", get("cache_read_input_tokens")),
                ("cache_creation", get("cache_creation_input_tokens")),
            ):
                if value:
                    metrics.LLM_TOKENS.labels(direction).inc(value)
    return input_side + output, dollars
