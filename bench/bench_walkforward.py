"""What a walk-forward portfolio backtest costs per rebalance (sets MAX_WALK_FORWARD_WORK),
and what formatting a long result table for display adds.

1. ``walkforward.walk_forward`` (max_sharpe, monthly, 252-day lookback) on synthetic
   daily prices of 4 to 40 symbols over 1,500 days (~60 rebalances), one BLAS thread,
   sizes interleaved in every round so machine load affects each alike; median wall and
   CPU seconds per rebalance and µs per rebalance × symbol².
2. ``ui.results.display_table`` (dates without times, percent columns) against the
   baseline it replaced (``reset_index`` only) on backtest_strategy's 8,300-row equity
   table, interleaved; median milliseconds, CPU beside wall, and the ratio.

    PYTHONPATH=. .venv/bin/python bench/bench_walkforward.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from engine.finance import walkforward

SIZES = (4, 10, 20, 40)
DAYS = 1_500


def prices(n: int, rng: np.random.Generator) -> pd.DataFrame:
    market = rng.normal(0.0003, 0.01, (DAYS, 1))
    returns = rng.normal(0.0002, 0.015, (DAYS, n)) + market
    index = pd.bdate_range("2010-01-01", periods=DAYS)
    return pd.DataFrame(
        100 * np.cumprod(1 + returns, axis=0), index=index, columns=[f"S{i}" for i in range(n)]
    )


def timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def walk_forward_costs(rounds: int) -> None:
    rng = np.random.default_rng(0)
    inputs = {n: prices(n, rng) for n in SIZES}
    rebalances = {
        n: len(walkforward.rebalance_positions(inputs[n].index, "monthly", 252)) for n in SIZES
    }
    wall: dict[int, list[float]] = {n: [] for n in SIZES}
    cpu: dict[int, list[float]] = {n: [] for n in SIZES}
    with threadpool_limits(limits=1):
        for _ in range(rounds):
            for n in SIZES:
                w, c = timed(lambda n=n: walkforward.walk_forward(inputs[n], cost_bps=7.0))
                wall[n].append(w / rebalances[n])
                cpu[n].append(c / rebalances[n])
    print(
        "| symbols | rebalances | wall s / rebalance (median) | CPU s / rebalance | "
        "µs CPU per rebalance × symbol² |"
    )
    print("|---|---|---|---|---|")
    for n in SIZES:
        w, c = statistics.median(wall[n]), statistics.median(cpu[n])
        print(f"| {n} | {rebalances[n]} | {w:.4f} | {c:.4f} | {c / n**2 * 1e6:.0f} |")


def display_costs(rounds: int) -> None:
    from engine.actions import ActionContext, UserRef, get_action
    from ui.results import display_table

    action = get_action("backtest_strategy")
    result = action.run(
        action.params_model(symbols=["AAPL", "MSFT"]), ActionContext(user=UserRef.system())
    )
    frame, units = result.tables["equity"], result.units["equity"]
    samples: dict[str, list[tuple[float, float]]] = {"baseline": [], "display_table": []}
    for _ in range(rounds * 5):
        samples["baseline"].append(timed(lambda: frame.reset_index()))
        samples["display_table"].append(timed(lambda: display_table(frame, units)))
    print(f"\nequity table: {len(frame):,} rows × {frame.shape[1]} columns")
    print("| | wall ms (median) | CPU ms (median) |")
    print("|---|---|---|")
    medians = {}
    for name, values in samples.items():
        w = statistics.median(v[0] for v in values) * 1e3
        c = statistics.median(v[1] for v in values) * 1e3
        medians[name] = w
        print(f"| {name} | {w:.2f} | {c:.2f} |")
    ratio = medians["display_table"] / medians["baseline"]
    print(f"ratio display_table / baseline (wall): {ratio:.1f}")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    walk_forward_costs(count)
    display_costs(count)
