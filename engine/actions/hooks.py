"""Policy hooks every action call passes through (compliance registers its rules here).

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
_policy_installed = False


def _ensure_policy() -> None:
    """The compliance policy applies to every call in every process (app, workers, CLI)."""
    global _policy_installed
    if not _policy_installed:
        from engine.compliance import install

        install()
        _policy_installed = True


def add_before_hook(hook: BeforeHook) -> None:
    if hook not in _before:
        _before.append(hook)


def add_after_hook(hook: AfterHook) -> None:
    if hook not in _after:
        _after.append(hook)


def run_before(action: Action, params: BaseModel, user: UserRef, info: dict[str, Any]) -> None:
    _ensure_policy()
    for hook in list(_before):
        hook(action, params, user, info)


def run_after(
    action: Action, params: BaseModel, user: UserRef, result: ActionResult, info: dict[str, Any]
) -> None:
    _ensure_policy()
    for hook in list(_after):
        hook(action, params, user, result, info)
