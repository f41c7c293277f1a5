"""Performance metrics on series of simple periodic returns.

Conventions: ``returns`` are simple returns per period (daily by default),
``periods`` is the number of periods in a year (252 trading days), the risk-free
rate is an annual decimal converted to ``risk_free_rate / periods`` per period.
Functions accept a pandas Series or a 1-D numpy array; NaNs are dropped. Ratios
whose denominator is zero return NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.finance import TRADING_DAYS
from engine.lazy import pandas as pd


def _clean(returns) -> np.ndarray:
    values = np.asarray(returns, dtype=np.float64).ravel()
    return values[~np.isnan(values)]


def simple_returns(prices: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """``p_t / p_{t-1} - 1``; the first (undefined) row is dropped."""
    return prices.pct_change(fill_method=None).iloc[1:]


def annual_return(returns, periods: int = TRADING_DAYS) -> float:
    """Arithmetic mean return × periods."""
    values = _clean(returns)
    return float(values.mean() * periods) if values.size else float("nan")


def cagr(returns, periods: int = TRADING_DAYS) -> float:
    """Compound annual growth rate: ``prod(1 + r) ** (periods / n) - 1``."""
    values = _clean(returns)
    if values.size == 0:
        return float("nan")
    growth = float(np.prod(1.0 + values))
    if growth <= 0:
        return -1.0
    return growth ** (periods / values.size) - 1.0


def total_return(returns) -> float:
    values = _clean(returns)
    return float(np.prod(1.0 + values) - 1.0)


def volatility(returns, periods: int = TRADING_DAYS) -> float:
    """Sample standard deviation (ddof=1) × √periods."""
    values = _clean(returns)
    if values.size < 2:
        return float("nan")
    return float(values.std(ddof=1) * np.sqrt(periods))


def sharpe(returns, risk_free_rate: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """``(mean(r) × periods − rf) / volatility``."""
    vol = volatility(returns, periods)
    if not vol > 0:
        return float("nan")
    return (annual_return(returns, periods) - risk_free_rate) / vol


def downside_deviation(returns, risk_free_rate: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """``√(mean(min(r − rf/periods, 0)²)) × √periods`` (all periods in the mean)."""
    values = _clean(returns) - risk_free_rate / periods
    if values.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.minimum(values, 0.0) ** 2)) * np.sqrt(periods))


def sortino(returns, risk_free_rate: float = 0.0, periods: int = TRADING_DAYS) -> float:
    """``(mean(r) × periods − rf) / downside_deviation``."""
    downside = downside_deviation(returns, risk_free_rate, periods)
    if not downside > 0:
        return float("nan")
    return (annual_return(returns, periods) - risk_free_rate) / downside


def equity_curve(returns: pd.Series, start: float = 1.0) -> pd.Series:
    """Wealth ``start × cumprod(1 + r)``."""
    return start * (1.0 + returns.fillna(0.0)).cumprod()


def drawdown(equity: pd.Series | np.ndarray) -> pd.Series | np.ndarray:
    """``equity / running peak − 1`` (zero at new highs, negative below)."""
    if isinstance(equity, pd.Series):
        return equity / equity.cummax() - 1.0
    values = np.asarray(equity, dtype=np.float64)
    return values / np.maximum.accumulate(values) - 1.0


@dataclass
class Drawdown:
    """The deepest peak-to-trough fall of an equity curve (``depth`` ≤ 0)."""

    depth: float
    peak: object = None
    trough: object = None
    recovery: object = None  # first date back at the peak, None if not recovered


def max_drawdown(equity: pd.Series) -> Drawdown:
    """Maximum drawdown of an equity (wealth) curve, with peak/trough/recovery labels."""
    equity = equity.dropna()
    if equity.empty:
        return Drawdown(depth=float("nan"))
    dd = np.asarray(drawdown(equity), dtype=np.float64)
    trough_pos = int(np.argmin(dd))
    depth = float(dd[trough_pos])
    if depth == 0.0:
        return Drawdown(depth=0.0)
    peak_pos = int(np.argmax(equity.to_numpy()[: trough_pos + 1]))
    peak_value = equity.iloc[peak_pos]
    after = equity.iloc[trough_pos:]
    recovered = after[after >= peak_value]
    return Drawdown(
        depth=depth,
        peak=equity.index[peak_pos],
        trough=equity.index[trough_pos],
        recovery=recovered.index[0] if len(recovered) else None,
    )


def max_drawdown_from_returns(returns: pd.Series) -> Drawdown:
    """Max drawdown of ``cumprod(1 + r)`` starting from 1 before the first return."""
    equity = equity_curve(returns)
    depth = min(float(drawdown(np.concatenate([[1.0], equity.to_numpy()])).min()), 0.0)
    found = max_drawdown(equity)
    if depth < found.depth:  # the peak was the starting value itself
        trough = equity.index[int(np.argmin(equity.to_numpy()))]
        recovered = equity[equity >= 1.0]
        recovered = recovered[recovered.index > trough]
        return Drawdown(
            depth=depth,
            peak=None,
            trough=trough,
            recovery=recovered.index[0] if len(recovered) else None,
        )
    return found


def calmar(returns, periods: int = TRADING_DAYS) -> float:
    """CAGR / |max drawdown|."""
    series = pd.Series(_clean(returns))
    depth = max_drawdown_from_returns(series).depth
    if not depth < 0:
        return float("nan")
    return cagr(series, periods) / abs(depth)


def beta(returns: pd.Series, benchmark: pd.Series) -> float:
    """``cov(r, b) / var(b)`` on the dates both series have."""
    joined = pd.concat([returns, benchmark], axis=1, join="inner").dropna()
    if len(joined) < 2:
        return float("nan")
    cov = np.cov(joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy(), ddof=1)
    return float(cov[0, 1] / cov[1, 1]) if cov[1, 1] > 0 else float("nan")


def correlation(returns: pd.Series, benchmark: pd.Series) -> float:
    joined = pd.concat([returns, benchmark], axis=1, join="inner").dropna()
    if len(joined) < 2:
        return float("nan")
    return float(joined.iloc[:, 0].corr(joined.iloc[:, 1]))
