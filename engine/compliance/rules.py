"""Compliance rules: small named functions with a clear message.

A rule returns None when it does not apply to the call, else a Decision. Rules read
the validated parameters and the action's declared properties, never free text.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.actions.base import Action, ActionResult
from engine.actions.context import UserRef


@dataclass(frozen=True)
class Decision:
    passed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallFacts:
    """What the rules may look at."""

    action: Action
    params: dict[str, Any]
    user: UserRef
    goal: dict[str, Any] | None = None  # the goal's spec when the call serves a goal
    confirmed: bool = False
    result: ActionResult | None = None


# Resource caps on parameters that drive cost. Names are the actions' own parameter names.
RESOURCE_CAPS: dict[str, float] = {
    "paths": 5_000_000,
    "mc_paths": 5_000_000,
    "steps": 20_000,
    "n_trials": 500,
    "max_trials": 2_000,
    "max_minutes": 24 * 60,
    "n_points": 500,
    "days": 100_000,
    "n_splits": 50,
}
REAL_DATA_SOURCES = ("bundled", "polygon", "fred")
TEMPORAL_VALIDATIONS = ("walk_forward",)


def role_allowed(facts: CallFacts) -> Decision:
    from engine.auth.permissions import Resource
    from engine.auth.permissions import allowed as permitted

    action, role = facts.action, facts.user.role
    allowed = permitted(facts.user, "run", Resource.action(action.name, action.min_role))
    message = (
        "role allowed"
        if allowed
        else f"role '{role}' cannot run '{action.name}' (needs {action.min_role})"
    )
    return Decision(allowed, message, {"role": role, "min_role": action.min_role})


def resource_caps(facts: CallFacts) -> Decision | None:
    present = {k: v for k, v in facts.params.items() if k in RESOURCE_CAPS}
    if not present:
        return None
    for name, value in present.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, (int, float)) and item > RESOURCE_CAPS[name]:
                return Decision(
                    False,
                    f"{name}={item:g} exceeds the cap of {RESOURCE_CAPS[name]:g}",
                    {"parameter": name, "value": item, "cap": RESOURCE_CAPS[name]},
                )
    return Decision(True, "within resource caps", {"checked": sorted(present)})


def data_provenance(facts: CallFacts) -> Decision | None:
    """A goal whose data policy is 'real_only' may not use synthetic or unknown data."""
    if not facts.goal or "source" not in facts.params:
        return None
    policy = facts.goal.get("data_policy", "real_only")
    source = str(facts.params.get("source") or "bundled")
    if policy != "real_only":
        return Decision(True, f"goal allows synthetic data (source {source})", {"source": source})
    ok = source in REAL_DATA_SOURCES or source.startswith("upload:")
    return Decision(
        ok,
        f"source '{source}' is real data"
        if ok
        else f"the goal requires real data but the call uses source '{source}'",
        {"source": source, "policy": policy},
    )


def temporal_validation(facts: CallFacts) -> Decision | None:
    """Models on time series must be validated walk-forward, never with shuffled folds."""
    validation = facts.params.get("validation")
    if validation is None:
        return None
    temporal = bool(facts.params.get("symbols")) or facts.params.get("time_column") is not None
    if not temporal:
        return Decision(True, "i.i.d. table: k-fold allowed", {"validation": validation})
    ok = validation in TEMPORAL_VALIDATIONS
    return Decision(
        ok,
        "walk-forward validation"
        if ok
        else f"temporal data must be validated walk-forward, not '{validation}'",
        {"validation": validation},
    )


def dynamic_code_approved(facts: CallFacts) -> Decision | None:
    if facts.action.category != "dynamic":
        return None
    status = facts.params.get("_status") or getattr(facts.action, "status", None)
    ok = facts.confirmed or status == "approved"
    return Decision(
        ok,
        "dynamic code approved or confirmed"
        if ok
        else "generated code must be approved by an admin or confirmed by its author",
        {"confirmed": facts.confirmed},
    )


PLAUSIBLE_BOUNDS: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "balanced_accuracy": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "r2": (-math.inf, 1.0),
    "sharpe": (-20.0, 20.0),
    "holdout_sharpe": (-20.0, 20.0),
    "max_drawdown": (-1.0, 0.0),
    "volatility": (0.0, 50.0),
}


def results_in_bounds(facts: CallFacts) -> Decision | None:
    if facts.result is None:
        return None
    checked = {}
    for name, (low, high) in PLAUSIBLE_BOUNDS.items():
        value = facts.result.values.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            checked[name] = value
            if not (low - 1e-9 <= value <= high + 1e-9):
                return Decision(
                    False,
                    f"{name}={value:.4g} is outside plausible bounds "
                    f"[{low:g}, {high:g}]; this usually means look-ahead or a bug",
                    {"metric": name, "value": value},
                )
    if not checked:
        return None
    return Decision(True, "results within plausible bounds", {"checked": sorted(checked)})


def out_of_sample(facts: CallFacts) -> Decision | None:
    """Model metrics must come from data the model was not fitted on."""
    if facts.result is None or "evaluation" not in facts.result.values:
        return None
    evaluation = facts.result.values["evaluation"]
    ok = evaluation in ("walk_forward", "kfold", "holdout", "out_of_sample")
    return Decision(
        ok,
        f"metrics are out of sample ({evaluation})"
        if ok
        else f"metrics were computed '{evaluation}', not out of sample",
        {"evaluation": evaluation},
    )


Rule = Callable[[CallFacts], Decision | None]
BEFORE_RULES: tuple[Rule, ...] = (
    role_allowed,
    resource_caps,
    data_provenance,
    temporal_validation,
    dynamic_code_approved,
)
AFTER_RULES: tuple[Rule, ...] = (out_of_sample, results_in_bounds)
