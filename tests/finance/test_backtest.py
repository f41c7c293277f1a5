"""Backtests: hand-computed costs, the one-day shift (no look-ahead) and strategies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionError
from engine.data.bundled import sp500_stocks
from engine.finance import backtest

DATES = pd.bdate_range("2024-01-01", periods=4)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return sp500_stocks()[["AAPL", "JNJ", "XOM", "KO"]].iloc[-1500:]


def test_costs_and_returns_by_hand():
    px = pd.DataFrame({"A": [100.0, 110.0, 99.0, 99.0]}, index=DATES)
    pos = pd.DataFrame({"A": [1.0, 1.0, 0.0, 0.0]}, index=DATES)
    result = backtest.run_positions(px, pos, cost_bps=10)
    # day 0: buy (cost 0.001); day 1: +10 %; day 2: -10 % and sell (cost 0.001); day 3: flat
    np.testing.assert_allclose(result.returns, [-0.001, 0.1, -0.101, 0.0], atol=1e-15)
    np.testing.assert_allclose(result.equity.iloc[-1], 0.999 * 1.1 * 0.899, rtol=1e-14)
    assert result.stats["total_return"] == pytest.approx(0.999 * 1.1 * 0.899 - 1)
    assert result.stats["n_trades"] == 2
    np.testing.assert_allclose(result.costs, [0.001, 0, 0.001, 0])
    assert result.stats["total_costs"] == pytest.approx(0.002)


def test_two_symbols_long_short_costs_by_hand():
    px = pd.DataFrame({"A": [10.0, 11.0, 12.1, 12.1], "B": [20.0, 19.0, 19.0, 20.9]}, index=DATES)
    pos = pd.DataFrame({"A": [0.5, 0.5, -0.5, -0.5], "B": [-0.5, 0.5, 0.5, 0.5]}, index=DATES)
    result = backtest.run_positions(px, pos, cost_bps=20)
    c = 20 / 10_000
    expected = [
        -c * 1.0,  # enter 0.5 + 0.5
        0.5 * 0.10 + (-0.5) * (-0.05) - c * 1.0,  # B flips from -0.5 to +0.5
        0.5 * 0.10 + 0.5 * 0.0 - c * 1.0,  # A flips from +0.5 to -0.5
        -0.5 * 0.0 + 0.5 * 0.10,
    ]
    np.testing.assert_allclose(result.returns, expected, atol=1e-14)
    assert result.stats["n_trades"] == 4
    np.testing.assert_allclose(result.turnover, [1.0, 1.0, 1.0, 0.0])


def test_same_day_return_sign_is_not_a_perfect_signal(prices):
    """A signal equal to the sign of the return realised on its own row is known only at
    that close, so it must earn the NEXT day's return: no perfect result."""
    returns = prices.pct_change()
    signal = np.sign(returns).fillna(0.0).clip(lower=0.0)
    result = backtest.run_positions(prices, signal / prices.shape[1])
    invested = result.gross_returns[result.positions.shift(1).abs().sum(axis=1) > 0]
    assert (invested < 0).mean() > 0.3  # a look-ahead bug would make every day >= 0
    assert result.stats["sharpe"] < 3
    # the naive (unshifted) computation would look perfect:
    naive = (signal * returns).sum(axis=1).iloc[1:] / prices.shape[1]
    assert (naive >= 0).all()


def test_a_leaked_future_signal_is_perfect_proving_the_shift_is_exactly_one_day(prices):
    future_sign = np.sign(prices.pct_change().shift(-1)).fillna(0.0).clip(lower=0.0)
    result = backtest.run_positions(prices, future_sign / prices.shape[1])
    assert (result.gross_returns >= 0).all()


@pytest.mark.parametrize("strategy", ["sma_crossover", "momentum", "mean_reversion", "rsi"])
def test_strategies_use_past_prices_only(prices, strategy):
    cut = 1000
    base = backtest.run_strategy(prices, strategy, cost_bps=5, long_short=True)
    future = prices.copy()
    future.iloc[cut + 1 :] *= np.random.default_rng(1).uniform(
        0.5, 1.5, future.iloc[cut + 1 :].shape
    )
    changed = backtest.run_strategy(future, strategy, cost_bps=5, long_short=True)
    pd.testing.assert_series_equal(base.returns.iloc[: cut + 1], changed.returns.iloc[: cut + 1])
    pd.testing.assert_frame_equal(base.positions.iloc[: cut + 1], changed.positions.iloc[: cut + 1])
    assert not base.returns.iloc[cut + 2 :].equals(changed.returns.iloc[cut + 2 :])


def test_sma_crossover_positions_by_hand():
    px = pd.DataFrame({"A": [1.0, 2.0, 3.0, 2.0, 1.0, 1.0, 3.0]})
    signals = backtest.strategy_signals(px, "sma_crossover", {"fast": 1, "slow": 3})
    # SMA3: nan nan 2 2.333 2 1.333 1.667 ; close above it -> long
    assert signals["A"].tolist() == [0, 0, 1, 0, 0, 0, 1]
    short = backtest.strategy_signals(px, "sma_crossover", {"fast": 1, "slow": 3}, long_short=True)
    assert short["A"].tolist() == [0, 0, 1, -1, -1, -1, 1]


def test_mean_reversion_enters_beyond_band_and_exits_at_the_mean():
    z_path = pd.DataFrame({"A": [100, 100, 100, 90, 95, 99, 101, 102, 112, 105, 99.0]})
    signals = backtest.strategy_signals(
        z_path, "mean_reversion", {"window": 3, "entry_z": 1.0, "exit_z": 0.0}, long_short=True
    )
    mean = z_path["A"].rolling(3).mean()
    z = (z_path["A"] - mean) / z_path["A"].rolling(3).std(ddof=0)
    state, expected = 0.0, []
    for value in z:
        if value < -1:
            state = 1.0
        elif value > 1:
            state = -1.0
        elif (state > 0 and value >= 0) or (state < 0 and value <= 0):
            state = 0.0
        expected.append(state)
    assert signals["A"].tolist() == expected
    assert 1.0 in expected and -1.0 in expected


def test_buy_and_hold_equals_the_price_path_and_weights_are_applied(prices):
    single = backtest.run_strategy(prices[["AAPL"]], "buy_and_hold")
    ratio = prices["AAPL"] / prices["AAPL"].iloc[0]
    np.testing.assert_allclose(single.equity, ratio, rtol=1e-10)
    weighted = backtest.run_strategy(prices, "buy_and_hold", weights={"AAPL": 0.7, "KO": 0.3})
    assert weighted.positions.iloc[-1].to_dict() == {"AAPL": 0.7, "JNJ": 0.0, "XOM": 0.0, "KO": 0.3}
    assert weighted.stats["n_trades"] == 2


def test_stats_are_consistent(prices):
    result = backtest.run_strategy(prices, "momentum", {"lookback": 60}, cost_bps=3)
    stats = result.stats
    assert stats["total_return"] == pytest.approx(result.equity.iloc[-1] - 1)
    years = len(result.returns) / 252
    assert stats["cagr"] == pytest.approx(result.equity.iloc[-1] ** (1 / years) - 1)
    assert stats["max_drawdown"] == pytest.approx(result.drawdown.min())
    assert stats["max_drawdown_peak"] < stats["max_drawdown_trough"]
    assert stats["turnover"] == pytest.approx(result.turnover.sum() / years)
    table = result.table()
    assert list(table.columns[:3]) == ["equity", "drawdown", "net_return"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "sma_crossover", "params": {"fast": 50, "slow": 20}}, "fast < slow"),
        ({"strategy": "magic"}, "unknown strategy"),
        ({"strategy": "momentum", "params": {"window": 3}}, "unknown parameter"),
        ({"strategy": "buy_and_hold", "weights": {"TSLA": 1.0}}, "not in the backtest"),
        ({"strategy": "buy_and_hold", "cost_bps": -1}, "cost_bps"),
    ],
)
def test_bad_backtest_requests(prices, kwargs, message):
    with pytest.raises(ActionError, match=message):
        backtest.run_strategy(prices, **kwargs)
