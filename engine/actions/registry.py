"""The action registry: the one catalogue of what mlTrainer can do.

Domain packages register their actions in a module named ``actions`` inside the
package (``engine/finance/actions.py``, ``engine/data/actions.py``, ...).
:func:`load_catalog` imports every such module once, so adding a package with an
``actions`` module is all it takes to extend the catalogue.

``MLTRAINER_EXTRA_ACTION_MODULES`` (comma-separated module names) adds modules outside
``engine`` (plug-ins, test-only actions); worker processes read it too, so an action
registered there can run in the process pool and on Dask workers.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from pydantic import BaseModel

from engine.actions.base import Action, ActionResult, RunFunction

if TYPE_CHECKING:
    from engine.actions.context import ActionContext

P = TypeVar("P", bound=BaseModel)

_REGISTRY: dict[str, Action] = {}
_lock = threading.Lock()
_catalog_loaded = False


def register(
    name: str,
    *,
    description: str,
    params: type[P],
    long: bool = False,
    cpu_bound: bool = True,
    idempotent: bool = True,
    min_role: str = "analyst",
    needs_confirmation: bool = False,
    category: str = "general",
) -> Callable[
    [Callable[[P, ActionContext], ActionResult]], Callable[[P, ActionContext], ActionResult]
]:
    """Decorator registering ``run(params, ctx) -> ActionResult`` as an action.

    ``run`` takes the action's own parameter model ``params``; every caller validates
    the raw parameters with that model first, so the stored ``Action.run`` (typed for any
    ``BaseModel``) only ever receives an instance of it."""
    from engine.auth.permissions import is_role

    if not is_role(min_role):
        raise ValueError(f"unknown role {min_role!r}")

    def decorator(
        run: Callable[[P, ActionContext], ActionResult],
    ) -> Callable[[P, ActionContext], ActionResult]:
        add(
            Action(
                name=name,
                description=" ".join(description.split()),
                params_model=params,
                # sound because run() is only called with params_model's instances (above)
                run=cast(RunFunction, run),
                long=long,
                cpu_bound=cpu_bound,
                idempotent=idempotent,
                min_role=min_role,
                needs_confirmation=needs_confirmation,
                category=category,
            )
        )
        return run

    return decorator


def add(action: Action, *, replace: bool = False) -> None:
    with _lock:
        existing = _REGISTRY.get(action.name)
        if existing is not None and not replace and existing.run is not action.run:
            raise ValueError(f"action {action.name!r} is already registered")
        _REGISTRY[action.name] = action


def remove(name: str) -> None:
    with _lock:
        _REGISTRY.pop(name, None)


def load_catalog() -> dict[str, Action]:
    """Import every ``engine.<package>.actions`` module (once) and return the registry."""
    global _catalog_loaded
    if not _catalog_loaded:
        import engine

        for module in pkgutil.iter_modules(engine.__path__):
            if module.ispkg and module.name != "actions":
                spec_name = f"engine.{module.name}.actions"
                if importlib.util.find_spec(spec_name) is not None:
                    importlib.import_module(spec_name)
        _catalog_loaded = True
    for extra in extra_action_modules():  # cheap once imported; the variable may be set late
        importlib.import_module(extra)
    return dict(_REGISTRY)


def extra_action_modules() -> list[str]:
    """Modules named by MLTRAINER_EXTRA_ACTION_MODULES, imported by :func:`load_catalog`."""
    raw = os.environ.get("MLTRAINER_EXTRA_ACTION_MODULES", "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def get_action(name: str) -> Action:
    load_catalog()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown action {name!r}") from None


def all_actions() -> list[Action]:
    return sorted(load_catalog().values(), key=lambda action: action.name)
