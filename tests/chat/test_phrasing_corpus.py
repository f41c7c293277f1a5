"""The offline planner on analyst phrasings it was not written from (issue 21).

tests/chat/phrasings/heldout.json was written and committed before the planner was tuned
and is not tuned on; tuning.json holds the phrasings the planner was tuned on (with the
issue's own examples). A request is *fully right* when the planner makes exactly the
expected calls with every value the request states, and names as not understood every
part of the request no action can take. Both sets must be at least 90 % fully right.

Score from the command line (prints each miss):
    .venv/bin/python -m tests.chat.test_phrasing_corpus heldout
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).with_name("phrasings")
TARGET = 0.90


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((CORPUS / f"{name}.json").read_text())["cases"]


def same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(expected, actual, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, list) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(map(same, expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same(value, actual[key]) for key, value in expected.items()
        )
    return expected == actual


def check(case: dict[str, Any]) -> list[str]:
    """What is wrong with the planner's answer to one case (empty: fully right)."""
    from engine.llm.planner import plan

    planned = plan(case["text"])
    problems: list[str] = []
    expected_calls = case["calls"]
    if len(planned.calls) != len(expected_calls):
        problems.append(
            f"{len(planned.calls)} call(s) {[c.describe() for c in planned.calls]}, "
            f"expected {len(expected_calls)}"
        )
    for expected, actual in zip(expected_calls, planned.calls, strict=False):
        if actual.action != expected["action"]:
            problems.append(f"action {actual.action}, expected {expected['action']}")
            continue
        for name, value in expected["params"].items():
            if name not in actual.params or not same(value, actual.params[name]):
                problems.append(f"{name}={actual.params.get(name)!r}, expected {value!r}")
    for word in case.get("leftover", []):
        if word.lower() not in planned.message.lower():
            problems.append(f"{word!r} not named as not understood")
    return problems


def score(name: str) -> tuple[float, list[tuple[str, list[str]]]]:
    cases = load(name)
    misses = [(case["text"], problems) for case in cases if (problems := check(case))]
    return 1 - len(misses) / len(cases), misses


def test_the_corpus_is_big_enough_and_well_formed():
    from engine.actions import load_catalog

    catalog = load_catalog()
    heldout, tuning = load("heldout"), load("tuning")
    assert len(heldout) >= 45 and len(heldout) + len(tuning) >= 120
    assert not {c["text"] for c in heldout} & {c["text"] for c in tuning}
    for case in heldout + tuning:
        for call in case["calls"]:
            fields = catalog[call["action"]].params_model.model_fields
            assert set(call["params"]) <= set(fields), (case["text"], call)


@pytest.mark.parametrize("name", ["tuning", "heldout"])
def test_fully_right_on_at_least_90_percent(name):
    fraction, misses = score(name)
    assert fraction >= TARGET, "\n".join(f"{text}: {'; '.join(p)}" for text, p in misses)


if __name__ == "__main__":
    for name in sys.argv[1:] or ["tuning", "heldout"]:
        fraction, misses = score(name)
        for text, problems in misses:
            print(f"  MISS {text!r}: {'; '.join(problems)}")
        total = len(load(name))
        print(f"{name}: {fraction:.0%} fully right ({total - len(misses)}/{total})")
