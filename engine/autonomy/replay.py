"""The goal loop replayed on the meta-tasks' scores: leave-one-type-out validation of
the whole search (portfolio, family prior, family policy), with no model trained.

``tools/build_portfolio.py evaluate`` scored every candidate configuration (the
catalogue defaults and one random configuration of every model the loop may propose)
on every meta-task. Those scores are a small search space per task, so a search can be
replayed on them: a trial is a candidate, its value the stored score, the goal the
task's top decile (:func:`engine.autonomy.portfolio.hit_matrix`).

- **the loop**: the portfolio first, then the proposer's own
  :class:`engine.autonomy.proposer.FamilyPolicy` chooses a family and the trial is a
  candidate of that family not tried yet, drawn at random (the replay's stand-in for
  TPE, which it cannot model: a family's candidates are only two per model);
- **random search**: candidates in a random order, as the benchmark's random search
  draws a model uniformly and then its parameters.

Leaving one type of target out (:data:`engine.autonomy.meta_tasks.TARGET_TYPES`), the
portfolio and the family prior are learned from the other types' tasks only, then the
search is replayed on each held-out task; the figure is loop ÷ random search, the
benchmark's ratio. ``bench/bench_portfolio_replay.py`` prints it for each variant.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.autonomy.portfolio import (
    _oriented_matrix,
    family_prior,
    hit_matrix,
    rank_matrix,
    select_portfolio,
)
from engine.autonomy.proposer import (
    DEFAULT_PRIOR,
    EXPLOIT_EVERY,
    EXPLOIT_OFFSET,
    EXPLOIT_PATIENCE,
    FamilyPolicy,
    Prior,
)


@dataclass(frozen=True)
class Variant:
    """One way of running the loop: how the portfolio is chosen, whether the family
    prior is learned from the meta-tasks (else the hand-set default), and how often the
    family of the best trial is exploited after the portfolio (0: never, UCB only)."""

    rule: str = "diverse_mean_rank"
    learned_prior: bool = True
    exploit_every: int = EXPLOIT_EVERY
    exploit_offset: int = EXPLOIT_OFFSET
    exploit_patience: int = EXPLOIT_PATIENCE

    def label(self) -> str:
        prior = "meta-task prior" if self.learned_prior else "default prior"
        exploit = (
            f"best family every {self.exploit_every} (at {self.exploit_offset}, "
            f"patience {self.exploit_patience or 'none'})"
            if self.exploit_every
            else "UCB only"
        )
        return f"{self.rule}, {prior}, {exploit}"


@dataclass(frozen=True)
class Matrices:
    values: np.ndarray  # candidates x tasks, oriented (higher is better), failures -inf
    hits: np.ndarray
    ranks: np.ndarray
    families: list[str]
    types: list[str]
    keys: list[str]


def matrices(document: Mapping[str, Any]) -> Matrices:
    """The score matrices of a ``tools/build_portfolio.py evaluate`` output."""
    from engine.autonomy.meta_tasks import TARGET_TYPES

    metrics = [t["metric"] for t in document["tasks"]]
    scores = [row[: len(metrics)] for row in document["scores"]]
    values = _oriented_matrix(scores, metrics)
    return Matrices(
        values,
        hit_matrix(values),
        rank_matrix(values),
        [c["family"] for c in document["candidates"]],
        [TARGET_TYPES[t["target"]] for t in document["tasks"]],
        [t["key"] for t in document["tasks"]],
    )


def policy_for(
    variant: Variant, families: Sequence[str], prior: Mapping[str, float], opening: int
) -> FamilyPolicy:
    """The proposer's family policy as a goal of these candidates would get it."""
    merged = {**DEFAULT_PRIOR, **prior} if variant.learned_prior else dict(DEFAULT_PRIOR)
    rank = {family: position for position, family in enumerate(DEFAULT_PRIOR)}
    order = sorted(set(families), key=lambda f: (-merged.get(f, 0.0), rank.get(f, len(rank)), f))
    return FamilyPolicy(
        order=order,
        prior=Prior(merged),
        opening=opening,
        exploit_every=variant.exploit_every,
        exploit_offset=variant.exploit_offset,
        exploit_patience=variant.exploit_patience,
    )


def replay_loop(
    values: np.ndarray,
    hits: np.ndarray,
    families: Sequence[str],
    portfolio: Sequence[int],
    policy: FamilyPolicy,
    rng: random.Random,
    budget: int,
) -> int:
    """Trials the loop needs to reach a hit on one task (``values``, ``hits``: that
    task's column); budget + 1 when it does not."""
    history: list[tuple[str, float | None]] = []
    untried: dict[str, list[int]] = {}
    for candidate, family in enumerate(families):
        if candidate not in portfolio:
            untried.setdefault(family, []).append(candidate)
    for n in range(1, budget + 1):
        if n <= len(portfolio):
            candidate = portfolio[n - 1]
        else:
            open_families = [f for f, left in untried.items() if left]
            if not open_families:
                break
            family, _ = policy.choose(history, allowed=open_families)
            left = untried[family]
            candidate = left.pop(rng.randrange(len(left)))
        value = float(values[candidate])
        history.append((families[candidate], value if np.isfinite(value) else None))
        if hits[candidate]:
            return n
    return budget + 1


def replay_random(hits: np.ndarray, rng: random.Random, budget: int) -> int:
    order = list(range(len(hits)))
    rng.shuffle(order)
    return next((n for n, c in enumerate(order[:budget], 1) if hits[c]), budget + 1)


def leave_one_type_out(
    m: Matrices, variant: Variant, seeds: int = 25, budget: int = 40
) -> list[dict[str, Any]]:
    """Per task: loop and random-search trials to the top decile (medians over
    ``seeds``), with the portfolio and the family prior learned without the task's type
    of target (:func:`training_columns`)."""
    return leave_one_group_out(m, variant, m.types, seeds, budget)


def leave_one_group_out(
    m: Matrices, variant: Variant, groups: Sequence[str], seeds: int = 25, budget: int = 40
) -> list[dict[str, Any]]:
    """:func:`leave_one_type_out` for any grouping of the tasks (e.g. by symbol)."""
    out = []
    for held in sorted(set(groups)):
        train = training_columns(groups, held)
        if not train:
            return []
        portfolio = select_portfolio(m.ranks[:, train], rule=variant.rule, families=m.families)
        prior = family_prior(m.ranks[:, train], m.families)
        policy = policy_for(variant, m.families, prior, len(portfolio))
        for task in (i for i, g in enumerate(groups) if g == held):
            loop = [
                replay_loop(
                    m.values[:, task],
                    m.hits[:, task],
                    m.families,
                    portfolio,
                    policy,
                    random.Random(seed),
                    budget,
                )
                for seed in range(seeds)
            ]
            rand = [
                replay_random(m.hits[:, task], random.Random(10_000 + seed), budget)
                for seed in range(seeds)
            ]
            out.append(
                {
                    "task": m.keys[task],
                    "type": m.types[task],
                    "loop": statistics.median(loop),
                    "random": statistics.median(rand),
                    "ratio": statistics.median(loop) / statistics.median(rand),
                }
            )
    return out


def training_columns(groups: Sequence[str], held: str) -> list[int]:
    """The tasks a portfolio validated on group ``held`` may learn from."""
    return [i for i, g in enumerate(groups) if g != held]
