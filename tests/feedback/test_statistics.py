"""Trend detection on series with known trends; the deflated Sharpe ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.feedback.deflated_sharpe import (
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)
from engine.feedback.trend import detect_trend, mann_kendall


@pytest.mark.parametrize("seed", range(5))
def test_trend_labels_known_series(seed):
    rng = np.random.default_rng(seed)
    x = np.arange(40)
    noise = rng.normal(0, 0.01, 40)
    assert detect_trend(list(0.5 + 0.002 * x + noise)).label == "improving"
    assert detect_trend(list(0.6 - 0.002 * x + noise)).label == "declining"
    assert detect_trend(list(0.55 + noise)).label in ("stable",)
    # for a loss, going down is the good direction
    assert detect_trend(list(1 - 0.01 * x + noise), higher_is_better=False).label == "improving"


def test_stable_series_are_mostly_stable_at_the_stated_error_rate():
    rng = np.random.default_rng(7)
    labels = [detect_trend(list(rng.normal(0.5, 0.02, 30))).label for _ in range(200)]
    false_alarms = sum(label != "stable" for label in labels) / len(labels)
    assert false_alarms < 0.10  # alpha = 5% two-sided, with sampling slack


def test_too_few_points():
    assert detect_trend([0.5, 0.6]).label == "insufficient data"


def test_mann_kendall_matches_the_textbook_statistic():
    s, p = mann_kendall(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert s == 10 and p < 0.05
    s, _ = mann_kendall(np.array([5.0, 4.0, 3.0, 2.0, 1.0]))
    assert s == -10


def test_expected_max_sharpe_grows_with_trials():
    assert expected_max_sharpe(0.01, 1) == 0
    values = [expected_max_sharpe(0.01, n) for n in (2, 10, 100, 1000)]
    assert values == sorted(values) and values[-1] > values[0] > 0


def test_psr_reduces_to_normal_cdf_for_gaussian_moments():
    psr = probabilistic_sharpe(0.1, 0.0, 101, 0.0, 3.0)
    expected = 0.5 * (1 + math.erf(0.1 * 10 / math.sqrt(1 + 0.5 * 0.01) / math.sqrt(2)))
    assert psr == pytest.approx(expected, rel=1e-12)


def test_deflation_penalises_many_trials():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0008, 0.01, 2000)  # daily SR about 0.08
    few = deflated_sharpe(returns, list(rng.normal(0, 0.02, 3)))
    many = deflated_sharpe(returns, list(rng.normal(0, 0.02, 500)))
    assert 0 <= many["deflated_sharpe"] < few["deflated_sharpe"] <= 1
