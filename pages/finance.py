"""Finance: options, portfolios, risk, indicators and backtests through forms.

The page only draws: every form is the action's own schema (``ui.forms.action_form``),
every run goes through the action registry (``ui.run.run_action``), and results are
the actions' own summaries, tables and the charts their presenters draw from them
(``ui.results.render_result``). The
last result of each action stays in the session, so switching tabs loses nothing.
"""

from collections.abc import Callable
from typing import Any

import streamlit as st

from engine.actions import get_action
from engine.finance.indicators import DEFAULTS as INDICATOR_WINDOWS
from ui.forms import action_form
from ui.reproduce import bundle_button
from ui.results import render_result
from ui.run import run_action
from ui.session import require_user

user = require_user()
st.title("Finance")
st.caption(
    "Conventions: simple daily returns, 252 trading days a year, rates and volatilities as "
    "decimals (0.2 = 20%), option maturities in years. Bundled real data works offline: "
    "20 S&P 500 stocks (1990–2022, close) and the SPX index (1999–2018, OHLCV)."
)

SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM"]
Prepare = Callable[[dict[str, Any]], dict[str, Any]]


def keep_relevant_targets(params: dict[str, Any]) -> dict[str, Any]:
    """The form always shows both targets; send only the one the objective reads."""
    objective = params.get("objective")
    if objective != "efficient_return":
        params.pop("target_return", None)
    if objective != "efficient_risk":
        params.pop("target_volatility", None)
    return params


def all_indicators_when_empty(params: dict[str, Any]) -> dict[str, Any]:
    """An emptied indicator list means "every indicator the data supports"."""
    if not params.get("indicators"):
        params.pop("indicators", None)
    return params


def action_panel(
    action_name: str,
    title: str,
    *,
    submit_label: str,
    defaults: dict[str, Any],
    basic_hidden: set[str],
    advanced_defaults: dict[str, Any] | None = None,
    prepare: Prepare | None = None,
    note: str | None = None,
) -> None:
    """Form on the left, the last result of this action on the right."""
    st.subheader(title)
    action = get_action(action_name)
    state_key = f"finance-last-{action_name}"
    if not action.allows(user.role):
        st.info(
            f"Running {action_name} needs the '{action.min_role}' role; you are "
            f"'{user.role}'. Ask an administrator if you need it.",
            icon=":material/lock:",
        )
        return
    form_col, result_col = st.columns([1, 2], gap="large")
    with form_col:
        advanced = st.toggle(
            "All parameters",
            key=f"fin-{action_name}-advanced",
            help="Show every parameter of the action, including the rarely used ones.",
        )
        if note:
            st.caption(note)
        params = action_form(
            action_name,
            defaults={**defaults, **(advanced_defaults or {})} if advanced else defaults,
            hidden=set() if advanced else basic_hidden,
            key=f"fin-{action_name}",
            submit_label=submit_label,
        )
        if params is not None:
            if prepare is not None:
                params = prepare(params)
            with st.spinner(f"Running {action_name}…"):
                outcome = run_action(action_name, params)
            if outcome is not None:
                st.session_state[state_key] = outcome
    with result_col:
        outcome = st.session_state.get(state_key)
        if outcome is None:
            st.caption("The result appears here.")
        elif outcome.result is None:
            st.info(f"Job {outcome.job_id} is {outcome.status}; follow it on the Jobs page.")
        else:
            st.caption(f"Last run: job {outcome.job_id}")
            render_result(outcome.result, key=f"fin-{action_name}-result", action=action_name)
            bundle_button(user, "job", outcome.job_id, key=f"fin-{action_name}-bundle")


options_tab, portfolio_tab, risk_tab, cross_tab, indicators_tab, backtest_tab = st.tabs(
    ["Options", "Portfolio", "Risk", "Correlation & beta", "Indicators", "Backtest"]
)

with options_tab:
    action_panel(
        "price_option",
        "Price and Greeks",
        submit_label="Price",
        defaults={
            "spot": 100.0,
            "strike": 100.0,
            "maturity_years": 0.5,
            "volatility": 0.2,
            "rate": 0.03,
            "dividend_yield": 0.0,
            "option_type": "call",
        },
        basic_hidden={"steps", "paths", "seed"},
        note="Numbers, or equal-length lists like [90, 100, 110] to price many options. "
        "One option also gets its payoff and Greeks against spot.",
    )
    st.divider()
    action_panel(
        "implied_volatility",
        "Implied volatility",
        submit_label="Solve",
        defaults={
            "price": 6.5,
            "spot": 100.0,
            "strike": 100.0,
            "maturity_years": 0.5,
            "rate": 0.03,
            "dividend_yield": 0.0,
            "option_type": "call",
        },
        basic_hidden={"steps"},
        note="Observed option price(s); prices outside the no-arbitrage bounds are rejected.",
    )

PORTFOLIO_DEFAULTS = {"symbols": SYMBOLS, "target_return": 0.15, "target_volatility": 0.2}
PORTFOLIO_NOTE = (
    "target_return is used by efficient_return, target_volatility by efficient_risk "
    "(annual decimals)."
)

with portfolio_tab:
    action_panel(
        "efficient_frontier",
        "Efficient frontier",
        submit_label="Trace frontier",
        defaults=PORTFOLIO_DEFAULTS,
        basic_hidden={"source", "covariance", "n_points"},
        prepare=keep_relevant_targets,
        note=PORTFOLIO_NOTE,
    )
    st.divider()
    action_panel(
        "optimize_portfolio",
        "Optimise weights",
        submit_label="Optimise",
        defaults=PORTFOLIO_DEFAULTS,
        basic_hidden={"source", "covariance"},
        prepare=keep_relevant_targets,
        note=PORTFOLIO_NOTE + " Long-only and a cap per symbol are fields below.",
    )
    st.divider()
    action_panel(
        "risk_contributions",
        "Risk contributions",
        submit_label="Decompose risk",
        defaults={"symbols": SYMBOLS},
        basic_hidden={"source"},
        note="Each symbol's share of the portfolio's volatility beside its share of capital; "
        "weights like AAPL 40%, MSFT 30%, JPM 20%, XOM 10% (equal if empty).",
    )
    st.divider()
    action_panel(
        "backtest_portfolio",
        "Walk-forward portfolio backtest",
        submit_label="Backtest portfolio",
        defaults={**PORTFOLIO_DEFAULTS, "start": "2005-01-01"},
        basic_hidden={"source", "covariance", "risk_free_rate"},
        prepare=keep_relevant_targets,
        note="Re-optimised at each rebalance on the past lookback days only (no look-ahead), "
        "held until the next, net of costs; compared with equal weights.",
    )

with risk_tab:
    action_panel(
        "risk_report",
        "Risk report",
        submit_label="Run risk report",
        defaults={"symbols": SYMBOLS, "benchmark": "SPX"},
        basic_hidden={"source", "mc_paths", "seed", "ewma_lambda", "garch", "risk_free_rate"},
        note="Weights like AAPL 40%, MSFT 60% (or decimals); equal weights if empty.",
    )

with cross_tab:
    action_panel(
        "correlation_matrix",
        "Correlation of returns",
        submit_label="Correlate",
        defaults={"symbols": SYMBOLS},
        basic_hidden={"source"},
        note="Daily returns on the dates every symbol has one.",
    )
    st.divider()
    action_panel(
        "rolling_beta",
        "Rolling beta",
        submit_label="Measure beta",
        defaults={"symbols": ["AAPL"], "benchmark": "SPX"},
        basic_hidden={"source"},
        note="Beta to the benchmark over a rolling window of past returns (bundled S&P 500 "
        "index: SPX, 1999–2018).",
    )

with indicators_tab:
    action_panel(
        "compute_indicators",
        "Technical indicators",
        submit_label="Compute",
        defaults={
            "symbols": ["AAPL"],
            "start": "2020-01-01",
            "indicators": ["sma", "ema", "rsi", "macd", "bollinger", "volatility"],
        },
        basic_hidden={"source", *INDICATOR_WINDOWS},
        advanced_defaults=INDICATOR_WINDOWS,
        prepare=all_indicators_when_empty,
        note="Leave the indicator list empty for every indicator the data supports; "
        "ATR, stochastic and OBV need OHLCV data (bundled: SPX). The chart shows the first "
        "symbol.",
    )

with backtest_tab:
    action_panel(
        "backtest_strategy",
        "Backtest a strategy",
        submit_label="Backtest",
        defaults={"symbols": SYMBOLS, "cost_bps": 5.0},
        basic_hidden={"source", "signal", "weights", "risk_free_rate"},
        note="Strategy parameters are read by their own strategy only; the position decided "
        "at a close earns the next day's return.",
    )
