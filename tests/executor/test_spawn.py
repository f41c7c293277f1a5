"""Spawned pool processes must not re-run the parent's ``__main__`` script.

Streamlit points ``sys.modules["__main__"]`` at the script it ran last (a page file
under AppTest or in multipage mode); "spawn" would re-execute that file in every worker,
drawing a page there or failing on its imports before the worker is ready."""

from __future__ import annotations

import sys
import time
import types

from engine.executor.pools import ProcessWorkers
from engine.runtime import RUNNER


def test_workers_start_without_running_the_main_script(tmp_path, monkeypatch, fresh_db):
    marker = tmp_path / "main-script-ran"
    script = tmp_path / "page.py"
    script.write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "raise SystemExit('the page script ran in a worker process')\n"
    )
    page_main = types.ModuleType("__main__")
    page_main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page_main)

    workers = ProcessWorkers(1, RUNNER)
    workers.start()
    try:
        assert sys.modules["__main__"] is page_main  # put back after the start
        deadline = time.monotonic() + 120
        while workers.ready_count() < 1 and time.monotonic() < deadline:
            workers.collect()
            time.sleep(0.05)
        assert workers.ready_count() == 1
        assert not marker.exists()
    finally:
        workers.stop(terminate=True)
