"""The configurations a goal's loop tries first, learned offline from other tasks.

A zero-shot portfolio in the manner of auto-sklearn 2.0 (Feurer et al. 2022) and
TabRepo (Salinas & Erickson 2024): candidate configurations — catalogue defaults and
random configurations of every model — are scored on a set of meta-tasks
(:mod:`engine.autonomy.meta_tasks`, built from bundled stocks by
``tools/build_portfolio.py``), and the portfolio is an ordered list of them chosen by
one of :data:`RULES` (:func:`select_portfolio`), near copies left out. Beside it each
task type ships a *family prior* (:func:`family_prior`): each model family's mean rank
over the meta-tasks, which replaces the proposer's hand-set prior, so after the
portfolio the bandit starts from the families that did well on financial targets.

The rules: rank rules (:data:`RULES`, :func:`select_portfolio`) and greedy maximum
coverage of the tasks' top deciles (:func:`coverage_portfolio`). Which one
builds each task type's portfolio is chosen by leaving one stock out and one type of
target out (:mod:`engine.autonomy.portfolio_choice`): the rule whose portfolios reach
the held-out tasks' top decile of random configurations by trial 3 most often.

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


def hit_matrix(
    matrix: np.ndarray, quantile: float = QUANTILE, reference_rows: Sequence[int] | None = None
) -> np.ndarray:
    """Which candidates score at or above each task's ``quantile``-th percentile — of
    every candidate, or of ``reference_rows`` only (the random configurations: random
    search's top decile) — a failure counting as the task's worst finite score."""
    filled = matrix.copy()
    for task in range(matrix.shape[1]):
        column = filled[:, task]
        finite = column[np.isfinite(column)]
        column[~np.isfinite(column)] = finite.min() if finite.size else 0.0
    reference = filled if reference_rows is None else filled[list(reference_rows)]
    thresholds = np.percentile(reference, quantile, axis=0)
    return np.isfinite(matrix) & (matrix >= thresholds)


def rank_matrix(matrix: np.ndarray) -> np.ndarray:
    """Per task, the fraction of other candidates each one beats (ties half)."""
    from scipy.stats import rankdata  # scipy.stats costs ~0.6 s; only the loop needs it

    return (rankdata(matrix, method="average", axis=0) - 1) / max(matrix.shape[0] - 1, 1)


def family_prior(ranks: np.ndarray, families: Sequence[str]) -> dict[str, float]:
    """Each family's mean rank over the candidates of it and the tasks (``ranks``:
    candidates x tasks): the expected reward of a trial in the family, in the unit the
    bandit's rewards and priors use. Shipped beside the portfolio, it replaces the
    hand-set prior of the proposer for the task type."""
    out: dict[str, float] = {}
    for family in sorted(set(families)):
        rows = [i for i, f in enumerate(families) if f == family]
        out[family] = round(float(ranks[rows].mean()), 4)
    return out


def select_portfolio(
    ranks: np.ndarray,
    size: int = MAX_SIZE,
    rule: str = "mean_rank",
    families: Sequence[str] | None = None,
) -> list[int]:
    """Up to ``size`` candidates (rows of ``ranks``, candidates x tasks) in the order the
    loop tries them, by one of :data:`RULES`:

    - ``mean_rank``: generalists first, by their mean rank over the meta-tasks;
    - ``best_rank``: greedy on the portfolio's best-so-far, as auto-sklearn 2.0 and
      TabRepo build theirs: each entry raises the mean over tasks of the best rank any
      chosen entry reaches the most (an entry good where the earlier ones are weak wins);
    - ``diverse_mean_rank`` / ``diverse_best_rank``: the same, but no family twice until
      every family with a candidate has one entry (``families``: the family of each
      candidate), so an unseen kind of task finds its family among the first trials;
    - ``interleaved_mean_rank`` / ``interleaved_best_rank``: families interleaved — the
      1st, 3rd, 5th... entry is the rule's best candidate of any family, the 2nd, 4th...
      the best of a family not yet in the portfolio — so a family that wins on most
      meta-tasks gets several early entries and the others still a representative.

    - ``cover_<rule>``: first a set cover of the meta-tasks' top deciles — greedily, the
      candidate in the top decile (:data:`QUANTILE`) of the most meta-tasks no entry
      covers yet (ties: the better mean rank), until every meta-task some candidate
      reaches has an entry in its top decile or the portfolio is full — then the rest
      filled by ``<rule>`` (its families and best-so-far counting the cover's entries).
      A task like one of the meta-tasks then finds that meta-task's winner in the
      portfolio, which a rule of averages can leave out (:func:`covers_every_task`);
    - ``complete_<rule>``: ``<rule>``'s own order kept as long as possible — its first
      entries, as many as still leave room for a set cover of the meta-tasks they miss
      (greedy, as above), then that cover, then ``<rule>`` again for any room left.

    A near copy of an entry already chosen (ranks within :data:`COPY_TOLERANCE` on every
    task, e.g. a wrapper around the same model) is always skipped.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule}")
    if rule.startswith("cover_"):
        return _fill(ranks, size, rule.removeprefix("cover_"), families, cover_tasks(ranks, size))
    if rule.startswith("complete_"):
        base = rule.removeprefix("complete_")
        order = _fill(ranks, size, base, families, [])
        for keep in range(len(order), -1, -1):
            chosen = cover_tasks(ranks, size, start=order[:keep])
            if covers_every_task(ranks, chosen):
                return _fill(ranks, size, base, families, chosen)
        return _fill(ranks, size, base, families, cover_tasks(ranks, size))
    return _fill(ranks, size, rule, families, [])


def _fill(
    ranks: np.ndarray,
    size: int,
    rule: str,
    families: Sequence[str] | None,
    start: Sequence[int],
) -> list[int]:
    """``start``, then entries by the base ``rule`` up to ``size``."""
    chosen = list(start)
    interleaved = rule.startswith("interleaved_")
    diverse = rule.startswith("diverse_") or interleaved
    greedy = rule.endswith("best_rank")
    if diverse and families is None:
        raise ValueError(f"rule {rule} needs the candidates' families")
    all_families = set(families or ())
    best = ranks[chosen].max(axis=0) if chosen else np.zeros(ranks.shape[1])
    mean_order = [int(c) for c in np.argsort(-ranks.mean(axis=1), kind="stable")]
    while len(chosen) < min(size, ranks.shape[0]):
        used = {families[c] for c in chosen} if diverse and families is not None else set()
        fresh_left = bool(all_families - used) if diverse else False
        if interleaved and len(chosen) % 2 == 0:
            fresh_left = False  # an entry of any family

        def allowed(candidate: int, used: set[str] = used, fresh_left: bool = fresh_left) -> bool:
            if candidate in chosen:
                return False
            if fresh_left and families is not None and families[candidate] in used:
                return False
            return not any(
                np.abs(ranks[candidate] - ranks[c]).max() < COPY_TOLERANCE for c in chosen
            )

        pool = [c for c in mean_order if allowed(c)]
        if not pool:
            break
        if greedy:
            gains = [float(np.maximum(best, ranks[c]).mean()) for c in pool]
            pick = pool[int(np.argmax(gains))]  # ties: the better mean rank (pool order)
        else:
            pick = pool[0]
        chosen.append(pick)
        best = np.maximum(best, ranks[pick])
    return chosen


def top_decile(ranks: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """Which candidates are in each task's top decile, from the ranks alone (the same
    cells as :func:`hit_matrix` of the scores the ranks came from: a rank is monotone
    in the score and failures rank last)."""
    return ranks >= np.percentile(ranks, quantile, axis=0)


def cover_tasks(ranks: np.ndarray, size: int = MAX_SIZE, start: Sequence[int] = ()) -> list[int]:
    """Greedy set cover of the tasks' top deciles (``ranks``: candidates x tasks), after
    the entries ``start``: each pick is the candidate in the top decile of the most
    tasks not covered yet (ties: the better mean rank, then the lower index), near
    copies skipped, until every task has one, no candidate adds one, or ``size``
    entries are chosen."""
    top = top_decile(ranks)
    mean_order = [int(c) for c in np.argsort(-ranks.mean(axis=1), kind="stable")]
    chosen = list(start)
    covered = top[chosen].any(axis=0) if chosen else np.zeros(ranks.shape[1], dtype=bool)
    while len(chosen) < min(size, ranks.shape[0]) and not covered.all():
        pool = [
            c
            for c in mean_order
            if c not in chosen
            and not any(np.abs(ranks[c] - ranks[k]).max() < COPY_TOLERANCE for k in chosen)
        ]
        gains = [int((top[c] & ~covered).sum()) for c in pool]
        if not pool or max(gains) == 0:
            break
        pick = pool[int(np.argmax(gains))]  # ties: the better mean rank (pool order)
        chosen.append(pick)
        covered |= top[pick]
    return chosen


def covers_every_task(ranks: np.ndarray, portfolio: Sequence[int]) -> bool:
    """Whether every task that some candidate reaches the top decile of has an entry of
    ``portfolio`` in its top decile."""
    top = top_decile(ranks)
    reachable = top.any(axis=0)
    covered = top[list(portfolio)].any(axis=0) if len(portfolio) else np.zeros_like(reachable)
    return bool((covered | ~reachable).all())


# The rank rules of :func:`select_portfolio` (those tried by the choice are listed in
# :data:`engine.autonomy.portfolio_choice.CHOICE_RULES`; the replay bench runs all).
BASE_RULES = (
    "diverse_mean_rank",
    "diverse_best_rank",
    "mean_rank",
    "best_rank",
    "interleaved_mean_rank",
    "interleaved_best_rank",
)
# Each of them after a set cover of the meta-tasks' top deciles (:func:`cover_tasks`),
# or (``complete_<rule>``) with the base rule's first entries kept and the cover after.
COVER_RULES = tuple(f"cover_{rule}" for rule in BASE_RULES) + tuple(
    f"complete_{rule}" for rule in BASE_RULES
)
RULES = BASE_RULES + COVER_RULES


def portfolio_document(score_documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``portfolio.json`` from ``tools/build_portfolio.py evaluate`` outputs.

    Each task type's rule is chosen by leaving one stock out and one type of target out
    (:func:`engine.autonomy.portfolio_choice.choose`: the most held-out tasks whose top
    decile of random configurations the portfolio reaches by trial 3), and the
    portfolio is that rule's over every meta-task. The family prior is each family's
    mean rank over the meta-tasks."""
    from engine.autonomy.portfolio_choice import choice_record

    portfolios: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, list[str]] = {}
    rules: dict[str, str] = {}
    priors: dict[str, dict[str, float]] = {}
    first_hits: dict[str, Any] = {}
    early: dict[str, Any] = {}
    for document in score_documents:
        metrics = [t["metric"] for t in document["tasks"]]
        n_tasks = len(metrics)
        matrix = _oriented_matrix([row[:n_tasks] for row in document["scores"]], metrics)
        ranks = rank_matrix(matrix)
        families = [c["family"] for c in document["candidates"]]
        task_type = document["task_type"]
        choice = choice_record(document, matrix, ranks)
        rules[task_type] = choice["rule"]
        first_hits[task_type] = choice["first_hit_leave_one_out"]
        early[task_type] = choice["hit_by_trial_3_leave_one_out"]
        portfolios[task_type] = [
            {
                **document["candidates"][index],
                "hits": int(choice["hits"][index].sum()),
                "tasks": n_tasks,
                "mean_rank": round(float(ranks[index].mean()), 4),
            }
            for index in choice["order"]
        ]
        priors[task_type] = family_prior(ranks, families)
        tasks[task_type] = [t["key"] for t in document["tasks"]]
    return {
        "built_by": "tools/build_portfolio.py",
        "quantile": QUANTILE,
        "threshold": "the 90th percentile of each meta-task's random configurations",
        "meta_tasks": tasks,
        "rule": rules,
        "hit_by_trial_3_leave_one_out": early,
        "first_hit_leave_one_out": first_hits,
        "portfolios": portfolios,
        "family_prior": priors,
    }


def coverage_portfolio(
    probabilities: np.ndarray, families: Sequence[str], size: int = MAX_SIZE
) -> list[int]:
    """Greedy maximum coverage with one entry per family: each pick is the candidate, of
    a family not in the portfolio yet, that most raises the mean over the tasks
    (``probabilities``: candidates x tasks, 0/1 hits or estimates) of the probability
    that at least one entry so far reaches the task's top decile (ties: the higher mean
    probability, i.e. the more tasks hit alone, then the lower index). So the first k
    entries are k families that together most often hold a hit, not k variants of the
    family best on average, which miss together. Give every candidate its own "family"
    for plain greedy maximum coverage."""
    chosen: list[int] = []
    miss = np.ones(probabilities.shape[1])
    while len(chosen) < min(size, len(set(families))):
        used = {families[c] for c in chosen}
        pool = [c for c in range(probabilities.shape[0]) if families[c] not in used]
        gains = [
            (round(float((1 - miss * (1 - probabilities[c])).mean()), 12), probabilities[c].mean())
            for c in pool
        ]
        pick = pool[max(range(len(pool)), key=lambda k: (*gains[k], -pool[k]))]
        chosen.append(pick)
        miss = miss * (1 - probabilities[pick])
    return chosen


def load_portfolios(path: Path) -> dict[str, tuple[PortfolioEntry, ...]]:
    """Task type -> the portfolio of a ``portfolio.json`` (the shipped one, or an older
    one a benchmark compares against)."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text())
    fields = PortfolioEntry.__dataclass_fields__
    return {
        task: tuple(PortfolioEntry(**{k: v for k, v in e.items() if k in fields}) for e in rows)
        for task, rows in document["portfolios"].items()
    }


@lru_cache(maxsize=1)
def _shipped() -> dict[str, tuple[PortfolioEntry, ...]]:
    return load_portfolios(PORTFOLIO_FILE)


@lru_cache(maxsize=1)
def _shipped_priors() -> dict[str, dict[str, float]]:
    if not PORTFOLIO_FILE.exists():
        return {}
    return dict(json.loads(PORTFOLIO_FILE.read_text()).get("family_prior", {}))


def family_prior_for(task: str) -> dict[str, float]:
    """The shipped family prior of the task type (:func:`family_prior`); empty when
    none is shipped."""
    return dict(_shipped_priors().get(task, {}))


def portfolio_for(
    task: str,
    models: Mapping[str, Sequence[str]],
    portfolios: Mapping[str, Sequence[PortfolioEntry]] | None = None,
) -> list[PortfolioEntry]:
    """The portfolio of the task type (the shipped one unless ``portfolios`` is given),
    without models the goal cannot use (``models``: family -> eligible model ids)."""
    return [
        entry
        for entry in (_shipped() if portfolios is None else portfolios).get(task, ())
        if entry.model_id in models.get(entry.family, ())
    ]
