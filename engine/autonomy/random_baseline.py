"""Random search's top decile and its median trials, from a pool of random configurations.

The autonomy benchmark (``bench/bench_autonomy.py --pool N``) trains N configurations
drawn as random search draws them; the goal threshold is the pool's 90th percentile and
random search's median trials to reach it are computed exactly from the pool, not
estimated from a few random-search runs (whose median varies widely: see
:func:`median_of_runs_quantile`). Pure functions, no training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

QUANTILE = 90


def pool_threshold(values: Sequence[float | None], quantile: float = QUANTILE) -> float:
    """The ``quantile``-th percentile of the pool (linear interpolation); a failed
    configuration (``None``) counts as the pool's worst value."""
    finite = [v for v in values if v is not None]
    if not finite:
        raise ValueError("every configuration of the pool failed")
    worst = min(finite)
    return float(np.percentile([worst if v is None else v for v in values], quantile))


def hits(values: Sequence[float | None], threshold: float) -> list[bool]:
    """Which configurations reach the threshold (at or above it)."""
    return [v is not None and v >= threshold for v in values]


def geometric_median(rate: float) -> int | float:
    """Median trials to the first success of independent draws that each succeed with
    probability ``rate`` (random search sampling the pool's distribution with
    replacement): the smallest n with 1 - (1 - rate)^n >= 1/2. ``inf`` when ``rate``
    is 0."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate {rate} is not a probability")
    if rate == 0:
        return math.inf
    if rate == 1:
        return 1
    n = max(1, math.ceil(math.log(0.5) / math.log1p(-rate)))
    # Guard the floating-point edge on either side of the exact boundary.
    while n > 1 and 1 - (1 - rate) ** (n - 1) >= 0.5:
        n -= 1
    while 1 - (1 - rate) ** n < 0.5:
        n += 1
    return n


def first_hit_survival(pool_size: int, hit_count: int, n: int) -> float:
    """P(no hit in the first n draws) when drawing without replacement from a pool of
    ``pool_size`` configurations of which ``hit_count`` hit."""
    survival = 1.0
    for i in range(n):
        if pool_size - i <= 0:
            return 0.0
        survival *= max(pool_size - hit_count - i, 0) / (pool_size - i)
    return survival


def without_replacement_median(pool_size: int, hit_count: int) -> int | float:
    """Median trials to the first hit drawing the pool in a random order (without
    replacement): the smallest n with P(first hit <= n) >= 1/2. ``inf`` without hits."""
    if not 0 <= hit_count <= pool_size or pool_size < 1:
        raise ValueError(f"{hit_count} hits in a pool of {pool_size}")
    if hit_count == 0:
        return math.inf
    n = 1
    while first_hit_survival(pool_size, hit_count, n) > 0.5:
        n += 1
    return n


def permutation_first_hits(pool_hits: Sequence[bool], rounds: int, seed: int) -> np.ndarray:
    """The first-hit index (1-based) of the pool in each of ``rounds`` random orders."""
    flags = np.asarray(pool_hits, dtype=bool)
    if not flags.any():
        raise ValueError("no configuration of the pool hits")
    rng = np.random.default_rng(seed)
    orders = np.argsort(rng.random((rounds, flags.size)), axis=1)
    return np.argmax(flags[orders], axis=1) + 1


def permutation_median(pool_hits: Sequence[bool], rounds: int = 10_000, seed: int = 0) -> float:
    """Median first-hit index over ``rounds`` random permutations of the pool (a check
    of :func:`without_replacement_median` by simulation)."""
    return float(np.median(permutation_first_hits(pool_hits, rounds, seed)))


def median_of_runs_quantile(rate: float, runs: int, q: float) -> int:
    """The q-quantile of the median of ``runs`` (odd) independent random-search runs,
    each Geometric(``rate``): how much a few runs' median varies. P(median <= n) is the
    probability that at least (runs + 1) / 2 runs succeed within n trials."""
    if runs % 2 == 0 or runs < 1:
        raise ValueError("runs must be odd")
    if not 0 < rate <= 1 or not 0 < q < 1:
        raise ValueError("rate and q must be probabilities")
    need = (runs + 1) // 2
    n = 1
    while True:
        f = 1 - (1 - rate) ** n
        below = sum(
            math.comb(runs, j) * f**j * (1 - f) ** (runs - j) for j in range(need, runs + 1)
        )
        if below >= q:
            return n
        n += 1


def pilot_rate_quantiles(
    pilot: int,
    qs: Sequence[float],
    rounds: int = 100_000,
    seed: int = 0,
    quantile: float = QUANTILE,
) -> list[float]:
    """The spread of the true hit rate of a threshold set at the ``quantile``-th
    percentile of a ``pilot`` of ``pilot`` configurations (continuous metric values,
    simulated): the rate's quantiles ``qs``."""
    rng = np.random.default_rng(seed)
    draws = rng.random((rounds, pilot))
    thresholds = np.percentile(draws, quantile, axis=1)
    return [float(v) for v in np.quantile(1 - thresholds, qs)]
