"""Offline planner intents for usage and budgets."""

from __future__ import annotations

import re
from typing import Any

from engine.llm.planner import Intent, MissingValue, register_intent

NOT_NAMES = {"goal", "everyone", "all", "users", "the", "default", "me", "my", "a", "day"}


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("_", ""))


def _username(text: str) -> str | None:
    for pattern in (
        r"\buser\s+@?([a-z0-9_.-]+)",
        r"\bfor\s+@?([a-z0-9_.-]+)",
        r"\b([a-z0-9_.-]+)'s\b",
    ):
        match = re.search(pattern, text, re.I)
        if match and match.group(1).lower() not in NOT_NAMES:
            return match.group(1).lower()
    return None


def _goal_id(text: str) -> int | None:
    match = re.search(r"goal\s*#?\s*(\d+)", text, re.I)
    return int(match.group(1)) if match else None


def build_budget(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    goal_id = _goal_id(text)
    username = _username(text)
    if goal_id is not None:
        params.update(scope="goal", goal_id=goal_id)
    elif re.search(r"\b(?:everyone|every user|all users|default)\b", text, re.I):
        params["scope"] = "default"
    elif username:
        params.update(scope="user", username=username)
    else:
        raise MissingValue("whose budget: a user (for alice), a goal (goal 3) or everyone")
    if re.search(r"\b(?:remove|clear|delete|drop|lift)\b", text, re.I):
        params["clear"] = True
        return params
    cpu = re.search(r"(\d[\d,_]*(?:\.\d+)?)\s*(?:cpu[- ]?)?(?:min(?:ute)?s?)\b", text, re.I)
    hours = re.search(r"(\d[\d,_]*(?:\.\d+)?)\s*(?:cpu[- ]?)?(?:hours?|h)\b", text, re.I)
    tokens = re.search(r"(\d[\d,_]*(?:\.\d+)?)\s*([km])?\s*tokens", text, re.I)
    dollars = re.search(
        r"\$\s*(\d[\d,_]*(?:\.\d+)?)|(\d[\d,_]*(?:\.\d+)?)\s*(?:dollars|usd)\b", text, re.I
    )
    if cpu:
        params["max_cpu_minutes"] = _number(cpu.group(1))
    elif hours:
        params["max_cpu_minutes"] = _number(hours.group(1)) * 60
    if tokens:
        scale = {"k": 1_000, "m": 1_000_000}.get((tokens.group(2) or "").lower(), 1)
        params["max_tokens"] = int(_number(tokens.group(1)) * scale)
    if dollars:
        params["max_dollars"] = _number(dollars.group(1) or dollars.group(2))
    if not {"max_cpu_minutes", "max_tokens", "max_dollars"} & set(params):
        raise MissingValue("a limit: CPU-minutes, tokens or dollars per day")
    return params


def build_usage(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    username = _username(text)
    if username:
        params["username"] = username
    goal_id = _goal_id(text)
    if goal_id is not None:
        params["goal_id"] = goal_id
    return params


for intent in (
    Intent(
        "set_budget",
        (
            (r"\b(?:set|limit|give|allow|remove|clear|lift)\b", 1),
            (r"\bbudgets?\b|\blimit\b.*(?:per day|a day|daily|tokens?|cpu|\$)", 3),
            (r"cpu[- ]?(?:min|hour)|tokens?|dollars|\$|per day|a day|daily", 2),
        ),
        build_budget,
        "Set alice's daily budget to 30 CPU-minutes and 200k tokens",
    ),
    Intent(
        "usage_report",
        (
            (
                r"\busage\b|how much (?:have i|did i|i've) (?:spent|used)|(?:my|our) (?:spend|"
                r"spending|budget)|tokens? (?:used|left|spent)|cpu[- ]minutes? (?:used|left)",
                5,
            ),
        ),
        build_usage,
        "How much have I spent today?",
    ),
):
    register_intent(intent)
