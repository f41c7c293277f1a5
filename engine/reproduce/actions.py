"""Bundles and notebooks in the action registry, so the chat and the command line can
ask for them too: ``export_bundle`` and ``export_notebook`` write the file into the
user's export folder under the data directory and return its path as an artifact.
Access is the subject's own (a viewer may export what they can read)."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions import ActionContext, ActionResult, register

Kind = Literal["trial", "job", "goal", "conversation"]


class ExportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(..., description="What to export: trial, job, goal or conversation.")
    id: int = Field(..., ge=1, description="Its id.")


def _export_path(ctx: ActionContext, file_name: str):
    from engine.data.files import data_dir

    owner = re.sub(r"[^A-Za-z0-9_-]", "_", ctx.user.username or "system")
    folder = data_dir() / "exports" / owner
    folder.mkdir(parents=True, exist_ok=True)
    return folder / file_name


def _write(ctx: ActionContext, file_name: str, payload: bytes) -> ActionResult:
    from engine.data.files import atomic_write_bytes

    path = _export_path(ctx, file_name)
    atomic_write_bytes(path, payload)
    return ActionResult(
        f"Wrote {file_name} ({len(payload):,} bytes).",
        {
            "file": file_name,
            "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
        artifacts={"file": str(path)},
    )


@register(
    "export_bundle",
    description="""Export a reproduction bundle (zip) of a trial, a job (e.g. a backtest), a
    goal or a conversation: parameters, seeds, data fingerprints and slices, library lock
    file, dynamic actions' code and a reproduce.py. `python -m engine reproduce BUNDLE.zip`
    re-runs it in a fresh data directory and compares every number.""",
    params=ExportParams,
    cpu_bound=False,
    min_role="viewer",
    category="reproduce",
)
def export_bundle(params: ExportParams, ctx: ActionContext) -> ActionResult:
    from engine.reproduce.bundle import build  # loaded when run, not with the catalogue

    bundle = build(ctx.user, params.kind, params.id)
    result = _write(ctx, bundle.file_name, bundle.zip_bytes())
    result.values["steps"] = len(bundle.manifest.steps)
    return result


@register(
    "export_notebook",
    description="""Export a trial, job, goal or conversation as a Jupyter notebook: one cell
    per action call with its parameters, the recorded results as tables, figures re-drawn
    from the stored data and the conversation as markdown. It runs beside its bundle
    (export_bundle) in a clean kernel with mlTrainer installed.""",
    params=ExportParams,
    cpu_bound=False,
    min_role="viewer",
    category="reproduce",
)
def export_notebook(params: ExportParams, ctx: ActionContext) -> ActionResult:
    from engine.reproduce.bundle import build
    from engine.reproduce.notebook import notebook_json

    bundle = build(ctx.user, params.kind, params.id)
    name = bundle.file_name.replace("_bundle.zip", ".ipynb")
    result = _write(ctx, name, notebook_json(bundle.manifest, bundle.file_name).encode())
    result.values["steps"] = len(bundle.manifest.steps)
    return result
