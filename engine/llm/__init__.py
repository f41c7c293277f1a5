"""Claude's tool-use loop (``engine.llm.claude``) and the offline planner.

Names from :mod:`engine.llm.claude` are importable from here; they load lazily so
that importing the planner does not import the ``anthropic`` SDK.
"""

from __future__ import annotations

from typing import Any

_CLAUDE_NAMES = {
    "ChatEvent",
    "ClaudeAuthError",
    "ClaudeChat",
    "ClaudeOptions",
    "ClaudeUnavailable",
    "ExecuteTool",
    "ToolOutcome",
    "Usage",
    "action_executor",
    "compact_outcome",
}


def __getattr__(name: str) -> Any:
    if name in _CLAUDE_NAMES:
        from engine.llm import claude

        return getattr(claude, name)
    raise AttributeError(f"module 'engine.llm' has no attribute {name!r}")


def claude_available() -> bool:
    """Whether an API key is configured, i.e. whether the chat should use Claude."""
    from engine.config import get_settings

    return bool(get_settings().anthropic_api_key)
