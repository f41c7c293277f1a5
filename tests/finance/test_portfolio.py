"""Portfolio optimisation against PyPortfolioOpt (test-only) under the same estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pypfopt import EfficientFrontier, HRPOpt, expected_returns, risk_models

from engine.actions import ActionError
from engine.data.bundled import sp500_stocks
from engine.finance import portfolio

SYMBOLS = ["AAPL", "AMD", "BAC", "CVX", "JNJ", "KO", "MSFT", "PG", "WMT", "XOM"]


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return sp500_stocks().loc["2016":"2022", SYMBOLS]


def _pypfopt_inputs(prices, covariance):
    mu = expected_returns.mean_historical_return(prices, compounding=False)
    if covariance == "sample":
        cov = risk_models.sample_cov(prices)
    else:
        cov = risk_models.CovarianceShrinkage(prices).ledoit_wolf()
    return mu, cov


@pytest.mark.parametrize("covariance", ["sample", "ledoit_wolf"])
def test_estimators_match_pypfopt(prices, covariance):
    est = portfolio.estimate(prices, covariance)
    mu, cov = _pypfopt_inputs(prices, covariance)
    np.testing.assert_allclose(est.mu, mu, rtol=1e-12)
    np.testing.assert_allclose(est.cov, cov, rtol=1e-10)


@pytest.mark.parametrize("covariance", ["sample", "ledoit_wolf"])
@pytest.mark.parametrize("objective", ["min_variance", "max_sharpe"])
def test_weights_match_pypfopt(prices, covariance, objective):
    est = portfolio.estimate(prices, covariance)
    ours = portfolio.optimize(est, objective, risk_free_rate=0.02)
    ef = EfficientFrontier(*_pypfopt_inputs(prices, covariance), solver="CLARABEL")
    if objective == "min_variance":
        expected = ef.min_volatility()
    else:
        expected = ef.max_sharpe(risk_free_rate=0.02)
    expected = pd.Series(expected)[ours.weights.index]
    np.testing.assert_allclose(ours.weights, expected, atol=1e-4)
    ret, vol, sharpe = ef.portfolio_performance(risk_free_rate=0.02)
    assert ours.expected_return == pytest.approx(ret, abs=1e-6)
    assert ours.volatility == pytest.approx(vol, abs=1e-6)
    assert ours.sharpe == pytest.approx(sharpe, abs=1e-5)


def test_hrp_matches_pypfopt(prices):
    est = portfolio.estimate(prices)
    ours = portfolio.optimize(est, "hrp")
    hrp = HRPOpt(prices.pct_change().dropna())
    expected = pd.Series(hrp.optimize())[ours.weights.index]
    np.testing.assert_allclose(ours.weights, expected, atol=1e-10)


def test_efficient_return_and_risk_hit_their_targets(prices):
    est = portfolio.estimate(prices)
    mu, cov = est.mu.to_numpy(), est.cov.to_numpy()
    low, high = portfolio.return_range(mu, cov)
    target = low + 0.6 * (high - low)
    by_return = portfolio.optimize(est, "efficient_return", target_return=target)
    assert by_return.expected_return == pytest.approx(target, abs=1e-8)
    by_risk = portfolio.optimize(est, "efficient_risk", target_volatility=by_return.volatility)
    assert by_risk.volatility <= by_return.volatility + 1e-8
    assert by_risk.expected_return == pytest.approx(target, abs=1e-6)
    # the frontier is increasing in both coordinates and starts at the minimum variance
    frontier = portfolio.frontier(est, n_points=8)
    assert np.all(np.diff(frontier["expected_return"]) > 0)
    assert np.all(np.diff(frontier["volatility"]) > -1e-9)
    minimum = portfolio.optimize(est, "min_variance")
    assert frontier["volatility"].iloc[0] == pytest.approx(minimum.volatility, abs=1e-7)


def test_risk_parity_equalises_risk_contributions(prices):
    est = portfolio.estimate(prices)
    result = portfolio.optimize(est, "risk_parity")
    contributions = np.array(list(result.extras["risk_contributions"].values()))
    np.testing.assert_allclose(contributions, 1 / len(SYMBOLS), atol=1e-7)
    assert result.weights.sum() == pytest.approx(1.0)


def test_bounds_and_long_short(prices):
    est = portfolio.estimate(prices)
    capped = portfolio.optimize(est, "max_sharpe", bounds=(0.0, 0.2))
    assert capped.weights.max() <= 0.2 + 1e-9 and capped.weights.sum() == pytest.approx(1.0)
    free = portfolio.optimize(est, "min_variance", bounds=(-1.0, 1.0))
    assert free.weights.min() < 0  # shorting lowers variance further
    long_only = portfolio.optimize(est, "min_variance")
    assert free.volatility < long_only.volatility


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "efficient_return", "target_return": 5.0}, "above the highest achievable"),
        ({"objective": "efficient_risk", "target_volatility": 0.01}, "below the lowest"),
        ({"objective": "efficient_return"}, "needs target_return"),
        ({"objective": "min_variance", "bounds": (0.0, 0.05)}, "cannot add up to one"),
        ({"objective": "max_sharpe", "risk_free_rate": 5.0}, "risk-free rate"),
        ({"objective": "magic"}, "unknown objective"),
    ],
)
def test_impossible_requests_raise_action_error(prices, kwargs, message):
    est = portfolio.estimate(prices)
    with pytest.raises(ActionError, match=message):
        portfolio.optimize(est, **kwargs)


def test_constant_and_empty_prices_are_rejected(prices):
    flat = prices.iloc[:100].copy()
    flat["KO"] = 50.0
    with pytest.raises(ActionError, match="no variation: KO"):
        portfolio.estimate(flat)
    with pytest.raises(ActionError, match="fewer than two dates"):
        portfolio.estimate(prices.iloc[:2])
