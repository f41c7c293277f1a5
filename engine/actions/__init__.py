"""The action registry and the single entry point through which actions are called."""

from engine.actions.base import Action, ActionError, ActionResult, PermissionDenied, Series
from engine.actions.context import ActionContext, UserRef
from engine.actions.dispatch import CallOutcome, call
from engine.actions.registry import all_actions, get_action, load_catalog, register

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
