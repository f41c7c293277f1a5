"""Estimates of what a run will cost, before it starts, from what earlier runs cost.

**Model evaluations** (train_model, compare_models, tune_model, each trial of a goal
loop) are estimated per model family with a log-linear cost model fitted on the family's
recorded evaluations (``cost_records``: CPU seconds with rows, feature columns and
folds)::

    log cpu = b0 + b1 log(rows / 2000) + b2 log(cols / 30) + b3 log((folds + 1) / 6)

fitted as a Bayesian ridge regression around a stated prior: b1 = b2 = b3 = 0.7 and
exp(b0) = the CPU seconds of the family's catalogue cost class at 2,000 rows × 30
features × 5 folds (fast 0.2 s, medium 2 s, slow 20 s: measured fits of the
catalogue on one core, bench/bench_estimates.py), worth ``PRIOR_WEIGHT`` records.
With few records the prior dominates; by ``PRIOR_RECORDS`` recorded evaluations of a
family the data does (bench/bench_estimates.py measures the error). Wall time is the CPU
estimate times the family's median wall/CPU ratio (prior 1.15). The 80 % range comes from
the residual spread of the fit.

**Other long actions** (backtests, ...) are estimated from the CPU and wall seconds of
their recorded jobs (geometric mean, shrunk towards a stated 2-second prior).

**Claude** (a chat turn, a proposal of the goal loop) is estimated in tokens from the
recorded requests (mean of the latest, with a stated prior) and priced from
``prices.toml``.

Domain packages register the estimator of their actions with :func:`estimator`; this
module imports no domain package.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    from pydantic import BaseModel

    from engine.actions.context import UserRef
    from storage.repositories.usage import CostRow

PRIOR_RECORDS = 20
PRIOR_WEIGHT = 2.0
PRIOR_EXPONENT = 0.7
PRIOR_SIGMA = 0.6  # log-scale spread of the prior: about ×1.8 either way
# CPU seconds of one evaluation (5 folds + the final fit) at 2,000 rows × 30 features,
# by the catalogue's cost class (engine/ml/catalog_spec.py: one fit fast < ~1 s,
# medium ~1-10 s, slow > 10 s).
PRIOR_CLASS_SECONDS = {"fast": 0.2, "medium": 2.0, "slow": 20.0}
PRIOR_WALL_PER_CPU = 1.15
REFERENCE = (2000.0, 30.0, 6.0)  # rows, cols, fits of the prior's intercept
PRIOR_JOB_SECONDS = 2.0
Z80 = 1.2816  # the 80 % range of a normal

# Claude tokens per request when nothing is recorded yet: a chat turn carries the
# system prompt and every tool schema (tens of thousands of input tokens).
PRIOR_CHAT_TOKENS = (20_000, 800)
PRIOR_PROPOSER_TOKENS = (4_000, 300)
PRIOR_TOKEN_WEIGHT = 3


@dataclass
class Estimate:
    """What a run is expected to cost. ``upper_bound``: the figure is a ceiling (a goal
    loop that may stop early), informative rather than a reason to ask first."""

    action: str
    cpu_seconds: float
    wall_seconds: float
    cpu_low: float
    cpu_high: float
    tokens: int = 0
    dollars: float = 0.0
    records: int = 0
    basis: str = ""
    upper_bound: bool = False
    parts: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"{'at most ' if self.upper_bound else '~'}{format_duration(self.wall_seconds)} wall, "
            f"{format_duration(self.cpu_seconds)} CPU"
        )
        if self.cpu_high > self.cpu_low > 0 and not self.upper_bound:
            low, high = format_duration(self.cpu_low), format_duration(self.cpu_high)
            text += f" (80 % range {low}–{high})"
        if self.tokens:
            text += f", ~{self.tokens:,} Claude tokens (${self.dollars:,.2f})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "cpu_low": self.cpu_low,
            "cpu_high": self.cpu_high,
            "tokens": self.tokens,
            "dollars": self.dollars,
            "records": self.records,
            "basis": self.basis,
            "upper_bound": self.upper_bound,
            "parts": self.parts,
            "text": self.describe(),
        }


def format_duration(seconds: float) -> str:
    """Seconds as people read them: 0.25 s, 40 s, 3.5 min, 2.1 h."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# --- the log-linear cost model --------------------------------------------------------------


def features(rows: float, cols: float, folds: float) -> np.ndarray:
    r0, c0, f0 = REFERENCE
    return np.array(
        [1.0, math.log(max(rows, 1) / r0), math.log(max(cols, 1) / c0), math.log((folds + 1) / f0)]
    )


@dataclass(frozen=True)
class CostModel:
    """A fitted model of one family's CPU seconds (see the module's docstring)."""

    family: str
    coef: tuple[float, ...]
    sigma: float
    records: int
    wall_per_cpu: float
    prior_seconds: float

    @classmethod
    def fit(
        cls,
        family: str,
        history: Sequence[CostRow],
        prior_seconds: float,
    ) -> CostModel:
        prior = np.array([math.log(prior_seconds), PRIOR_EXPONENT, PRIOR_EXPONENT, PRIOR_EXPONENT])
        # the intercept is learnt quickly (it is where families differ most); the
        # exponents need records at several sizes to move
        precision = PRIOR_WEIGHT * np.diag([0.25, 1.0, 1.0, 1.0])
        usable = [h for h in history if h.cpu_seconds > 0 and h.rows > 0 and h.cols > 0]
        if not usable:
            return cls(family, tuple(prior), PRIOR_SIGMA, 0, PRIOR_WALL_PER_CPU, prior_seconds)
        x = np.array([features(h.rows, h.cols, h.folds) for h in usable])
        y = np.log([h.cpu_seconds for h in usable])
        coef = np.linalg.solve(x.T @ x + precision, x.T @ y + precision @ prior)
        residuals = y - x @ coef
        n = len(usable)
        sigma = math.sqrt(
            (float(residuals @ residuals) + PRIOR_WEIGHT * PRIOR_SIGMA**2) / (n + PRIOR_WEIGHT)
        )
        ratios = [h.wall_seconds / h.cpu_seconds for h in usable if h.wall_seconds > 0]
        if len(ratios) >= 3:
            wall_per_cpu = max(statistics.median(ratios), 1.0)
        else:
            wall_per_cpu = PRIOR_WALL_PER_CPU
        return cls(family, tuple(float(c) for c in coef), sigma, n, wall_per_cpu, prior_seconds)

    def predict(self, rows: float, cols: float, folds: float) -> tuple[float, float, float]:
        """(median, low, high) CPU seconds of one evaluation."""
        log_cpu = float(np.dot(self.coef, features(rows, cols, folds)))
        spread = Z80 * self.sigma
        return math.exp(log_cpu), math.exp(log_cpu - spread), math.exp(log_cpu + spread)

    @property
    def basis(self) -> str:
        if self.records >= PRIOR_RECORDS:
            return f"fitted on {self.records} recorded evaluations of family '{self.family}'"
        return (
            f"{self.records} recorded evaluation(s) of family '{self.family}' (fewer than "
            f"{PRIOR_RECORDS}: leaning on the prior of {self.prior_seconds:g} CPU-s at "
            "2,000 rows × 30 columns × 5 folds, exponent 0.7)"
        )


def family_model(family: str, cost_class: str = "fast", limit: int = 500) -> CostModel:
    """The cost model of ``family`` fitted on its latest ``limit`` recorded evaluations."""
    from storage.repositories.usage import cost_history

    prior = PRIOR_CLASS_SECONDS.get(cost_class, PRIOR_CLASS_SECONDS["medium"])
    return CostModel.fit(family, cost_history(family, limit=limit), prior)


def evaluation_estimate(
    action: str,
    evaluations: Sequence[tuple[str, str, float]],
    rows: int,
    cols: int,
    folds: int,
) -> Estimate:
    """The cost of ``evaluations`` — (family, cost class, how many) — each on ``rows`` ×
    ``cols`` with ``folds`` folds (plus the final fit)."""
    cpu = low = high = wall = 0.0
    parts = []
    records = []
    bases = []
    models: dict[tuple[str, str], CostModel] = {}
    for family, cost_class, count in evaluations:
        model = models.get((family, cost_class)) or family_model(family, cost_class)
        models[(family, cost_class)] = model
        mid, lo, hi = model.predict(rows, cols, folds)
        cpu += count * mid
        low += count * lo
        high += count * hi
        wall += count * mid * model.wall_per_cpu
        parts.append(
            {
                "family": family,
                "evaluations": count,
                "cpu_seconds_each": mid,
                "records": model.records,
            }
        )
        records.append(model.records)
        if model.basis not in bases:
            bases.append(model.basis)
    return Estimate(
        action,
        cpu,
        wall,
        low,
        high,
        records=min(records) if records else 0,
        basis=f"{rows:,} rows × {cols:,} columns, {folds} folds; " + "; ".join(bases),
        parts=parts,
    )


def job_estimate(action: str) -> Estimate:
    """From the recorded jobs of ``action`` (geometric mean, shrunk to the prior)."""
    from storage.repositories.usage import job_costs

    history = [(c, w) for c, w in job_costs(action) if c > 0]
    n = len(history)
    prior = math.log(PRIOR_JOB_SECONDS)
    logs = [math.log(c) for c, _ in history]
    mean = (sum(logs) + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)
    spread = math.sqrt(
        (sum((v - mean) ** 2 for v in logs) + PRIOR_WEIGHT * PRIOR_SIGMA**2) / (n + PRIOR_WEIGHT)
    )
    ratios = [w / c for c, w in history if w > 0]
    wall_per_cpu = max(statistics.median(ratios), 1.0) if len(ratios) >= 3 else PRIOR_WALL_PER_CPU
    cpu = math.exp(mean)
    basis = f"{n} recorded run(s) of {action}" + (
        "" if n >= PRIOR_RECORDS else f" with a prior of {PRIOR_JOB_SECONDS:g} CPU-s"
    )
    return Estimate(
        action,
        cpu,
        cpu * wall_per_cpu,
        math.exp(mean - Z80 * spread),
        math.exp(mean + Z80 * spread),
        records=n,
        basis=basis,
    )


# --- Claude ---------------------------------------------------------------------------------


def _token_mean(history: list[tuple[int, int]], prior: tuple[int, int]) -> tuple[float, float]:
    n = len(history)
    weight = PRIOR_TOKEN_WEIGHT
    inputs = (sum(i for i, _ in history) + weight * prior[0]) / (n + weight)
    outputs = (sum(o for _, o in history) + weight * prior[1]) / (n + weight)
    return inputs, outputs


def claude_estimate(
    what: str, model: str, history: list[tuple[int, int]], prior: tuple[int, int], count: int = 1
) -> Estimate:
    """Tokens and dollars of ``count`` Claude requests like the recorded ``history``."""
    from engine.usage.prices import price_for

    inputs, outputs = _token_mean(history, prior)
    dollars = count * price_for(model).dollars(int(inputs), int(outputs))
    return Estimate(
        what,
        0.0,
        0.0,
        0.0,
        0.0,
        tokens=int(round(count * (inputs + outputs))),
        dollars=dollars,
        records=len(history),
        basis=(
            f"mean of {len(history)} recorded {what} request(s) with a prior of "
            f"{prior[0]:,} input + {prior[1]:,} output tokens worth {PRIOR_TOKEN_WEIGHT}; "
            f"priced for {model} from engine/usage/prices.toml"
        ),
    )


def chat_turn_estimate(user_id: int | None, model: str) -> Estimate:
    """One Claude chat turn of this user (their recorded turns; everyone's before)."""
    from storage.repositories.usage import chat_turn_tokens

    history = chat_turn_tokens(user_id) or chat_turn_tokens(None)
    return claude_estimate("chat turn", model, history, PRIOR_CHAT_TOKENS)


def proposer_estimate(model: str, proposals: int) -> Estimate:
    from storage.repositories.usage import llm_requests

    return claude_estimate(
        "proposer", model, llm_requests("proposer"), PRIOR_PROPOSER_TOKENS, count=proposals
    )


# --- estimators of actions ------------------------------------------------------------------

Estimator = Callable[["BaseModel", "UserRef", "int | None"], Estimate]
_ESTIMATORS: dict[str, Estimator] = {}
P = TypeVar("P", bound="BaseModel")


def estimator(
    *actions: str,
) -> Callable[
    [Callable[[P, UserRef, int | None], Estimate]], Callable[[P, UserRef, int | None], Estimate]
]:
    """Register the estimator of ``actions``; it is called with the action's own validated
    parameter model (so the stored, ``BaseModel``-typed function only ever gets one)."""

    def decorator(
        function: Callable[[P, UserRef, int | None], Estimate],
    ) -> Callable[[P, UserRef, int | None], Estimate]:
        for name in actions:
            _ESTIMATORS[name] = cast(Estimator, function)
        return function

    return decorator


def estimate_call(
    action: str,
    params: dict[str, Any] | BaseModel | None,
    user: UserRef,
    *,
    goal_id: int | None = None,
) -> Estimate:
    """The estimate of running ``action`` with ``params`` (validated like a call)."""
    from engine.actions.dispatch import resolve_action, validate_params

    definition = resolve_action(action)
    validated = validate_params(definition, params)
    function = _ESTIMATORS.get(definition.name)
    if function is not None:
        return function(validated, user, goal_id)
    return job_estimate(definition.name)


def estimate_for(
    action: str,
    params: dict[str, Any] | BaseModel | None,
    user: UserRef,
    *,
    goal_id: int | None = None,
) -> Estimate:
    """:func:`estimate_call` for a caller (forms, the CLI's ``--estimate``, the chat):
    the user must be allowed to run the action and to read the data it names, checked
    here as ``engine.actions.call`` would."""
    from engine.actions.dispatch import require_visible_datasets, resolve_action, validate_params
    from engine.auth import permissions
    from engine.auth.permissions import Resource

    definition = resolve_action(action)
    permissions.require(user, "run", Resource.action(definition.name, definition.min_role))
    validated = validate_params(definition, params)
    require_visible_datasets(user, validated)
    return estimate_call(definition.name, validated, user, goal_id=goal_id)
