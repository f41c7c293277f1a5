"""Risk measures: VaR/CVaR estimators, EWMA, GARCH and the full report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from engine.actions import ActionError
from engine.data.bundled import sp500_stocks
from engine.finance import risk


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return sp500_stocks().loc["2012":"2022", ["AAPL", "JNJ", "XOM"]]


def test_historical_var_cvar_by_hand():
    returns = pd.Series(np.arange(-10, 10) / 100.0)  # -10 % .. 9 %
    var, cvar = risk.var_historical(returns, confidence=0.9)
    q = np.quantile(returns, 0.1)  # -0.081 (linear interpolation)
    assert var == pytest.approx(-q)
    assert cvar == pytest.approx(0.095)  # mean of -10 % and -9 %


def test_parametric_var_matches_scipy_normal():
    rng = np.random.default_rng(3)
    returns = pd.Series(rng.normal(0.0005, 0.01, 5000))
    mu, sigma = returns.mean() * 10, returns.std(ddof=1) * np.sqrt(10)
    var, cvar = risk.var_parametric(returns, 0.99, horizon=10)
    assert var == pytest.approx(-norm.ppf(0.01, mu, sigma))
    expected_cvar = -(mu - sigma * norm.pdf(norm.ppf(0.99)) / 0.01)
    assert cvar == pytest.approx(expected_cvar)


def test_monte_carlo_var_agrees_with_parametric_for_one_day(prices):
    returns = risk.portfolio_returns(prices)
    asset = prices.pct_change().loc[returns.index]
    mc = risk.var_monte_carlo(asset, np.full(3, 1 / 3), 0.95, 1, paths=200_000, seed=1)
    parametric = risk.var_parametric(returns, 0.95, 1)
    assert mc[0] == pytest.approx(parametric[0], rel=0.02)
    assert mc[1] == pytest.approx(parametric[1], rel=0.02)
    assert risk.var_monte_carlo(asset, np.full(3, 1 / 3), paths=5000, seed=4) == (
        risk.var_monte_carlo(asset, np.full(3, 1 / 3), paths=5000, seed=4)
    )


def test_ewma_recursion_by_hand():
    returns = pd.Series([0.01, -0.02, 0.015, 0.0, 0.03])
    out = risk.ewma_volatility(returns, lam=0.9, seed_days=2)
    variance = (0.01**2 + 0.02**2) / 2
    for r, value in zip(returns, out, strict=True):
        variance = 0.9 * variance + 0.1 * r * r
        assert value == pytest.approx(np.sqrt(variance * 252))


def test_report_values(prices):
    weights = {"AAPL": 0.5, "JNJ": 0.3, "XOM": 0.2}
    out = risk.report(prices, weights, benchmark=prices["JNJ"], confidence=0.99, horizon_days=5)
    v = out["values"]
    expected = prices.pct_change().dropna() @ pd.Series(weights)
    assert v["volatility"] == pytest.approx(expected.std() * np.sqrt(252))
    assert v["max_drawdown"] < 0 and v["max_drawdown_peak"] < v["max_drawdown_trough"]
    for method in ("historical", "parametric", "monte_carlo"):
        assert 0 < v["var"][method]["var"] < v["var"][method]["cvar"] < 0.5
    assert 0 < v["beta"] < 2
    garch = v["garch"]
    assert garch["converged"] and 0 < garch["alpha"] + garch["beta"] < 1
    assert 0.05 < garch["next_day_volatility"] < 1.0
    assert v["sortino"] > v["sharpe"] > 0
    # the equity curve starts at 1 on the first price date
    assert out["equity"].index[0] == prices.index[0] and out["equity"].iloc[0] == 1.0


def test_single_symbol_drawdown_dates_on_a_known_path():
    dates = pd.bdate_range("2024-01-01", periods=60)
    path = np.concatenate(
        [np.linspace(100, 150, 20), np.linspace(150, 90, 20), np.linspace(90, 160, 20)]
    )
    frame = pd.DataFrame({"X": path}, index=dates)
    v = risk.report(frame, garch=False)["values"]
    assert v["max_drawdown"] == pytest.approx(90 / 150 - 1)
    assert v["max_drawdown_peak"] == dates[19] and v["max_drawdown_trough"] == dates[39]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": {"AAPL": 0.5, "JNJ": 0.3}}, "missing"),
        ({"weights": {"AAPL": 0.5, "JNJ": 0.3, "XOM": 0.3}}, "add up to 1"),
        ({"confidence": 1.2}, "confidence"),
        ({"horizon_days": 0}, "horizon_days"),
    ],
)
def test_bad_report_requests(prices, kwargs, message):
    with pytest.raises(ActionError, match=message):
        risk.report(prices, garch=False, **kwargs)


def test_constant_or_short_series_are_rejected():
    dates = pd.bdate_range("2024-01-01", periods=40)
    with pytest.raises(ActionError, match="constant"):
        risk.portfolio_returns(pd.DataFrame({"X": np.full(40, 10.0)}, index=dates))
    with pytest.raises(ActionError, match="at least 20"):
        risk.portfolio_returns(pd.DataFrame({"X": np.arange(1.0, 11.0)}, index=dates[:10]))
