"""How each task type's portfolio rule is chosen (engine.autonomy.portfolio_choice), and
the shipped choice."""

from __future__ import annotations

import json
import math

import numpy as np

from engine.autonomy import portfolio as pf
from engine.autonomy import portfolio_choice as pc

SCORE_FILES = sorted(pf.PORTFOLIO_FILE.parent.glob("portfolio_scores_*.json"))


def test_the_threshold_is_the_top_decile_of_the_random_configurations():
    # Ten random configurations 0.0 .. 0.9 and a failure; the defaults score above them.
    values = [[v / 10] for v in range(10)] + [[None]] + [[0.95], [0.5]]
    kinds = ["random"] * 11 + ["defaults", "defaults"]
    matrix = pf._oriented_matrix(values, ["roc_auc"])
    hits = pc.benchmark_hits(matrix, kinds)[:, 0]
    # 90th percentile of the 11 random values (the failure counted as the worst, 0.0): 0.8
    assert np.percentile([0.0] + [v / 10 for v in range(10)], 90) == 0.8
    assert hits.tolist() == [False] * 8 + [True, True, False, True, False]
    # Lower is better for an error metric: the same values as rmse hit at the bottom.
    errors = pf._oriented_matrix([[v] for v in range(1, 11)], ["rmse"])
    assert pc.benchmark_hits(errors, ["random"] * 10)[:, 0].tolist() == [True] + [False] * 9


def test_leaving_a_group_out_reads_the_first_hit_of_a_portfolio_built_without_it():
    # Stock A's tasks are topped by candidate 0, stock B's by candidate 1, and only A's
    # tasks rank candidate 2 second. Built without A, the order starts with 1 (B's
    # winner), so A's tasks find their hit (candidate 0) later than first.
    ranks = np.array(
        [
            [1.0, 1.0, 0.2, 0.2],
            [0.1, 0.1, 1.0, 1.0],
            [0.9, 0.9, 0.3, 0.3],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    hits = ranks >= 1.0
    families = ["a", "b", "c", "d"]
    symbols = ["A", "A", "B", "B"]
    positions = pc.first_hits_leaving_groups_out("best_rank", hits, ranks, families, symbols)
    order_without_a = pf.select_portfolio(ranks[:, 2:], rule="best_rank", families=families)
    assert order_without_a[0] == 1
    expected_a = order_without_a.index(0) + 1
    assert positions[:2] == [expected_a, expected_a] and expected_a > 1
    order_without_b = pf.select_portfolio(ranks[:, :2], rule="best_rank", families=families)
    assert positions[2:] == [order_without_b.index(1) + 1] * 2
    # A task no entry reaches is a miss.
    nothing = np.zeros_like(hits)
    assert (
        pc.first_hits_leaving_groups_out("coverage_diverse", nothing, ranks, families, symbols)
        == [pf.MISS] * 4
    )


def test_coverage_of_the_benchmark_hits_finds_the_specialist_a_mean_rank_misses():
    # Two generalists share tasks 0-2's hits; a specialist alone hits task 3.
    hits = np.array(
        [
            [1, 1, 1, 0],
            [1, 1, 1, 0],
            [0, 0, 0, 1],
            [0, 0, 0, 0],
        ],
        dtype=bool,
    )
    ranks = np.array(
        [[0.99, 0.99, 0.99, 0.5], [0.98, 0.9, 0.97, 0.6], [0.2, 0.2, 0.2, 0.99], [0.5] * 4]
    )
    families = ["linear", "linear", "tree", "knn"]
    assert pc.portfolio_by("coverage_any", hits, ranks, families)[:2] == [0, 2]
    assert pc.portfolio_by("coverage_diverse", hits, ranks, families)[:2] == [0, 2]
    assert pc.portfolio_by("mean_rank", hits, ranks, families)[:2] == [0, 1]


def test_the_choice_counts_early_hits_over_both_ways_of_leaving_out():
    by_symbol = {rule: [5, 5, 5, 5] for rule in pc.CHOICE_RULES}
    by_type = {rule: [5, 5, 5, 5] for rule in pc.CHOICE_RULES}
    # mean_rank: 2 of 4 early on a new stock, none on a new type: 0.25 on average.
    by_symbol["mean_rank"] = [1, 2, 9, 9]
    # best_rank: 1 of 4 early both ways, also 0.25, but a lower mean first hit.
    by_symbol["best_rank"] = [3, 4, 4, 4]
    by_type["best_rank"] = [1, 4, 4, 4]
    assert pc.early_share(by_symbol["mean_rank"]) == 0.5
    assert pc.choose(by_symbol, by_type) == "best_rank"
    by_type["diverse_mean_rank"] = [1, 1, 1, 4]  # 0.375 on average: the most early hits
    assert pc.choose(by_symbol, by_type) == "diverse_mean_rank"
    # A full tie: the earlier rule of CHOICE_RULES.
    same = {rule: [2, 2] for rule in pc.CHOICE_RULES}
    assert pc.choose(same, same) == pc.CHOICE_RULES[0]


def test_the_shipped_choice_is_what_the_recorded_first_hits_give():
    document = json.loads(pf.PORTFOLIO_FILE.read_text())
    for task, by in document["first_hit_leave_one_out"].items():
        assert set(by["symbol"]) == set(by["target type"]) == set(pc.CHOICE_RULES)
        assert document["rule"][task] == pc.choose(by["symbol"], by["target type"])
        for left_out, rules in by.items():
            for rule, positions in rules.items():
                share = document["hit_by_trial_3_leave_one_out"][task][left_out][rule]
                assert math.isclose(share, pc.early_share(positions), abs_tol=1e-4)


def test_the_meta_tasks_hold_enough_stocks_and_types_to_leave_one_out():
    for path in SCORE_FILES:
        scores = json.loads(path.read_text())
        symbols = {t["symbol"] for t in scores["tasks"]}
        assert len(symbols) >= 10, path.name  # round 1 (3-4 stocks) and round 2
        assert len(scores["tasks"]) >= 40, path.name
