"""Imported by worker processes (MLTRAINER_EXTRA_ACTION_MODULES) to put their clock
``MLTRAINER_TEST_CLOCK_OFFSET_SECONDS`` behind: every time source the storage layer reads
in that process (``storage.models.utcnow`` and each module's imported copy of it) is
replaced. The test process itself (the main process) keeps the true time, so a job run
by a skewed worker is judged by a service whose clock is right: one host 45 s behind.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from datetime import timedelta

OFFSET_VARIABLE = "MLTRAINER_TEST_CLOCK_OFFSET_SECONDS"


def _skew(offset: float) -> None:
    import storage.models
    import storage.repositories.jobs  # noqa: F401 (so its copy of utcnow is patched too)

    true_utcnow = storage.models.utcnow

    def skewed_utcnow():
        return true_utcnow() - timedelta(seconds=offset)

    for module in list(sys.modules.values()):
        if module is not None and getattr(module, "utcnow", None) is true_utcnow:
            module.utcnow = skewed_utcnow  # type: ignore[attr-defined]


def skewed_here() -> bool:
    return multiprocessing.parent_process() is not None and bool(os.environ.get(OFFSET_VARIABLE))


if skewed_here():
    _skew(float(os.environ[OFFSET_VARIABLE]))
