"""Which rule builds each task type's portfolio: the one whose portfolios, learned
without a stock or without a type of target, reach the held-out tasks' top decile soonest.

The benchmark (``bench/bench_autonomy.py --pool 150``) asks how many trials the loop
needs to reach random search's top decile on a task it has not seen; random search
needs 7 (median, 10 % hit rate), so the loop meets "half of random search" on a task
when its first hit comes by trial :data:`EARLY`. The choice asks the same question of
the meta-tasks' stored scores (``tools/build_portfolio.py evaluate``): leaving out each
stock, and each type of target, in turn, every rule of :data:`CHOICE_RULES` builds a
portfolio from the other meta-tasks, and the position of its first entry at or above
each held-out task's threshold — the 90th percentile of that task's *random*
configurations (:func:`benchmark_hits`), the benchmark's threshold — is read off the
scores. The rule with the most held-out tasks hit by trial :data:`EARLY`, averaged over
the two ways of leaving out, wins (:func:`choose`). Held-out sets 6 and 7
(``bench/heldout_tasks_6.json``, ``_7.json``) ask it of new stocks by real training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.autonomy.portfolio import (
    MAX_SIZE,
    MISS,
    QUANTILE,
    coverage_portfolio,
    hit_matrix,
    select_portfolio,
)

EARLY = 3  # a first hit by trial 3 is 3/7 ≤ 0.5 of random search's median
# Greedy maximum coverage of the benchmark's hits (one entry per family, or any), and
# the rank rules of :func:`engine.autonomy.portfolio.select_portfolio`.
COVERAGE_RULES = ("coverage_diverse", "coverage_any")
RANK_RULES = (
    "best_rank",
    "diverse_best_rank",
    "mean_rank",
    "diverse_mean_rank",
    "cover_diverse_mean_rank",
    "complete_diverse_mean_rank",
)
CHOICE_RULES = COVERAGE_RULES + RANK_RULES


def benchmark_hits(matrix: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """candidates x tasks (``matrix`` oriented, higher is better, failures -inf): at or
    above the :data:`QUANTILE`-th percentile of the task's random configurations
    (``kinds``: each candidate's ``defaults`` | ``random``), a failure counting as the
    task's worst value — random search's top decile, as the benchmark's pool gives it."""
    random_rows = [i for i, kind in enumerate(kinds) if kind == "random"]
    return hit_matrix(matrix, QUANTILE, random_rows)


def portfolio_by(
    rule: str, hits: np.ndarray, ranks: np.ndarray, families: Sequence[str]
) -> list[int]:
    """The portfolio (candidate indices in trial order) of ``rule`` from training tasks'
    ``hits`` and ``ranks`` (candidates x tasks)."""
    if rule == "coverage_diverse":
        return coverage_portfolio(hits.astype(float), families)
    if rule == "coverage_any":
        return coverage_portfolio(hits.astype(float), [str(i) for i in range(len(families))])
    return select_portfolio(ranks, size=MAX_SIZE, rule=rule, families=families)


def first_hits_leaving_groups_out(
    rule: str,
    hits: np.ndarray,
    ranks: np.ndarray,
    families: Sequence[str],
    groups: Sequence[str],
) -> list[int]:
    """Per task (column order): the position of the first entry at or above its
    threshold of the portfolio ``rule`` builds without the task's group (a stock, or a
    type of target); :data:`MISS` when none is."""
    positions = [0] * len(groups)
    for held in sorted(set(groups)):
        train = [i for i, g in enumerate(groups) if g != held]
        order = portfolio_by(rule, hits[:, train], ranks[:, train], families)
        for task in (i for i, g in enumerate(groups) if g == held):
            positions[task] = next((k + 1 for k, c in enumerate(order) if hits[c, task]), MISS)
    return positions


def early_share(positions: Sequence[int]) -> float:
    return float(np.mean([p <= EARLY for p in positions])) if positions else 0.0


def choose(by_symbol: Mapping[str, Sequence[int]], by_type: Mapping[str, Sequence[int]]) -> str:
    """The rule with the largest share of held-out tasks hit by trial :data:`EARLY`,
    averaged over leaving a stock out and leaving a type of target out (a new stock and
    a new question); ties: the lower mean first hit, then the earlier of
    :data:`CHOICE_RULES`."""

    def key(rule: str) -> tuple[float, float, int]:
        share = (early_share(by_symbol[rule]) + early_share(by_type[rule])) / 2
        mean = (float(np.mean(by_symbol[rule])) + float(np.mean(by_type[rule]))) / 2
        return (-share, mean, CHOICE_RULES.index(rule))

    return min(by_symbol, key=key)


def choice_record(
    document: Mapping[str, Any], matrix: np.ndarray, ranks: np.ndarray
) -> dict[str, Any]:
    """The choice for one task type's scores (``document``: an ``evaluate`` output;
    ``matrix`` and ``ranks`` its oriented scores and ranks): every rule's first hits
    leaving each stock and each type of target out, the winner, and its portfolio built
    from every task."""
    from engine.autonomy.meta_tasks import TARGET_TYPES

    candidates = document["candidates"]
    families = [c["family"] for c in candidates]
    hits = benchmark_hits(matrix, [c["kind"] for c in candidates])
    first_hits: dict[str, dict[str, list[int]]] = {}
    for left_out, field in (("symbol", "symbol"), ("target type", "target")):

        def group(task: Mapping[str, Any], field: str = field) -> str:
            return task[field] if field == "symbol" else TARGET_TYPES[task[field]]

        groups = [group(t) for t in document["tasks"]]
        first_hits[left_out] = {
            rule: first_hits_leaving_groups_out(rule, hits, ranks, families, groups)
            for rule in CHOICE_RULES
        }
    rule = choose(first_hits["symbol"], first_hits["target type"])
    return {
        "rule": rule,
        "order": portfolio_by(rule, hits, ranks, families),
        "hits": hits,
        "first_hit_leave_one_out": first_hits,
        "hit_by_trial_3_leave_one_out": {
            left_out: {r: round(early_share(p), 4) for r, p in rules.items()}
            for left_out, rules in first_hits.items()
        },
    }
