"""Dynamic actions: create, version, test, approve, retire, register and run them.

The rules enforced here (server-side, whatever the caller):

- Names are snake_case and never shadow a built-in action. The first author of a name
  owns it: only they (or an admin) add versions. Saving changed source adds the next
  version as a ``draft``; saving identical source returns the existing version.
- Every save and every run validates the source again (:mod:`engine.sandbox.validator`)
  and every run happens in the sandbox (:mod:`engine.sandbox.runner`).
- Drafts run only for their author (or an admin), after the user confirmed (the actions
  that run drafts need confirmation). Approved versions run for every analyst. Retired
  versions run for admins only (to reproduce an old result).
- Only admins approve or retire. Approving registers the newest approved version of the
  name in the action registry (category ``dynamic``), so chat, Claude, forms and the CLI
  can call it by its name; :func:`sync_registry` does the same for every approved name at
  catalogue load, so they appear after a restart.
- A run records the version it used (in the job's parameters for registered actions and
  in the result's ``run`` values for every run).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from engine.actions.base import (
    Action,
    ActionError,
    ActionResult,
    JobCancelled,
    PermissionDenied,
    Series,
    json_safe,
)
from engine.actions.bounds import MAX_LIST_ITEMS, DateText, Note, SourceName, Symbol
from engine.actions.context import ActionContext, UserRef
from engine.auth import permissions
from engine.lazy import pandas as pd
from engine.sandbox import runner, validator
from storage.repositories import dynamic_actions as repo
from storage.repositories.dynamic_actions import DynamicActionRecord

log = logging.getLogger("mltrainer.sandbox")

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
MAX_SYMBOLS = 50
MAX_CHART_LINES = 12
MAX_CHART_POINTS = 3000
DEFAULT_TEST_SYMBOLS = ["AAPL", "MSFT"]


@dataclass(frozen=True)
class DynamicRegisteredAction(Action):
    """An approved dynamic action in the registry. ``status`` is what the compliance rule
    ``dynamic_code_approved`` reads; ``version`` is the version calls run by default."""

    status: str = "approved"
    version: int = 1
    source_hash: str = ""
    author: str | None = None


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def is_admin(user: UserRef) -> bool:
    return permissions.is_admin(user)


# ------------------------------------------------------------------------- validation


def inspect(source: str) -> validator.Report:
    """The validator's report, or an ActionError naming the rule and the line."""
    try:
        return validator.inspect_source(source)
    except validator.ValidationFailed as failed:
        violation = failed.violation
        raise ActionError(
            f"The code was refused: {violation.message} (rule '{violation.rule}', "
            f"line {violation.line})."
        ) from None


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_PATTERN.fullmatch(name):
        raise ActionError(
            f"'{name}' is not a valid name: use 3-64 characters, lower-case letters, digits "
            "and underscores, starting with a letter (e.g. rolling_zscore_20)."
        )
    from engine.actions.registry import load_catalog

    existing = load_catalog().get(name)
    if existing is not None and not isinstance(existing, DynamicRegisteredAction):
        raise ActionError(f"'{name}' is the name of a built-in action; choose another name.")
    return name


def parameter_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic field definitions for a declared-parameter JSON schema."""
    types: dict[str, Any] = {
        "integer": int,
        "number": float,
        "string": Note,
        "boolean": bool,
    }
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type", "number")
        if kind == "array":
            item = (spec.get("items") or {}).get("type", "number")
            items: Any = list[Note] if item == "string" else list[float]
            annotation: Any = Annotated[items, Field(max_length=MAX_LIST_ITEMS)]
        else:
            annotation = types.get(kind, float)
        description = spec.get("description")
        if name in required:
            fields[name] = (annotation, Field(..., description=description))
        else:
            default = spec.get("default")
            if default is None:
                annotation = annotation | None
            fields[name] = (annotation, Field(default, description=description))
    return fields


def check_params(record_or_schema: DynamicActionRecord | dict[str, Any], params: dict[str, Any]):
    """``params`` validated against the declared parameters; plain JSON values."""
    schema = (
        record_or_schema.parameters
        if isinstance(record_or_schema, DynamicActionRecord)
        else record_or_schema
    )
    model = create_model(
        "DeclaredParameters",
        __config__=ConfigDict(extra="forbid"),
        **parameter_fields(schema),
    )
    try:
        return json_safe(model.model_validate(params or {}).model_dump(mode="json"))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'params'}: "
            + (
                "not a parameter of this action"
                if problem["type"] == "extra_forbidden"
                else problem["msg"]
            )
            for problem in error.errors()
        )
        raise ActionError(f"Invalid parameters — {problems}") from None


def guess_test_symbols(source: str) -> list[str]:
    """Symbols named as string literals in the source (``data["KO"]``), else a default."""
    from engine.data import bundled

    known = set(bundled.catalog())
    found: list[str] = []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return list(DEFAULT_TEST_SYMBOLS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in known and node.value not in found:
                found.append(node.value)
    return found[:MAX_SYMBOLS] or list(DEFAULT_TEST_SYMBOLS)


# ----------------------------------------------------------------------- persistence


def can_see(user: UserRef, record: DynamicActionRecord) -> bool:
    """Approved versions are the catalogue (everyone); drafts and retired versions are
    their author's (and admins')."""
    return record.status == "approved" or permissions.can_read(
        user, "dynamic_action", record.author_id
    )


def owner_of(name: str) -> int | None:
    versions = repo.versions(name)
    return versions[-1].author_id if versions else None


def save_draft(
    user: UserRef,
    name: str,
    description: str,
    source: str,
    *,
    parameter_descriptions: dict[str, str] | None = None,
) -> tuple[DynamicActionRecord, bool]:
    """Validate and store ``source`` as the next draft version of ``name``; returns the
    record and whether a new version was created (False: identical source)."""
    name = check_name(name)
    report = inspect(source)
    existing = repo.versions(name)
    if existing:
        owner = existing[-1].author_id
        if not permissions.can_change(user, "dynamic_action", owner):
            raise PermissionDenied(
                f"'{name}' belongs to {existing[-1].author or 'another user'}; choose another "
                "name (or ask an admin)."
            )
        digest = source_hash(source)
        for record in existing:
            if record.source_hash == digest and record.status != "retired":
                return record, False
    schema = report.parameter_schema()
    for key, text in (parameter_descriptions or {}).items():
        if key in schema["properties"]:
            schema["properties"][key]["description"] = str(text)[:300]
    description = " ".join((description or "").split())[:2000] or f"Dynamic action {name}."
    record = repo.create_version(
        name,
        description=description,
        parameters=schema,
        source=source,
        source_hash=source_hash(source),
        author_id=user.id,
    )
    log.info("dynamic action %s v%s saved as draft by %s", name, record.version, user.username)
    return record, True


def resolve(user: UserRef, name: str, version: int | None = None) -> DynamicActionRecord:
    """The version of ``name`` ``user`` may run: the given one, else the newest approved,
    else (for its author or an admin) the newest draft."""
    if version is not None:
        record = repo.get_version(name, version)
        if record is None or not can_see(user, record):
            raise ActionError(f"Dynamic action '{name}' has no version {version} you can see.")
    else:
        record = repo.latest(name, "approved")
        if record is None:
            drafts = [r for r in repo.versions(name) if r.status == "draft" and can_see(user, r)]
            record = drafts[0] if drafts else None
        if record is None:
            raise ActionError(
                f"No dynamic action '{name}' you can run. list_dynamic_actions shows them."
            )
    if record.status == "draft" and not permissions.can_change(
        user, "dynamic_action", record.author_id
    ):
        raise PermissionDenied("Only its author or an admin can run a draft.")
    if record.status == "retired" and not is_admin(user):
        raise ActionError(f"'{name}' v{record.version} is retired.")
    return record


def listing(user: UserRef, *, status: str | None = None) -> list[DynamicActionRecord]:
    """Versions ``user`` may see (approved ones, their own, everything for admins)."""
    return repo.list_versions(permissions.scope_for(user, "dynamic_action"), status=status)


def run_history(user: UserRef, name: str, limit: int = 50) -> list[dict[str, Any]]:
    """Jobs that ran ``name`` (all users' for admins, else the user's own), newest first,
    with the version each used."""
    rows = []
    for job in repo.runs_of(name, permissions.scope_for(user, "job"), limit=limit):
        params = job.params if isinstance(job.params, dict) else {}
        meta = ((job.result or {}).get("values") or {}).get("run") or {}
        rows.append(
            {
                "job": job.id,
                "via": job.action,
                "version": params.get("version") or meta.get("version"),
                "symbols": ", ".join(map(str, params.get("symbols") or [])),
                "status": job.status,
                "created": job.created_at,
                "finished": job.finished_at,
                "error": job.error,
            }
        )
    return rows


def approve(user: UserRef, name: str, version: int | None = None) -> DynamicActionRecord:
    if not is_admin(user):
        raise PermissionDenied("Only an admin can approve a dynamic action.")
    if version is None:
        record = repo.latest(name, "draft")
        if record is None:
            raise ActionError(f"'{name}' has no draft to approve.")
    else:
        record = repo.get_version(name, version)
        if record is None:
            raise ActionError(f"'{name}' has no version {version}.")
    if record.status == "approved":
        return record
    inspect(record.source)  # the rules may have tightened since it was saved
    check_name(name)
    repo.set_status(record.id, "approved", approved_by=user.id)
    log.info("dynamic action %s v%s approved by %s", name, record.version, user.username)
    sync_registry()
    return _reread(record.id)


def retire(user: UserRef, name: str, version: int | None = None) -> list[DynamicActionRecord]:
    if not is_admin(user):
        raise PermissionDenied("Only an admin can retire a dynamic action.")
    versions = repo.versions(name)
    if not versions:
        raise ActionError(f"There is no dynamic action '{name}'.")
    targets = [v for v in versions if version is None or v.version == version]
    if not targets:
        raise ActionError(f"'{name}' has no version {version}.")
    for record in targets:
        repo.set_status(record.id, "retired")
    log.info("dynamic action %s %s retired by %s", name, version or "(all)", user.username)
    sync_registry()
    return [_reread(r.id) for r in targets]


def _reread(record_id: int) -> DynamicActionRecord:
    """A dynamic action's row after this module changed it."""
    record = repo.get_by_id(record_id)
    if record is None:
        raise ActionError(f"Dynamic action {record_id} was deleted meanwhile.")
    return record


# ------------------------------------------------------------------------------ runs


def load_frame(
    symbols: list[str], source: str = "bundled", start: str | None = None, end: str | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    from engine.data.loader import load_prices

    if not symbols:
        raise ActionError("Name at least one symbol for the data, e.g. ['AAPL', 'MSFT'].")
    if len(symbols) > MAX_SYMBOLS:
        raise ActionError(f"At most {MAX_SYMBOLS} symbols per run.")
    data = load_prices(symbols, source or "bundled", start, end)
    return data.close(), data.provenance


def run_version(
    record: DynamicActionRecord,
    *,
    symbols: list[str],
    params: dict[str, Any] | None = None,
    data_source: str = "bundled",
    start: str | None = None,
    end: str | None = None,
    ctx: ActionContext | None = None,
    limits: runner.SandboxLimits | None = None,
) -> ActionResult:
    """Run one stored version in the sandbox; the result, or an ActionError saying how the
    sandbox stopped it."""
    checked = check_params(record, params or {})
    return run_code(
        record.source,
        name=record.name,
        version=record.version,
        status=record.status,
        symbols=symbols,
        params=checked,
        data_source=data_source,
        start=start,
        end=end,
        ctx=ctx,
        limits=limits,
    )


def run_code(
    source: str,
    *,
    name: str,
    version: int | None,
    status: str,
    symbols: list[str],
    params: dict[str, Any],
    data_source: str = "bundled",
    start: str | None = None,
    end: str | None = None,
    ctx: ActionContext | None = None,
    limits: runner.SandboxLimits | None = None,
) -> ActionResult:
    frame, provenance = load_frame(symbols, data_source, start, end)
    if ctx is not None:
        ctx.progress(0.1)
    cancelled = ctx.cancelled if ctx is not None else None
    run = runner.run_source(
        source, frame, params, limits=limits or runner.SandboxLimits.from_env(), cancelled=cancelled
    )
    log.info(
        "dynamic action %s v%s: %s in %.2fs (cpu %.2fs) [%s]",
        name,
        version,
        run.reason,
        run.wall_seconds,
        run.cpu_seconds,
        runner.layer_summary(run.layers),
    )
    if run.reason == "cancelled":
        raise JobCancelled()
    if not run.ok:
        message = run.describe()
        if run.rule:
            message += f" Rule: {run.rule}."
        if run.stdout.strip():
            message += f" Output: {run.stdout.strip()[-500:]}"
        raise ActionError(message)
    if ctx is not None:
        ctx.progress(1.0)
    return build_result(
        run,
        name=name,
        version=version,
        status=status,
        source=source,
        params=params,
        provenance=provenance,
    )


def sandbox_status(refresh: bool = False) -> dict[str, Any]:
    """What the Dynamic actions page shows about the sandbox on this server: every layer's
    state, whether generated code runs (fail closed: only with every required layer),
    which layers an administrator waived with MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS, and
    how to grant the missing ones."""
    layers = runner.active_layers(refresh)
    policy = runner.layer_policy(layers)
    policy["layers"] = [
        {
            "layer": name,
            "state": "on" if runner.layer_active(layers.get(name)) else "missing",
            "policy": "waived" if name in policy["waived"] else "required",
            "detail": str(layers.get(name, "not reported"))[:300],
            "how to grant": runner.GRANT_HINTS[name]
            if not runner.layer_active(layers.get(name))
            else "",
        }
        for name in runner.REQUIRED_LAYERS
    ]
    return policy


def _chart_series(value: pd.DataFrame, title: str) -> Series | None:
    """The numeric columns (at most MAX_CHART_LINES) as a series the page draws as lines,
    thinned to MAX_CHART_POINTS; None when nothing is numeric."""
    frame = value.select_dtypes(include="number").iloc[:, :MAX_CHART_LINES]
    if frame.empty or not frame.shape[1]:
        return None
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return Series.from_frame(frame, title=title, max_points=MAX_CHART_POINTS)


def build_result(
    run: runner.SandboxRun,
    *,
    name: str,
    version: int | None,
    status: str,
    source: str,
    params: dict[str, Any],
    provenance: dict[str, Any],
) -> ActionResult:
    meta: dict[str, Any] = {
        "dynamic_action": name,
        "version": version,
        "status": status,
        "source_hash": source_hash(source),
        "params": params,
        "data": {
            key: provenance.get(key)
            for key in ("source", "symbols", "start", "end", "rows", "fingerprint")
        },
        "sandbox": {
            "cpu_seconds": round(run.cpu_seconds, 3),
            "wall_seconds": round(run.wall_seconds, 3),
            "max_rss_mb": round(run.max_rss_mb, 1),
            "layers": runner.layer_summary(run.layers),
        },
    }
    if run.stdout:
        meta["stdout"] = run.stdout[-4000:]
    label = f"{name}" + (f" v{version}" if version else "")
    values: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    series: dict[str, Series] = {}
    value = run.value
    if run.kind in ("frame", "series"):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        last = frame.ffill().iloc[-1] if len(frame) else pd.Series(dtype=float)
        for column in list(frame.columns)[:8]:
            values[f"last {column}"] = json_safe(last.get(column))
        meta["shape"] = [int(frame.shape[0]), int(frame.shape[1])]
        tables["result"] = frame
        chart = _chart_series(frame, label) if len(frame) and frame.shape[1] else None
        if chart is not None:
            series["result"] = chart
        summary = (
            f"{label}: {frame.shape[0]} rows x {frame.shape[1]} column"
            f"{'s' if frame.shape[1] != 1 else ''} "
            f"({', '.join(map(str, list(frame.columns)[:6]))}"
            f"{' ...' if frame.shape[1] > 6 else ''})."
        )
    elif run.kind == "dict":
        values.update(value)
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in list(value.items())[:6])  # fmt: skip
        summary = f"{label}: {shown}."
    else:
        values["value"] = value
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        summary = f"{label}: {shown}."
    values["run"] = meta
    return ActionResult(summary, json_safe(values), tables, series)


# -------------------------------------------------------------------------- registry


class _RunCommon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbols: list[Symbol] = Field(
        ..., min_length=1, max_length=MAX_SYMBOLS, description="symbols whose prices are `data`"
    )
    source: SourceName = Field(
        "bundled", description="data source (bundled, upload:<id>, polygon ...)"
    )
    start: DateText | None = Field(None, description="first date, YYYY-MM-DD")
    end: DateText | None = Field(None, description="last date, YYYY-MM-DD")


def params_model_for(record: DynamicActionRecord) -> type[BaseModel]:
    fields = parameter_fields(record.parameters)
    fields["version"] = (
        int,
        Field(record.version, ge=1, description="version to run (default: the approved one)"),
    )
    model_name = "".join(part.title() for part in record.name.split("_")) + "Params"
    return create_model(model_name, __base__=_RunCommon, **fields)


def _registered_run(name: str):
    def run(params: BaseModel, ctx: ActionContext) -> ActionResult:
        values = params.model_dump(mode="json")
        version = values.pop("version")
        record = repo.get_version(name, version)
        if record is None or record.status != "approved":
            state = "does not exist" if record is None else f"is {record.status}"
            raise ActionError(f"'{name}' v{version} {state}; only approved versions run by name.")
        common = {key: values.pop(key) for key in ("symbols", "source", "start", "end")}
        return run_version(
            record,
            symbols=common["symbols"],
            params=values,
            data_source=common["source"],
            start=common["start"],
            end=common["end"],
            ctx=ctx,
        )

    run.__name__ = f"dynamic_{name}"
    return run


def action_for(record: DynamicActionRecord) -> DynamicRegisteredAction:
    description = (
        f"{record.description} (Dynamic action v{record.version}"
        + (f" by {record.author}" if record.author else "")
        + (f", approved by {record.approver}" if record.approver else "")
        + "; runs in the sandbox on the close prices of `symbols`.)"
    )
    return DynamicRegisteredAction(
        name=record.name,
        description=description,
        params_model=params_model_for(record),
        run=_registered_run(record.name),
        long=True,
        cpu_bound=False,  # the work happens in the sandbox process; the worker only waits
        idempotent=True,
        min_role="analyst",
        needs_confirmation=False,
        category="dynamic",
        status="approved",
        version=record.version,
        source_hash=record.source_hash,
        author=record.author,
    )


_registered: dict[str, tuple[int, str]] = {}  # name -> (version, source hash) we added
_sync_lock = threading.Lock()


def sync_registry() -> list[str]:
    """Register the newest approved version of every dynamic action and remove the names
    that are no longer approved. Returns the registered names. Never replaces a built-in
    action (the registry refuses, and the name is skipped with a warning)."""
    from engine.actions import registry

    try:
        approved = repo.latest_approved()
    except Exception as error:  # no database or tables yet (e.g. before `migrate`)
        log.warning("dynamic actions not loaded: %s", error.__class__.__name__)
        return []
    with _sync_lock:
        names = []
        for record in approved:
            known = _registered.get(record.name)
            if known != (record.version, record.source_hash):
                try:
                    registry.add(action_for(record), replace=known is not None)
                except ValueError:
                    log.warning(
                        "dynamic action %s has the name of a built-in action; not registered",
                        record.name,
                    )
                    continue
                _registered[record.name] = (record.version, record.source_hash)
            names.append(record.name)
        for name in set(_registered) - set(names):
            registry.remove(name)
            del _registered[name]
        return names


def registered_names() -> list[str]:
    with _sync_lock:
        return sorted(_registered)


StatusFilter = Literal["draft", "approved", "retired"]
