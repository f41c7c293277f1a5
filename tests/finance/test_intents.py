"""The offline planner reaches the cross-asset finance actions (engine/finance/intents.py)
with every stated value used, and leaves the older finance requests where they were."""

from __future__ import annotations

import pytest

from engine.llm.planner import plan

CASES = [
    ("beta of AAPL to the S&P", "rolling_beta", {"symbols": ["AAPL"], "benchmark": "SPX"}),
    (
        "rolling 60-day beta of MSFT vs SPX since 2010",
        "rolling_beta",
        {"symbols": ["MSFT"], "benchmark": "SPX", "window": 60, "start": "2010-01-01"},
    ),
    (
        "rolling 6 month beta of KO to the market",
        "rolling_beta",
        {"symbols": ["KO"], "benchmark": "SPX", "window": 126},
    ),
    (
        "backtest a min variance portfolio of AAPL and MSFT since 2010",
        "backtest_portfolio",
        {"objective": "min_variance", "start": "2010-01-01"},
    ),
    (
        "Backtest a momentum strategy on a portfolio of AAPL and MSFT",
        "backtest_strategy",
        {"strategy": "momentum"},
    ),
    (
        "correlation matrix of AAPL, MSFT, JPM and XOM since 2010",
        "correlation_matrix",
        {"symbols": ["AAPL", "MSFT", "JPM", "XOM"], "start": "2010-01-01"},
    ),
    (
        "how do AAPL and XOM move together? use spearman",
        "correlation_matrix",
        {"symbols": ["AAPL", "XOM"], "method": "spearman"},
    ),
    (
        "risk contributions of AAPL 40%, MSFT 30%, JPM 20%, XOM 10%",
        "risk_contributions",
        {"weights": {"AAPL": 0.4, "MSFT": 0.3, "JPM": 0.2, "XOM": 0.1}},
    ),
    (
        "decompose the risk of an equal weight portfolio of AAPL, MSFT and KO",
        "risk_contributions",
        {"symbols": ["AAPL", "MSFT", "KO"]},
    ),
    (
        "Backtest a max-Sharpe portfolio of AAPL, MSFT, JPM and XOM rebalanced monthly with "
        "a 1-year lookback, no stock above 40%, 5 bps costs",
        "backtest_portfolio",
        {
            "objective": "max_sharpe",
            "rebalance": "monthly",
            "lookback_days": 252,
            "cost_bps": 5.0,
            "weight_bounds": (0.0, 0.4),
        },
    ),
    (
        "walk-forward min variance portfolio of AAPL MSFT XOM rebalanced quarterly from 2005 "
        "to 2015",
        "backtest_portfolio",
        {
            "objective": "min_variance",
            "rebalance": "quarterly",
            "start": "2005-01-01",
            "end": "2015-12-31",
        },
    ),
    # the older finance intents keep their requests
    (
        "Risk report for JPM: 99% VaR over 10 days, beta to SPX",
        "risk_report",
        {"benchmark": "SPX", "horizon_days": 10},
    ),
    ("Optimise a max-Sharpe portfolio of AAPL, MSFT and KO since 2010", "optimize_portfolio", {}),
    ("Backtest a 20/50 SMA crossover on AAPL with 5 bps costs", "backtest_strategy", {}),
]


@pytest.mark.parametrize(("request_text", "action", "expected"), CASES)
def test_cross_asset_requests(request_text, action, expected):
    result = plan(request_text)
    assert result.calls, result.message
    call = result.calls[0]
    assert call.action == action, call.describe()
    for name, value in expected.items():
        assert call.params[name] == (pytest.approx(value) if isinstance(value, dict) else value)
    assert result.not_understood == []  # every stated value was used


def test_what_the_portfolio_backtest_cannot_take_is_named():
    result = plan(
        "backtest a long/short max sharpe portfolio of AAPL, KO and XOM with no costs, "
        "weights capped at 30%, 10% turnover limit"
    )
    call = result.calls[0]
    assert call.action == "backtest_portfolio"
    assert call.params["weight_bounds"] == (-1.0, 0.3) and call.params["cost_bps"] == 0.0
    assert any("turnover" in part for part in result.not_understood), result.not_understood


def test_missing_symbols_are_asked_for():
    asked = plan("show me the correlation matrix")
    assert not asked.calls and asked.missing and "symbols" in asked.missing[0]
