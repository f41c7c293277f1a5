"""The configuration portfolio: its greedy selection, the shipped file, and the
proposer opening a goal with it."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest

from engine.autonomy import portfolio as pf
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


def test_leaving_one_symbol_out_shows_whether_the_order_carries_over():
    # Symbol A's two tasks prefer candidate 0, symbol B's task prefers candidate 1.
    ranks = np.array([[0.9, 0.9, 0.1], [0.5, 0.5, 0.9], [0.1, 0.1, 0.5]])
    hits = ranks >= 0.9
    # Without A the order is 1, 2, 0 (as B ranks them): A's tasks find 0 third. Without
    # B it is 0, 1, 2: B's task finds 1 second.
    assert pf.first_hits_held_out(hits, ranks, ["A", "A", "B"]) == [3, 3, 2]
    no_hit = np.zeros_like(hits)
    assert pf.first_hits_held_out(no_hit, ranks, ["A", "A", "B"]) == [pf.MISS] * 3


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


def test_leaving_one_type_out_chooses_the_rule_that_carries_over():
    # Two kinds of question: on "vol" linear models win, on "direction" only the tree
    # reaches the top. Mean rank over both types puts two linear models first; the
    # diverse order has the tree second, so a held-out "direction" task finds it there.
    ranks = np.array(
        [
            [0.99, 0.99, 0.50, 0.50],  # linear A
            [0.90, 0.92, 0.45, 0.55],  # linear B (not a near copy of A)
            [0.20, 0.30, 0.99, 0.98],  # tree
        ]
        + [[0.1, 0.1, 0.1, 0.1]] * 7
    )
    hits = pf.hit_matrix(ranks)
    families = ["linear", "linear", "tree"] + ["dummy"] * 7
    types = ["vol", "vol", "direction", "direction"]
    held = {rule: pf.first_hits_held_out(hits, ranks, types, rule, families) for rule in pf.RULES}
    # Positions of the held-out "direction" tasks first (groups in sorted order): the
    # mean-rank order learned on "vol" alone tries the tree third, the diverse one second.
    assert held["mean_rank"] == [3, 3, 2, 2]
    assert held["diverse_mean_rank"] == [2, 2, 2, 2]
    by_symbol = {rule: [1] for rule in pf.RULES}
    assert pf.choose_rule(held, by_symbol, rules=pf.BASE_RULES) in (
        "diverse_mean_rank",
        "diverse_best_rank",
    )
    # A single type: no held-out positions, the symbols decide.
    assert pf.first_hits_held_out(hits, ranks, ["vol"] * 4, "mean_rank", families) == []
    only_symbols = {rule: [] for rule in pf.RULES}
    assert (
        pf.choose_rule(only_symbols, {**by_symbol, "best_rank": [0]}, rules=pf.BASE_RULES)
        == "best_rank"
    )
    # The shipped rule is a cover rule, whatever the base rules score.
    assert pf.choose_rule(held, by_symbol) in pf.COVER_RULES


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


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_shipped_portfolio_covers_every_meta_tasks_top_decile(task):
    document = json.loads(pf.PORTFOLIO_FILE.read_text())
    scores = next(
        json.loads(p.read_text())
        for p in SCORE_FILES
        if json.loads(p.read_text())["task_type"] == task
    )
    metrics = [t["metric"] for t in scores["tasks"]]
    matrix = pf._oriented_matrix([row[: len(metrics)] for row in scores["scores"]], metrics)
    hits = pf.hit_matrix(matrix)
    assert (pf.top_decile(pf.rank_matrix(matrix)) == hits).all()
    index = {
        (c["model_id"], json.dumps(c["params"], sort_keys=True)): i
        for i, c in enumerate(scores["candidates"])
    }
    shipped = [
        index[(e["model_id"], json.dumps(e["params"], sort_keys=True))]
        for e in document["portfolios"][task]
    ]
    assert hits[shipped].any(axis=0).all()  # every meta-task has an entry in its top decile
    assert document["covers_every_meta_task"][task] is True


def test_the_shipped_classification_portfolio_opens_with_a_different_family_each_trial():
    # Issue 17: the portfolio opened with four linear or discriminant entries, which miss
    # together when boosting or an ensemble wins. Each of its first k entries (all of
    # them, up to MAX_SIZE) is now of a family the earlier ones are not.
    entries = pf._shipped()["classification"]
    assert len(entries) == pf.MAX_SIZE
    for k in range(1, len(entries) + 1):
        assert len({e.family for e in entries[:k]}) == k
    families = {e.family for e in entries}
    assert families & {"boosting", "ensemble", "tree"}  # a tree ensemble among them
    assert json.loads(pf.PORTFOLIO_FILE.read_text())["rule"]["classification"] == (pf.COVERAGE_RULE)


def test_the_development_pools_never_hold_the_held_out_set_being_measured():
    pools = json.loads(pf.POOL_FILE.read_text())["tasks"]
    assert pools and all(t["size"] == sum(m[1] for m in t["models"].values()) for t in pools)
    newest = ROOT / "bench" / "heldout_tasks_5.json"
    measured = {(t["symbol"], t["target"]) for t in json.loads(newest.read_text())["tasks"]}
    assert not measured & {(t["symbol"], t["target"]) for t in pools}


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
    # The expected first hit: task 2 at entry 2; a task no entry reaches is a miss.
    expected = pf.expected_first_hit([0, 2], np.column_stack([probabilities, np.zeros(4)]))
    assert expected == [1.0, 1.0, 2.0, float(pf.MISS)]


def test_pool_probabilities_shrink_a_rarely_drawn_model_to_its_family():
    task = {
        "models": {
            "m1": ["f", 10, 5],  # drawn often: its own rate dominates
            "m2": ["f", 0, 0],  # never drawn: the family's rate
            "m3": ["g", 10, 0],
        }
    }
    candidates = [
        {"model_id": "m1", "family": "f"},
        {"model_id": "m2", "family": "f"},
        {"model_id": "m3", "family": "g"},
        {"model_id": "m4", "family": "h"},  # a family the pool never drew: the pool's rate
    ]
    p = pf.pool_hit_probabilities([task], candidates)[:, 0]
    base = 5 / 20
    family_f = (5 + pf.POOL_PRIOR * base) / (10 + pf.POOL_PRIOR)
    assert p[0] == pytest.approx((5 + pf.POOL_PRIOR * family_f) / (10 + pf.POOL_PRIOR))
    assert p[1] == pytest.approx(family_f)
    assert p[3] == pytest.approx(base)
    assert p[2] < p[3] < p[1] < p[0]


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
    rebuilt = pf.portfolio_document(
        [json.loads(p.read_text()) for p in SCORE_FILES], json.loads(pf.POOL_FILE.read_text())
    )
    assert rebuilt == document  # nobody edited the portfolio by hand
    entries = pf._shipped()[task]
    assert 1 <= len(entries) <= pf.MAX_SIZE
    assert len({(e.model_id, json.dumps(e.params, sort_keys=True)) for e in entries}) == len(
        entries
    )
    # The meta-tasks never use the benchmark's symbols, fixed or held out, nor the
    # targets kept for held-out tasks.
    held_symbols = {"spx", "jpm"}
    held_files = sorted((ROOT / "bench").glob("heldout_tasks*.json"))
    assert len(held_files) >= 4
    for path in held_files:
        heldout = json.loads(path.read_text())
        held_symbols |= {t["symbol"].lower() for t in heldout["tasks"]}
    for key in document["meta_tasks"][task]:
        assert key.split("_")[0] not in held_symbols
        assert not key.endswith(("down_move_next10", "big_move_next10", "log_vol_next10"))
    assert document["rule"][task] in (*pf.RULES, pf.COVERAGE_RULE)
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
