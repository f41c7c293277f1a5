"""A bundle opened in a Python session (the exported notebook's first cell): a fresh,
empty data directory and SQLite database in a temporary folder, the bundle's data and
dynamic actions loaded into it, and one call per step.

``open_bundle`` must run before anything else of mlTrainer is used in the session: it
points the settings, the database and the cache at the new directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.actions.base import frame_from_json
from engine.reproduce.archive import extract, member_path
from engine.reproduce.compare import StepComparison, compare_step
from engine.reproduce.manifest import Step
from engine.reproduce.replay import StepRun, Workspace, prepare, run_step


@dataclass
class StepResult:
    step: Step
    run: StepRun
    comparison: StepComparison

    @property
    def identical(self) -> bool:
        return self.comparison.identical

    @property
    def table(self) -> pd.DataFrame:
        """recorded | re-run | difference | match, one row per number."""
        return self.comparison.frame()

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """The re-run's result tables."""
        from storage.repositories import jobs

        job = jobs.get_job(self.run.job_id) if self.run.job_id is not None else None
        stored = (job.result or {}) if job is not None else {}
        return {name: frame_from_json(rows) for name, rows in (stored.get("tables") or {}).items()}


class OpenBundle:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.results: dict[int, StepResult] = {}

    @property
    def manifest(self):
        return self.workspace.manifest

    def step(self, index: int) -> Step:
        return next(s for s in self.manifest.steps if s.index == index)

    def datasets(self) -> pd.DataFrame:
        rows = [
            {
                "dataset": d.original_id,
                "source": d.source,
                "symbols": ", ".join(map(str, d.symbols)),
                "rows": d.rows,
                "fingerprint": d.fingerprint[:16],
                "slice in bundle": d.file is not None,
                "note": d.note or "",
            }
            for d in self.manifest.datasets
        ]
        return pd.DataFrame(rows)

    def run(self, index: int, params: dict[str, Any] | None = None) -> StepResult:
        """Re-run step ``index`` (with ``params`` instead of the recorded ones if given)."""
        step = self.step(index)
        if params is not None:
            step = step.model_copy(update={"params": params})
        run = run_step(self.workspace, step)
        comparison = compare_step(
            step.index, step.action, step.expected, run.observation, run.error
        )
        result = StepResult(step, run, comparison)
        self.results[index] = result
        return result

    def recorded(self, index: int) -> dict[str, Any]:
        """The original run's stored result (``results/step_<n>.json``)."""
        name = self.step(index).result_file
        if name is None:
            return {}
        return json.loads(member_path(self.workspace.root, name).read_text())

    def recorded_tables(self, index: int) -> dict[str, pd.DataFrame]:
        stored = self.recorded(index)
        out: dict[str, pd.DataFrame] = {}
        if "trial" in stored or "trials" in stored:
            for one in [stored] if "trial" in stored else stored["trials"]:
                trial = one["trial"]
                rows = [{"split": s["split"], **s["metrics"]} for s in one.get("splits", [])]
                out[f"trial {trial['id']} per split"] = pd.DataFrame(rows)
        job = stored.get("job", stored) if "trial" not in stored else {}
        for name, rows in (job.get("tables") or {}).items():
            out[name] = frame_from_json(rows)
        return out

    def figures(self, index: int) -> list:
        from engine.reproduce.figures import figures

        return figures(self.recorded(index))

    def verdict(self) -> str:
        ran = [self.results[s.index] for s in self.manifest.steps if s.index in self.results]
        moved = [r for r in ran if not r.identical]
        drift = [f"dataset {d.dataset_id}" for d in self.workspace.data_drift]
        if len(ran) == len(self.manifest.steps) and not moved and not drift:
            return f"REPRODUCED: every number of {len(ran)} step(s) is identical."
        parts = [f"{len(moved)} of {len(ran)} step(s) differ"]
        if drift:
            parts.append("changed data slices: " + ", ".join(drift))
        return "DRIFT: " + "; ".join(parts)


def _point_session_at(data_dir: Path, work: Path) -> None:
    from engine.reproduce.command import _NOT_INHERITED

    for name in _NOT_INHERITED:
        os.environ.pop(name, None)
    os.environ.update(
        MLTRAINER_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'mltrainer.db'}",
        MLTRAINER_EXECUTOR="local",
        PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
        MLTRAINER_METRICS_PORT="0",
    )
    from engine.config import reset_settings
    from storage.cache import reset_cache
    from storage.db import dispose_all

    reset_settings()
    dispose_all()
    reset_cache()


def open_bundle(path: str | Path) -> OpenBundle:
    """Open a bundle (zip or extracted folder) in a fresh temporary data directory."""
    from engine.runtime import install

    source = Path(path)
    work = Path(tempfile.mkdtemp(prefix="mltrainer-notebook-"))
    root = extract(source, work / "bundle") if source.is_file() else source.resolve()
    _point_session_at(work / "data", work)
    install()
    return OpenBundle(prepare(root))
