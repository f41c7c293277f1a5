"""The configuration portfolio: its greedy selection, the shipped file, and the
proposer opening a goal with it."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest

from engine.autonomy import portfolio as pf
from engine.autonomy import portfolio_choice as pc
from engine.autonomy.proposer import PORTFOLIO_ATTR, BanditProposer, eligible_models
from engine.goals.spec import GoalSpec
from engine.ml import catalog
from engine.ml.search_spaces import decode_params

ROOT = pf.PORTFOLIO_FILE.parents[2]
SCORE_FILES = sorted(pf.PORTFOLIO_FILE.parent.glob("portfolio_scores_*.json"))


def test_generalists_first_and_near_copies_left_out():
    ranks = np.array(
        [
            [0.95, 0.95, 0.95, 0.50],  # 0: mean 0.84
            [0.94, 0.93, 0.94, 0.52],  # 1: a near copy of 0 (within 0.05 on every task)
            [0.30, 0.30, 0.30, 0.99],  # 2: a specialist, mean 0.47
            [0.80, 0.85, 0.90, 0.70],  # 3: mean 0.81
            [0.10, 0.10, 0.10, 0.10],  # 4: poor everywhere
        ]
    )
    assert pf.select_portfolio(ranks, size=10) == [0, 3, 2, 4]
    assert pf.select_portfolio(ranks, size=2) == [0, 3]


def test_the_greedy_rule_adds_what_the_earlier_entries_miss():
    ranks = np.array(
        [
            [0.95, 0.95, 0.95, 0.10],  # 0: best mean, misses task 3
            [0.90, 0.90, 0.90, 0.20],  # 1: a weaker copy of 0's strengths
            [0.40, 0.40, 0.40, 0.99],  # 2: the specialist of task 3
        ]
    )
    assert pf.select_portfolio(ranks, size=2) == [0, 1]
    assert pf.select_portfolio(ranks, size=2, rule="best_rank") == [0, 2]


def test_diverse_rules_try_every_family_once_before_any_twice():
    ranks = np.array(
        [
            [0.95, 0.95, 0.90],  # linear
            [0.90, 0.85, 0.95],  # linear, not a near copy
            [0.60, 0.70, 0.50],  # trees
            [0.30, 0.20, 0.40],  # neighbours
        ]
    )
    families = ["linear", "linear", "tree", "neighbors"]
    assert pf.select_portfolio(ranks, size=4) == [0, 1, 2, 3]
    assert pf.select_portfolio(ranks, size=4, rule="diverse_mean_rank", families=families) == [
        0,
        2,
        3,
        1,
    ]
    with pytest.raises(ValueError, match="families"):
        pf.select_portfolio(ranks, rule="diverse_best_rank")


def test_interleaved_rules_give_the_winning_family_every_other_entry():
    ranks = np.array(
        [
            [0.99, 0.99, 0.98],  # 0 linear
            [0.97, 0.90, 0.99],  # 1 linear (not a near copy of 0)
            [0.90, 0.80, 0.95],  # 2 linear
            [0.50, 0.60, 0.40],  # 3 tree
            [0.30, 0.20, 0.40],  # 4 neighbours
            [0.10, 0.10, 0.20],  # 5 svm
        ]
    )
    families = ["linear", "linear", "linear", "tree", "neighbors", "svm"]
    # Every family once before any twice: the second linear model comes fourth.
    assert pf.select_portfolio(ranks, size=4, rule="diverse_mean_rank", families=families) == [
        0,
        3,
        4,
        5,
    ]
    # Interleaved: best of any family, then best of a new family, alternately.
    assert pf.select_portfolio(ranks, size=6, rule="interleaved_mean_rank", families=families) == [
        0,
        3,
        1,
        4,
        2,
        5,
    ]
    with pytest.raises(ValueError, match="unknown rule"):
        pf.select_portfolio(ranks, rule="alphabetical")


def _specialist_matrix() -> tuple[np.ndarray, list[str]]:
    """20 candidates x 5 tasks: six linear generalists top tasks 0-3, two linear
    specialists alone reach task 4's top decile (2 of 20), the rest trees and
    neighbours in between."""
    rng = np.random.default_rng(7)
    ranks = rng.uniform(0.0, 1.0, size=(20, 5))
    ranks[:6, :4] += 1.0  # generalists
    ranks[:6, 4] *= 0.5
    ranks[18, 4], ranks[19, 4] = 1.9, 2.0  # the specialists
    ranks[18:, :4] *= 0.3
    families = ["linear"] * 6 + ["tree", "knn"] * 6 + ["linear"] * 2
    return ranks, families


def test_the_cover_rules_put_every_meta_tasks_top_decile_in_the_portfolio():
    ranks, families = _specialist_matrix()
    top = pf.top_decile(ranks)
    assert top.sum(axis=0).tolist() == [2] * 5 and top[18:, 4].all()
    # The rules of averages fill the portfolio with generalists and miss task 4: the
    # shipped rules before the cover (interleaved and diverse mean rank) among them.
    for rule in ("interleaved_mean_rank", "diverse_mean_rank", "mean_rank"):
        chosen = pf.select_portfolio(ranks, rule=rule, families=families)
        assert len(chosen) == pf.MAX_SIZE
        assert not pf.covers_every_task(ranks, chosen), rule
    for rule in pf.COVER_RULES:
        chosen = pf.select_portfolio(ranks, rule=rule, families=families)
        assert len(chosen) == pf.MAX_SIZE == len(set(chosen)), rule
        assert pf.covers_every_task(ranks, chosen), rule
        assert set(chosen) & {18, 19}, rule
    # Cover first: the greedy cover leads (the first entry covers the most tasks).
    cover = pf.cover_tasks(ranks)
    assert (
        pf.select_portfolio(ranks, rule="cover_interleaved_mean_rank", families=families)[
            : len(cover)
        ]
        == cover
    )
    assert int(top[cover[0]].sum()) == int(top.sum(axis=1).max())
    # Complete: the base rule's order as long as there is room, the cover at the end.
    base = pf.select_portfolio(ranks, rule="interleaved_mean_rank", families=families)
    completed = pf.select_portfolio(ranks, rule="complete_interleaved_mean_rank", families=families)
    assert completed[:5] == base[:5] and completed[5] in (18, 19)
    # Too small to cover everything: as many tasks as the room allows, nothing more.
    assert len(pf.cover_tasks(ranks, size=1)) == 1
    assert pf.cover_tasks(ranks, start=cover) == cover


def test_coverage_picks_families_that_hit_where_the_others_miss():
    # Tasks 0-2: family a hits 0 and 1, b only 0 and 1 (a copy of a's hits), c only 2.
    probabilities = np.array(
        [
            [1.0, 1.0, 0.0],  # a, best on average
            [1.0, 1.0, 0.0],  # b, the same tasks
            [0.0, 0.0, 1.0],  # c
            [0.9, 0.9, 0.0],  # a again
        ]
    )
    families = ["a", "b", "c", "a"]
    assert pf.coverage_portfolio(probabilities, families) == [0, 2, 1]
    assert pf.coverage_portfolio(probabilities, families, size=2) == [0, 2]


def test_hits_are_per_task_percentiles_oriented_by_metric_with_failures_worst():
    scores = [[0.1, 5.0], [0.2, 1.0], [0.3, 3.0], [None, 2.0], [0.4, None]] + [[0.0, 9.0]] * 5
    matrix = pf._oriented_matrix(scores, ["r2", "rmse"])
    assert matrix[1, 1] == -1.0 and matrix[3, 0] == -math.inf
    hits = pf.hit_matrix(matrix, quantile=90)
    # r2: 0.4 is the only value at its 90th percentile; rmse: 1.0 (lowest) is.
    assert hits[:, 0].tolist() == [False, False, False, False, True] + [False] * 5
    assert hits[:, 1].tolist() == [False, True, False, False, False] + [False] * 5
    ranks = pf.rank_matrix(matrix)
    assert ranks[4, 0] == 1.0 and ranks[3, 0] == 0.0  # failures rank last


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_shipped_portfolio_is_what_its_scores_give_and_every_entry_is_valid(task):
    document = json.loads(pf.PORTFOLIO_FILE.read_text())
    assert len(SCORE_FILES) == 2
    rebuilt = pf.portfolio_document([json.loads(p.read_text()) for p in SCORE_FILES])
    assert rebuilt == document  # nobody edited the portfolio by hand
    entries = pf._shipped()[task]
    assert 1 <= len(entries) <= pf.MAX_SIZE
    assert len({(e.model_id, json.dumps(e.params, sort_keys=True)) for e in entries}) == len(
        entries
    )
    # The meta-tasks are the two rounds of tools/build_portfolio.py; none uses a fixed
    # benchmark symbol or a stock of the held-out sets measuring them (set 6, drawn
    # before the second round was defined, set 7 on the same stocks, set 8 on the fixed
    # tasks' symbols). Round 1 also avoids every earlier set.
    from tools.build_portfolio import meta_tasks

    first = {m.key for m in meta_tasks(task, 1)}
    second = {m.key for m in meta_tasks(task, 2)}
    keys = document["meta_tasks"][task]
    assert set(keys) <= first | second and first <= set(keys)
    newest = sorted((ROOT / "bench").glob("heldout_tasks*.json"))[-3:]
    assert [p.name for p in newest] == [f"heldout_tasks_{n}.json" for n in (6, 7, 8)]
    held = {t["symbol"].lower() for p in newest for t in json.loads(p.read_text())["tasks"]}
    for key in keys:
        assert key.split("_")[0] not in held | {"spx", "jpm"}, key
    earlier = set()
    for path in sorted((ROOT / "bench").glob("heldout_tasks*.json")):
        earlier |= {t["symbol"].lower() for t in json.loads(path.read_text())["tasks"]}
    assert not {key.split("_")[0] for key in first} & earlier
    assert document["rule"][task] in pc.CHOICE_RULES
    for entry in entries:
        spec = catalog.get_model(entry.model_id)
        assert spec.family == entry.family and spec.task == task
        assert set(entry.params) <= set(spec.search_space)
        # Good somewhere, or (a family's representative under a diverse rule) better
        # than the median candidate on average.
        assert entry.hits >= 1 or entry.mean_rank > 0.5
        spec.build(decode_params(spec, entry.params))  # the estimator accepts them


def goal(**overrides) -> GoalSpec:
    base = {
        "name": "g",
        "dataset_id": 1,
        "target_column": "y",
        "task": "classification",
        "metric": "roc_auc",
        "threshold": 0.7,
    }
    return GoalSpec(**{**base, **overrides})


def entry(model_id: str, params: dict, kind: str = "random") -> pf.PortfolioEntry:
    return pf.PortfolioEntry(
        model_id, catalog.get_model(model_id).family, kind, params, hits=3, tasks=9, mean_rank=0.8
    )


MLP_LAYERS = "(64, 32)"  # a tuple choice, stored by its repr
PORTFOLIO = [
    entry("sklearn.LinearDiscriminantAnalysis", {"tol": 0.001}),
    entry("sklearn.RandomForestClassifier", {}, kind="defaults"),
    entry("sklearn.MLPClassifier", {"hidden_layer_sizes": MLP_LAYERS, "alpha": 0.01}),
]


def test_the_portfolio_opens_the_goal_in_order_then_the_bandit_takes_over():
    mlp_space = catalog.get_model("sklearn.MLPClassifier").search_space
    assert MLP_LAYERS in {repr(c) for c in mlp_space["hidden_layer_sizes"][1]}
    storage = optuna.storages.InMemoryStorage()
    proposer = BanditProposer(
        9, goal(), [], storage=storage, learn_from_other_goals=False, portfolio=PORTFOLIO
    )
    seen = []
    for value in (0.61, 0.64, 0.55):
        proposal = proposer.propose()
        seen.append((proposal.model_id, proposal.model_params))
        assert proposal.reason.startswith(f"portfolio trial {len(seen)} of 3")
        proposer.observe(proposal, value)
    assert seen == [
        ("sklearn.LinearDiscriminantAnalysis", {"tol": 0.001}),
        ("sklearn.RandomForestClassifier", {}),  # every parameter at the catalogue default
        ("sklearn.MLPClassifier", {"hidden_layer_sizes": (64, 32), "alpha": 0.01}),
    ]
    # The entries were told to their families' studies, so TPE learns from them.
    lda = optuna.load_study(study_name="goal-9-discriminant", storage=storage)
    assert [t.value for t in lda.trials] == [0.61]
    assert lda.trials[0].user_attrs == {PORTFOLIO_ATTR: 0}
    after = proposer.propose()
    assert "upper confidence bound" in after.reason
    # A loop restarted after two trials goes on with the third entry.
    restarted = BanditProposer(
        10,
        goal(),
        [("discriminant", 0.61), ("ensemble", 0.64)],
        storage=storage,
        learn_from_other_goals=False,
        portfolio=PORTFOLIO,
    )
    assert restarted.propose().model_id == "sklearn.MLPClassifier"


def test_entries_the_goal_may_not_use_are_skipped(monkeypatch):
    monkeypatch.setattr(pf, "_shipped", lambda: {"classification": tuple(PORTFOLIO)})
    limited = goal(families=["ensemble", "neural"])
    kept = pf.portfolio_for("classification", eligible_models(limited))
    assert [e.model_id for e in kept] == ["sklearn.RandomForestClassifier", "sklearn.MLPClassifier"]
    assert (
        pf.portfolio_for("regression", eligible_models(goal(task="regression", metric="r2"))) == []
    )
    proposer = BanditProposer(
        11, limited, [], storage=optuna.storages.InMemoryStorage(), learn_from_other_goals=False
    )
    assert [e.model_id for e in proposer.portfolio] == [e.model_id for e in kept]
    assert proposer.propose().model_id == "sklearn.RandomForestClassifier"
