"""Prometheus metrics, safe with several processes.

Worker processes (the local process pool, `python -m engine worker`) write their
samples to files in PROMETHEUS_MULTIPROC_DIR; the app's metrics endpoint
aggregates every process's files. The directory must be set before
prometheus_client is imported anywhere: :mod:`storage.metrics` (imported first here)
sets it, and defines the database and cache metrics the storage layer records.
"""

from __future__ import annotations

import os
import threading

from storage import metrics as _storage_metrics

MULTIPROC_DIR = _storage_metrics.MULTIPROC_DIR
DB_QUERY_SECONDS = _storage_metrics.DB_QUERY_SECONDS
CACHE_REQUESTS = _storage_metrics.CACHE_REQUESTS
COMPLIANCE_CHAIN_LENGTH = _storage_metrics.COMPLIANCE_CHAIN_LENGTH
COMPLIANCE_APPENDS = _storage_metrics.COMPLIANCE_APPENDS

from prometheus_client import (  # noqa: E402  (must follow the multiprocess setup above)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

LOGINS = Counter("mltrainer_logins_total", "Login attempts by outcome", ["outcome"])
PAGE_VIEWS = Counter("mltrainer_page_views_total", "Page views by page", ["page"])
ACTION_CALLS = Counter(
    "mltrainer_action_calls_total", "Action calls by action and outcome", ["action", "outcome"]
)
ACTION_SECONDS = Histogram(
    "mltrainer_action_duration_seconds",
    "Action run time",
    ["action"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
JOBS_SUBMITTED = Counter("mltrainer_jobs_submitted_total", "Jobs submitted", ["action"])
JOBS_FINISHED = Counter(
    "mltrainer_jobs_finished_total", "Jobs finished by status", ["action", "status"]
)
JOB_SECONDS = Histogram(
    "mltrainer_job_duration_seconds",
    "Job run time from start to end",
    ["action"],
    buckets=(0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200),
)
JOBS_RUNNING = Gauge("mltrainer_jobs_running", "Jobs running now", multiprocess_mode="livesum")
QUEUE_DEPTH = Gauge("mltrainer_queue_depth", "Jobs queued", multiprocess_mode="max")
LLM_REQUESTS = Counter("mltrainer_llm_requests_total", "Claude requests by outcome", ["outcome"])
LLM_TOKENS = Counter("mltrainer_llm_tokens_total", "Claude tokens by direction", ["direction"])
LLM_SECONDS = Histogram(
    "mltrainer_llm_request_duration_seconds",
    "Claude request latency",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
USAGE_CPU_SECONDS = Counter(
    "mltrainer_usage_cpu_seconds_total",
    "CPU seconds spent by jobs, measured in their worker, by action",
    ["action"],
)
USAGE_DOLLARS = Counter(
    "mltrainer_usage_dollars_total",
    "Claude spend in dollars (usage fields priced from engine/usage/prices.toml) by source",
    ["source"],
)
BUDGET_EXHAUSTED = Counter(
    "mltrainer_budget_exhausted_total",
    "Runs refused or stopped because a daily budget was spent, by scope and resource",
    ["scope", "resource"],
)
CHAT_NUMBERS = Counter(
    "mltrainer_chat_numbers_total",
    "Numbers in chat replies by verdict (verified, request, unverified) and mode",
    ["status", "mode"],
)
COMPLIANCE_DECISIONS = Counter(
    "mltrainer_compliance_decisions_total", "Policy decisions", ["rule", "outcome"]
)

_server_lock = threading.Lock()
_server_port: int | None = None


def metrics_registry() -> CollectorRegistry:
    """A registry that aggregates the samples of every process."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(MULTIPROC_DIR))
    return registry


def remove_dead_process_files() -> None:
    """Forget live gauges of processes that are gone; counters of dead ones still count."""
    pids = set()
    for path in MULTIPROC_DIR.glob("*.db"):
        suffix = path.stem.rsplit("_", 1)[-1]
        if suffix.isdigit():
            pids.add(int(suffix))
    for pid in pids - {os.getpid()}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(MULTIPROC_DIR))
        except PermissionError:
            continue


def start_metrics_server(port: int | None = None) -> int | None:
    """Serve /metrics once per process; returns the port, or None if it is taken."""
    global _server_port
    with _server_lock:
        if _server_port is not None:
            return _server_port
        if port is None:
            from engine.config import get_settings

            port = get_settings().metrics_port
        try:
            # Prometheus scrapes from another host or container, hence all interfaces by default.
            address = os.environ.get("MLTRAINER_METRICS_ADDR", "0.0.0.0")  # noqa: S104
            start_http_server(port, addr=address, registry=metrics_registry())
        except OSError:
            import logging

            logging.getLogger("mltrainer.metrics").warning(
                "metrics port %s is in use; another process serves /metrics", port
            )
            return None
        _server_port = port
        return port
