"""The configurations a goal's loop tries first, learned offline from other tasks.

A zero-shot portfolio in the manner of auto-sklearn 2.0 (Feurer et al. 2022) and
TabRepo (Salinas & Erickson 2024): candidate configurations — catalogue defaults and
random configurations of every model — are scored on a set of meta-tasks
(:mod:`engine.autonomy.meta_tasks`, built from bundled stocks by
``tools/build_portfolio.py``), and the portfolio is the candidates with the best mean
rank over those tasks, near copies left out (:func:`select_portfolio`).

How to choose was decided by leaving one symbol out (:func:`first_hits_held_out`): a
greedy set cover — each entry reaching the top decile on the most tasks the earlier
entries missed, the classic rule for threshold goals — needed 4.9 trials on average to
reach the top decile of a held-out symbol's classification task; the mean-rank order
needed 3.0 (2.9 and 2.9 on regression). With a few meta-tasks a cover chases the
specialists of one task; generalists carry over to a symbol not seen.

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
COPY_TOLERANCE = 0.05
MISS = MAX_SIZE + 10  # a held-out task no entry reaches: the portfolio, then ~10 more


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
    from scipy.stats import rankdata  # scipy.stats costs ~0.6 s; only the loop needs it

    return (rankdata(matrix, method="average", axis=0) - 1) / max(matrix.shape[0] - 1, 1)


def select_portfolio(ranks: np.ndarray, size: int = MAX_SIZE) -> list[int]:
    """Generalists first: candidates by their mean rank over the meta-tasks, skipping a
    near copy of one already chosen (ranks within :data:`COPY_TOLERANCE` on every task,
    e.g. a wrapper around the same model), up to ``size``."""
    chosen: list[int] = []
    for candidate in np.argsort(-ranks.mean(axis=1), kind="stable"):
        if any(np.abs(ranks[candidate] - ranks[c]).max() < COPY_TOLERANCE for c in chosen):
            continue
        chosen.append(int(candidate))
        if len(chosen) == size:
            break
    return chosen


def first_hits_held_out(hits: np.ndarray, ranks: np.ndarray, symbols: Sequence[str]) -> list[int]:
    """Leave one symbol out: the portfolio chosen from the other symbols' tasks, and the
    position of its first entry that reaches each held-out task's threshold
    (:data:`MISS` when none does). How the selection rule was chosen, and a check that
    it generalises to a symbol it has not seen."""
    positions = []
    for symbol in sorted(set(symbols)):
        train = [i for i, s in enumerate(symbols) if s != symbol]
        order = select_portfolio(ranks[:, train])
        for task in (i for i, s in enumerate(symbols) if s == symbol):
            first = next((k + 1 for k, c in enumerate(order) if hits[c, task]), MISS)
            positions.append(first)
    return positions


def portfolio_document(score_documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``portfolio.json`` from ``tools/build_portfolio.py evaluate`` outputs."""
    portfolios: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, list[str]] = {}
    held_out: dict[str, list[int]] = {}
    for document in score_documents:
        metrics = [t["metric"] for t in document["tasks"]]
        n_tasks = len(metrics)
        scores = [row[:n_tasks] for row in document["scores"]]
        matrix = _oriented_matrix(scores, metrics)
        hits, ranks = hit_matrix(matrix), rank_matrix(matrix)
        entries = []
        for index in select_portfolio(ranks):
            candidate = document["candidates"][index]
            entries.append(
                {
                    **candidate,
                    "hits": int(hits[index].sum()),
                    "tasks": n_tasks,
                    "mean_rank": round(float(ranks[index].mean()), 4),
                }
            )
        symbols = [t["symbol"] for t in document["tasks"]]
        held_out[document["task_type"]] = first_hits_held_out(hits, ranks, symbols)
        portfolios[document["task_type"]] = entries
        tasks[document["task_type"]] = [t["key"] for t in document["tasks"]]
    return {
        "built_by": "tools/build_portfolio.py",
        "quantile": QUANTILE,
        "meta_tasks": tasks,
        "first_hit_leave_one_symbol_out": held_out,
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
