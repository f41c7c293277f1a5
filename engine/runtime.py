"""What every process that runs actions installs at its entry point.

``install()`` puts the compliance policy on the action hooks and makes the action
registry the executor's job runner. The entry points call it: the app's bootstrap
(``ui/bootstrap.py``), the command line and ``python -m engine worker``
(``engine/__main__.py``), the Dask worker preload, the test suite's ``conftest.py``;
executor worker processes receive :data:`RUNNER` from the service that spawned them and
install it through :meth:`RegistryRunner.prepare`. Nothing installs itself on import:
the action layer fails closed (``PolicyNotInstalled``) and the executor refuses to
start (``RunnerNotInstalled``) in a process whose entry point forgot.

This module is the one place that knows all three (actions, compliance, executor), so
none of them imports another to find its collaborators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from engine.actions.base import ActionResult, json_safe
from engine.actions.context import ActionContext
from engine.actions.dispatch import resolve_action, validate_params
from engine.actions.hooks import require_policy, run_after
from engine.actions.registry import load_catalog
from engine.executor.protocol import JobKind, install_runner


class RegistryRunner:
    """The executor's :class:`~engine.executor.protocol.JobRunner` backed by the action
    registry. Stateless, so it pickles by reference into worker processes."""

    def prepare(self) -> None:
        install()
        load_catalog()

    def describe(self, action: str) -> JobKind:
        definition = resolve_action(action)
        return JobKind(definition.name, definition.cpu_bound, definition.idempotent)

    def validate(self, action: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        validated = validate_params(resolve_action(action), dict(params or {}))
        stored: dict[str, Any] = json_safe(validated.model_dump(mode="json"))
        return stored

    def run(
        self, action: str, params: Mapping[str, Any] | BaseModel, ctx: ActionContext
    ) -> ActionResult:
        require_policy()  # before the action runs, not only when its result is checked
        definition = resolve_action(action)
        raw = params if isinstance(params, BaseModel) else dict(params)
        validated = validate_params(definition, raw)
        result = definition.run(validated, ctx)
        if not isinstance(result, ActionResult):
            raise TypeError(f"action {definition.name} returned {type(result).__name__}")
        info = {"job_id": ctx.job_id, "goal_id": ctx.goal_id}
        run_after(definition, validated, ctx.user, result, info)
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegistryRunner)

    def __hash__(self) -> int:
        return hash(RegistryRunner)


RUNNER = RegistryRunner()


def install() -> None:
    """Install the compliance policy and the registry runner in this process
    (idempotent, cheap on repeat)."""
    from engine.compliance import install as install_compliance

    install_compliance()
    install_runner(RUNNER)
