"""Export a bundle as a Jupyter notebook (nbformat v4): the conversation's words as
markdown, one cell per action call with its parameters, the comparison and the
recorded tables, and figures re-drawn from the stored results.

The notebook runs top to bottom in a clean kernel with mlTrainer importable: its first
cell opens the bundle zip beside it (``MLTRAINER_BUNDLE`` names another path) in a
fresh temporary data directory (:mod:`engine.reproduce.workspace`). Text from the
conversation is markdown with HTML escaped, so a message cannot inject markup.
"""

from __future__ import annotations

import html
import pprint

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from engine.actions.context import UserRef
from engine.reproduce.manifest import Manifest

NOTEBOOK_NAME = "reproduce.ipynb"


def _text(value: str) -> str:
    """Conversation text as markdown that renders no HTML."""
    return html.escape(value, quote=False)


def _quoted(role: str, text: str) -> str:
    body = "\n".join(f"> {line}" for line in _text(text).splitlines()) or ">"
    return f"**{role}:**\n\n{body}"


def _setup_code(bundle_file: str) -> str:
    return f"""import os
from pathlib import Path

from IPython.display import display

from engine.reproduce.workspace import open_bundle

# The bundle zip beside this notebook, the folder it was extracted into, or MLTRAINER_BUNDLE.
BUNDLE = os.environ.get("MLTRAINER_BUNDLE") or (
    "." if Path("manifest.json").exists() else {bundle_file!r}
)
bundle = open_bundle(BUNDLE)  # a fresh, empty data directory holding the bundle's data
bundle.datasets()"""


def build_notebook(manifest: Manifest, bundle_file: str) -> nbformat.NotebookNode:
    versions = ", ".join(f"{k} {v}" for k, v in manifest.versions.items() if v)
    cells = [
        new_markdown_cell(
            f"# {_text(manifest.title)}\n\n"
            f"Exported from mlTrainer by {_text(manifest.created_by)} on "
            f"{manifest.created_at:%Y-%m-%d %H:%M} UTC. {len(manifest.steps)} action call(s), "
            "each re-run here through the action registry and compared with the recorded "
            f"numbers.\n\nRecorded with: {_text(versions)}.\n\n"
            f"Needs mlTrainer importable (its virtualenv as the kernel) and the bundle "
            f"`{_text(bundle_file)}` beside this notebook."
        ),
        new_code_cell(_setup_code(bundle_file)),
    ]
    for step in manifest.steps:
        for role, text in step.context:
            cells.append(new_markdown_cell(_quoted(role, text)))
        heading = f"## Step {step.index}: `{step.action}`"
        if step.summary:
            heading += f"\n\nRecorded: {_text(step.summary)}"
        cells.append(new_markdown_cell(heading))
        params = pprint.pformat(step.params, width=88, sort_dicts=False)
        cells.append(
            new_code_cell(
                f"params_{step.index} = {params}\n"
                f"step_{step.index} = bundle.run({step.index}, params_{step.index})\n"
                f"step_{step.index}.table  # recorded vs re-run, every number"
            )
        )
        cells.append(
            new_code_cell(
                f"for name, table in bundle.recorded_tables({step.index}).items():\n"
                f"    print(name)\n"
                f"    display(table.head(50))"
            )
        )
        cells.append(
            new_code_cell(f"for figure in bundle.figures({step.index}):\n    figure.show()")
        )
    for role, text in manifest.closing:
        cells.append(new_markdown_cell(_quoted(role, text)))
    cells.append(new_code_cell("print(bundle.verdict())"))
    notebook = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "mltrainer": {"kind": manifest.kind, "subject_id": manifest.subject_id},
        },
    )
    nbformat.validate(notebook)
    return notebook


def notebook_json(manifest: Manifest, bundle_file: str) -> str:
    return nbformat.writes(build_notebook(manifest, bundle_file))


def export_notebook(user: UserRef, kind: str, subject_id: int) -> str:
    """The notebook of a subject ``user`` may read (the same access as its bundle)."""
    from engine.reproduce.bundle import build

    bundle = build(user, kind, subject_id)
    return notebook_json(bundle.manifest, bundle.file_name)
