"""Dask worker preload for mlTrainer.

    dask worker tcp://scheduler:8786 --preload /app/deploy/dask/mltrainer_preload.py

Each Dask worker process then, at start-up rather than on its first task:

- imports the project and the action catalogue, and opens its own database engines
  (``engine.executor.worker.prepare_process``), so the first job starts quickly;
- serves mlTrainer's Prometheus metrics (jobs, actions, database latency, ...) on
  MLTRAINER_METRICS_PORT (9464). Jobs run on the Dask workers, so their job and action
  metrics exist only there: Prometheus scrapes this port on every worker. Several worker
  processes in one container share PROMETHEUS_MULTIPROC_DIR; the first one to bind the
  port serves the samples of all of them.

Failures here are logged, never fatal: a worker without metrics still runs jobs.
"""

from __future__ import annotations

import logging
import os
import tempfile

# The image sets it; outside the image default to a per-machine temporary directory.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "mltrainer-metrics")
)

log = logging.getLogger("mltrainer.dask")


def dask_setup(worker) -> None:
    try:
        from engine.executor.worker import prepare_process
        from engine.runtime import RUNNER

        prepare_process(RUNNER)  # installs the compliance policy and the job runner
    except Exception:
        log.exception("mlTrainer could not prepare Dask worker %s", worker.address)
    try:
        from engine.observability.metrics import start_metrics_server

        port = start_metrics_server()
        if port is not None:
            log.info("Dask worker %s serves mlTrainer metrics on :%s", worker.address, port)
    except Exception:
        log.exception("mlTrainer metrics server did not start on %s", worker.address)
