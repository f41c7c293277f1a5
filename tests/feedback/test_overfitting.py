"""The probability of backtest overfitting (CSCV) against an independent brute-force
implementation and cases with a known answer, and the deflated Sharpe ratio counting
every trial tried on the same data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from engine.feedback.deflated_sharpe import deflated_sharpe_from_moments
from engine.feedback.overfitting import cscv_pbo


def brute_force_logits(matrix: np.ndarray, groups: int, statistic: str) -> list[float]:
    """CSCV written out as the paper states it, one combination at a time: concatenate
    the in-sample groups, score each trial, take the best, rank its out-of-sample score
    with scipy's average ranks, and take the logit of rank / (N + 1)."""
    parts = np.array_split(np.arange(matrix.shape[0]), groups)

    def score(rows: np.ndarray) -> np.ndarray:
        block = matrix[rows]
        if statistic == "mean":
            return block.mean(axis=0)
        return block.mean(axis=0) / block.std(axis=0, ddof=1)

    logits = []
    n = matrix.shape[1]
    for combo in itertools.combinations(range(groups), groups // 2):
        inside = np.concatenate([parts[g] for g in combo])
        outside = np.concatenate([parts[g] for g in range(groups) if g not in combo])
        best = int(np.argmax(score(inside)))
        rank = stats.rankdata(score(outside), method="average")[best]
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    return logits


@pytest.mark.parametrize("statistic", ["mean", "sharpe"])
def test_vectorised_cscv_equals_the_brute_force_one(statistic):
    rng = np.random.default_rng(11)
    matrix = rng.normal(0.001, 0.01, size=(240, 7)) + rng.normal(0, 0.002, size=7)
    report = cscv_pbo(matrix, n_groups=8, statistic=statistic)
    expected = brute_force_logits(matrix, 8, statistic)
    assert report["n_combinations"] == math.comb(8, 4) == len(expected)
    assert report["logits"] == pytest.approx(expected, abs=1e-9)
    assert report["pbo"] == pytest.approx(np.mean(np.array(expected) <= 0))


def test_lower_is_better_flips_the_ranking():
    rng = np.random.default_rng(2)
    errors = rng.normal(1.0, 0.1, size=(40, 5))
    errors[:, 3] -= 0.5  # trial 3 has clearly lower errors
    assert cscv_pbo(errors, greater_is_better=False)["pbo"] == 0.0
    assert cscv_pbo(-errors)["logits"] == cscv_pbo(errors, greater_is_better=False)["logits"]


def test_noise_trials_overfit_about_half_the_time():
    values = [
        cscv_pbo(np.random.default_rng(seed).normal(size=(500, 20)), statistic="sharpe")["pbo"]
        for seed in range(12)
    ]
    assert 0.35 < float(np.mean(values)) < 0.65


def test_one_dominant_trial_does_not_overfit():
    rng = np.random.default_rng(5)
    matrix = rng.normal(size=(500, 20))
    matrix[:, 7] += 0.5
    report = cscv_pbo(matrix, statistic="sharpe")
    assert report["pbo"] == 0.0 and report["median_oos_rank"] > 0.9


def test_cscv_needs_two_trials_and_enough_rows():
    with pytest.raises(ValueError, match="two trials"):
        cscv_pbo(np.zeros((10, 1)))
    with pytest.raises(ValueError, match="too few"):
        cscv_pbo(np.zeros((1, 3)))


def test_deflating_for_more_trials_tried_lowers_the_probability():
    sharpes = [0.02, 0.05, 0.01, 0.04]
    shown = deflated_sharpe_from_moments(0.08, 750, -0.1, 4.0, sharpes)
    tried = deflated_sharpe_from_moments(0.08, 750, -0.1, 4.0, sharpes, n_trials=200)
    assert shown["n_trials"] == 4 and tried["n_trials"] == 200
    assert tried["expected_max_sharpe"] > shown["expected_max_sharpe"]
    assert tried["deflated_sharpe"] < shown["deflated_sharpe"]
