"""Build a reproduction bundle: a zip from a trial, a job (e.g. a backtest), a goal or a
whole conversation, holding everything another machine needs to get the same numbers.

Access: the subject is read through the same rules as its page (``permissions``); a
missing subject and one the user may not see raise the same ``not_found`` message, so a
bundle never reveals another analyst's trial or job. A dataset the reader may not see
travels as its id and fingerprint only (no slice, no provenance). Nothing secret is
written: no environment, no settings, no API or audit keys, only the recorded
parameters, results, data slices, the dynamic actions' code and the lock file.
"""

from __future__ import annotations

import io
import json
import platform
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.actions.base import ActionError, PermissionDenied, json_safe
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.reproduce import observe
from engine.reproduce.manifest import (
    MANIFEST_NAME,
    DatasetEntry,
    DynamicCode,
    Manifest,
    Observation,
    Step,
)
from engine.trials.record import Trial

MAX_GOAL_TRIALS = 200  # a goal's bundle re-runs at most this many trials (newest kept)
LOCK_NAME = "requirements.lock"
_SECRET_WORDS = ("key", "token", "secret", "password", "authorization", "cookie")


@dataclass
class _Draft:
    """A step before it is numbered: the call, its expected numbers, its stored result."""

    action: str
    params: dict[str, Any]
    expected: Observation
    result: dict[str, Any]
    job_id: int | None = None
    dataset_ids: list[int] = field(default_factory=list)
    summary: str | None = None
    context: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Bundle:
    manifest: Manifest
    files: dict[str, bytes]

    @property
    def file_name(self) -> str:
        return f"mltrainer_{self.manifest.kind}_{self.manifest.subject_id}_bundle.zip"

    def zip_bytes(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, payload in sorted(self.files.items()):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, payload)
        return buffer.getvalue()


# --- what a step reads ------------------------------------------------------------------


class _DataReferences(BaseModel):
    """The two parameters through which any action names a recorded dataset."""

    model_config = ConfigDict(extra="ignore")

    dataset_id: Any = None
    source: Any = None


def dataset_references(params: dict[str, Any]) -> list[int]:
    """Recorded datasets a call's stored parameters name (``dataset_id``,
    ``source='upload:3'`` or ``'dataset:3'``): the registry's own reading of them."""
    from engine.actions.dispatch import dataset_references as named_in

    return list(dict.fromkeys(named_in(_DataReferences.model_validate(params))))


def trial_references(params: dict[str, Any]) -> list[int]:
    """Recorded trials a call's parameters name: an ensemble's ``trial_ids``, the
    ``trial_id`` whose model ``predict`` uses."""
    found = params.get("trial_ids")
    ids = [i for i in found if isinstance(i, int)] if isinstance(found, list) else []
    single = params.get("trial_id")
    if isinstance(single, int) and not isinstance(single, bool):
        ids.append(single)
    return list(dict.fromkeys(ids))


def _trial_result(trial: Trial) -> dict[str, Any]:
    from engine.trials.record import SplitResult
    from storage.repositories import trials as repo

    splits = sorted(
        (SplitResult.from_row(row) for row in repo.model_results(trial.id)), key=lambda s: s.order
    )
    return {
        "trial": trial.model_dump(mode="json"),
        "splits": [s.model_dump(mode="json", exclude_none=True) for s in splits],
    }


def _trial_draft(user: UserRef, trial: Trial) -> _Draft:
    from engine.trials.detail import rerun_call

    action, params = rerun_call(_minimal_detail(user, trial))
    ids = dataset_references(params)
    for candidate in (trial.dataset_id, trial.reproducibility.dataset_id):
        if candidate is not None and candidate not in ids:
            ids.append(candidate)
    return _Draft(
        action=action,
        params=params,
        expected=observe.of_trials([trial]),
        result=_trial_result(trial),
        job_id=trial.job_id,
        dataset_ids=ids,
        summary=f"trial {trial.id}: {trial.model_id} ({trial.status})",
    )


def _minimal_detail(user: UserRef, trial: Trial):
    """The trial detail ``rerun_call`` reads; the job behind it only when ``user`` may
    read that job (a viewer reads every trial, not other users' jobs)."""
    from engine.trials.detail import TrialDetail
    from storage.repositories import jobs

    job = jobs.get_job(trial.job_id) if trial.job_id is not None else None
    if job is not None and not permissions.can_read(user, "job", job.user_id):
        job = None
    return TrialDetail(trial, [], job, None, "", None)


def _job_draft(job, context: list[tuple[str, str]] | None = None) -> _Draft:
    from engine.trials.record import parse_all
    from storage.repositories import trials as trial_repo

    recorded = parse_all(trial_repo.trials_for_job(job.id))
    params = dict(job.params or {})
    ids = dataset_references(params)
    if recorded:
        expected = observe.of_trials(recorded)
        for trial in recorded:
            if trial.dataset_id is not None and trial.dataset_id not in ids:
                ids.append(trial.dataset_id)
        result: dict[str, Any] = {
            "job": json_safe(job.result or {}),
            "trials": [_trial_result(t) for t in recorded],
        }
    else:
        expected = observe.of_job(job.id)
        result = json_safe(job.result or {})
    summary = (job.result or {}).get("summary") or f"{job.action} ({job.status})"
    return _Draft(job.action, params, expected, result, job.id, ids, summary, context or [])


# --- subjects ---------------------------------------------------------------------------


def _visible_job(user: UserRef, job_id: int):
    from storage.repositories import jobs

    job = jobs.get_job(job_id)
    if job is None or not permissions.can_read(user, "job", job.user_id):
        raise PermissionDenied(permissions.not_found("job", job_id))
    return job


def _finished(job) -> None:
    if not job.terminal:
        raise ActionError(f"Job {job.id} is still {job.status}; bundle it when it has finished.")


def drafts_for(user: UserRef, kind: str, subject_id: int) -> tuple[str, list[_Draft], list]:
    """The title, the steps and the closing conversation of a subject ``user`` may read."""
    if kind == "trial":
        from engine.trials.query import get_trial

        trial = get_trial(user, subject_id)
        title = f"Trial {trial.id}: {trial.model_id or trial.action}"
        return title, _with_members(user, _trial_draft(user, trial), set()), []
    if kind == "job":
        job = _visible_job(user, subject_id)
        _finished(job)
        return f"Job {job.id}: {job.action}", [_job_draft(job)], []
    if kind == "goal":
        from engine.goals import service as goals
        from engine.trials.record import parse_all
        from storage.repositories import trials as trial_repo

        goal = goals.get(user, subject_id)
        rows = [
            row
            for row in trial_repo.trials_for_goal(goal.id)
            if permissions.can_read(user, "trial", row.user_id)
        ][-MAX_GOAL_TRIALS:]
        drafts = [_trial_draft(user, trial) for trial in parse_all(rows)]
        return f"Goal {goal.id}: {goal.name}", drafts, []
    if kind == "conversation":
        return _conversation_drafts(user, subject_id)
    raise ActionError(f"Cannot bundle a {kind!r}; choose trial, job, goal or conversation.")


def _exports(action: str) -> bool:
    from engine.actions.registry import load_catalog

    registered = load_catalog().get(action)
    return registered is not None and registered.category == "reproduce"


def _with_members(user: UserRef, draft: _Draft, seen: set[int]) -> list[_Draft]:
    """``draft`` after the trials it builds on (an ensemble's members), so the replay
    re-creates them first and passes their new ids on."""
    from engine.trials.query import get_trial

    drafts: list[_Draft] = []
    for trial_id in trial_references(draft.params):
        if trial_id in seen:
            continue
        seen.add(trial_id)
        try:
            member = get_trial(user, trial_id)
        except ActionError:
            continue  # not visible: the re-run of this step will say it is missing
        drafts += _with_members(user, _trial_draft(user, member), seen)
    return [*drafts, draft]


def _conversation_drafts(user: UserRef, conversation_id: int):
    """Every action call the conversation ran, each with the words that led to it. Its
    jobs are read as part of the conversation (whoever reads it sees their results)."""
    from engine.chat import conversations
    from storage.repositories import jobs

    conversation = conversations.get(user, conversation_id)
    drafts: list[_Draft] = []
    pending: list[tuple[str, str]] = []
    for message in conversations.messages(user, conversation_id):
        payload = message.payload or {}
        if message.role in ("user", "assistant") and message.content.strip():
            pending.append((message.role, message.content))
            continue
        job_id = payload.get("job_id") if message.role == "tool" else None
        if not job_id or payload.get("status") in ("refused", "awaiting_confirmation"):
            continue
        job = jobs.get_job(int(job_id))
        if job is None or job.action != payload.get("action") or not job.terminal:
            continue
        if _exports(job.action):
            continue  # a bundle or notebook export is not an analysis step
        drafts.append(_job_draft(job, pending))
        pending = []
    return f"Conversation {conversation.id}: {conversation.title}", drafts, pending


# --- data and code ----------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Provenance without anything that looks like a credential."""
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _slice_bytes(record) -> tuple[bytes | None, str | None]:
    """The parquet bytes of a dataset's slice and a note when there is none."""
    from engine.data.loader import load_dataset

    if record.path:
        path = Path(record.path)
        if path.is_file():
            return path.read_bytes(), None
        return None, "its stored copy is missing from the data directory"
    try:
        data = load_dataset(record.id)
    except ActionError as error:
        return None, str(error)
    buffer = io.BytesIO()
    data.frame.to_parquet(buffer)
    return buffer.getvalue(), " ".join(data.notes) or None


def dataset_entry(user: UserRef, dataset_id: int, files_out: dict[str, bytes]) -> DatasetEntry:
    from storage.repositories import datasets

    record = datasets.get_dataset(dataset_id)
    if record is None:
        return DatasetEntry(
            original_id=dataset_id,
            source="unknown",
            name="",
            fingerprint="",
            note="the dataset record no longer exists",
        )
    if not permissions.can_read_dataset(user, record.source, record.user_id):
        return DatasetEntry(
            original_id=dataset_id,
            source=record.source,
            name="",
            fingerprint=record.fingerprint,
            note="not included: not visible to you",
        )
    payload, note = _slice_bytes(record)
    name = None
    if payload is not None:
        name = f"data/{record.fingerprint}.parquet"
        files_out[name] = payload
    return DatasetEntry(
        original_id=record.id,
        source=record.source,
        name=record.name,
        symbols=list(record.symbols or []),
        rows=record.rows,
        start=record.start_date,
        end=record.end_date,
        fingerprint=record.fingerprint,
        synthetic=record.is_synthetic,
        provenance=_clean(json_safe(record.provenance or {})),
        file=name,
        note=note,
    )


def dynamic_code(user: UserRef, draft: _Draft, files_out: dict[str, bytes]) -> DynamicCode | None:
    from storage.repositories import dynamic_actions as repo

    versions = repo.versions(draft.action)
    if not versions:
        return None
    wanted = draft.params.get("version")
    record = next((r for r in versions if r.version == wanted), None) or versions[-1]
    from engine.sandbox.service import can_see

    if not can_see(user, record):
        return None
    name = f"dynamic/{record.name}_v{record.version}.py"
    files_out[name] = record.source.encode()
    return DynamicCode(
        name=record.name,
        version=record.version,
        description=record.description,
        source=record.source,
        source_hash=record.source_hash,
        parameters=record.parameters,
        file=name,
    )


def lock_file() -> bytes:
    """The exact package versions: the project's lock file (with hashes) when it is
    beside the code, else every installed distribution as ``name==version``."""
    import importlib.metadata

    import engine

    path = Path(engine.__file__).resolve().parent.parent / LOCK_NAME
    if path.is_file():
        return path.read_bytes()
    pins = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"]
        },
        key=str.lower,
    )
    header = "# No lock file beside the code: the installed distributions, as pinned versions.\n"
    return (header + "\n".join(pins) + "\n").encode()


# --- the bundle -------------------------------------------------------------------------


def build(user: UserRef, kind: str, subject_id: int) -> Bundle:
    """The bundle of a subject ``user`` may read (``PermissionDenied`` with the
    ``not_found`` message otherwise)."""
    from engine.ml.recording import library_versions
    from engine.reproduce import notebook, script

    title, drafts, closing = drafts_for(user, kind, subject_id)
    if not drafts:
        raise ActionError(f"{title} ran no action that can be re-run.")
    files_out: dict[str, bytes] = {}
    steps: list[Step] = []
    entries: dict[int, DatasetEntry] = {}
    dynamic: dict[tuple[str, int], DynamicCode] = {}
    for index, draft in enumerate(drafts, start=1):
        for dataset_id in draft.dataset_ids:
            if dataset_id not in entries:
                entries[dataset_id] = dataset_entry(user, dataset_id, files_out)
        code = dynamic_code(user, draft, files_out)
        if code is not None:
            dynamic[(code.name, code.version)] = code
        result_name = f"results/step_{index}.json"
        files_out[result_name] = json.dumps(draft.result, default=str, indent=1).encode()
        steps.append(
            Step(
                index=index,
                action=draft.action,
                params=json_safe(draft.params),
                job_id=draft.job_id,
                dataset_ids=draft.dataset_ids,
                expected=draft.expected,
                result_file=result_name,
                summary=draft.summary,
                context=draft.context,
            )
        )
    files_out[LOCK_NAME] = lock_file()
    notes = [f"dataset {e.original_id}: {e.note}" for e in entries.values() if e.note is not None]
    manifest = Manifest(
        kind=kind,  # drafts_for refused any other kind
        subject_id=subject_id,
        title=title,
        created_at=datetime.now(UTC).replace(microsecond=0),
        created_by=user.username,
        python=platform.python_version(),
        platform=platform.platform(terse=True),
        versions=library_versions(),
        lock_file=LOCK_NAME,
        steps=steps,
        datasets=list(entries.values()),
        dynamic_actions=list(dynamic.values()),
        notes=notes,
        closing=closing,
    )
    bundle = Bundle(manifest, files_out)
    files_out[MANIFEST_NAME] = manifest.model_dump_json(indent=1).encode()
    files_out["reproduce.py"] = script.reproduce_script(manifest).encode()
    files_out[notebook.NOTEBOOK_NAME] = notebook.notebook_json(manifest, bundle.file_name).encode()
    return bundle


def bundle_bytes(user: UserRef, kind: str, subject_id: int) -> bytes:
    """The zip of :func:`build` (pages hand this to a download button)."""
    return build(user, kind, subject_id).zip_bytes()
