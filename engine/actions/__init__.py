"""The action registry and the single entry point through which actions are called.

The types (``base``, ``context``) load with the package; ``call`` and the registry load
on first use, so the executor (which needs only the types) never loads the catalogue.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from engine.actions.base import Action, ActionError, ActionResult, PermissionDenied, Series
from engine.actions.context import ActionContext, UserRef

if TYPE_CHECKING:
    from engine.actions.dispatch import CallOutcome, call
    from engine.actions.registry import all_actions, get_action, load_catalog, register

_LAZY = {
    "CallOutcome": "engine.actions.dispatch",
    "call": "engine.actions.dispatch",
    "all_actions": "engine.actions.registry",
    "get_action": "engine.actions.registry",
    "load_catalog": "engine.actions.registry",
    "register": "engine.actions.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.actions' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Action",
    "CallOutcome",
    "call",
    "ActionContext",
    "ActionError",
    "ActionResult",
    "PermissionDenied",
    "Series",
    "UserRef",
    "all_actions",
    "get_action",
    "load_catalog",
    "register",
]
