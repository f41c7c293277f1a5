"""The executor depends on the action types only: importing it loads no catalogue."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_executor_loads_neither_the_registry_nor_call():
    probe = (
        "import sys, engine.executor\n"
        "loaded = [m for m in ('engine.actions.registry', 'engine.actions.dispatch',"
        " 'engine.compliance') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == ""


def test_the_lazy_names_are_the_real_ones():
    import engine.actions as actions
    from engine.actions import dispatch, registry

    assert actions.call is dispatch.call
    assert actions.register is registry.register
    assert actions.load_catalog is registry.load_catalog
