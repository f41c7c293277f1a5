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

Every shipped portfolio covers the meta-tasks: it holds, for each meta-task, a
candidate in that task's top decile (a greedy set cover, :func:`cover_tasks`) when six
entries can, so a task like a meta-task finds its winner there; the rules differ in how
the cover is ordered and the rest filled (``cover_*``, ``complete_*``).

The rule is chosen by leaving one type of target out: the portfolio and the family
prior are learned without that type, and the whole loop — portfolio, then the
proposer's own family policy — is replayed on the held-out type's stored scores
(:mod:`engine.autonomy.replay`); the rule with the lowest median ratio of trials to a
top-decile result, loop ÷ random search, wins (:func:`choose_rule`). The positions of
the portfolio's first hit, leaving a type or a symbol out (:func:`first_hits_held_out`),
break ties and are reported beside it.

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


# In order of preference on a tie: families diverse first (a task of a kind the
# meta-tasks lack should find its family early), then generalists before the greedy;
# the interleaved rules, added later, last.
BASE_RULES = (
    "diverse_mean_rank",
    "diverse_best_rank",
    "mean_rank",
    "best_rank",
    "interleaved_mean_rank",
    "interleaved_best_rank",
)
# Each of them after a set cover of the meta-tasks' top deciles (:func:`cover_tasks`);
# The shipped rule is one of these (:func:`choose_rule`): a portfolio must hold a
# top-decile entry of every meta-task it can, so a task like a meta-task is not left to
# the search after the portfolio; the base rules are replayed beside them for the record.
# ``complete_<rule>`` keeps the base rule's first entries and completes the cover after
# them. Cover first, then complete, on a tie.
COVER_RULES = tuple(f"cover_{rule}" for rule in BASE_RULES) + tuple(
    f"complete_{rule}" for rule in BASE_RULES
)
RULES = BASE_RULES + COVER_RULES


def first_hits_held_out(
    hits: np.ndarray,
    ranks: np.ndarray,
    groups: Sequence[str],
    rule: str = "mean_rank",
    families: Sequence[str] | None = None,
) -> list[int]:
    """Leave one group out (a symbol, or a type of target): the portfolio chosen from the
    other groups' tasks, and the position of its first entry that reaches each held-out
    task's threshold (:data:`MISS` when none does). How the selection rule is chosen,
    and a check that it carries over to a stock or a question it has not seen."""
    positions: list[int] = []
    for group in sorted(set(groups)):
        train = [i for i, g in enumerate(groups) if g != group]
        if not train:  # a single group: nothing to learn from without it
            return []
        order = select_portfolio(ranks[:, train], rule=rule, families=families)
        for task in (i for i, g in enumerate(groups) if g == group):
            first = next((k + 1 for k, c in enumerate(order) if hits[c, task]), MISS)
            positions.append(first)
    return positions


def choose_rule(
    by_type: Mapping[str, Sequence[int]],
    by_symbol: Mapping[str, Sequence[int]],
    replayed: Mapping[str, Sequence[float]] | None = None,
    rules: Sequence[str] = COVER_RULES,
) -> str:
    """The rule under which the whole loop, replayed on the meta-tasks with the
    portfolio and family prior learned without a type of target
    (:func:`engine.autonomy.replay.leave_one_type_out`), needs the fewest trials
    relative to random search on that type's tasks (median, then mean of the ratios);
    then the rule whose portfolios alone reach a held-out type's top decile soonest on
    average; then (and alone when the meta-tasks hold a single type) without a symbol;
    ties: the earlier of ``rules`` (:data:`COVER_RULES` unless given: the shipped
    portfolio covers every meta-task it can, and the replay chooses how it is filled)."""

    def mean(positions: Sequence[int]) -> float:
        return float(np.mean(positions)) if positions else float(MISS)

    def whole_loop(rule: str) -> tuple[float, float]:
        ratios = (replayed or {}).get(rule) or []
        if not ratios:
            return (0.0, 0.0)
        return (float(np.median(ratios)), float(np.mean(ratios)))

    return min(
        rules,
        key=lambda r: (*whole_loop(r), mean(by_type[r]), mean(by_symbol[r]), list(rules).index(r)),
    )


def portfolio_document(
    score_documents: Sequence[Mapping[str, Any]],
    pool_document: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``portfolio.json`` from ``tools/build_portfolio.py evaluate`` outputs.

    The selection rule of each task type is chosen by leaving one type of target out
    (:func:`choose_rule`); leaving one symbol out is reported beside it. For the types
    of :data:`COVERAGE_TYPES`, given the development pools (``pool_document``,
    ``tools/build_portfolio.py pools``), the portfolio is instead
    :func:`coverage_portfolio` over the meta-tasks and the pools, and
    :func:`coverage_held_out` is recorded beside the replay."""
    from engine.autonomy.meta_tasks import TARGET_TYPES
    from engine.autonomy.replay import Variant, leave_one_type_out, matrices

    portfolios: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, list[str]] = {}
    by_symbol: dict[str, dict[str, list[int]]] = {}
    by_type: dict[str, dict[str, list[int]]] = {}
    rules: dict[str, str] = {}
    priors: dict[str, dict[str, float]] = {}
    replayed: dict[str, dict[str, list[float]]] = {}
    covered: dict[str, bool] = {}
    coverage: dict[str, dict[str, Any]] = {}
    for document in score_documents:
        metrics = [t["metric"] for t in document["tasks"]]
        n_tasks = len(metrics)
        scores = [row[:n_tasks] for row in document["scores"]]
        matrix = _oriented_matrix(scores, metrics)
        hits, ranks = hit_matrix(matrix), rank_matrix(matrix)
        families = [c["family"] for c in document["candidates"]]
        types = [TARGET_TYPES[t["target"]] for t in document["tasks"]]
        symbols = [t["symbol"] for t in document["tasks"]]
        task_type = document["task_type"]
        by_type[task_type] = {
            rule: first_hits_held_out(hits, ranks, types, rule, families) for rule in RULES
        }
        by_symbol[task_type] = {
            rule: first_hits_held_out(hits, ranks, symbols, rule, families) for rule in RULES
        }
        replayed[task_type] = {
            rule: [
                round(row["ratio"], 4)
                for row in leave_one_type_out(matrices(document), Variant(rule=rule))
            ]
            for rule in RULES
        }
        rule = choose_rule(by_type[task_type], by_symbol[task_type], replayed[task_type])
        order = select_portfolio(ranks, rule=rule, families=families)
        pools = [t for t in (pool_document or {}).get("tasks", ()) if t["task_type"] == task_type]
        if task_type in COVERAGE_TYPES and pools:
            probabilities = np.concatenate(
                [hits.astype(float), pool_hit_probabilities(pools, document["candidates"])],
                axis=1,
            )
            pool_types = types + [TARGET_TYPES[t["target"]] for t in pools]
            coverage[task_type] = {
                "replaced_rule": rule,
                "development_tasks": [t["key"] for t in pools],
                "expected_first_hit_leave_one_target_type_out": coverage_held_out(
                    probabilities, ranks, pool_types, families, n_tasks, rule
                ),
            }
            rule = COVERAGE_RULE
            order = coverage_portfolio(probabilities, families)
        rules[task_type] = rule
        entries = []
        for index in order:
            candidate = document["candidates"][index]
            entries.append(
                {
                    **candidate,
                    "hits": int(hits[index].sum()),
                    "tasks": n_tasks,
                    "mean_rank": round(float(ranks[index].mean()), 4),
                }
            )
        portfolios[task_type] = entries
        covered[task_type] = covers_every_task(ranks, order)
        priors[task_type] = family_prior(ranks, families)
        tasks[task_type] = [t["key"] for t in document["tasks"]]
    return {
        "built_by": "tools/build_portfolio.py",
        "quantile": QUANTILE,
        "meta_tasks": tasks,
        "rule": rules,
        "first_hit_leave_one_target_type_out": by_type,
        "first_hit_leave_one_symbol_out": by_symbol,
        "replay_leave_one_target_type_out": replayed,
        "portfolios": portfolios,
        "covers_every_meta_task": covered,
        "coverage": coverage,
        "family_prior": priors,
    }


# --- the coverage rule: meta-tasks and development pools ------------------------------

POOL_FILE = Path(__file__).with_name("portfolio_pools.json")
# Task types whose portfolio is chosen by :func:`coverage_portfolio` from the meta-tasks
# and the development pools (regression keeps the rule chosen by :func:`choose_rule`).
COVERAGE_TYPES = ("classification",)
COVERAGE_RULE = "coverage_diverse"
POOL_PRIOR = 2.0  # pseudo-draws pulling a model's pool hit rate to its family's


def pool_hit_probabilities(
    pool_tasks: Sequence[Mapping[str, Any]], candidates: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """candidates x pool tasks: the probability that each candidate reaches each
    development task's top decile, estimated from the task's pool of random-search
    draws (``tools/build_portfolio.py pools``): the hit rate of the candidate's model in
    the pool, shrunk by :data:`POOL_PRIOR` pseudo-draws to its family's rate, itself
    shrunk to the pool's overall rate (a model or family the pool drew rarely says
    little). A pool holds random configurations, not the candidate's, so this is a
    model-level estimate, not the candidate's own score."""
    out = np.zeros((len(candidates), len(pool_tasks)))
    for j, task in enumerate(pool_tasks):
        models = task["models"]  # model id -> [family, draws, hits]
        draws = sum(m[1] for m in models.values())
        base = sum(m[2] for m in models.values()) / max(draws, 1)
        family_draws: dict[str, list[int]] = {}
        for family, n, k in models.values():
            counts = family_draws.setdefault(family, [0, 0])
            counts[0] += n
            counts[1] += k
        for i, candidate in enumerate(candidates):
            fn, fk = family_draws.get(candidate["family"], [0, 0])
            family_rate = (fk + POOL_PRIOR * base) / (fn + POOL_PRIOR)
            _, n, k = models.get(candidate["model_id"], [candidate["family"], 0, 0])
            out[i, j] = (k + POOL_PRIOR * family_rate) / (n + POOL_PRIOR)
    return out


def coverage_portfolio(
    probabilities: np.ndarray, families: Sequence[str], size: int = MAX_SIZE
) -> list[int]:
    """Greedy maximum coverage with one entry per family: each pick is the candidate, of
    a family not in the portfolio yet, that most raises the mean over the tasks
    (``probabilities``: candidates x tasks, 0/1 on a meta-task, an estimate on a
    development pool) of the probability that at least one entry so far reaches the
    task's top decile (ties: the lower index). So the first k entries are k families
    that together most often hold a hit, not k variants of the family best on average,
    which miss together (issue 17: linear models first, slow when boosting wins)."""
    chosen: list[int] = []
    miss = np.ones(probabilities.shape[1])
    while len(chosen) < min(size, len(set(families))):
        used = {families[c] for c in chosen}
        pool = [c for c in range(probabilities.shape[0]) if families[c] not in used]
        gains = [float((1 - miss * (1 - probabilities[c])).mean()) for c in pool]
        pick = pool[int(np.argmax(gains))]
        chosen.append(pick)
        miss = miss * (1 - probabilities[pick])
    return chosen


def expected_first_hit(order: Sequence[int], probabilities: np.ndarray) -> list[float]:
    """Per task (column), the expected position of the first entry of ``order`` that
    reaches the top decile, entries independent; :data:`MISS` when none does."""
    out = []
    for task in range(probabilities.shape[1]):
        expected, survive = 0.0, 1.0
        for k, c in enumerate(order):
            expected += survive * probabilities[c, task] * (k + 1)
            survive *= 1 - probabilities[c, task]
        out.append(round(expected + survive * MISS, 4))
    return out


def coverage_held_out(
    probabilities: np.ndarray,
    ranks: np.ndarray,
    types: Sequence[str],
    families: Sequence[str],
    n_meta: int,
    other_rule: str,
) -> dict[str, list[float]]:
    """Leave one type of target out over the meta-tasks and the development pools
    (``probabilities``' first ``n_meta`` columns are the meta-tasks, ``ranks`` theirs):
    the expected first hit on each task (in column order) of the coverage portfolio learned
    without the type, and of ``other_rule``'s portfolio learned from the meta-tasks
    without it (the rule used before)."""
    out: dict[str, list[float]] = {
        COVERAGE_RULE: [0.0] * len(types),
        other_rule: [0.0] * len(types),
    }
    for group in sorted(set(types)):
        train = [i for i, t in enumerate(types) if t != group]
        test = [i for i, t in enumerate(types) if t == group]
        orders = {
            COVERAGE_RULE: coverage_portfolio(probabilities[:, train], families),
            other_rule: select_portfolio(
                ranks[:, [i for i in train if i < n_meta]], rule=other_rule, families=families
            ),
        }
        for rule, order in orders.items():
            for task, value in zip(
                test, expected_first_hit(order, probabilities[:, test]), strict=True
            ):
                out[rule][task] = value
    return out


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
