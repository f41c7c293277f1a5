"""The exported notebook: valid nbformat v4, the conversation's words as markdown with
HTML escaped, one cell per action call, and it runs top to bottom in a clean kernel
(the virtualenv's ``python3`` kernel, through nbclient) reproducing every number."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from engine.reproduce.bundle import build

ROOT = Path(__file__).resolve().parents[2]


def test_the_exported_notebook_executes_and_reproduces(alice_trial, people, tmp_path, monkeypatch):
    trial_id, _ = alice_trial
    bundle = build(people["alice"], "trial", trial_id)
    (tmp_path / bundle.file_name).write_bytes(bundle.zip_bytes())
    notebook = nbformat.reads(bundle.files["reproduce.ipynb"].decode(), as_version=4)
    nbformat.validate(notebook)
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert any("bundle.run(1, params_1)" in s and "'model_id'" in s for s in sources)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=900,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    ]
    assert any("REPRODUCED: every number of 1 step(s) is identical." in text for text in outputs)
    figures = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in output.get("data", {})
    ]
    assert figures  # the per-split chart, re-drawn from the stored result
