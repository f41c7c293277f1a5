"""Walk-forward backtest of an optimised portfolio: weights re-optimised on past data
only, rebalanced on a calendar, held (drifting with prices) in between, net of costs.

Semantics (no look-ahead):

- The rebalance days are the last trading day of each week, month or quarter on the
  dates where every symbol has a price. On rebalance day t the optimiser sees the
  ``lookback`` daily returns ending at t's close, and nothing later; the first
  rebalance is the first such day with ``lookback`` returns behind it.
- The target weights are traded at t's close; they earn from day t+1. Between
  rebalances the holdings drift with prices (no daily re-weighting):
  ``w_{i,t+1} = w_{i,t} (1 + r_{i,t+1}) / (1 + Σ_j w_{j,t} r_{j,t+1})``.
- Costs: ``cost_bps / 10,000 × Σ_i |target_i − drifted_i|`` of the portfolio's value at
  t's close, charged on day t (the first rebalance from cash pays for buying the whole
  portfolio).
- Equity starts at 1 on the evening before the first rebalance day, so the first
  day's net return is the cost of buying in; the returns, equity and statistics run
  from the first rebalance day to the end.
- A rebalance whose optimisation fails (e.g. an unreachable target return) keeps the
  holdings as they are; the result lists those dates.
- The comparison is the equal-weight portfolio on the same rebalance days with the
  same costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.actions.base import ActionError
from engine.finance import backtest, portfolio
from engine.lazy import pandas as pd

FREQUENCIES = {"weekly": "W", "monthly": "M", "quarterly": "Q"}


def rebalance_positions(index: pd.DatetimeIndex, frequency: str, lookback: int) -> np.ndarray:
    """Row positions of the last trading day of each period with ``lookback`` returns
    (``lookback + 1`` prices) behind it."""
    if frequency not in FREQUENCIES:
        raise ActionError(f"rebalance must be one of {', '.join(FREQUENCIES)}")
    periods = pd.Series(np.arange(len(index)), index=index).groupby(
        index.to_period(FREQUENCIES[frequency])
    )
    last = periods.max().to_numpy()
    return last[last >= lookback]


@dataclass
class Simulation:
    returns: pd.Series  # net daily returns from the first rebalance day
    gross: pd.Series
    costs: pd.Series
    turnover: pd.Series
    holdings: pd.DataFrame  # weights after each day's close (after trading)
    failed: list[pd.Timestamp] = field(default_factory=list)


def simulate(
    prices: pd.DataFrame,
    rebalances: np.ndarray,
    target: Callable[[int], np.ndarray | None],
    cost_bps: float,
) -> Simulation:
    """Hold drifting weights, trade to ``target(t)`` at each rebalance position t (None:
    keep the holdings). Everything before the first rebalance is cash and not reported."""
    values = prices.to_numpy(dtype=np.float64)
    n_days, n_assets = values.shape
    asset_returns = np.zeros_like(values)
    asset_returns[1:] = values[1:] / values[:-1] - 1.0
    first = int(rebalances[0])
    is_rebalance = np.zeros(n_days, dtype=bool)
    is_rebalance[rebalances] = True
    held = np.zeros(n_assets)
    gross = np.zeros(n_days)
    costs = np.zeros(n_days)
    turnover = np.zeros(n_days)
    holdings = np.zeros((n_days, n_assets))
    failed: list[pd.Timestamp] = []
    rate = cost_bps / 10_000.0
    for t in range(first, n_days):
        if t > first:
            growth = held * (1.0 + asset_returns[t])
            gross[t] = growth.sum() - held.sum()
            total = 1.0 + gross[t]
            held = growth / total if total > 0 else growth
        if is_rebalance[t]:
            wanted = target(t)
            if wanted is None:
                failed.append(prices.index[t])
            else:
                turnover[t] = float(np.abs(wanted - held).sum())
                # a fraction of the day's closing value, expressed per unit of the previous
                # close's equity (the day's net return is gross − cost)
                costs[t] = rate * turnover[t] * (1.0 + gross[t])
                held = np.asarray(wanted, dtype=float).copy()
        holdings[t] = held
    index = prices.index[first:]
    return Simulation(
        returns=pd.Series(gross[first:] - costs[first:], index=index, name="net_return"),
        gross=pd.Series(gross[first:], index=index, name="gross_return"),
        costs=pd.Series(costs[first:], index=index, name="cost"),
        turnover=pd.Series(turnover[first:], index=index, name="turnover"),
        holdings=pd.DataFrame(holdings[first:], index=index, columns=prices.columns),
        failed=failed,
    )


def as_backtest(sim: Simulation, risk_free_rate: float) -> backtest.BacktestResult:
    """The simulation as a :class:`~engine.finance.backtest.BacktestResult` with stats."""
    equity = (1.0 + sim.returns).cumprod().rename("equity")
    drawdown = equity / np.maximum(equity.cummax(), 1.0) - 1.0
    result = backtest.BacktestResult(
        returns=sim.returns,
        gross_returns=sim.gross,
        costs=sim.costs,
        turnover=sim.turnover,
        positions=sim.holdings,
        equity=equity,
        drawdown=drawdown.rename("drawdown"),
    )
    trades = int((sim.turnover > 0).sum())
    result.stats = backtest.summarise(result, risk_free_rate, n_trades=trades)
    return result


@dataclass
class WalkForward:
    strategy: backtest.BacktestResult
    equal_weight: backtest.BacktestResult
    weights: pd.DataFrame  # rebalance date -> target weights (NaN where it failed)
    failed: list[pd.Timestamp]
    lookback: int


def walk_forward(
    prices: pd.DataFrame,
    objective: str = "max_sharpe",
    *,
    lookback: int = 252,
    frequency: str = "monthly",
    covariance: str = "sample",
    bounds: tuple[float, float] = (0.0, 1.0),
    risk_free_rate: float = 0.0,
    target_return: float | None = None,
    target_volatility: float | None = None,
    cost_bps: float = 0.0,
    on_step: Callable[[int, int], None] | None = None,
) -> WalkForward:
    """Re-optimise on the last ``lookback`` returns at every rebalance (see the module)."""
    prices = prices.dropna(how="any")
    if prices.shape[1] < 2:
        raise ActionError("a portfolio backtest needs at least two symbols")
    rebalances = rebalance_positions(pd.DatetimeIndex(prices.index), frequency, lookback)
    if len(rebalances) < 2:
        raise ActionError(
            f"{len(prices)} common dates leave {len(rebalances)} {frequency} rebalance(s) "
            f"after the {lookback}-day lookback; use a shorter lookback or a longer range"
        )
    symbols = [str(c) for c in prices.columns]
    prices = prices.set_axis(symbols, axis=1)
    targets: dict[int, np.ndarray | None] = {}
    errors: list[str] = []

    def optimised(t: int) -> np.ndarray | None:
        # Prices at rows t - lookback .. t: exactly `lookback` returns ending at t's close.
        window = prices.iloc[t - lookback : t + 1]
        try:
            estimates = portfolio.estimate(window, covariance)
            result = portfolio.optimize(
                estimates,
                objective,
                risk_free_rate=risk_free_rate,
                bounds=bounds,
                target_return=target_return,
                target_volatility=target_volatility,
            )
        except ActionError as error:
            errors.append(str(error))
            targets[t] = None
            return None
        weights = result.weights.reindex(symbols).to_numpy(dtype=float)
        targets[t] = weights
        if on_step is not None:
            on_step(len(targets), len(rebalances))
        return weights

    strategy = simulate(prices, rebalances, optimised, cost_bps)
    equal = np.full(len(symbols), 1.0 / len(symbols))
    bench = simulate(prices, rebalances, lambda t: equal, cost_bps)
    if all(v is None for v in targets.values()):
        raise ActionError(f"every rebalance's optimisation failed; the first: {errors[0]}")
    weights = pd.DataFrame(
        [
            targets[t] if targets[t] is not None else np.full(len(symbols), np.nan)
            for t in rebalances
        ],
        index=prices.index[rebalances],
        columns=symbols,
    ).rename_axis("date")
    return WalkForward(
        strategy=as_backtest(strategy, risk_free_rate),
        equal_weight=as_backtest(bench, risk_free_rate),
        weights=weights,
        failed=strategy.failed,
        lookback=lookback,
    )
