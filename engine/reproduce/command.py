"""``python -m engine reproduce BUNDLE``: re-run a bundle in a fresh data directory and
compare every number with the recorded one.

The bundle (a zip, or the folder it was extracted into) is checked and extracted first
(:mod:`engine.reproduce.archive`), then a child ``python -m engine`` process replays it
with a new, empty data directory and SQLite database (no Redis, a local executor), so
nothing the analyst's own installation holds takes part and nothing is written to it.
The child writes a JSON report; this process compares it with the manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from engine.actions.base import ActionError
from engine.reproduce.archive import extract
from engine.reproduce.compare import Comparison, compare_step, version_changes
from engine.reproduce.manifest import Manifest
from engine.reproduce.replay import StepRun, load_manifest

CHILD_TIMEOUT_SECONDS = 24 * 3600
_NOT_INHERITED = (
    "REDIS_URL",
    "DATABASE_URL",
    "MLTRAINER_AUDIT_KEY",
    "MLTRAINER_COOKIE_KEY",
    "MLTRAINER_DASK_ADDRESS",
    "MLTRAINER_EXTRA_ACTION_MODULES",
)


def project_root() -> Path:
    import engine

    return Path(engine.__file__).resolve().parent.parent


def fresh_environment(work: Path, data_dir: Path) -> dict[str, str]:
    """The child's environment: this one, pointed at an empty data directory."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env["MLTRAINER_DATA_DIR"] = str(data_dir)
    env["DATABASE_URL"] = f"sqlite:///{data_dir / 'mltrainer.db'}"
    env["MLTRAINER_EXECUTOR"] = "local"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    env["MLTRAINER_METRICS_PORT"] = "0"
    env.setdefault("MLTRAINER_PROCESS_WORKERS", "1")  # one replay step at a time
    env["PYTHONPATH"] = os.pathsep.join(
        [str(project_root()), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def compare_report(manifest: Manifest, report: dict, tolerance: float = 0.0) -> Comparison:
    runs = {run["index"]: StepRun.from_json(run) for run in report.get("steps", [])}
    steps = []
    for step in manifest.steps:
        run = runs.get(step.index)
        steps.append(
            compare_step(
                step.index,
                step.action,
                step.expected,
                run.observation if run is not None else None,
                (run.error if run is not None else "the step did not run"),
                tolerance,
            )
        )
    drift = [
        f"data revision: the bundle's slice of dataset {d['dataset_id']} has fingerprint "
        f"{d['found'][:12]}…, recorded {d['recorded'][:12]}…"
        for d in report.get("data_drift", [])
    ]
    drift += list(report.get("code_drift", []))
    comparison = Comparison(steps, drift)
    comparison.notes = version_changes(manifest.versions, report.get("versions", {}))
    return comparison


def reproduce(
    bundle: Path, *, tolerance: float = 0.0, data_dir: Path | None = None
) -> tuple[Manifest, Comparison]:
    """Replay ``bundle`` in a fresh data directory (``data_dir`` to keep it) and compare."""
    if not bundle.exists():
        raise ActionError(f"{bundle} does not exist.")
    with tempfile.TemporaryDirectory(prefix="mltrainer-reproduce-") as temporary:
        work = Path(temporary)
        root = extract(bundle, work / "bundle") if bundle.is_file() else bundle.resolve()
        manifest = load_manifest(root)
        target = data_dir.resolve() if data_dir is not None else work / "data"
        if target.exists() and any(target.iterdir()):
            raise ActionError(f"{target} is not empty; reproduce needs a fresh data directory.")
        report_path = work / "report.json"
        child = subprocess.run(  # this interpreter, an argv list, no shell
            [
                sys.executable,
                "-m",
                "engine",
                "reproduce",
                str(root),
                "--replay-report",
                str(report_path),
            ],
            env=fresh_environment(work, target),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
        if child.returncode != 0 or not report_path.exists():
            detail = (
                child.stdout.strip().splitlines() or child.stderr.strip().splitlines() or [""]
            )[-1]
            raise ActionError(f"The re-run did not complete (exit {child.returncode}): {detail}")
        report = json.loads(report_path.read_text())
    return manifest, compare_report(manifest, report, tolerance)
