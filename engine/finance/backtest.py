"""Vectorised backtests of position series, and the built-in strategies.

Semantics (:func:`run_positions`):

- ``positions`` hold, for each date t and symbol, the fraction of equity the
  strategy wants to hold after the close of day t, decided with data up to t.
- The position decided on day t earns day t+1's simple return:
  ``gross_{t+1} = Σ_i position_{t,i} × r_{t+1,i}``. Positions are rebalanced to
  their targets every day (constant-weight semantics).
- Costs: ``cost_bps / 10,000 × Σ_i |position_{t,i} − position_{t−1,i}|`` are
  charged on day t, the day of the trade (``position_{−1} = 0``, so entering the
  first positions costs too). ``net_t = gross_t − cost_t``.
- Equity starts at 1 before the first day: ``equity_t = Π_{s≤t} (1 + net_s)``.
- A missing price gives that symbol a zero return for the day.

Strategies (:func:`strategy_positions`) produce per-symbol signals in {−1, 0, 1}
(−1 only with ``long_short``) multiplied by the symbol weights (equal by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS, metrics
from engine.finance.indicators import rsi as rsi_indicator
from engine.lazy import pandas as pd

STRATEGIES = ("buy_and_hold", "sma_crossover", "momentum", "mean_reversion", "rsi", "signal")
STRATEGY_DEFAULTS: dict[str, dict[str, float]] = {
    "buy_and_hold": {},
    "sma_crossover": {"fast": 20, "slow": 50},
    "momentum": {"lookback": 126},
    "mean_reversion": {"window": 20, "entry_z": 1.0, "exit_z": 0.0},
    "rsi": {"window": 14, "lower": 30.0, "upper": 70.0},
    "signal": {},
}


@dataclass
class BacktestResult:
    """Daily series of a backtest and its summary statistics (``stats``)."""

    returns: pd.Series  # net daily returns
    gross_returns: pd.Series
    costs: pd.Series
    turnover: pd.Series  # Σ_i |Δ position| per day
    positions: pd.DataFrame
    equity: pd.Series
    drawdown: pd.Series
    stats: dict[str, float | int | str | None] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "equity": self.equity,
                "drawdown": self.drawdown,
                "net_return": self.returns,
                "gross_return": self.gross_returns,
                "cost": self.costs,
                "gross_exposure": self.positions.abs().sum(axis=1),
                "net_exposure": self.positions.sum(axis=1),
            }
        )


def _check_prices(prices: pd.DataFrame) -> None:
    if prices.shape[0] < 2 or prices.shape[1] == 0:
        raise ActionError("a backtest needs at least two dates of prices")
    if (prices <= 0).to_numpy().any():
        raise ActionError("prices must be positive")


def run_positions(
    prices: pd.DataFrame,
    positions: pd.DataFrame,
    cost_bps: float = 0.0,
    risk_free_rate: float = 0.0,
) -> BacktestResult:
    """Backtest target positions against prices (see module docstring).

    ``positions`` are aligned to the price dates and symbols; a missing entry means
    flat (0). Returns a :class:`BacktestResult` whose ``stats`` hold the summary.
    """
    if isinstance(prices, pd.Series):
        prices = prices.to_frame()
    if isinstance(positions, pd.Series):
        positions = positions.to_frame(prices.columns[0] if prices.shape[1] == 1 else None)
    _check_prices(prices)
    if cost_bps < 0:
        raise ActionError("cost_bps must be >= 0")
    missing = [c for c in positions.columns if c not in prices.columns]
    if missing:
        raise ActionError(f"positions for symbols without prices: {', '.join(map(str, missing))}")
    pos = positions.reindex(index=prices.index, columns=prices.columns).fillna(0.0)
    price_values = prices.to_numpy(dtype=np.float64)
    pos_values = pos.to_numpy(dtype=np.float64)
    asset_returns = np.zeros_like(price_values)
    asset_returns[1:] = price_values[1:] / price_values[:-1] - 1.0
    asset_returns[~np.isfinite(asset_returns)] = 0.0
    gross = np.zeros(price_values.shape[0])
    gross[1:] = np.einsum("ij,ij->i", pos_values[:-1], asset_returns[1:])
    changes = np.diff(pos_values, axis=0, prepend=0.0)
    turnover = np.abs(changes).sum(axis=1)
    costs = cost_bps / 10_000.0 * turnover
    net = gross - costs
    equity = np.cumprod(1.0 + net)
    index = prices.index
    result = BacktestResult(
        returns=pd.Series(net, index=index, name="net_return"),
        gross_returns=pd.Series(gross, index=index, name="gross_return"),
        costs=pd.Series(costs, index=index, name="cost"),
        turnover=pd.Series(turnover, index=index, name="turnover"),
        positions=pos,
        equity=pd.Series(equity, index=index, name="equity"),
        drawdown=pd.Series(_drawdown(equity), index=index, name="drawdown"),
    )
    result.stats = summarise(result, risk_free_rate, n_trades=int(np.count_nonzero(changes)))
    return result


def _drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak, counting the starting capital of 1 as a peak."""
    return equity / np.maximum(np.maximum.accumulate(equity), 1.0) - 1.0


def summarise(result: BacktestResult, risk_free_rate: float, n_trades: int) -> dict:
    returns = result.returns
    depth = float(min(result.drawdown.min(), 0.0))
    trough = peak = None
    if depth < 0:
        trough_pos = int(np.argmin(result.drawdown.to_numpy()))
        head = result.equity.to_numpy()[: trough_pos + 1]
        peak_pos = int(np.argmax(head)) if head.max() >= 1.0 else 0
        trough, peak = returns.index[trough_pos], returns.index[peak_pos]
    years = len(returns) / TRADING_DAYS
    total = float(result.equity.iloc[-1] - 1.0)
    cagr = metrics.cagr(returns)
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": metrics.volatility(returns),
        "sharpe": metrics.sharpe(returns, risk_free_rate),
        "sortino": metrics.sortino(returns, risk_free_rate),
        "max_drawdown": depth,
        "max_drawdown_peak": peak,
        "max_drawdown_trough": trough,
        "calmar": cagr / abs(depth) if depth < 0 else float("nan"),
        "n_trades": n_trades,
        "turnover": float(result.turnover.sum() / years) if years > 0 else float("nan"),
        "total_costs": float(result.costs.sum()),
        "exposure": float((result.positions.abs().sum(axis=1) > 0).mean()),
        "start": returns.index[0],
        "end": returns.index[-1],
        "days": len(returns),
    }


def _hysteresis(enter: pd.DataFrame, leave: pd.DataFrame, value: float) -> pd.DataFrame:
    """``value`` from an ``enter`` event until the next ``leave`` event, else 0."""
    state = pd.DataFrame(np.nan, index=enter.index, columns=enter.columns)
    state = state.mask(leave, 0.0).mask(enter, value)
    return state.ffill().fillna(0.0)


def _direction(score: pd.DataFrame, long_short: bool) -> pd.DataFrame:
    signal = np.sign(score).fillna(0.0)
    return signal if long_short else signal.clip(lower=0.0)


def strategy_signals(
    prices: pd.DataFrame, strategy: str, params: dict | None = None, long_short: bool = False
) -> pd.DataFrame:
    """Per-symbol signals in {−1, 0, 1} decided at each close from past prices only."""
    strategy = strategy.strip().lower()
    if strategy not in STRATEGIES or strategy == "signal":
        raise ActionError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    p = {**STRATEGY_DEFAULTS[strategy], **(params or {})}
    unknown = set(p) - set(STRATEGY_DEFAULTS[strategy])
    if unknown:
        raise ActionError(f"unknown parameter(s) for {strategy}: {', '.join(sorted(unknown))}")
    if strategy == "buy_and_hold":
        return pd.DataFrame(1.0, index=prices.index, columns=prices.columns)
    if strategy == "sma_crossover":
        fast, slow = int(p["fast"]), int(p["slow"])
        if not 1 <= fast < slow:
            raise ActionError("sma_crossover needs 1 <= fast < slow")
        if slow > len(prices):
            raise ActionError(f"slow window {slow} is longer than the {len(prices)} price rows")
        spread = prices.rolling(fast).mean() - prices.rolling(slow).mean()
        return _direction(spread, long_short)
    if strategy == "momentum":
        lookback = int(p["lookback"])
        if not 1 <= lookback < len(prices):
            raise ActionError(f"lookback must be between 1 and {len(prices) - 1}")
        return _direction(prices / prices.shift(lookback) - 1.0, long_short)
    if strategy == "mean_reversion":
        window, entry, exit_ = int(p["window"]), float(p["entry_z"]), float(p["exit_z"])
        if window < 2 or not 0 <= exit_ < entry:
            raise ActionError("mean_reversion needs window >= 2 and 0 <= exit_z < entry_z")
        mean = prices.rolling(window).mean()
        std = prices.rolling(window).std(ddof=0)
        z = (prices - mean) / std.where(std > 0)
        signal = _hysteresis(z < -entry, z >= -exit_, 1.0)
        if long_short:
            signal = signal + _hysteresis(z > entry, z <= exit_, -1.0)
        return signal
    window, lower, upper = int(p["window"]), float(p["lower"]), float(p["upper"])
    if window < 2 or not 0 <= lower < upper <= 100:
        raise ActionError("rsi strategy needs window >= 2 and 0 <= lower < upper <= 100")
    values = prices.apply(lambda column: _rsi_or_nan(column, window))
    events = pd.DataFrame(np.nan, index=prices.index, columns=prices.columns)
    state = events.mask(values > upper, -1.0).mask(values < lower, 1.0).ffill().fillna(0.0)
    return state if long_short else state.clip(lower=0.0)


def _rsi_or_nan(column: pd.Series, window: int) -> pd.Series:
    valid = column.dropna()
    return rsi_indicator(valid, window).reindex(column.index)


def symbol_weights(columns, weights: dict[str, float] | None) -> pd.Series:
    """Equal weights by default; given weights are fractions of equity (not rescaled,
    so weights adding up to 2 mean 2× leverage; unlisted symbols get 0)."""
    if not weights:
        return pd.Series(1.0 / len(columns), index=columns)
    unknown = [s for s in weights if s not in columns]
    if unknown:
        raise ActionError(f"weights given for symbols not in the backtest: {', '.join(unknown)}")
    series = pd.Series({c: float(weights.get(c, 0.0)) for c in columns})
    if (series < 0).any():
        raise ActionError("symbol weights must be >= 0 (use long_short for short positions)")
    if series.sum() <= 0:
        raise ActionError("symbol weights must add up to a positive number")
    return series


def strategy_positions(
    prices: pd.DataFrame,
    strategy: str,
    params: dict | None = None,
    long_short: bool = False,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Signals × symbol weights; zero where a symbol has no price."""
    signals = strategy_signals(prices, strategy, params, long_short)
    return signals.mul(symbol_weights(prices.columns, weights), axis=1).where(prices.notna(), 0.0)


def run_strategy(
    prices: pd.DataFrame,
    strategy: str,
    params: dict | None = None,
    cost_bps: float = 0.0,
    long_short: bool = False,
    weights: dict[str, float] | None = None,
    risk_free_rate: float = 0.0,
) -> BacktestResult:
    _check_prices(prices)
    positions = strategy_positions(prices, strategy, params, long_short, weights)
    return run_positions(prices, positions, cost_bps, risk_free_rate)
