"""Start-up of the app: logs, migrations and the metrics endpoint once per process; the
executor on every run, so a service that stopped (a crash, an admin's shutdown) comes
back with the next page view instead of leaving jobs queued."""

from __future__ import annotations

import gc
import logging

import streamlit as st


@st.cache_resource(show_spinner=False)
def _boot_process() -> bool:
    from engine.observability.logging import configure_logging
    from engine.observability.metrics import remove_dead_process_files, start_metrics_server
    from storage.migrate import upgrade

    configure_logging()
    upgrade()
    remove_dead_process_files()
    start_metrics_server()
    # The modules imported by now live as long as the process: moved out of the
    # collector's reach, a later full collection (automatic) scans only what runs create.
    gc.collect()
    gc.freeze()
    logging.getLogger("mltrainer.app").info("app started")
    return True


def boot() -> None:
    from engine.executor import ensure_started
    from engine.runtime import install

    install()  # the compliance policy and the job runner (idempotent)
    _boot_process()
    ensure_started()  # idempotent: a lock and a liveness check when it already runs
