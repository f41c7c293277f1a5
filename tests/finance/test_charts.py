"""The option profile figure: its curves are the pricer's, its payoff is the payoff."""

from __future__ import annotations

import numpy as np
import pytest

from engine.actions import ActionContext, UserRef, get_action
from engine.finance.charts import PROFILE_POINTS, option_profile_figure
from engine.finance.options import price_options

GREEKS = ("delta", "gamma", "vega", "theta")


def curves(figure) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {trace.name: (np.asarray(trace.x), np.asarray(trace.y)) for trace in figure.data}


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
            assert got == pytest.approx(getattr(one, greek)[0], rel=1e-12, abs=1e-12), greek
    payoff = lines["payoff at expiry"][1]
    expected = np.maximum(x - strike, 0) if option_type == "call" else np.maximum(strike - x, 0)
    np.testing.assert_allclose(payoff, expected, rtol=0, atol=1e-12)


def test_american_binomial_profile_stays_above_the_payoff():
    figure = option_profile_figure(100, 100, 1.0, 0.05, 0.2, 0.0, "put", "american", "binomial")
    lines = curves(figure)
    value, payoff = lines["value today"][1], lines["payoff at expiry"][1]
    assert np.all(value >= payoff - 1e-9)  # early exercise: never below intrinsic
    assert "binomial" in figure.layout.title.text


def run_price_option(**params):
    action = get_action("price_option")
    return action.run(action.params_model(**params), ActionContext(user=UserRef.system()))


def test_price_option_returns_the_profile_for_one_option_only():
    one = run_price_option(spot=100, strike=95, maturity_years=0.25, volatility=0.3, rate=0.02)
    figure = one.figures["profile"]
    x, value = curves(figure)["value today"]
    assert np.interp(100.0, x, value) == pytest.approx(one.values["price"], rel=1e-3)
    many = run_price_option(spot=100, strike=[95, 105], maturity_years=0.25, volatility=0.3)
    assert "profile" not in many.figures
