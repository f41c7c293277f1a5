"""The finance presenters (ui/presenters/finance.py) draw each action's charts from the
data of a real result, fresh or read back from storage; the option profile's curves are
the pricer's and its payoff is the payoff."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.actions import ActionContext, ActionResult, UserRef, get_action
from engine.finance.options import DESK_SCALE, price_options
from engine.finance.profile import PROFILE_POINTS
from ui.presenters import PRESENTERS, figures_for
from ui.presenters.finance import option_profile_figure

GREEKS = ("delta", "gamma", "vega", "theta")


def curves(figure) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {trace.name: (np.asarray(trace.x), np.asarray(trace.y)) for trace in figure.data}


def run(name: str, **params) -> ActionResult:
    action = get_action(name)
    return action.run(action.params_model(**params), ActionContext(user=UserRef.system()))


def stored(result: ActionResult) -> ActionResult:
    """The result as the jobs page reads it back from the database."""
    return ActionResult.from_json(json.loads(json.dumps(result.to_json())))


@pytest.mark.parametrize("option_type", ["call", "put"])
def test_profile_curves_match_the_pricer_and_the_payoff(option_type):
    spot, strike, maturity, rate, vol, div = 100.0, 110.0, 0.5, 0.03, 0.25, 0.01
    figure = option_profile_figure(spot, strike, maturity, rate, vol, div, option_type)
    lines = curves(figure)
    assert set(lines) == {"payoff at expiry", "value today", *GREEKS}
    x = lines["value today"][0]
    assert len(x) == PROFILE_POINTS
    assert x.min() == pytest.approx(0.5 * spot) and x.max() == pytest.approx(1.5 * strike)
    for name, (xs, _) in lines.items():
        np.testing.assert_array_equal(xs, x, err_msg=name)
    for i in (0, 30, 60, 90, PROFILE_POINTS - 1):
        # one scalar call per spot, independent of the figure's vectorised call
        one = price_options(x[i], strike, maturity, rate, vol, div, option_type)
        assert lines["value today"][1][i] == pytest.approx(one.price[0], rel=1e-12, abs=1e-12)
        for greek in GREEKS:
            got = lines[greek][1][i]
            quoted = getattr(one, greek)[0] * DESK_SCALE.get(greek, 1.0)  # per vol point, day
            assert got == pytest.approx(quoted, rel=1e-12, abs=1e-12), greek
    payoff = lines["payoff at expiry"][1]
    expected = np.maximum(x - strike, 0) if option_type == "call" else np.maximum(strike - x, 0)
    np.testing.assert_allclose(payoff, expected, rtol=0, atol=1e-12)
    # each Greek in its own panel, the spot and strike marked in every panel
    panels = {trace.name: (trace.xaxis or "x", trace.yaxis or "y") for trace in figure.data}
    assert len({panels[g] for g in GREEKS}) == 4
    assert len(figure.layout.shapes) == 2 * 5


def test_american_binomial_profile_stays_above_the_payoff():
    figure = option_profile_figure(100, 100, 1.0, 0.05, 0.2, 0.0, "put", "american", "binomial")
    lines = curves(figure)
    value, payoff = lines["value today"][1], lines["payoff at expiry"][1]
    assert np.all(value >= payoff - 1e-9)  # early exercise: never below intrinsic
    assert "binomial" in figure.layout.title.text


def test_price_option_result_draws_its_profile_for_one_option_only():
    one = run("price_option", spot=100, strike=95, maturity_years=0.25, volatility=0.3, rate=0.02)
    assert one.values["option"]["strike"] == 95 and not one.series
    for result in (one, stored(one)):
        figure = figures_for("price_option", result)["profile"]
        x, value = curves(figure)["value today"]
        assert np.interp(100.0, x, value) == pytest.approx(one.values["price"], rel=1e-3)
    many = run("price_option", spot=100, strike=[95, 105], maturity_years=0.25, volatility=0.3)
    assert "option" not in many.values and figures_for("price_option", many) == {}


def test_frontier_chart_marks_the_assets_and_the_chosen_portfolio():
    symbols = ["AAPL", "JNJ", "XOM"]
    result = run("efficient_frontier", symbols=symbols, start="2015-01-01", n_points=8)
    for shown in (result, stored(result)):
        figure = figures_for("efficient_frontier", shown)["frontier"]
        lines = {trace.name: trace for trace in figure.data}
        assert {"efficient frontier", "assets", "minimum variance", "max sharpe"} == set(lines)
        assert list(lines["efficient frontier"].y) == pytest.approx(
            result.tables["frontier"].sort_values("volatility")["expected_return"].tolist()
        )
        assert sorted(lines["assets"].text) == sorted(symbols)
        assert lines["max sharpe"].x[0] == pytest.approx(result.values["volatility"])


def test_risk_chart_draws_the_histogram_and_a_var_line_per_method():
    result = run("risk_report", symbols=["AAPL"], start="2015-01-01", mc_paths=2000)
    figure = figures_for("risk_report", stored(result))["return_distribution"]
    bars = [trace for trace in figure.data if trace.type == "bar"]
    assert len(bars) == 1 and sum(bars[0].y) == len(result.tables["daily"].dropna())
    names = (trace.name.split() for trace in figure.data[1:])  # "VAR historical 2.10%"
    lines = {f"{method} {kind}": trace for (kind, method, _), trace in zip(names, figure.data[1:])}
    for method, measures in result.values["var"].items():
        assert lines[f"{method} VAR"].x[0] == pytest.approx(-measures["var"])
        assert lines[f"{method} CVAR"].x[0] == pytest.approx(-measures["cvar"])


def test_indicator_chart_has_the_price_overlays_and_a_panel_per_oscillator():
    result = run(
        "compute_indicators",
        symbols=["SPX"],
        start="2016-01-01",
        indicators=["sma", "rsi", "macd", "stochastic"],
    )
    figure = figures_for("compute_indicators", stored(result))["indicators"]
    axes = {trace.name: trace.yaxis or "y" for trace in figure.data}
    assert axes["SPX close"] == axes["sma_20"] == "y"
    assert len({axes["rsi_14"], axes["macd"], axes["stoch_k_14"], axes["SPX close"]}) == 4
    close = curves(figure)["SPX close"][1]
    assert close[-1] == pytest.approx(result.series["indicators"].y["close"][-1])


def test_backtest_chart_draws_equity_against_buy_and_hold_and_the_drawdown():
    result = run("backtest_strategy", symbols=["KO"], strategy="momentum", start="2018-01-01")
    figure = figures_for("backtest_strategy", stored(result))["equity"]
    lines = curves(figure)
    assert set(lines) == {"strategy", "buy and hold", "drawdown"}
    table = result.tables["equity"]
    assert lines["strategy"][1][-1] == pytest.approx(table["equity"].iloc[-1])
    assert lines["drawdown"][1].min() == pytest.approx(result.values["max_drawdown"])
    assert "momentum on KO" in figure.layout.title.text


def test_optimize_portfolio_chart_shows_the_weights():
    result = run("optimize_portfolio", symbols=["AAPL", "KO"], objective="min_variance")
    bars = curves(figures_for("optimize_portfolio", stored(result))["weights"])
    assert sum(bars["weight"][1]) == pytest.approx(1.0)


def test_every_finance_action_that_had_a_chart_has_a_presenter():
    for name in ("price_option", "efficient_frontier", "risk_report", "compute_indicators"):
        assert name in PRESENTERS
    assert "backtest_strategy" in PRESENTERS
