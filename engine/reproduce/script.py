"""The ``reproduce.py`` every bundle carries: it hands the bundle to
``python -m engine reproduce`` (which re-runs it in a fresh data directory and
compares every number) and exits with its code."""

from __future__ import annotations

from engine.reproduce.manifest import Manifest

TEMPLATE = '''"""Reproduce {title} (bundle made by {created_by} on {created_at:%Y-%m-%d %H:%M} UTC).

Run it with mlTrainer installed: its virtualenv's python, from the project root or with
the project on PYTHONPATH:

    python reproduce.py [--json]        # in the folder this bundle was extracted into
    python reproduce.py BUNDLE.zip      # or name the zip
    python -m engine reproduce BUNDLE.zip --json

Every action call is re-run through `python -m engine` in a fresh, empty data directory
with the bundled data slices, and every recorded number is compared with the new one.
Exit code 0: identical; 1: drift (the rows marked with a different sign, and why);
2: the bundle could not be re-run.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARGS = sys.argv[1:]
if not ARGS or ARGS[0].startswith("-"):  # no bundle named: the folder holding this script
    ARGS = [str(HERE), *ARGS]
sys.exit(subprocess.call([sys.executable, "-m", "engine", "reproduce", *ARGS]))
'''


def _docstring_safe(text: str) -> str:
    """Text that cannot end the docstring or form an escape sequence in it."""
    return "".join(c if c.isprintable() and c not in '"\\' else " " for c in text)[:200]


def reproduce_script(manifest: Manifest) -> str:
    return TEMPLATE.format(
        title=_docstring_safe(manifest.title),
        created_by=_docstring_safe(manifest.created_by),
        created_at=manifest.created_at,
    )
