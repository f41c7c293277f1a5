"""Offline planner intents of the read-only trial and job actions (loaded by
``engine.llm.planner.load_intents``).

They map "what was my best model on KO last week?", "show my XGBoost trials from this
month", "compare my last 20 XGBoost trials", "compare trials 3, 5 and 8 against trial 5"
and "which of my jobs failed?" to the calls Claude would make with ``query_trials``,
``compare_trials`` and ``query_jobs``. Their phrases outweigh ``compare_models`` and
``train_model`` only when the request is about trials or models already run (past
tense, "my", "trials", a period).
"""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, register_intent
from engine.ml import intents as ml_words

# (pattern, period of engine.trials.ask); "last week" is the last seven days.
PERIODS: tuple[tuple[str, str], ...] = (
    (r"\btoday\b", "today"),
    (r"\byesterday\b", "yesterday"),
    (r"\b(?:previous|prior) (?:calendar )?week\b|\bweek before\b", "previous_week"),
    (
        r"\b(?:last|past) (?:7|seven) days\b|\b(?:last|past) week\b|\bthis past week\b",
        "last_7_days",
    ),
    (r"\bthis week\b", "this_week"),
    (r"\b(?:previous|prior) (?:calendar )?month\b", "previous_month"),
    (r"\b(?:last|past) (?:30|thirty) days\b|\b(?:last|past) month\b", "last_30_days"),
    (r"\bthis month\b", "this_month"),
)
MINE = r"\b(?:my|mine|i (?:ran|trained|tried|did))\b"
FAMILIES = (
    (r"\bboost(?:ing|ed)? (?:models|trials|family)\b", "boosting"),
    (r"\blinear (?:models|trials|family)\b", "linear"),
    (r"\btree (?:models|trials|family)\b", "tree"),
    (r"\bensemble (?:models|trials|family)\b", "ensemble"),
)


def _filters(text: str) -> dict[str, Any]:
    """The filters every trial question shares: symbol, model or family, metric, goal,
    status, period or explicit dates, and "my"."""
    params: dict[str, Any] = {}
    symbols = ml_words.symbols(text)
    if symbols:
        params["symbol"] = symbols[0]
    models = ml_words.find_models(text)
    if models:
        params["model"] = models[0]
    else:
        for pattern, family in FAMILIES:
            if re.search(pattern, text, re.I):
                params["family"] = family
                break
    metric = ml_words.metric(text)
    if metric:
        params["metric"] = metric
    goal = re.search(r"\bgoal\s*#?\s*(\d+)", text, re.I)
    if goal:
        params["goal_id"] = int(goal.group(1))
    dataset = re.search(r"\bdataset\s*#?\s*(\d+)", text, re.I)
    if dataset:
        params["dataset_id"] = int(dataset.group(1))
    if re.search(r"\bfail(?:ed|ing|ures?)\b", text, re.I):
        params["status"] = "failed"
    for pattern, period in PERIODS:
        if re.search(pattern, text, re.I):
            params["period"] = period
            break
    else:
        span = extract.extract_dates(text)
        if span.start:
            params["created_from"] = span.start
        if span.end:
            params["created_to"] = span.end
    if re.search(MINE, text, re.I):
        params["mine"] = True
    return params


def build_query(text: str) -> dict[str, Any]:
    params = _filters(text)
    if re.search(r"\b(?:best|top|highest[- ]scoring|winning|strongest)\b", text, re.I):
        params["order"] = "best"
    elif re.search(r"\b(?:worst|weakest|lowest[- ]scoring)\b", text, re.I):
        params["order"] = "worst"
    elif re.search(r"\b(?:oldest|first)\b", text, re.I):
        params["order"] = "oldest"
    count = re.search(r"\b(?:top|last|latest|newest|first)\s+(\d{1,3})\b", text, re.I)
    if count:
        params["limit"] = min(int(count.group(1)), 100)
    elif params.get("order") in ("best", "worst"):
        params["limit"] = 5
    return params


def build_compare(text: str) -> dict[str, Any]:
    ids = _trial_ids(text)
    baseline = re.search(
        r"(?:against|vs\.?|versus|baseline(?: of| is)?|relative to)\s+(?:trial\s*)?#?(\d+)"
        r"|trial\s*#?(\d+)\s+as (?:the )?baseline",
        text,
        re.I,
    )
    params: dict[str, Any] = {}
    if baseline:
        params["baseline"] = int(next(g for g in baseline.groups() if g))
    if ids:
        if params.get("baseline") is not None and params["baseline"] not in ids:
            ids.append(params["baseline"])
        if len(ids) < 2:
            raise MissingValue("at least two trial ids (e.g. trials 3, 5 and 8)")
        params["trial_ids"] = ids
        return params
    params.update(_filters(text))
    count = re.search(
        r"\b(?:last|latest|newest|recent)\s+(\d{1,3})\b|\b(\d{1,3})\s+(?:most )?recent", text, re.I
    )
    if count:
        params["last"] = max(2, int(next(g for g in count.groups() if g)))
    return params


def _trial_ids(text: str) -> list[int]:
    match = re.search(r"\btrials?\s*#?\s*((?:\d+(?:\s*(?:,|and|&|\+)\s*#?)?\s*)+)", text, re.I)
    if not match:
        return []
    return list(dict.fromkeys(int(n) for n in re.findall(r"\d+", match.group(1))))


JOB_STATUSES = (
    (r"\bfail(?:ed|ing|ures?)\b", "failed"),
    (r"\brunning\b|\bin progress\b", "running"),
    (r"\bqueued\b|\bwaiting\b|\bpending\b", "queued"),
    (r"\bcancel(?:l)?ed\b", "cancelled"),
    (r"\binterrupted\b", "interrupted"),
    (r"\bsucceeded\b|\bfinished\b|\bcompleted\b|\bdone\b", "succeeded"),
)


def build_jobs(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    statuses = [status for pattern, status in JOB_STATUSES if re.search(pattern, text, re.I)]
    if statuses:
        params["status"] = statuses
    goal = re.search(r"\bgoal\s*#?\s*(\d+)", text, re.I)
    if goal:
        params["goal_id"] = int(goal.group(1))
    if re.search(r"\b(?:everyone'?s|all users'?|every user'?s|team'?s)\b", text, re.I):
        params["everyone"] = True
    count = re.search(r"\b(?:last|latest|newest)\s+(\d{1,3})\b", text, re.I)
    if count:
        params["limit"] = min(int(count.group(1)), 100)
    return params


PAST = r"\b(?:was|were|did|have i|had|so far|ran|trained|recorded)\b"
PERIOD_WORDS = "|".join(pattern for pattern, _ in PERIODS)

for intent in (
    Intent(
        "query_trials",
        (
            (
                r"\b(?:best|top|worst|highest|lowest)\b.{0,40}\b(?:models?|trials?|runs?|results?)\b",
                3,
            ),
            (r"\b(?:my|recorded|past|previous)\s+(?:\w+\s+){0,2}(?:trials?|models|runs)\b", 3),
            (r"\b(?:show|list|find|which|what)\b.{0,30}\btrials?\b", 3),
            (PAST, 2),
            (PERIOD_WORDS, 2),
        ),
        build_query,
        "What was my best model on KO last week?",
    ),
    Intent(
        "compare_trials",
        (
            (r"\bcompar\w*\b.{0,60}\btrials?\b", 8),
            (r"\b(?:diff|delta|side by side)\w*\b.{0,40}\btrials?\b", 6),
            (r"\bbaseline\b", 1),
        ),
        build_compare,
        "Compare my last 20 XGBoost trials",
    ),
    Intent(
        "query_jobs",
        (
            (r"\bjobs?\b", 4),
            (r"\b(?:my|show|list|which|what|any)\b", 1),
            (r"\bfailed|running|queued|cancel+ed|interrupted\b", 1),
        ),
        build_jobs,
        "Which of my jobs failed?",
    ),
):
    register_intent(intent)
