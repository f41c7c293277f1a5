"""The storage layer's Prometheus metrics, and where every process writes its samples.

Worker processes (the local process pool, `python -m engine worker`) write their
samples to files in PROMETHEUS_MULTIPROC_DIR; the app's metrics endpoint aggregates
every process's files. The directory must be set before prometheus_client is imported
anywhere, which is why this module (the lowest layer that records metrics) sets it
first; :mod:`engine.observability.metrics` imports it before prometheus_client.
"""

from __future__ import annotations

import os
from pathlib import Path


def _multiproc_dir() -> Path:
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        path = Path(configured)
    else:
        from storage.settings import get_storage_settings

        path = get_storage_settings().data_dir / "metrics"
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


MULTIPROC_DIR = _multiproc_dir()

from prometheus_client import Counter, Gauge, Histogram  # noqa: E402  (after the directory is set)

DB_QUERY_SECONDS = Histogram(
    "mltrainer_db_query_duration_seconds",
    "Database statement time",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
CACHE_REQUESTS = Counter(
    "mltrainer_cache_requests_total", "Cache lookups by backend and result", ["backend", "result"]
)
# The compliance chain's length as last appended (the head's seq). "mostrecent": after a
# truncation the next append sets a lower value, which the alert catches.
COMPLIANCE_CHAIN_LENGTH = Gauge(
    "mltrainer_compliance_chain_length",
    "Events in the compliance hash chain (the head's seq) as last appended",
    multiprocess_mode="mostrecent",
)
COMPLIANCE_APPENDS = Counter(
    "mltrainer_compliance_appends_total", "Events appended to the compliance hash chain"
)
