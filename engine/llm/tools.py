"""The action registry as Claude tool definitions.

Each action the user's role allows becomes one tool: its name, its description
(plus a sentence when it runs as a background job or needs the user's
confirmation) and its pydantic parameter schema, cleaned so the Messages API
accepts it (``$ref`` inlined, ``$defs`` and titles dropped, an object at the top).
The list is sorted by name so that it is byte-identical between requests, which
is what lets prompt caching reuse it; the last tool carries the cache breakpoint.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from typing import Any

from engine.actions.base import Action
from engine.actions.context import UserRef

log = logging.getLogger("mltrainer.llm")

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
CACHE_CONTROL = {"type": "ephemeral"}

LONG_NOTE = (
    " Runs as a background job: the call returns at once with status 'queued' and a job"
    " id, and the user watches its live progress in the chat."
)
CONFIRM_NOTE = (
    " The user must confirm this action in the UI before it runs; until then the call"
    " returns status 'awaiting_confirmation'."
)

# Keywords whose value is a mapping of names to schemas (a key there is a name, not a keyword).
_NAMED_SCHEMAS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_DROPPED_KEYWORDS = ("title", "$schema", "$id", "discriminator")


def _role_of(user: UserRef | str) -> str:
    return user if isinstance(user, str) else user.role


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A self-contained copy of a pydantic JSON schema that the Messages API accepts.

    Local references (``#/$defs/Name``) are inlined, so the result has no ``$defs``;
    a self-referencing model is cut at its second occurrence with a plain
    ``{"type": "object"}``. ``title``, ``$schema`` and ``discriminator`` (whose
    mapping would point at the removed ``$defs``) are dropped as noise.
    """
    definitions = {**schema.get("definitions", {}), **schema.get("$defs", {})}

    def resolve(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            name = ref.rsplit("/", 1)[-1]
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if name in stack or name not in definitions:
                target: dict[str, Any] = {"type": "object"}
            else:
                target = resolve(definitions[name], (*stack, name))
            merged = {**target, **resolve(siblings, stack)}
            return merged
        cleaned: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYWORDS or key in ("$defs", "definitions"):
                continue
            if key in _NAMED_SCHEMAS and isinstance(value, dict):
                cleaned[key] = {name: resolve(sub, stack) for name, sub in value.items()}
            else:
                cleaned[key] = resolve(value, stack)
        return cleaned

    result = resolve(copy.deepcopy(schema), ())
    if "allOf" in result and len(result["allOf"]) == 1 and "properties" not in result:
        # pydantic may wrap a top-level model reference in allOf
        only = result.pop("allOf")[0]
        result = {**only, **result}
    result["type"] = "object"
    result.setdefault("properties", {})
    return result


def input_schema(action: Action) -> dict[str, Any]:
    return clean_schema(action.parameter_schema())


def tool_description(action: Action) -> str:
    text = action.description.strip()
    if action.long:
        text += LONG_NOTE
    if action.needs_confirmation:
        text += CONFIRM_NOTE
    return text


def tool_for(action: Action) -> dict[str, Any]:
    return {
        "name": action.name,
        "description": tool_description(action),
        "input_schema": input_schema(action),
    }


def allowed_actions(user: UserRef | str, actions: Iterable[Action] | None = None) -> list[Action]:
    """Actions the user's role may call, sorted by name; names the API would refuse are left out."""
    if actions is None:
        from engine.actions.registry import all_actions

        actions = all_actions()
    role = _role_of(user)
    chosen = []
    for action in sorted(actions, key=lambda a: a.name):
        if not action.allows(role):
            continue
        if not TOOL_NAME.match(action.name):
            log.warning("action %r is not a valid Claude tool name; not offered", action.name)
            continue
        chosen.append(action)
    return chosen


def tool_definitions(
    user: UserRef | str,
    actions: Iterable[Action] | None = None,
    *,
    cache: bool = True,
) -> list[dict[str, Any]]:
    """Claude tool definitions for every action ``user`` (or a role name) may run.

    With ``cache`` the last tool carries ``cache_control`` so the whole tool list is
    part of the cached prefix.
    """
    tools = [tool_for(action) for action in allowed_actions(user, actions)]
    if cache and tools:
        tools[-1] = {**tools[-1], "cache_control": dict(CACHE_CONTROL)}
    return tools
