"""Correlation, rolling beta, risk contributions and the walk-forward portfolio backtest,
checked against independent numpy/pandas computations; the walk-forward backtest is
checked for look-ahead with a dataset whose future holds a shock."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, ActionError, UserRef, get_action
from engine.actions.base import ActionResult
from engine.finance import analytics, walkforward

SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM"]


def run(name: str, **params) -> ActionResult:
    action = get_action(name)
    result = action.run(action.params_model(**params), ActionContext(user=UserRef.system()))
    stored = ActionResult.from_json(json.loads(json.dumps(result.to_json(), allow_nan=False)))
    assert stored.value_units == result.value_units
    return result


def synthetic_prices(
    days: int = 800, seed: int = 7, symbols=("A", "B", "C"), drifts=None, noise=0.012
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-01", periods=days)
    base = rng.normal(0.0003, 0.01, (days, 1))
    drift = np.full(len(symbols), 0.0002) if drifts is None else np.asarray(drifts)
    returns = 0.6 * base + drift + rng.normal(0.0, noise, (days, len(symbols)))
    return pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=index, columns=list(symbols))


# ----------------------------------------------------------------------------- correlation


def test_correlation_matches_pandas_on_the_common_dates():
    result = run("correlation_matrix", symbols=SYMBOLS, start="2000-01-01", end="2015-12-31")
    from engine.finance.data import load_close

    prices, _ = load_close(SYMBOLS, "bundled", "2000-01-01", "2015-12-31")
    returns = prices.pct_change(fill_method=None).iloc[1:].dropna()
    expected = returns.corr()
    matrix = result.tables["correlation"]
    np.testing.assert_allclose(matrix.loc[SYMBOLS, SYMBOLS], expected.loc[SYMBOLS, SYMBOLS])
    pairs = [expected.loc[a, b] for i, a in enumerate(SYMBOLS) for b in SYMBOLS[i + 1 :]]
    assert result.values["average_correlation"] == pytest.approx(np.mean(pairs))
    assert result.values["highest_correlation"] == pytest.approx(max(pairs))
    assert result.values["lowest_correlation"] == pytest.approx(min(pairs))
    assert result.values["days"] == len(returns)
    spearman = run("correlation_matrix", symbols=SYMBOLS[:2], method="spearman")
    prices, _ = load_close(SYMBOLS[:2])
    ranks = prices.pct_change(fill_method=None).iloc[1:].dropna().corr(method="spearman")
    assert spearman.tables["correlation"].iloc[0, 1] == pytest.approx(ranks.iloc[0, 1])
    assert result.value_units["average_correlation"] == "correlation"


def test_correlation_needs_overlapping_histories():
    frame = synthetic_prices(days=10)
    with pytest.raises(ActionError, match="at least 20"):
        analytics.correlation_matrix(frame)


# ----------------------------------------------------------------------------- rolling beta


def test_rolling_beta_matches_window_regressions():
    prices = synthetic_prices(days=400)
    out = analytics.rolling_beta(prices["A"], prices["B"], window=60)
    returns = prices.pct_change().iloc[1:]
    for position in (59, 150, len(returns) - 1):
        window = returns.iloc[position - 59 : position + 1]
        slope = np.polyfit(window["B"], window["A"], 1)[0]
        assert out.rolling["beta"].iloc[position] == pytest.approx(slope, rel=1e-9)
        corr = np.corrcoef(window["A"], window["B"])[0, 1]
        assert out.rolling["correlation"].iloc[position] == pytest.approx(corr, rel=1e-9)
    assert out.rolling["beta"].iloc[:59].isna().all()
    slope, intercept = np.polyfit(returns["B"], returns["A"], 1)
    assert out.beta == pytest.approx(slope, rel=1e-9)
    assert out.alpha == pytest.approx(intercept * 252, rel=1e-6)
    assert out.r_squared == pytest.approx(np.corrcoef(returns["A"], returns["B"])[0, 1] ** 2)


def test_rolling_beta_uses_past_returns_only():
    prices = synthetic_prices(days=300)
    shocked = prices.copy()
    shocked.iloc[200:, 1] *= np.linspace(1.0, 3.0, 100)  # the benchmark's future changes
    before = analytics.rolling_beta(prices["A"], prices["B"], 40).rolling
    after = analytics.rolling_beta(shocked["A"], shocked["B"], 40).rolling
    pd.testing.assert_frame_equal(before.iloc[:199], after.iloc[:199])
    assert not np.allclose(before["beta"].iloc[210:], after["beta"].iloc[210:])


def test_rolling_beta_action_on_the_bundled_index():
    result = run("rolling_beta", symbols=["AAPL"], benchmark="^GSPC", start="2010-01-01")
    assert result.values["benchmark"] == "SPX"
    from engine.finance import metrics
    from engine.finance.data import load_close

    asset, _ = load_close(["AAPL"], start="2010-01-01")
    bench, _ = load_close(["SPX"], start="2010-01-01")
    expected = metrics.beta(asset["AAPL"].pct_change().iloc[1:], bench["SPX"].pct_change().iloc[1:])
    assert result.values["beta"] == pytest.approx(expected, rel=1e-9)
    series = result.series["rolling_beta"]
    assert series.y["AAPL"][-1] == pytest.approx(result.values["latest_beta"])
    assert result.value_units["alpha"] == "fraction a year"
    with pytest.raises(ActionError, match="benchmark itself"):
        run("rolling_beta", symbols=["SPX"], benchmark="SPX")


# ----------------------------------------------------------------------------- contributions


def test_risk_contributions_add_up_and_match_finite_differences():
    prices = synthetic_prices(days=500, symbols=("A", "B", "C", "D"))
    weights = {"A": 0.4, "B": 0.3, "C": 0.2, "D": 0.1}
    out = analytics.risk_contributions(prices, weights)
    w = np.array(list(weights.values()))
    returns = prices.pct_change().iloc[1:]
    portfolio = returns.to_numpy() @ w
    assert out.volatility == pytest.approx(portfolio.std(ddof=1) * np.sqrt(252), rel=1e-12)
    table = out.table
    assert table["contribution"].sum() == pytest.approx(out.volatility, rel=1e-12)
    assert table["percent_contribution"].sum() == pytest.approx(1.0, abs=1e-12)
    cov = returns.cov().to_numpy() * 252

    def sigma(x):
        return np.sqrt(x @ cov @ x)

    h = 1e-6
    for i, symbol in enumerate(weights):
        bump = np.zeros(4)
        bump[i] = h
        derivative = (sigma(w + bump) - sigma(w - bump)) / (2 * h)
        assert table.loc[symbol, "marginal_contribution"] == pytest.approx(derivative, rel=1e-6)
    with pytest.raises(ActionError, match="add up to 1"):
        analytics.risk_contributions(prices, {"A": 40, "B": 30, "C": 20, "D": 10})
    with pytest.raises(ActionError, match="missing: D"):
        analytics.risk_contributions(prices, {"A": 0.5, "B": 0.3, "C": 0.2})


def test_risk_contributions_action_matches_the_optimiser_convention():
    result = run("risk_contributions", symbols=SYMBOLS, start="2005-01-01")
    table = result.tables["contributions"]
    assert table["weight"].tolist() == pytest.approx([0.25] * 4)
    assert result.values["sum_of_contributions"] == pytest.approx(result.values["volatility"])
    assert table["percent_contribution"].sum() == pytest.approx(1.0)
    assert result.units["contributions"]["percent_contribution"] == "fraction of volatility"


# ----------------------------------------------------------------------------- walk-forward


def closed_form_min_variance(window_prices: pd.DataFrame) -> np.ndarray:
    returns = window_prices.pct_change().iloc[1:]
    inverse = np.linalg.inv(returns.cov().to_numpy())
    ones = np.ones(len(inverse))
    return inverse @ ones / (ones @ inverse @ ones)


def test_walk_forward_weights_come_from_the_lookback_window_only():
    prices = synthetic_prices(days=600)
    out = walkforward.walk_forward(
        prices, "min_variance", lookback=120, bounds=(-5.0, 5.0), cost_bps=0.0
    )
    month_ends = prices.groupby(prices.index.to_period("M")).tail(1).index
    positions = [prices.index.get_loc(d) for d in month_ends]
    expected_dates = [d for d, p in zip(month_ends, positions, strict=True) if p >= 120]
    assert list(out.weights.index) == expected_dates
    for date in expected_dates[:3] + expected_dates[-2:]:
        t = prices.index.get_loc(date)
        expected = closed_form_min_variance(prices.iloc[t - 120 : t + 1])
        np.testing.assert_allclose(out.weights.loc[date].to_numpy(), expected, atol=1e-6)


def independent_equity(prices: pd.DataFrame, weights: pd.DataFrame, cost_bps: float):
    """Shares bought at each rebalance close and held (a failed rebalance, NaN weights,
    keeps them): the portfolio's value day by day."""
    value, shares, values, first = 1.0, None, [], weights.index[0]
    for date, row in prices.loc[first:].iterrows():
        if shares is not None:
            value = float((shares * row).sum())
        if date in weights.index and weights.loc[date].notna().all():
            current = shares * row / value if shares is not None else row * 0.0
            target = weights.loc[date]
            value -= value * cost_bps / 10_000 * float((target - current).abs().sum())
            shares = target * value / row
        values.append(value)
    return pd.Series(values, index=prices.loc[first:].index)


def test_walk_forward_equity_and_costs_match_a_share_ledger():
    prices = synthetic_prices(days=700)
    out = walkforward.walk_forward(prices, "max_sharpe", lookback=200, cost_bps=25.0)
    ledger = independent_equity(prices, out.weights, 25.0)
    np.testing.assert_allclose(out.strategy.equity.to_numpy(), ledger.to_numpy(), rtol=1e-10)
    free = walkforward.walk_forward(prices, "max_sharpe", lookback=200, cost_bps=0.0)
    assert out.strategy.stats["total_costs"] > 0
    assert free.strategy.stats["total_costs"] == 0
    assert out.strategy.equity.iloc[-1] < free.strategy.equity.iloc[-1]
    # the first day's net return is the cost of buying in from cash
    assert out.strategy.returns.iloc[0] == pytest.approx(-25.0 / 10_000)
    equal = independent_equity(
        prices, pd.DataFrame(1 / 3, index=out.weights.index, columns=prices.columns), 25.0
    )
    np.testing.assert_allclose(out.equal_weight.equity.to_numpy(), equal.to_numpy(), rtol=1e-10)


def test_walk_forward_has_no_look_ahead_on_a_future_shock():
    """C falls steadily, then triples over the last months: weights and equity before the
    shock are identical to a run on data that ends before it, and the optimiser buys C
    only once the shock is in its lookback window."""
    prices = synthetic_prices(days=700, drifts=[0.0015, 0.001, -0.002], noise=0.005)
    shock_start = 560
    shocked = prices.copy()
    shocked.iloc[shock_start:, 2] *= np.linspace(1.0, 3.0, len(prices) - shock_start)
    full = walkforward.walk_forward(shocked, "max_sharpe", lookback=120, cost_bps=10.0)
    cut = walkforward.walk_forward(
        shocked.iloc[:shock_start], "max_sharpe", lookback=120, cost_bps=10.0
    )
    # (the cut data's last day ends its month early, so it is one more rebalance there)
    before = cut.weights.index[:-1]
    assert cut.weights.index[-1] == shocked.index[shock_start - 1]
    assert cut.weights.index[-1] not in full.weights.index
    pd.testing.assert_frame_equal(full.weights.loc[before], cut.weights.loc[before])
    pd.testing.assert_series_equal(
        full.strategy.equity.iloc[: len(cut.strategy.equity) - 1],
        cut.strategy.equity.iloc[:-1],
    )
    later = full.weights.loc[full.weights.index > shocked.index[shock_start + 60]]
    assert full.weights.loc[before, "C"].max() < 0.05
    assert later["C"].mean() > 0.5


def test_backtest_portfolio_action(monkeypatch):
    result = run(
        "backtest_portfolio",
        symbols=SYMBOLS,
        objective="min_variance",
        start="2010-01-01",
        end="2016-12-31",
        weight_bounds=(0.0, 0.4),
    )
    weights = result.tables["weights"].dropna()
    assert (weights.to_numpy() <= 0.4 + 1e-6).all() and (weights.to_numpy() >= -1e-9).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert result.values["n_rebalances"] == len(result.tables["weights"])
    assert result.values["cost_bps"] == 5.0 and result.values["total_costs"] > 0
    assert result.value_units["total_return"] == "fraction"
    assert {"strategy", "equal_weight", "drawdown"} <= set(result.series["equity"].y)
    assert pd.Timestamp(result.values["start"]) > pd.Timestamp("2010-12-31")
    with pytest.raises(ActionError, match="rebalance"):
        run("backtest_portfolio", symbols=SYMBOLS[:2], start="2015-01-01", end="2015-06-30")


def test_backtest_portfolio_work_is_bounded(monkeypatch):
    from engine.finance import actions

    monkeypatch.setattr(actions, "MAX_WALK_FORWARD_WORK", 100)
    with pytest.raises(ActionError, match="rebalances"):
        run("backtest_portfolio", symbols=SYMBOLS, start="2010-01-01", end="2012-12-31")


# ----------------------------------------------------------------------------- option Greeks


def test_price_option_quotes_vega_per_vol_point_and_theta_per_day():
    base = {"spot": 100.0, "strike": 105.0, "maturity_years": 0.5, "rate": 0.03}
    result = run("price_option", **base, volatility=0.2)
    price = result.values["price"]

    def price_at(**change):
        return run("price_option", **{**base, "volatility": 0.2, **change}).values["price"]

    up, down = price_at(volatility=0.2 + 0.0005), price_at(volatility=0.2 - 0.0005)
    assert result.values["vega"] == pytest.approx((up - down) / 0.001 * 0.01, rel=1e-4)
    one_day_later = price_at(maturity_years=0.5 - 1 / 365)
    assert result.values["theta"] == pytest.approx(one_day_later - price, rel=2e-2)
    rate_up, rate_down = price_at(rate=0.0305), price_at(rate=0.0295)
    assert result.values["rho"] == pytest.approx((rate_up - rate_down) / 0.001 * 0.01, rel=1e-4)
    assert result.value_units["vega"] == "per vol point"
    assert result.value_units["theta"] == "per calendar day"
    assert "count" not in result.value_units and "seed" not in result.value_units
    assert result.tables["options"]["vega"].iloc[0] == pytest.approx(result.values["vega"])
