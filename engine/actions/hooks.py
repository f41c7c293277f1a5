"""Policy hooks every action call passes through.

A policy (the compliance rules, :mod:`engine.compliance`) is installed explicitly by the
entry point of every process that runs actions: ``engine.runtime.install()`` in the app's
bootstrap, the command line, ``python -m engine worker``, the test suite, and every
executor worker process (through the runner it receives). This module never imports a
policy itself, and it fails closed: a call in a process where no policy was installed
raises :class:`PolicyNotInstalled` instead of running unchecked.

A before-hook may raise ``PolicyBlocked``; an after-hook sees the result and may
raise ``PolicyBlocked`` too (e.g. metrics outside sane bounds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from engine.actions.base import Action, ActionResult
from engine.actions.context import UserRef

BeforeHook = Callable[[Action, BaseModel, UserRef, dict[str, Any]], None]
AfterHook = Callable[[Action, BaseModel, UserRef, ActionResult, dict[str, Any]], None]

_before: list[BeforeHook] = []
_after: list[AfterHook] = []
_policies: list[str] = []


class PolicyNotInstalled(RuntimeError):
    """An action was called in a process whose entry point installed no policy."""


def install_policy(name: str, before: BeforeHook, after: AfterHook) -> None:
    """Register a named policy's hooks (idempotent per name)."""
    add_before_hook(before)
    add_after_hook(after)
    if name not in _policies:
        _policies.append(name)


def installed_policies() -> list[str]:
    return list(_policies)


def require_policy() -> None:
    """Fail closed: no action runs in a process without a policy."""
    if not _policies:
        raise PolicyNotInstalled(
            "no policy is installed in this process, so no action may run: its entry "
            "point must call engine.runtime.install() (app bootstrap, CLI, worker, tests)"
        )


def add_before_hook(hook: BeforeHook) -> None:
    if hook not in _before:
        _before.append(hook)


def add_after_hook(hook: AfterHook) -> None:
    if hook not in _after:
        _after.append(hook)


def run_before(action: Action, params: BaseModel, user: UserRef, info: dict[str, Any]) -> None:
    require_policy()
    for hook in list(_before):
        hook(action, params, user, info)


def run_after(
    action: Action, params: BaseModel, user: UserRef, result: ActionResult, info: dict[str, Any]
) -> None:
    require_policy()
    for hook in list(_after):
        hook(action, params, user, result, info)
