"""Bounded work: every action parameter has a maximum, actions whose cost multiplies
refuse requests over their work budget before they start, a whole call's parameters
are capped, and a result too large to store fails its job with a clear message."""

from __future__ import annotations

import pytest

from engine.actions import ActionError, UserRef, call
from engine.actions.registry import all_actions


def _unbounded(node, path: str, defs: dict, seen: frozenset = frozenset()) -> list[str]:
    """Paths of arrays, maps and strings in a JSON schema that have no maximum size."""
    found: list[str] = []
    if isinstance(node, list):
        for item in node:
            found += _unbounded(item, path, defs, seen)
        return found
    if not isinstance(node, dict):
        return found
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return [] if name in seen else _unbounded(defs[name], path, defs, seen | {name})
    kind = node.get("type")
    if kind == "array" and "maxItems" not in node and "prefixItems" not in node:
        found.append(f"{path} (list without max_length)")
    if kind == "object" and "properties" not in node and "maxProperties" not in node:
        found.append(f"{path} (dict without max_length)")
    if kind == "string" and not {"maxLength", "enum", "const", "format"} & set(node):
        found.append(f"{path} (str without max_length)")
    for key, value in node.items():
        if key == "properties":
            for name, field in value.items():
                found += _unbounded(field, f"{path}.{name}", defs, seen)
        elif key not in ("$defs", "default", "examples") and isinstance(value, (dict, list)):
            found += _unbounded(value, path, defs, seen)
    return found


def test_every_list_dict_and_string_parameter_of_every_action_is_bounded():
    actions = all_actions()
    assert len(actions) >= 25  # the whole catalogue is loaded, not an empty registry
    problems = []
    for action in actions:
        schema = action.params_model.model_json_schema()
        problems += _unbounded(schema, action.name, schema.get("$defs", {}))
    assert not problems, "parameters without an upper bound:\n" + "\n".join(problems)


def test_the_guard_sees_an_unbounded_parameter():
    from pydantic import BaseModel

    class Loose(BaseModel):
        windows: list[int]
        weights: dict[str, float]
        label: str

    schema = Loose.model_json_schema()
    assert len(_unbounded(schema, "loose", {})) == 3


SYSTEM = UserRef.system()


def test_two_hundred_indicator_windows_are_refused_by_validation():
    with pytest.raises(ActionError, match="sma_window"):
        call(
            "compute_indicators",
            {"symbols": ["SPX"], "indicators": ["sma"], "sma_window": list(range(2, 202))},
            SYSTEM,
        )


def test_indicators_over_the_work_budget_are_refused_before_computing():
    windows = list(range(2, 22))  # 20 windows: the most a list may hold
    params = {"symbols": ["SPX", "AAPL", "MSFT"]}
    for name in ("sma", "ema", "rsi", "volatility", "zscore", "momentum"):
        params[f"{name}_window"] = windows
    outcome = call("compute_indicators", params, SYSTEM)
    assert outcome.status == "failed" and "too much work for one call" in outcome.error
    assert "fewer windows or symbols" in outcome.error


def test_monte_carlo_risk_over_the_work_budget_is_refused():
    outcome = call(
        "risk_report",
        {"symbols": ["AAPL", "MSFT"], "mc_paths": 2_000_000, "horizon_days": 252},
        SYSTEM,
    )
    assert outcome.status == "failed" and "Monte Carlo paths" in outcome.error
    assert "too much work for one call" in outcome.error


def test_an_efficient_frontier_over_the_work_budget_is_refused_before_loading_prices():
    # 200 points for 100 symbols took minutes inline; the symbols need not even exist,
    # the budget is checked before any price is loaded.
    symbols = [f"NOSUCH{i}" for i in range(100)]
    outcome = call("efficient_frontier", {"symbols": symbols, "n_points": 200}, SYSTEM)
    assert outcome.status == "failed"
    assert "200 frontier points × 100 symbols²" in outcome.error
    assert "too much work for one call (2,000,000 > 150,000)" in outcome.error
    assert "use fewer n_points or fewer symbols" in outcome.error


def test_an_efficient_frontier_within_the_budget_is_computed():
    outcome = call(
        "efficient_frontier", {"symbols": ["AAPL", "MSFT", "KO"], "n_points": 200}, SYSTEM
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result.values["frontier_points"] == 200


def test_a_call_with_megabytes_of_parameters_is_refused():
    signal = {f"2020-01-{i:07d}": 1.0 for i in range(200_000)}
    with pytest.raises(ActionError, match="MB of JSON"):
        call(
            "backtest_strategy",
            {"symbols": ["AAPL"], "strategy": "signal", "signal": signal},
            SYSTEM,
        )


def test_a_result_too_large_to_store_fails_the_job_with_a_clear_message(
    fresh_db, make_user, monkeypatch
):
    from storage.repositories import jobs

    monkeypatch.setenv("MLTRAINER_MAX_RESULT_MB", "0.05")
    alice = make_user("alice")
    outcome = call(
        "compute_indicators",
        {"symbols": ["SPX"], "indicators": ["sma"], "sma_window": [5, 10, 20, 50, 100]},
        alice,
    )
    assert outcome.status == "failed"
    assert "MLTRAINER_MAX_RESULT_MB" in outcome.error and "Ask for less" in outcome.error
    record = jobs.get_job(outcome.job_id)
    assert record.status == "failed" and record.result is None
    monkeypatch.delenv("MLTRAINER_MAX_RESULT_MB")
    assert call("compute_indicators", {"symbols": ["SPX"], "indicators": ["sma"]}, alice).ok


def test_dynamic_actions_get_bounded_parameters_too():
    from types import SimpleNamespace

    from engine.sandbox.service import params_model_for

    declared = {
        "properties": {
            "label": {"type": "string"},
            "weights": {"type": "array", "items": {"type": "number"}},
            "names": {"type": "array", "items": {"type": "string"}},
            "window": {"type": "integer"},
        },
        "required": ["window"],
    }
    model = params_model_for(SimpleNamespace(name="my_stat", version=1, parameters=declared))
    schema = model.model_json_schema()
    assert _unbounded(schema, "my_stat", schema.get("$defs", {})) == []
