"""Re-run a bundle's steps in the current data directory (a fresh one: the reproduce
command's child process, or a notebook's workspace).

The data slices are recorded as datasets again (their fingerprint checked against the
manifest), the dynamic actions' code is saved and approved again, then every step is
called through the registry (``engine.actions.call``) with its recorded parameters,
rewritten only where ids differ in the new database: a recorded dataset's id, a trial
an earlier step re-created (an ensemble's members), a dynamic action's version, and a
remote source (Polygon, FRED) replaced by its slice so the
re-run needs no network and no key. Runs as the built-in system user.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.actions.base import ActionError
from engine.reproduce.archive import UnsafeBundle, member_path
from engine.reproduce.manifest import MANIFEST_NAME, Manifest, Observation, Step

REMOTE_SOURCES = ("polygon", "fred")
STEP_WAIT_SECONDS = 6 * 3600.0


@dataclass
class DataDrift:
    """A slice in the bundle whose content no longer has its recorded fingerprint."""

    dataset_id: int
    recorded: str
    found: str


@dataclass
class StepRun:
    index: int
    action: str
    params: dict[str, Any]
    job_id: int | None = None
    observation: Observation | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["observation"] = (
            self.observation.model_dump(mode="json") if self.observation is not None else None
        )
        return out

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> StepRun:
        payload = dict(payload)
        observed = payload.pop("observation", None)
        return cls(
            **payload,
            observation=Observation.model_validate(observed) if observed is not None else None,
        )


@dataclass
class Workspace:
    root: Path
    manifest: Manifest
    datasets: dict[int, int] = field(default_factory=dict)  # original id -> new id
    trials: dict[int, int] = field(default_factory=dict)  # original id -> re-run's id
    dynamic_versions: dict[str, int] = field(default_factory=dict)
    data_drift: list[DataDrift] = field(default_factory=list)
    code_drift: list[str] = field(default_factory=list)


def load_manifest(root: Path) -> Manifest:
    path = member_path(root, MANIFEST_NAME)
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise UnsafeBundle(
            f"manifest.json is not an mlTrainer bundle manifest ({problems})."
        ) from None


def import_datasets(workspace: Workspace) -> None:
    from engine.data import files
    from engine.data.provenance import fingerprint
    from storage.repositories import datasets

    for entry in workspace.manifest.datasets:
        if entry.file is None:
            continue
        path = member_path(workspace.root, entry.file)
        frame = files.read_parquet(path)
        found = fingerprint(frame)
        if found != entry.fingerprint:
            workspace.data_drift.append(DataDrift(entry.original_id, entry.fingerprint, found))
        stored = files.dataset_path(found)
        if not stored.exists():
            files.atomic_write_bytes(stored, path.read_bytes())
        provenance = {**entry.provenance, "fingerprint": found, "from_bundle": True}
        workspace.datasets[entry.original_id] = datasets.record_dataset(
            name=entry.name or f"dataset {entry.original_id} from a bundle",
            source=entry.source,
            symbols=list(entry.symbols),
            start_date=entry.start,
            end_date=entry.end,
            rows=entry.rows if entry.rows is not None else len(frame),
            fingerprint=found,
            is_synthetic=entry.synthetic,
            provenance=provenance,
            path=str(stored),
            user_id=None,
        )


def install_dynamic_actions(workspace: Workspace) -> None:
    from engine.actions.context import UserRef
    from engine.sandbox import service

    system = UserRef.system()
    for code in workspace.manifest.dynamic_actions:
        source = member_path(workspace.root, code.file).read_text(encoding="utf-8")
        if service.source_hash(source) != code.source_hash:
            workspace.code_drift.append(
                f"dynamic action {code.name} v{code.version}: its code in the bundle changed"
            )
        record, _ = service.save_draft(system, code.name, code.description, source)
        service.approve(system, code.name, record.version)
        workspace.dynamic_versions[code.name] = record.version
    if workspace.manifest.dynamic_actions:
        service.sync_registry()


def prepare(root: Path) -> Workspace:
    """Migrate the current database and load the bundle's data and code into it."""
    from storage.migrate import upgrade

    upgrade()
    workspace = Workspace(root=root, manifest=load_manifest(root))
    import_datasets(workspace)
    install_dynamic_actions(workspace)
    return workspace


def rewrite_params(workspace: Workspace, step: Step) -> dict[str, Any]:
    """The step's parameters with the new database's ids (see the module docstring)."""
    params = copy.deepcopy(step.params)
    mapping = workspace.datasets
    dataset_id = params.get("dataset_id")
    if isinstance(dataset_id, int) and dataset_id in mapping:
        params["dataset_id"] = mapping[dataset_id]
    source = params.get("source")
    if isinstance(source, str):
        kind, _, ident = source.partition(":")
        kind = kind.strip().lower()
        if kind in ("upload", "dataset") and ident.strip().isdigit():
            new_id = mapping.get(int(ident.strip()))
            if new_id is not None:
                params["source"] = f"{kind}:{new_id}"
        elif kind in REMOTE_SOURCES:
            slices = [
                mapping[d]
                for d in step.dataset_ids
                if d in mapping
                and (entry := workspace.manifest.dataset(d)) is not None
                and entry.source == kind
            ]
            if len(slices) == 1:
                params["source"] = f"dataset:{slices[0]}"
    trial_ids = params.get("trial_ids")
    if isinstance(trial_ids, list):
        params["trial_ids"] = [workspace.trials.get(i, i) for i in trial_ids]
    if isinstance(params.get("trial_id"), int):
        params["trial_id"] = workspace.trials.get(params["trial_id"], params["trial_id"])
    if step.action in workspace.dynamic_versions and "version" in params:
        params["version"] = workspace.dynamic_versions[step.action]
    return params


def run_step(workspace: Workspace, step: Step) -> StepRun:
    """Call one step through the registry and observe what it produced."""
    from engine.actions import UserRef, call
    from engine.actions.dispatch import resolve_action
    from engine.reproduce import observe

    params = rewrite_params(workspace, step)
    run = StepRun(step.index, step.action, params)
    try:
        if resolve_action(step.action).long:
            from engine import executor

            executor.ensure_started()
        outcome = call(
            step.action, params, UserRef.system(), confirmed=True, wait=STEP_WAIT_SECONDS
        )
    except ActionError as error:
        run.error = str(error)
        return run
    run.job_id = outcome.job_id
    if outcome.status in ("queued", "running"):
        run.error = f"job {outcome.job_id} did not finish within {STEP_WAIT_SECONDS:.0f} s"
        return run
    if outcome.error:
        run.error = outcome.error
    run.observation = observe.of_job(outcome.job_id)
    recorded, again = step.expected.trial_ids, run.observation.trial_ids
    if len(recorded) == len(again):  # later steps name these trials by their new ids
        workspace.trials.update(zip(recorded, again, strict=True))
    return run


def replay(root: Path) -> dict[str, Any]:
    """Every step of the bundle at ``root``; the report the reproduce command compares."""
    from engine.ml.recording import library_versions

    workspace = prepare(root)
    runs = [run_step(workspace, step) for step in workspace.manifest.steps]
    return {
        "steps": [run.to_json() for run in runs],
        "data_drift": [asdict(d) for d in workspace.data_drift],
        "code_drift": workspace.code_drift,
        "versions": library_versions(),
    }


def write_report(root: Path, out: Path) -> None:
    out.write_text(json.dumps(replay(root), default=str))
