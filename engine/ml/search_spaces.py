"""Declarative Optuna search spaces for the model catalogue.

A search space is a plain dict ``parameter name -> distribution`` where the name is
the estimator's ``set_params`` key (``"C"``, ``"estimator__max_depth"``,
``"model__alpha"``) and the distribution is one of

- ``("int", low, high, log)``
- ``("float", low, high, log)``
- ``("categorical", [choice, ...])``

Categorical choices may be any value (tuples for ``hidden_layer_sizes``, ``None``);
values Optuna cannot store are suggested through their ``repr`` and mapped back.
:func:`suggest` turns a space into one trial's parameters; :func:`space_to_json`
gives a JSON-safe description for pages and the chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from engine.ml.catalog_spec import ModelSpec

Distribution = tuple
SearchSpace = Mapping[str, Distribution]

_OPTUNA_PRIMITIVES = (type(None), bool, int, float, str)


def Int(low: int, high: int, log: bool = False) -> Distribution:  # noqa: N802 - reads as a type
    return ("int", int(low), int(high), bool(log))


def Float(low: float, high: float, log: bool = False) -> Distribution:  # noqa: N802
    return ("float", float(low), float(high), bool(log))


def Cat(*choices: Any) -> Distribution:  # noqa: N802
    return ("categorical", list(choices))


def prefixed(space: SearchSpace, prefix: str) -> dict[str, Distribution]:
    """The same space for an estimator nested under ``prefix`` (e.g. ``"estimator__"``)."""
    return {f"{prefix}{name}": dist for name, dist in space.items()}


def validate_space(space: SearchSpace) -> None:
    """Raise ValueError when a distribution is malformed."""
    for name, dist in space.items():
        if not isinstance(dist, tuple) or not dist:
            raise ValueError(f"{name}: distribution must be a non-empty tuple, got {dist!r}")
        kind = dist[0]
        if kind in ("int", "float"):
            if len(dist) != 4:
                raise ValueError(f"{name}: expected ({kind!r}, low, high, log)")
            _, low, high, log = dist
            if not low <= high:
                raise ValueError(f"{name}: low {low} > high {high}")
            if log and low <= 0:
                raise ValueError(f"{name}: a log range needs low > 0")
        elif kind == "categorical":
            if len(dist) != 2 or not list(dist[1]):
                raise ValueError(f"{name}: expected ('categorical', [choices])")
        else:
            raise ValueError(f"{name}: unknown distribution kind {kind!r}")


def _needs_repr(choices: list[Any]) -> bool:
    return not all(
        isinstance(c, _OPTUNA_PRIMITIVES) and not isinstance(c, (tuple, list)) for c in choices
    )


def suggest_space(trial: optuna.trial.BaseTrial, space: SearchSpace) -> dict[str, Any]:
    """One set of parameters from ``space`` via ``trial.suggest_*``."""
    params: dict[str, Any] = {}
    for name, dist in space.items():
        kind = dist[0]
        if kind == "int":
            _, low, high, log = dist
            params[name] = trial.suggest_int(name, low, high, log=log)
        elif kind == "float":
            _, low, high, log = dist
            params[name] = trial.suggest_float(name, low, high, log=log)
        elif kind == "categorical":
            choices = list(dist[1])
            if _needs_repr(choices):
                by_repr = {repr(c): c for c in choices}
                params[name] = by_repr[trial.suggest_categorical(name, list(by_repr))]
            else:
                params[name] = trial.suggest_categorical(name, choices)
        else:
            raise ValueError(f"{name}: unknown distribution kind {kind!r}")
    return params


def suggest(trial: optuna.trial.BaseTrial, spec: ModelSpec) -> dict[str, Any]:
    """Parameters for ``spec.build(params)`` suggested by an Optuna trial."""
    return suggest_space(trial, spec.search_space)


def decode_params(spec: ModelSpec, stored: Mapping[str, Any]) -> dict[str, Any]:
    """Map parameters as Optuna stores them (``repr`` strings for tuple choices, e.g.
    ``study.best_params``) back to the values ``spec.build`` expects."""
    out = dict(stored)
    for name, value in stored.items():
        dist = spec.search_space.get(name)
        if dist is not None and dist[0] == "categorical" and _needs_repr(list(dist[1])):
            by_repr = {repr(c): c for c in dist[1]}
            if isinstance(value, str) and value in by_repr:
                out[name] = by_repr[value]
    return out


def corner_params(space: SearchSpace) -> list[dict[str, Any]]:
    """Low and high corners of the numeric ranges with each categorical choice cycled:
    a cheap way to check that every part of a space is accepted by the estimator."""
    if not space:
        return [{}]
    n = max([2] + [len(d[1]) for d in space.values() if d[0] == "categorical"])
    corners = []
    for i in range(n):
        params = {}
        for name, dist in space.items():
            if dist[0] == "categorical":
                choices = list(dist[1])
                params[name] = choices[i % len(choices)]
            else:
                params[name] = dist[1] if i % 2 == 0 else dist[2]
        corners.append(params)
    return corners


def space_to_json(space: SearchSpace) -> dict[str, Any]:
    """JSON-safe description (choices that are not JSON become their repr)."""
    out: dict[str, Any] = {}
    for name, dist in space.items():
        if dist[0] == "categorical":
            choices = list(dist[1])
            if _needs_repr(choices):
                choices = [repr(c) for c in choices]
            out[name] = {"type": "categorical", "choices": choices}
        else:
            out[name] = {"type": dist[0], "low": dist[1], "high": dist[2], "log": dist[3]}
    return out


# --- reusable fragments ---------------------------------------------------------

C_LINEAR = {"C": Float(1e-3, 1e2, log=True)}
ALPHA_RIDGE = {"alpha": Float(1e-3, 1e3, log=True)}
ALPHA_SPARSE = {"alpha": Float(1e-4, 1.0, log=True)}
SGD = {
    "alpha": Float(1e-6, 1e-1, log=True),
    "penalty": Cat("l2", "l1", "elasticnet"),
}
SVM_RBF = {"C": Float(1e-2, 1e3, log=True), "gamma": Float(1e-4, 1.0, log=True)}
KNN = {
    "n_neighbors": Int(3, 50, log=True),
    "weights": Cat("uniform", "distance"),
    "p": Cat(1, 2),
}
TREE = {
    "max_depth": Int(2, 20),
    "min_samples_leaf": Int(1, 50, log=True),
    "max_features": Cat(None, "sqrt", 0.5),
}
FOREST = {
    "n_estimators": Int(50, 400, log=True),
    "max_depth": Int(3, 20),
    "min_samples_leaf": Int(1, 50, log=True),
    "max_features": Cat("sqrt", "log2", 0.5, 1.0),
}
GRADIENT_BOOSTING = {
    "n_estimators": Int(50, 400, log=True),
    "learning_rate": Float(0.01, 0.3, log=True),
    "max_depth": Int(2, 6),
    "subsample": Float(0.5, 1.0),
    "min_samples_leaf": Int(1, 50, log=True),
}
HIST_GRADIENT_BOOSTING = {
    "learning_rate": Float(0.01, 0.3, log=True),
    "max_iter": Int(50, 400, log=True),
    "max_leaf_nodes": Int(8, 64, log=True),
    "min_samples_leaf": Int(5, 100, log=True),
    "l2_regularization": Float(1e-6, 10.0, log=True),
}
ADABOOST = {
    "n_estimators": Int(25, 300, log=True),
    "learning_rate": Float(0.01, 2.0, log=True),
}
BAGGING = {
    "n_estimators": Int(5, 50, log=True),
    "max_samples": Float(0.3, 1.0),
    "max_features": Float(0.5, 1.0),
}
MLP = {
    "hidden_layer_sizes": Cat((64,), (128,), (64, 32), (128, 64)),
    "alpha": Float(1e-6, 1e-1, log=True),
    "learning_rate_init": Float(1e-4, 1e-2, log=True),
}
XGB = {
    "n_estimators": Int(50, 400, log=True),
    "learning_rate": Float(0.01, 0.3, log=True),
    "max_depth": Int(2, 8),
    "subsample": Float(0.5, 1.0),
    "colsample_bytree": Float(0.5, 1.0),
    "min_child_weight": Float(1.0, 20.0, log=True),
    "reg_lambda": Float(1e-3, 10.0, log=True),
}
XGB_RF = {
    "n_estimators": Int(50, 300, log=True),
    "max_depth": Int(3, 12),
    "subsample": Float(0.5, 0.9),
    "colsample_bynode": Float(0.5, 1.0),
    "min_child_weight": Float(1.0, 20.0, log=True),
}
XGB_LINEAR = {
    "n_estimators": Int(20, 300, log=True),
    "learning_rate": Float(0.05, 1.0, log=True),
    "reg_lambda": Float(1e-4, 10.0, log=True),
    "reg_alpha": Float(1e-4, 10.0, log=True),
}
LGBM = {
    "n_estimators": Int(50, 400, log=True),
    "learning_rate": Float(0.01, 0.3, log=True),
    "num_leaves": Int(8, 128, log=True),
    "min_child_samples": Int(5, 100, log=True),
    "subsample": Float(0.5, 1.0),
    "colsample_bytree": Float(0.5, 1.0),
    "reg_lambda": Float(1e-3, 10.0, log=True),
}
