"""Random search's top decile and median trials computed from a pool of random
configurations (the autonomy benchmark's baseline)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from engine.autonomy import random_baseline as rb


def test_the_threshold_is_the_pools_90th_percentile_with_failures_at_the_worst_value():
    values = [float(v) for v in range(1, 11)]  # 1..10: the 90th percentile is 9.1
    assert rb.pool_threshold(values) == pytest.approx(9.1)
    assert rb.hits(values, 9.1) == [False] * 9 + [True]
    # A failure counts as the worst value, not as missing: the percentile moves down.
    failed = [None, *values[1:]]
    assert rb.pool_threshold(failed) == pytest.approx(np.percentile([2.0, *values[1:]], 90))
    assert rb.hits([None, 5.0], 5.0) == [False, True]
    with pytest.raises(ValueError):
        rb.pool_threshold([None, None])


@pytest.mark.parametrize(
    ("rate", "median"),
    # Known values: 1 - 0.9^6 = 0.469 < 1/2 <= 1 - 0.9^7 = 0.522; 1 - 0.5 = 1/2 exactly.
    [(0.1, 7), (0.5, 1), (0.25, 3), (0.2, 4), (0.05, 14), (0.01, 69), (1.0, 1)],
)
def test_geometric_median_is_the_smallest_n_with_half_the_mass(rate, median):
    assert rb.geometric_median(rate) == median
    assert 1 - (1 - rate) ** median >= 0.5
    assert median == 1 or 1 - (1 - rate) ** (median - 1) < 0.5


def test_geometric_median_matches_simulated_random_search():
    rng = np.random.default_rng(3)
    for rate in (0.07, 0.1, 0.16, 0.3):
        draws = rng.geometric(rate, 200_001)
        # The sample median of a discrete distribution sits at its median.
        assert int(np.median(draws)) == rb.geometric_median(rate)
    assert rb.geometric_median(0.0) == math.inf


def test_without_replacement_median_is_exact_and_agrees_with_permutations():
    # Hand count: a pool of 4 with 1 hit, in random order the hit is first, second,
    # third or fourth with probability 1/4 each; P(first hit <= 2) = 1/2, so 2.
    assert rb.without_replacement_median(4, 1) == 2
    assert rb.first_hit_survival(4, 1, 2) == pytest.approx(0.5)
    # 3 hits in 4: the first draw hits with probability 3/4.
    assert rb.without_replacement_median(4, 3) == 1
    assert rb.first_hit_survival(10, 10, 1) == 0.0
    assert rb.without_replacement_median(150, 0) == math.inf
    for size, count in ((150, 15), (100, 30), (30, 4)):  # medians not at a tie
        flags = [True] * count + [False] * (size - count)
        random.Random(size + count).shuffle(flags)
        firsts = rb.permutation_first_hits(flags, 20_000, seed=1)
        assert firsts.min() >= 1 and firsts.max() <= size - count + 1
        # The simulated distribution matches the exact survival function.
        for n in (1, 3, 7):
            assert np.mean(firsts > n) == pytest.approx(
                rb.first_hit_survival(size, count, n), abs=0.015
            )
        assert (
            abs(
                rb.permutation_median(flags, 20_000, seed=2)
                - rb.without_replacement_median(size, count)
            )
            <= 0.5
        )
    # Sampling without replacement never needs more draws than with replacement.
    assert rb.without_replacement_median(30, 3) <= rb.geometric_median(0.1)
    with pytest.raises(ValueError):
        rb.permutation_median([False, False])


def test_a_few_runs_median_varies_widely_and_more_runs_narrow_it():
    # One run's median is the geometric median; 5 runs' median spans 3..14 between
    # its 10th and 90th percentiles at a 10 % hit rate.
    assert rb.median_of_runs_quantile(0.1, 1, 0.5) == rb.geometric_median(0.1)
    low, high = rb.median_of_runs_quantile(0.1, 5, 0.1), rb.median_of_runs_quantile(0.1, 5, 0.9)
    assert (low, high) == (3, 14)
    rng = np.random.default_rng(5)
    medians = np.median(rng.geometric(0.1, (100_000, 5)), axis=1)
    assert np.mean(medians <= low) >= 0.1 > np.mean(medians <= low - 1)
    assert np.mean(medians <= high) >= 0.9 > np.mean(medians <= high - 1)
    assert rb.median_of_runs_quantile(0.1, 9, 0.9) < high
    with pytest.raises(ValueError):
        rb.median_of_runs_quantile(0.1, 4, 0.5)


def test_a_larger_pilot_pins_the_thresholds_hit_rate():
    small = rb.pilot_rate_quantiles(20, [0.1, 0.9], rounds=20_000)
    large = rb.pilot_rate_quantiles(150, [0.1, 0.9], rounds=20_000)
    assert small[0] < large[0] < 0.1 < large[1] < small[1]
    assert small[1] - small[0] > 2 * (large[1] - large[0])
