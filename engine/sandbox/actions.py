"""Dynamic-action actions: create (from Claude's code or an offline template), test,
approve, retire and list them. Importing this module (the catalogue does) also registers
every approved dynamic action by its own name (category ``dynamic``).

Actions that run code which is not approved yet need the user's confirmation; approving
and retiring are for admins (checked here and in :mod:`engine.sandbox.service`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.actions import ActionContext, ActionError, ActionResult, UserRef, register
from engine.actions.base import PermissionDenied, json_safe
from engine.actions.bounds import (
    MAX_MODEL_PARAMS,
    DateText,
    Name,
    Note,
    SourceName,
    Symbol,
)
from engine.auth import permissions
from engine.lazy import pandas as pd
from engine.sandbox import service, templates, validator

CONTRACT = (
    "Contract: the source defines one function `run(data, **params)`; `data` is a pandas "
    "DataFrame of daily close prices (DatetimeIndex named 'date', one column per symbol); "
    "extra parameters are keyword arguments with literal defaults; it returns a DataFrame, a "
    "Series, a number or a dict of numbers. Imports only from: "
    + ", ".join(sorted(validator.ALLOWED_MODULES))
    + ". No file, network or process access, no names starting with '_', no exec/eval/"
    "getattr/open, no classes or decorators, no str.format (use f-strings), no pandas "
    "read_*/to_* writers, query or eval."
)

DynamicParams = Annotated[dict[Name, Any], Field(max_length=MAX_MODEL_PARAMS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposeParams(_Strict):
    name: Name = Field(..., description="snake_case name, e.g. rolling_skew_60")
    description: str = Field(..., max_length=2000, description="what it computes, for analysts")
    source: str = Field(..., max_length=validator.MAX_SOURCE_BYTES, description="Python source")
    symbols: list[Symbol] | None = Field(
        None, max_length=service.MAX_SYMBOLS, description="symbols for the test run"
    )
    params: DynamicParams = Field(default_factory=dict, description="parameters for the test")
    parameter_descriptions: Annotated[dict[Name, Note], Field(max_length=MAX_MODEL_PARAMS)] = Field(
        default_factory=dict
    )
    save: bool = Field(True, description="false: only preview (validate and test-run)")


class TemplateParams(_Strict):
    template: Literal["rolling_stat", "formula", "pair", "ensemble", "risk"]
    options: DynamicParams = Field(
        default_factory=dict,
        description="template options: "
        + "; ".join(f"{k}: {v}" for k, v in templates.TEMPLATE_HELP.items()),
    )
    name: Name | None = Field(None, description="snake_case name (default: derived)")
    description: str | None = Field(None, max_length=2000)
    symbols: list[Symbol] | None = Field(
        None, max_length=service.MAX_SYMBOLS, description="symbols for the test run"
    )
    save: bool = Field(True, description="false: only preview (generate and test-run)")


class TestParams(_Strict):
    name: Name
    version: int | None = Field(None, ge=1, description="default: approved, else your draft")
    symbols: list[Symbol] = Field(..., min_length=1, max_length=service.MAX_SYMBOLS)
    params: DynamicParams = Field(default_factory=dict)
    source: SourceName = Field("bundled", description="data source")
    start: DateText | None = None
    end: DateText | None = None


class NameVersionParams(_Strict):
    name: Name
    version: int | None = Field(None, ge=1)


class ApproveParams(NameVersionParams):
    """``version`` defaults to the newest draft."""


class RetireParams(NameVersionParams):
    """``version`` omitted retires every version of the name."""


class ListParams(_Strict):
    status: Literal["draft", "approved", "retired"] | None = None
    name: Name | None = None


def _check_owner(user: UserRef, name: str) -> None:
    owner = service.owner_of(name)
    if owner is not None and not permissions.can_change(user, "dynamic_action", owner):
        raise PermissionDenied(f"'{name}' belongs to another user; choose another name.")


def create(
    user: UserRef,
    *,
    name: str,
    description: str,
    source: str,
    symbols: list[str] | None,
    params: dict[str, Any],
    save: bool,
    ctx: ActionContext | None = None,
    parameter_descriptions: dict[str, str] | None = None,
    origin: str = "code",
) -> ActionResult:
    """Validate, test-run on real data, then (``save``) store as a draft version."""
    report = service.inspect(source)
    name = service.check_name(name)
    if save:
        _check_owner(user, name)
    schema = report.parameter_schema()
    checked = service.check_params(schema, params)
    symbols = symbols or service.guess_test_symbols(source)
    result = service.run_code(
        source,
        name=name,
        version=None,
        status="preview",
        symbols=symbols,
        params=checked,
        ctx=ctx,
    )
    info: dict[str, Any] = {
        "name": name,
        "source": source,
        "source_hash": service.source_hash(source),
        "parameters": schema,
        "origin": origin,
        "test_symbols": symbols,
    }
    if save:
        record, created = service.save_draft(
            user, name, description, source, parameter_descriptions=parameter_descriptions
        )
        info.update(version=record.version, status=record.status, created=created)
        result.values["run"].update(version=record.version, status=record.status)
        head = (
            f"Saved '{name}' as draft v{record.version}"
            if created
            else f"'{name}' v{record.version} already has this code ({record.status})"
        )
        head += "; run it with test_dynamic_action (after confirming), an admin can approve it."
    else:
        info.update(version=None, status="preview", created=False)
        head = f"Preview of '{name}' (not saved)"
    result.values = json_safe({**info, **result.values})
    result.summary = f"{head} Test run — {result.summary}"
    return result


@register(
    "propose_dynamic_action",
    description="Create a NEW action from Python source when no registered action fits the "
    "request. " + CONTRACT + " The code is validated, test-run in the sandbox on real "
    "prices of `symbols`, and (save=true) stored as a draft version that its author can "
    "run after confirming and an admin can approve for everyone. Saving changed code under "
    "an existing name creates the next version.",
    params=ProposeParams,
    long=True,
    cpu_bound=False,
    idempotent=False,
    needs_confirmation=True,
    category="sandbox",
)
def propose_dynamic_action(params: ProposeParams, ctx: ActionContext) -> ActionResult:
    return create(
        ctx.user,
        name=params.name,
        description=params.description,
        source=params.source,
        symbols=params.symbols,
        params=params.params,
        save=params.save,
        ctx=ctx,
        parameter_descriptions=params.parameter_descriptions,
    )


@register(
    "create_dynamic_from_template",
    description="Create a new dynamic action offline from a template: "
    + "; ".join(f"{k} — {v}" for k, v in templates.TEMPLATE_HELP.items())
    + ". The generated code is shown, validated, test-run in the sandbox and (save=true) "
    "stored as a draft.",
    params=TemplateParams,
    long=True,
    cpu_bound=False,
    idempotent=False,
    needs_confirmation=True,
    category="sandbox",
)
def create_dynamic_from_template(params: TemplateParams, ctx: ActionContext) -> ActionResult:
    generated = templates.render(params.template, params.options)
    return create(
        ctx.user,
        name=params.name or generated.name,
        description=params.description or generated.description,
        source=generated.source,
        symbols=params.symbols or generated.test_symbols,
        params={},
        save=params.save,
        ctx=ctx,
        origin=f"template:{params.template}",
    )


@register(
    "test_dynamic_action",
    description="Run a version of a dynamic action (your draft, or an approved one) in the "
    "sandbox on the close prices of `symbols`; `params` are its declared parameters.",
    params=TestParams,
    long=True,
    cpu_bound=False,
    needs_confirmation=True,
    category="sandbox",
)
def test_dynamic_action(params: TestParams, ctx: ActionContext) -> ActionResult:
    record = service.resolve(ctx.user, params.name, params.version)
    return service.run_version(
        record,
        symbols=params.symbols,
        params=params.params,
        data_source=params.source,
        start=params.start,
        end=params.end,
        ctx=ctx,
    )


@register(
    "approve_dynamic_action",
    description="Approve a version of a dynamic action (default: its newest draft) so that "
    "every analyst can run it by its name. Admins only.",
    params=ApproveParams,
    cpu_bound=False,
    idempotent=False,
    min_role="admin",
    needs_confirmation=True,
    category="sandbox",
)
def approve_dynamic_action(params: ApproveParams, ctx: ActionContext) -> ActionResult:
    record = service.approve(ctx.user, params.name, params.version)
    return ActionResult(
        f"'{record.name}' v{record.version} is approved and available as an action.",
        {"name": record.name, "version": record.version, "status": record.status},
    )


@register(
    "retire_dynamic_action",
    description="Retire a dynamic action version (or every version when `version` is "
    "omitted): it is no longer offered or run. Admins only.",
    params=RetireParams,
    cpu_bound=False,
    idempotent=False,
    min_role="admin",
    needs_confirmation=True,
    category="sandbox",
)
def retire_dynamic_action(params: RetireParams, ctx: ActionContext) -> ActionResult:
    records = service.retire(ctx.user, params.name, params.version)
    versions = [r.version for r in records]
    return ActionResult(
        f"Retired '{params.name}' version{'s' if len(versions) > 1 else ''} "
        f"{', '.join(map(str, versions))}.",
        {"name": params.name, "versions": versions},
    )


def listing_table(records) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "name": r.name,
                "version": r.version,
                "status": r.status,
                "author": r.author,
                "created": r.created_at,
                "approved_by": r.approver,
                "approved_at": r.approved_at,
                "parameters": ", ".join((r.parameters or {}).get("properties", {})),
                "description": r.description,
            }
            for r in records
        ],
        columns=[
            "name",
            "version",
            "status",
            "author",
            "created",
            "approved_by",
            "approved_at",
            "parameters",
            "description",
        ],
    )


@register(
    "list_dynamic_actions",
    description="List dynamic actions with their versions and status (approved ones, your "
    "own drafts; admins see all).",
    params=ListParams,
    cpu_bound=False,
    min_role="viewer",
    category="sandbox",
)
def list_dynamic_actions(params: ListParams, ctx: ActionContext) -> ActionResult:
    service.sync_registry()
    records = service.listing(ctx.user, status=params.status)
    if params.name:
        records = [r for r in records if r.name == params.name]
    table = listing_table(records)
    counts = {status: int((table["status"] == status).sum()) for status in ("draft", "approved")}
    names = sorted({r.name for r in records})
    if not records and params.name is not None:
        raise ActionError(f"No dynamic action '{params.name}' you can see.")
    return ActionResult(
        f"{len(names)} dynamic action{'s' if len(names) != 1 else ''} "
        f"({len(records)} version{'s' if len(records) != 1 else ''}; "
        f"{counts['approved']} approved, {counts['draft']} draft).",
        {"names": names, "approved_versions": counts["approved"], "drafts": counts["draft"]},
        {"dynamic_actions": table},
    )


service.sync_registry()
