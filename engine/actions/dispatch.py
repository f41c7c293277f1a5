"""`call`: the one entry point through which chat, forms, the loop, the CLI and tests act.

It validates parameters, checks the caller's role, runs the policy hooks, records
the call as a job, then runs it inline (quick actions) or hands it to the executor
(long actions). Permissions are enforced here, on the server, never only in the UI.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from engine.actions.base import (
    ActionError,
    ActionResult,
    NeedsConfirmation,
    PermissionDenied,
    json_safe,
)
from engine.actions.bounds import check_params_size
from engine.actions.context import UserRef
from engine.actions.hooks import run_before
from engine.actions.registry import get_action, load_catalog
from engine.auth import permissions
from engine.auth.permissions import Resource

if TYPE_CHECKING:
    from storage.repositories.jobs import JobRecord

log = logging.getLogger("mltrainer.actions")


@dataclass
class CallOutcome:
    """What a caller gets back: the job, its state, and the result when it is done."""

    action: str
    job_id: int
    status: str
    result: ActionResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "queued", "running")

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"ok": self.ok, "action": self.action, "job_id": self.job_id}
        payload["status"] = self.status
        if self.result is not None:
            payload.update(self.result.to_json())
        if self.error:
            payload["error"] = self.error
        return payload


def describe_validation_error(error: ValidationError) -> str:
    """One clear line per parameter; for `scalar | list` fields, the scalar's complaint."""
    by_field: dict[str, str] = {}
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ())]
        # pydantic names union branches like 'constrained-float' or 'list[float]'
        readable = [p for p in location if not any(c in p for c in "[-") or p.isdigit()]
        where = ".".join(readable) or "parameters"
        message = problem.get("msg", "invalid")
        if problem.get("type") == "extra_forbidden":
            message = "is not a parameter of this action"
        by_field.setdefault(where, message)
    return "Invalid parameters — " + "; ".join(f"{k}: {v}" for k, v in by_field.items())


def resolve_action(name: str):
    try:
        return get_action(name)
    except KeyError:
        close = difflib.get_close_matches(name, list(load_catalog()), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ActionError(f"Unknown action '{name}'.{hint}") from None


def validate_params(action, params: dict[str, Any] | BaseModel | None) -> BaseModel:
    if isinstance(params, action.params_model):
        return params
    if isinstance(params, BaseModel):
        params = params.model_dump()
    check_params_size(action.name, params or {})
    try:
        return action.params_model.model_validate(params or {})
    except ValidationError as error:
        raise ActionError(describe_validation_error(error)) from None


def dataset_references(params: BaseModel) -> list[int]:
    """Recorded datasets a call names: ``dataset_id`` and ``source='upload:<id>'`` or
    ``'dataset:<id>'`` (the parameter names every action uses for them)."""
    found: list[int] = []
    dataset_id = getattr(params, "dataset_id", None)
    if isinstance(dataset_id, int) and not isinstance(dataset_id, bool):
        found.append(dataset_id)
    source = getattr(params, "source", None)
    if isinstance(source, str) and ":" in source:
        kind, _, ident = source.partition(":")
        if kind.strip().lower() in ("upload", "dataset") and ident.strip().isdigit():
            found.append(int(ident.strip()))
    return found


def require_visible_datasets(user: UserRef, params: BaseModel) -> None:
    """Refuse a call naming a dataset the user may not read (another analyst's upload)
    with the message a missing one gets, before any job row is written."""
    from storage.repositories import datasets

    for dataset_id in dataset_references(params):
        row = datasets.get_dataset(dataset_id)
        if row is None or not permissions.can_read_dataset(user, row.source, row.user_id):
            raise PermissionDenied(permissions.not_found("dataset", dataset_id))


def call(
    name: str,
    params: dict[str, Any] | BaseModel | None,
    user: UserRef,
    *,
    goal_id: int | None = None,
    confirmed: bool = False,
    depends_on: list[int] | None = None,
    wait: float | None = None,
    confirm_over: float | None = None,
) -> CallOutcome:
    """Run an action for ``user``. Raises ``ActionError`` (with a clear message) when the
    call is refused before it starts; errors during the run come back in the outcome.

    ``wait`` (seconds) makes a long action's call block until the job ends or the time
    runs out, which the CLI and tests use. ``confirm_over`` (the chat): a long action
    estimated longer than this many wall seconds, or calling Claude, raises
    ``NeedsConfirmation`` with its estimate unless ``confirmed``.
    """
    from engine.observability.metrics import ACTION_CALLS
    from storage.repositories import jobs

    action = resolve_action(name)
    validated = validate_params(action, params)
    info = {"goal_id": goal_id, "confirmed": confirmed}
    try:
        # The compliance policy (role, resource caps, data provenance, ...) decides and
        # records its decisions here; the role check below is only a backstop.
        run_before(action, validated, user, info)
    except ActionError:
        ACTION_CALLS.labels(action.name, "blocked").inc()
        raise
    try:
        permissions.require(user, "run", Resource.action(action.name, action.min_role))
        require_visible_datasets(user, validated)
    except PermissionDenied:
        ACTION_CALLS.labels(action.name, "denied").inc()
        raise
    if action.needs_confirmation and not confirmed:
        raise NeedsConfirmation(f"'{action.name}' needs your confirmation before it runs.")
    stored_params = json_safe(validated.model_dump(mode="json"))

    if action.long:
        from engine import executor
        from engine.usage.admission import LongWorkConfirmation, check_before_start

        # Server-side budgets: a spent one refuses, an estimate that would cross one asks
        # for confirmation (the executor's guard stops a confirmed run at the line); the
        # chat's long work waits for the user to see its estimate.
        try:
            check_before_start(action.name, validated, user, goal_id, confirmed, confirm_over)
        except LongWorkConfirmation:
            raise
        except ActionError:
            ACTION_CALLS.labels(action.name, "over_budget").inc()
            raise

        # Validated above, once; the worker validates the stored row again when it runs.
        kind = executor.JobKind(action.name, action.cpu_bound, action.idempotent)
        job_id = executor.enqueue(
            kind, stored_params, user, depends_on=depends_on or [], goal_id=goal_id
        )
        if wait:
            return outcome_for(job_id, executor.wait(job_id, timeout=wait))
        return outcome_for(job_id)

    from engine.executor.runner import execute_job

    job_id = jobs.create_job(
        action.name,
        stored_params,
        user.id,
        goal_id=goal_id,
        inline=True,
        cpu_bound=action.cpu_bound,
        idempotent=action.idempotent,
        status="running",
    )
    run = execute_job(job_id, claimed=True, params=validated)  # no second validation
    return CallOutcome(action.name, job_id, run.status, run.result, run.error)


def outcome_for(job_id: int, job: JobRecord | None = None) -> CallOutcome:
    """The outcome of job ``job_id`` (``job``: its row, when the caller has just read it)."""
    from storage.repositories import jobs

    job = job or jobs.get_job(job_id)
    if job is None:
        raise ActionError(f"Job {job_id} does not exist.")
    result = ActionResult.from_json(job.result) if job.result else None
    return CallOutcome(job.action, job.id, job.status, result, job.error)
