"""Once-per-process start-up of the app: logs, migrations, metrics endpoint, executor."""

from __future__ import annotations

import logging

import streamlit as st


@st.cache_resource(show_spinner=False)
def boot() -> bool:
    from engine.observability.logging import configure_logging
    from engine.observability.metrics import remove_dead_process_files, start_metrics_server
    from storage.migrate import upgrade

    configure_logging()
    upgrade()
    remove_dead_process_files()
    start_metrics_server()
    from engine.executor import ensure_started

    ensure_started()
    logging.getLogger("mltrainer.app").info("app started")
    return True
