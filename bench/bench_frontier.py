"""What an efficient frontier costs by number of symbols (sets MAX_FRONTIER_WORK).

Times ``portfolio.frontier`` (one constrained optimisation per point) on synthetic
daily returns of 10 to 100 symbols, one BLAS thread, sizes interleaved in every round so
machine load affects each alike; prints the median seconds per point and per point and
symbol², and what the maximum 200 points would take.

    PYTHONPATH=. .venv/bin/python bench/bench_frontier.py [rounds] [points]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.finance import portfolio

SIZES = (10, 20, 40, 70, 100)
DAYS = 1_000


def estimates(n: int, rng: np.random.Generator) -> portfolio.Estimates:
    market = rng.normal(0.0, 0.01, (DAYS, 1))
    returns = pd.DataFrame(
        rng.normal(0.0004, 0.015, (DAYS, n)) + market, columns=[f"S{i}" for i in range(n)]
    )
    return portfolio.Estimates(mu=returns.mean() * 252, cov=returns.cov() * 252, returns=returns)


def main(rounds: int = 3, points: int = 4) -> None:
    rng = np.random.default_rng(0)
    inputs = {n: estimates(n, rng) for n in SIZES}
    seconds: dict[int, list[float]] = {n: [] for n in SIZES}
    with threadpool_limits(limits=1):
        for _ in range(rounds):
            for n in SIZES:
                started = time.perf_counter()
                portfolio.frontier(inputs[n], points)
                seconds[n].append((time.perf_counter() - started) / points)
    print("| symbols | s per point (median, min–max) | µs per point × symbol² | 200 points |")
    print("|---|---|---|---|")
    for n in SIZES:
        median = statistics.median(seconds[n])
        print(
            f"| {n} | {median:.3f} ({min(seconds[n]):.3f}–{max(seconds[n]):.3f}) | "
            f"{median / n**2 * 1e6:.0f} | {200 * median:.0f} s |"
        )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
