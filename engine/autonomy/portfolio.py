"""The configurations a goal's loop tries first, learned offline from other tasks.

A zero-shot portfolio in the manner of auto-sklearn 2.0 (Feurer et al. 2022) and
TabRepo (Salinas & Erickson 2024): candidate configurations — catalogue defaults and
random configurations of every model — are scored on a set of meta-tasks
(:mod:`engine.autonomy.meta_tasks`, built from bundled stocks by
``tools/build_portfolio.py``), and an ordered list is chosen greedily so that each
entry reaches a *good* score on as many meta-tasks as possible that the entries before
it did not, and then raises the portfolio's best score on them the most. "Good" is the
goal semantics of this app: a threshold, here the :data:`QUANTILE`-th percentile of all
candidates on that task, so the portfolio minimises how many trials a threshold goal
needs rather than a mean score.

The chosen portfolio is shipped as ``portfolio.json`` beside this module, with the
raw scores it came from, and read once per process.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.ml.params import LOWER_IS_BETTER

PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")
QUANTILE = 90
MAX_SIZE = 6


@dataclass(frozen=True)
class PortfolioEntry:
    model_id: str
    family: str
    kind: str  # defaults | random
    params: dict[str, Any]  # as Optuna stores them (repr strings for tuple choices)
    hits: int  # meta-tasks where it scored at or above the task's threshold
    tasks: int
    mean_rank: float

    def describe(self) -> str:
        what = "catalogue defaults" if self.kind == "defaults" else "a tuned configuration"
        return (
            f"{what} of {self.model_id}, good on {self.hits} of {self.tasks} "
            f"meta-tasks (mean rank {self.mean_rank:.2f})"
        )


def _oriented_matrix(scores: Sequence[Sequence[float | None]], metrics: Sequence[str]):
    """candidates x tasks, higher is better, failures -inf."""
    matrix = np.array(
        [[-math.inf if v is None or not math.isfinite(v) else v for v in row] for row in scores],
        dtype=float,
    )
    signs = np.array([-1.0 if m in LOWER_IS_BETTER else 1.0 for m in metrics])
    return matrix * signs


def hit_matrix(matrix: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """Which candidates score at or above each task's ``quantile``-th percentile (a
    failure counts as the task's worst finite score)."""
    filled = matrix.copy()
    for task in range(matrix.shape[1]):
        column = filled[:, task]
        finite = column[np.isfinite(column)]
        column[~np.isfinite(column)] = finite.min() if finite.size else 0.0
    thresholds = np.percentile(filled, quantile, axis=0)
    return np.isfinite(matrix) & (matrix >= thresholds)


def rank_matrix(matrix: np.ndarray) -> np.ndarray:
    """Per task, the fraction of other candidates each one beats (ties half)."""
    n = matrix.shape[0]
    ranks = np.empty_like(matrix)
    for task in range(matrix.shape[1]):
        column = matrix[:, task]
        below = (column[:, None] > column[None, :]).sum(axis=1)
        ties = (column[:, None] == column[None, :]).sum(axis=1) - 1
        ranks[:, task] = (below + ties / 2) / max(n - 1, 1)
    return ranks


def select_portfolio(hits: np.ndarray, ranks: np.ndarray, size: int = MAX_SIZE) -> list[int]:
    """Greedy: each next candidate is the one that makes the most tasks not hit yet
    reach their threshold; among equals (and once every task is hit), the one that
    raises the portfolio's best rank on each task the most (the sum over tasks, as in
    auto-sklearn 2.0's greedy portfolio). A candidate adding neither — a near copy of
    an entry already chosen — never enters; selection stops there or at ``size``."""
    chosen: list[int] = []
    uncovered = np.ones(hits.shape[1], dtype=bool)
    best = np.zeros(hits.shape[1])
    while len(chosen) < size:
        new_hits = (hits & uncovered).sum(axis=1)
        rank_gain = np.clip(ranks - best, 0.0, None).sum(axis=1)
        new_hits[chosen] = 0
        rank_gain[chosen] = 0.0
        top = np.flatnonzero(new_hits == new_hits.max())
        candidate = int(top[np.argmax(rank_gain[top])])
        if new_hits[candidate] == 0 and rank_gain[candidate] <= 1e-9:
            break
        chosen.append(candidate)
        uncovered &= ~hits[candidate]
        best = np.maximum(best, ranks[candidate])
    return chosen


def portfolio_document(score_documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``portfolio.json`` from ``tools/build_portfolio.py evaluate`` outputs."""
    portfolios: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, list[str]] = {}
    for document in score_documents:
        metrics = [t["metric"] for t in document["tasks"]]
        n_tasks = len(metrics)
        scores = [row[:n_tasks] for row in document["scores"]]
        matrix = _oriented_matrix(scores, metrics)
        hits, ranks = hit_matrix(matrix), rank_matrix(matrix)
        entries = []
        for index in select_portfolio(hits, ranks):
            candidate = document["candidates"][index]
            entries.append(
                {
                    **candidate,
                    "hits": int(hits[index].sum()),
                    "tasks": n_tasks,
                    "mean_rank": round(float(ranks[index].mean()), 4),
                }
            )
        portfolios[document["task_type"]] = entries
        tasks[document["task_type"]] = [t["key"] for t in document["tasks"]]
    return {
        "built_by": "tools/build_portfolio.py",
        "quantile": QUANTILE,
        "meta_tasks": tasks,
        "portfolios": portfolios,
    }


@lru_cache(maxsize=1)
def _shipped() -> dict[str, tuple[PortfolioEntry, ...]]:
    if not PORTFOLIO_FILE.exists():
        return {}
    document = json.loads(PORTFOLIO_FILE.read_text())
    fields = PortfolioEntry.__dataclass_fields__
    return {
        task: tuple(PortfolioEntry(**{k: v for k, v in e.items() if k in fields}) for e in rows)
        for task, rows in document["portfolios"].items()
    }


def portfolio_for(task: str, models: Mapping[str, Sequence[str]]) -> list[PortfolioEntry]:
    """The shipped portfolio of the task type, without models the goal cannot use
    (``models``: family -> eligible model ids)."""
    return [
        entry
        for entry in _shipped().get(task, ())
        if entry.model_id in models.get(entry.family, ())
    ]
