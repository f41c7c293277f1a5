"""Offline planner intents for goals."""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, apply_dates, register_intent

METRIC_WORDS = (
    (r"balanced accuracy", "balanced_accuracy"),
    (r"\bauc\b|roc", "roc_auc"),
    (r"\bf1\b", "f1"),
    (r"log ?loss", "log_loss"),
    (r"accuracy", "accuracy"),
    (r"sharpe", "sharpe"),
    (r"\bic\b|information coefficient", "ic"),
    (r"\brmse\b", "rmse"),
    (r"\bmae\b", "mae"),
    (r"\br2\b|r-squared|r²", "r2"),
)


def _goal_id(text: str) -> int:
    match = re.search(r"goal\s*#?\s*(\d+)", text, re.I)
    if not match:
        raise MissingValue("the goal number (e.g. goal 3)")
    return int(match.group(1))


def build_create(text: str) -> dict[str, Any]:
    symbols = [s for s in extract.extract_symbols(text) if not s.startswith("MACRO:")]
    if not symbols:
        raise MissingValue("the symbol to model (e.g. SPX)")
    params: dict[str, Any] = {"symbols": symbols[:1]}
    regression = re.search(r"\breturns?\b(?! direction)|regression|rmse|\bmae\b|\br2\b", text, re.I)
    params["task"] = (
        "regression" if regression and not re.search(r"direction", text, re.I) else "classification"
    )
    for pattern, metric in METRIC_WORDS:
        if re.search(pattern, text, re.I):
            params["metric"] = metric
            break
    else:
        params["metric"] = "balanced_accuracy" if params["task"] == "classification" else "rmse"
    threshold = re.search(
        r"(?:>=|≥|<=|≤|at least|above|over|below|under|of)\s*(-?\d+(?:\.\d+)?)"
        r"\s*(%)?",
        text,
        re.I,
    )
    if not threshold:
        raise MissingValue("the threshold (e.g. balanced accuracy of at least 0.55)")
    value = float(threshold.group(1))
    params["threshold"] = value / 100 if threshold.group(2) else value
    horizon = re.search(r"(\d+)[- ]day", text, re.I)
    params["horizon"] = int(horizon.group(1)) if horizon else 1
    trials = re.search(r"(\d+)\s+trials", text, re.I)
    if trials:
        params["max_trials"] = int(trials.group(1))
    params["name"] = f"{params['symbols'][0]} {params['horizon']}-day {params['metric']}"
    if re.search(r"synthetic", text, re.I):
        params["data_policy"] = "synthetic_allowed"
    return apply_dates(text, params)


def build_control(text: str) -> dict[str, Any]:
    for word, command in (
        ("pause", "pause"),
        ("resume", "resume"),
        ("stop", "stop"),
        ("start", "start"),
        ("run", "start"),
        ("kick off", "start"),
        ("launch", "start"),
        ("begin", "start"),
    ):
        if re.search(rf"\b{word}", text, re.I):
            return {"goal_id": _goal_id(text), "command": command}
    raise MissingValue("what to do: start, pause, resume or stop")


def build_update(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"goal_id": _goal_id(text)}
    threshold = re.search(r"threshold\D{0,12}(-?\d+(?:\.\d+)?)", text, re.I)
    if threshold:
        params["threshold"] = float(threshold.group(1))
    trials = re.search(r"(\d+)\s+trials", text, re.I)
    if trials:
        params["max_trials"] = int(trials.group(1))
    minutes = re.search(r"(\d+)\s+min", text, re.I)
    if minutes:
        params["max_minutes"] = float(minutes.group(1))
    if len(params) == 1:
        raise MissingValue("what to change (threshold, trials or minutes)")
    return params


for intent in (
    Intent(
        "update_goal",
        (
            (r"change|update|raise|lower|increase|set .* to", 2),
            (r"goal\s*#?\s*\d+", 2),
            (r"threshold|budget|trials", 1.5),
        ),
        build_update,
        "Raise goal 3's threshold to 0.57 and allow 50 trials",
    ),
    Intent(
        "create_goal",
        (
            (r"\bgoal\b", 2),
            (r"set|create|new|want|reach|target", 1.5),
            (r"at least|>=|≥|threshold|above", 1.5),
        ),
        build_create,
        "Set a goal: SPX 5-day direction with balanced accuracy of at least 0.55",
    ),
    Intent(
        "control_goal",
        (
            (r"\b(?:start|pause|resume|stop|run|kick off|launch|begin)\b", 2),
            (r"goal\s*#?\s*\d+", 1.5),
        ),
        build_control,
        "Start goal 3",
    ),
    Intent(
        "goal_insights",
        (
            (
                r"insights?|how(?:'s| is) goal|goal\s*#?\s*\d+\s+(?:doing|going)|progress of goal"
                r"|what should (?:we |i )?try|try next|recommend",
                4,
            ),
            (r"goal\s*#?\s*\d+", 2),
        ),
        lambda text: {"goal_id": _goal_id(text)},
        "How is goal 3 doing? Any insights?",
    ),
    Intent(
        "list_goals",
        ((r"(?:list|show|what are) (?:my |the )?goals|goals status|my goals", 5),),
        lambda text: {},
        "Show my goals",
    ),
):
    register_intent(intent)
