"""The finance actions through the registry, on the bundled real data."""

from __future__ import annotations

import json
import types

import numpy as np
import pandas as pd
import pydantic
import pytest

from engine.actions import ActionContext, ActionError, UserRef, get_action
from engine.actions.base import ActionResult

FINANCE_ACTIONS = {
    "price_option",
    "implied_volatility",
    "optimize_portfolio",
    "efficient_frontier",
    "risk_report",
    "compute_indicators",
    "backtest_strategy",
    "correlation_matrix",
    "rolling_beta",
    "risk_contributions",
    "backtest_portfolio",
}


def run(name: str, **params) -> ActionResult:
    action = get_action(name)
    result = action.run(action.params_model(**params), ActionContext(user=UserRef.system()))
    json.dumps(result.to_json(max_table_rows=3))  # JSON-safe, series included
    return result


def test_catalogue_entries():
    for name in FINANCE_ACTIONS:
        action = get_action(name)
        assert action.category == "finance" and action.min_role == "analyst"
        assert not action.long and action.idempotent
        schema = action.parameter_schema()
        assert schema["type"] == "object" and schema["properties"]
        assert "252" in action.description or name == "compute_indicators"


def test_price_option_scalar_and_vectorised():
    one = run("price_option", spot=100, strike=100, maturity_years=1, rate=0.0, volatility=0.2)
    assert one.values["price"] == pytest.approx(7.965567455405804, abs=1e-12)
    assert set(one.values) >= {"price", "delta", "gamma", "vega", "theta", "rho"}
    many = run(
        "price_option",
        spot=100,
        strike=[90, 100, 110],
        maturity_years=0.5,
        rate=0.02,
        volatility=[0.2, 0.25, 0.3],
        option_type=["call", "put", "put"],
        method="monte_carlo",
        paths=20_000,
        seed=3,
    )
    assert len(many.values["price"]) == 3 and len(many.values["std_error"]) == 3
    assert many.values["seed"] == 3
    assert list(many.tables["options"].columns)[:2] == ["price", "delta"]


def test_option_validation_errors():
    model = get_action("price_option").params_model
    with pytest.raises(pydantic.ValidationError, match="greater than 0"):
        model(spot=100, strike=100, maturity_years=1, volatility=-0.2)
    with pytest.raises(pydantic.ValidationError, match="greater than 0"):
        model(spot=100, strike=100, maturity_years=[1, 0], volatility=0.2)
    with pytest.raises(pydantic.ValidationError):
        model(spot=100, strike=100, maturity_years=1, volatility=0.2, option_type="straddle")
    with pytest.raises(ActionError, match="equal lengths"):
        run("price_option", spot=[100, 101], strike=[1, 2, 3], maturity_years=1, volatility=0.2)


def test_implied_volatility_action():
    price = run("price_option", spot=100, strike=110, maturity_years=0.5, rate=0.01, volatility=0.3)
    out = run(
        "implied_volatility",
        price=price.values["price"],
        spot=100,
        strike=110,
        maturity_years=0.5,
        rate=0.01,
    )
    assert out.values["implied_volatility"] == pytest.approx(0.3, abs=1e-10)
    with pytest.raises(ActionError, match="no-arbitrage"):
        run("implied_volatility", price=150, spot=100, strike=110, maturity_years=0.5)


def test_optimize_portfolio_and_frontier():
    symbols = ["AAPL", "JNJ", "XOM", "KO", "MSFT"]
    out = run("optimize_portfolio", symbols=symbols, start="2015-01-01", objective="min_variance")
    weights = out.values["weights"]
    assert set(weights) == set(symbols) and sum(weights.values()) == pytest.approx(1.0)
    assert out.values["provenance"]["source"] == "bundled"
    assert out.values["estimation_start"] >= pd.Timestamp("2015-01-01")
    frontier = run("efficient_frontier", symbols=symbols, start="2015-01-01", n_points=6)
    assert len(frontier.tables["frontier"]) == 6
    curve, assets = frontier.series["frontier"], frontier.series["assets"]
    assert curve.x == sorted(frontier.tables["frontier"]["volatility"].tolist())
    assert sorted(assets.labels) == sorted(symbols) and len(assets.y["expected_return"]) == 5
    with pytest.raises(ActionError, match="highest achievable"):
        run(
            "optimize_portfolio",
            symbols=symbols,
            objective="efficient_return",
            target_return=3.0,
        )


def test_risk_report_portfolio_with_benchmark():
    out = run(
        "risk_report",
        symbols=["AAPL", "MSFT"],
        weights={"AAPL": 0.6, "MSFT": 0.4},
        benchmark="SPX",
        start="2010-01-01",
        horizon_days=5,
        mc_paths=5000,
        garch=True,
    )
    v = out.values
    assert {"historical", "parametric", "monte_carlo"} == set(v["var"])
    assert 0.5 < v["beta"] < 2.0 and "garch" in v
    assert "VaR" in out.summary and "return_distribution" in out.series
    histogram = out.series["return_distribution"]
    # every overlapping 5-day window of the portfolio's returns is counted once
    assert sum(histogram.y["count"]) == out.tables["daily"]["return"].count() - 4
    assert set(out.tables) == {"var", "daily"}


def test_indicators_action_on_ohlcv_and_close_only():
    spx = run("compute_indicators", symbols=["SPX"], start="2015-01-01", sma_window=[10, 50])
    table = spx.tables["SPX"]
    assert {"sma_10", "sma_50", "atr_14", "obv", "stoch_k_14"} <= set(table.columns)
    assert spx.values["latest"]["SPX"]["date"] == table.index[-1]
    close_only = run("compute_indicators", symbols=["AAPL"], start="2015-01-01")
    assert "atr_14" not in close_only.tables["AAPL"] and "skipped" in close_only.summary
    with pytest.raises(ActionError, match="ohlcv"):
        run("compute_indicators", symbols=["AAPL"], indicators=["atr"])


def test_backtest_action_and_signal_strategy():
    out = run(
        "backtest_strategy",
        symbols=["AAPL", "JNJ"],
        strategy="sma_crossover",
        fast=10,
        slow=40,
        cost_bps=5,
        start="2012-01-01",
    )
    v = out.values
    assert {"total_return", "cagr", "volatility", "sharpe", "max_drawdown", "n_trades"} <= set(v)
    assert "buy_and_hold" in v and "equity" in out.series
    curves = out.series["equity"]
    assert curves.y["strategy"][-1] == pytest.approx(1 + v["total_return"])
    assert curves.y["buy_and_hold"][-1] == pytest.approx(1 + v["buy_and_hold"]["total_return"])
    assert out.tables["equity"]["equity"].iloc[-1] == pytest.approx(1 + v["total_return"])
    signal = run(
        "backtest_strategy",
        symbols=["SPX"],
        strategy="signal",
        signal={"2016-01-04": 1, "2017-01-03": 0},
        start="2015-06-01",
        end="2018-12-31",
    )
    equity = signal.tables["equity"]
    flat = equity.loc["2017-01-05":, "net_return"]
    assert (flat == 0).all() and signal.values["n_trades"] == 2
    with pytest.raises(ActionError, match="long_short"):
        run("backtest_strategy", symbols=["SPX"], strategy="signal", signal={"2016-01-04": -1})


def test_unknown_symbols_and_bad_data(monkeypatch):
    with pytest.raises(ActionError, match="Unknown symbol"):
        run("risk_report", symbols=["NOPE"])
    dates = pd.bdate_range("2020-01-01", periods=50)

    def fake(frame):
        def load_prices(symbols, source="bundled", start=None, end=None, field="close"):
            return types.SimpleNamespace(frame=frame, provenance={"source": "test"})

        return load_prices

    constant = pd.DataFrame({"A": np.full(50, 10.0), "B": np.linspace(1, 2, 50)}, index=dates)
    monkeypatch.setattr("engine.finance.data.load_prices", fake(constant))
    for name, extra in [
        ("risk_report", {}),
        ("optimize_portfolio", {}),
        ("backtest_strategy", {"strategy": "buy_and_hold"}),
    ]:
        with pytest.raises(ActionError, match="constant"):
            run(name, symbols=["A", "B"], **extra)
    monkeypatch.setattr("engine.finance.data.load_prices", fake(constant.iloc[:0]))
    with pytest.raises(ActionError, match="empty"):
        run("risk_report", symbols=["A"])


def test_through_the_central_dispatcher_results_survive_storage():
    from engine.actions import call

    outcome = call(
        "price_option",
        {"spot": 100, "strike": 100, "maturity_years": 1, "volatility": 0.2},
        UserRef.system(),
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result.values["price"] == pytest.approx(7.965567455405804, abs=1e-12)
    outcome = call(
        "backtest_strategy",
        {"symbols": ["KO"], "strategy": "momentum", "lookback": 60, "start": "2018-01-01"},
        UserRef.system(),
    )
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result.values["strategy"] == "momentum"
    assert set(outcome.result.series["equity"].y) == {"strategy", "buy_and_hold", "drawdown"}
    with pytest.raises(ActionError, match="greater than 0"):
        call(
            "price_option",
            {"spot": 100, "strike": 1, "maturity_years": 1, "volatility": -1},
            UserRef.system(),
        )


def test_backtests_charge_costs_and_slippage_unless_zero_is_explicit():
    base = {"symbols": ["SPX"], "strategy": "sma_crossover", "start": "2010-01-01"}
    default = run("backtest_strategy", **base)
    free = run("backtest_strategy", **base, cost_bps=0, slippage_bps=0)
    assert default.values["cost_bps"] > 0 and default.values["slippage_bps"] > 0
    # same trades, and each one costs (5 + 2) bps of the turnover by default
    assert default.values["n_trades"] == free.values["n_trades"] > 0
    costs = default.tables["equity"]["cost"]
    turnover = (
        default.tables["equity"]["gross_exposure"]
        .diff()
        .abs()
        .fillna(default.tables["equity"]["gross_exposure"].iloc[0])
    )
    assert costs.sum() == pytest.approx(7 / 10_000 * turnover.sum())
    assert default.values["total_return"] < free.values["total_return"]
    assert "next-bar execution" in default.summary and "2 bps slippage" in default.summary
    assert "set to 0 explicitly" in free.summary and "set to 0" not in default.summary


def test_bundled_sp500_stocks_carry_a_survivorship_note():
    stocks = run("backtest_strategy", symbols=["AAPL", "JNJ"], strategy="buy_and_hold")
    index = run("backtest_strategy", symbols=["SPX"], strategy="buy_and_hold")
    assert stocks.values["survivorship_bias"] is True and "Survivorship bias" in stocks.summary
    assert index.values["survivorship_bias"] is False and "Survivorship" not in index.summary


def test_evaluate_after_scores_only_the_later_days():
    base = {"symbols": ["SPX"], "strategy": "momentum", "lookback": 60, "start": "2010-01-01"}
    whole = run("backtest_strategy", **base)
    later = run("backtest_strategy", **base, evaluate_after="2016-06-30")
    equity = later.tables["equity"]
    assert equity.index.min() > pd.Timestamp("2016-06-30")
    assert later.values["evaluate_after"] == "2016-06-30"
    assert "after 2016-06-30" in later.summary
    # the signal was warmed up on the earlier history: positions on the first later day
    # are the ones the whole-period run holds that day (not a cold start)
    first = equity.index[1]
    assert later.tables["equity"].loc[first, "net_exposure"] == pytest.approx(
        whole.tables["equity"].loc[first, "net_exposure"]
    )
    with pytest.raises(ActionError, match="fewer than two trading days"):
        run("backtest_strategy", **base, evaluate_after="2030-01-01")
