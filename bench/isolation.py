"""A benchmark's own throwaway data and metrics directories, and the settings every
database benchmark shares; call before anything imports ``engine``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def isolate(name: str, *, job_without_worker: bool = False) -> Path:
    """A fresh temporary directory for the run (``MLTRAINER_DATA_DIR`` and the
    Prometheus multiprocess directory inside it unless already set), no metrics port,
    cheap password hashing for seeded users, no Claude key; ``job_without_worker``: a
    seeded "running" job has no worker, so the executor must not declare it dead."""
    root = Path(tempfile.mkdtemp(prefix=f"mltrainer-bench-{name}-"))
    os.environ.setdefault("MLTRAINER_DATA_DIR", str(root / "data"))
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(root / "metrics"))
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLTRAINER_METRICS_PORT", "0")
    os.environ["MLTRAINER_BCRYPT_ROUNDS"] = "4"
    if job_without_worker:
        os.environ["MLTRAINER_JOB_STALE_SECONDS"] = "86400"
    os.environ.pop("ANTHROPIC_API_KEY", None)
    return root
