"""What the executor needs from the code that defines the work: a :class:`JobRunner`.

The executor schedules rows of the ``jobs`` table; it does not know what an action is.
Whoever starts a process that runs jobs installs a runner (``engine.runtime.install()``
installs the one backed by the action registry, with the compliance policy). The runner
travels by value to every worker process (a spawned pool process receives it as an
argument of its target, a Dask task as an argument of the task), so a worker runs jobs
with exactly the runner, and therefore the policy, of the service that dispatched them.

A runner must be picklable (an instance of a module-level class) for that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from engine.actions.base import ActionResult
from engine.actions.context import ActionContext


@dataclass(frozen=True)
class JobKind:
    """What scheduling needs to know about an action."""

    name: str
    cpu_bound: bool  # the local backend runs it in a process (else a thread)
    idempotent: bool  # safe to retry after its worker died


class JobRunner(Protocol):
    def prepare(self) -> None:
        """Once in every process that runs jobs, before the first one (imports the
        catalogue, installs the policy)."""

    def describe(self, action: str) -> JobKind:
        """The action's scheduling properties; ``ActionError`` when it does not exist."""

    def validate(self, action: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The parameters checked against the action's model, as stored (JSON-safe);
        ``ActionError`` with a readable message when they are invalid."""

    def run(
        self, action: str, params: Mapping[str, Any] | BaseModel, ctx: ActionContext
    ) -> ActionResult:
        """Run the action: ``params`` as read back from the job row are validated again
        (they crossed a process boundary); an already validated model is used as is."""


class RunnerNotInstalled(RuntimeError):
    """A process tried to run or submit a job before its entry point installed a runner."""


_runner: JobRunner | None = None


def install_runner(runner: JobRunner) -> None:
    """Make ``runner`` the one this process's executor uses (idempotent)."""
    global _runner
    _runner = runner


def installed_runner() -> JobRunner:
    """This process's runner; fails (never guesses) when the entry point installed none."""
    if _runner is None:
        raise RunnerNotInstalled(
            "no job runner is installed in this process: its entry point must call "
            "engine.runtime.install() before it submits or runs jobs"
        )
    return _runner
