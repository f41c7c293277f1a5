"""Performance metrics on small hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.finance import metrics

RETURNS = [0.01, -0.02, 0.03, 0.0]


def test_sharpe_sortino_volatility_by_hand():
    mean = (0.01 - 0.02 + 0.03 + 0.0) / 4  # 0.005
    var = ((0.005) ** 2 + (0.025) ** 2 + (0.025) ** 2 + (0.005) ** 2) / 3
    vol = math.sqrt(var) * math.sqrt(252)
    assert metrics.volatility(RETURNS) == pytest.approx(vol)
    assert metrics.sharpe(RETURNS) == pytest.approx(mean * 252 / vol)
    assert metrics.sharpe(RETURNS, risk_free_rate=0.0252) == pytest.approx(
        (mean * 252 - 0.0252) / vol
    )
    downside = math.sqrt((0.02**2) / 4) * math.sqrt(252)
    assert metrics.sortino(RETURNS) == pytest.approx(mean * 252 / downside)
    assert metrics.total_return(RETURNS) == pytest.approx(1.01 * 0.98 * 1.03 - 1)
    assert metrics.cagr(RETURNS) == pytest.approx((1.01 * 0.98 * 1.03) ** (252 / 4) - 1)


def test_max_drawdown_dates_and_recovery():
    dates = pd.bdate_range("2024-01-01", periods=8)
    equity = pd.Series([1.0, 1.2, 0.9, 1.0, 1.3, 0.65, 1.0, 1.31], index=dates)
    dd = metrics.max_drawdown(equity)
    assert dd.depth == pytest.approx(-0.5)
    assert (dd.peak, dd.trough, dd.recovery) == (dates[4], dates[5], dates[7])
    assert metrics.max_drawdown(equity.iloc[:7]).recovery is None


def test_drawdown_from_the_starting_capital():
    returns = pd.Series([-0.1, 0.05, -0.2])
    dd = metrics.max_drawdown_from_returns(returns)
    assert dd.depth == pytest.approx(0.9 * 1.05 * 0.8 - 1)
    assert metrics.calmar(returns) == pytest.approx(metrics.cagr(returns) / abs(dd.depth))


def test_beta_and_degenerate_inputs():
    bench = pd.Series([0.01, -0.02, 0.015, 0.0, 0.005])
    asset = 2.0 * bench + 0.001
    assert metrics.beta(asset, bench) == pytest.approx(2.0)
    assert metrics.correlation(asset, bench) == pytest.approx(1.0)
    assert math.isnan(metrics.sharpe([0.01, 0.01, 0.01]))
    assert math.isnan(metrics.volatility([0.01]))
    assert math.isnan(metrics.beta(asset, pd.Series(np.zeros(5))))
