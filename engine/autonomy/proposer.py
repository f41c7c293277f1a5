"""What to try next: a UCB1 bandit over model families, Optuna (TPE, ask-and-tell)
inside each family with one study per (goal, family) kept in the database.

Rewards are the goal metric oriented so that higher is better and scaled to [0, 1]
by the range seen so far; failed trials earn 0. Untried families go first, in an
order shuffled by the goal's seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import optuna

from engine.goals.spec import GoalSpec
from engine.ml import catalog
from engine.ml.search_spaces import suggest_space

# Families never proposed by default: baselines and those needing unlabeled data.
NOT_BY_DEFAULT = {"dummy", "semi_supervised"}
EXPLORATION = math.sqrt(2)
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Proposal:
    model_id: str
    family: str
    model_params: dict[str, Any]
    reason: str
    optuna_trial: Any = field(default=None, repr=False)
    study: Any = field(default=None, repr=False)


def eligible_models(spec: GoalSpec) -> dict[str, list[str]]:
    """Family -> model ids usable for the goal (fast and medium cost models)."""
    families: dict[str, list[str]] = {}
    for model in catalog.list_models(task=spec.task):
        if spec.families and model.family not in spec.families:
            continue
        if not spec.families and model.family in NOT_BY_DEFAULT:
            continue
        if model.cost == "slow":
            continue
        families.setdefault(model.family, []).append(model.id)
    return {family: sorted(ids) for family, ids in sorted(families.items())}


def oriented(spec: GoalSpec, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value if spec.direction == ">=" else -value


class BanditProposer:
    def __init__(
        self,
        goal_id: int,
        spec: GoalSpec,
        history: list[tuple[str, float | None]],
        *,
        seed: int = 0,
        storage=None,
    ):
        self.goal_id = goal_id
        self.spec = spec
        self.models = eligible_models(spec)
        if not self.models:
            raise ValueError("no catalogue model fits this goal's task and families")
        self.seed = seed
        self.storage = storage
        self.history = list(history)  # (family, metric value or None)
        order = list(self.models)
        random.Random(seed).shuffle(order)
        self.order = order

    def _rewards(self) -> dict[str, list[float]]:
        values = [oriented(self.spec, v) for _, v in self.history]
        seen = [v for v in values if v is not None]
        low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
        span = (high - low) or 1.0
        rewards: dict[str, list[float]] = {family: [] for family in self.models}
        for (family, _), value in zip(self.history, values, strict=True):
            if family in rewards:
                rewards[family].append(0.0 if value is None else (value - low) / span)
        return rewards

    def choose_family(self) -> tuple[str, str]:
        rewards = self._rewards()
        for family in self.order:
            if not rewards[family]:
                return family, f"exploring family '{family}' (not tried yet)"
        total = sum(len(r) for r in rewards.values())

        def ucb(family: str) -> float:
            observed = rewards[family]
            return sum(observed) / len(observed) + EXPLORATION * math.sqrt(
                math.log(total) / len(observed)
            )

        best = max(self.order, key=ucb)
        mean = sum(rewards[best]) / len(rewards[best])
        return best, f"family '{best}' has the best upper confidence bound (mean reward {mean:.2f})"

    def study(self, family: str) -> optuna.Study:
        return optuna.create_study(
            study_name=f"goal-{self.goal_id}-{family}",
            storage=self.storage,
            direction="maximize" if self.spec.direction == ">=" else "minimize",
            sampler=optuna.samplers.TPESampler(
                seed=self.seed + len(self.history), n_startup_trials=3
            ),
            load_if_exists=True,
        )

    def propose(self) -> Proposal:
        family, reason = self.choose_family()
        study = self.study(family)
        trial = study.ask()
        model_id = trial.suggest_categorical("model_id", self.models[family])
        spec = catalog.get_model(model_id)
        # Parameter names are prefixed by the model so each keeps its own distribution.
        prefix = f"{model_id}::"
        raw = suggest_space(trial, {prefix + k: v for k, v in spec.search_space.items()})
        params = {name[len(prefix) :]: value for name, value in raw.items()}
        return Proposal(model_id, family, params, reason, trial, study)

    def observe(self, proposal: Proposal, value: float | None) -> None:
        self.history.append((proposal.family, value))
        if proposal.study is None or proposal.optuna_trial is None:
            return
        if value is None or not math.isfinite(value):
            proposal.study.tell(proposal.optuna_trial, state=optuna.trial.TrialState.FAIL)
        else:
            proposal.study.tell(proposal.optuna_trial, value)
