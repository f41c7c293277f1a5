"""Implied volatility: round trips, QuantLib agreement and no-arbitrage bounds."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from engine.actions import ActionError
from engine.finance.implied_vol import implied_volatility
from engine.finance.options import price_options


def test_vectorised_round_trip_over_a_wide_grid():
    rng = np.random.default_rng(0)
    n = 20_000
    spot = rng.uniform(50, 150, n)
    strike = spot * np.exp(rng.uniform(-0.6, 0.6, n))
    maturity = rng.uniform(0.02, 5.0, n)
    rate = rng.uniform(-0.01, 0.08, n)
    div = rng.uniform(0.0, 0.05, n)
    vol = rng.uniform(0.05, 1.5, n)
    kinds = list(np.where(rng.random(n) < 0.5, "call", "put"))
    prices = price_options(spot, strike, maturity, rate, vol, div, kinds)
    # keep options whose time value carries information about volatility
    forward_value = spot * np.exp(-div * maturity) - strike * np.exp(-rate * maturity)
    sign = np.where(np.array(kinds) == "call", 1.0, -1.0)
    time_value = prices.price - np.maximum(sign * forward_value, 0.0)
    keep = (time_value > 1e-6 * spot) & (prices.vega > 1e-3)
    result = implied_volatility(
        prices.price[keep],
        spot[keep],
        strike[keep],
        maturity[keep],
        rate[keep],
        div[keep],
        [k for k, flag in zip(kinds, keep, strict=True) if flag],
    )
    assert keep.sum() > 15_000
    assert result.converged.all()
    assert result.iterations <= 20
    np.testing.assert_allclose(result.volatility, vol[keep], atol=1e-8)


def test_matches_quantlib_implied_volatility():
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(100.0)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.01, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.04, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), 0.2, dc)),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Put, 90.0), ql.EuropeanExercise(today + 200)
    )
    option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    expected = option.impliedVolatility(3.1, process, 1e-12, 500, 1e-4, 4.0)
    ours = implied_volatility(3.1, 100.0, 90.0, 200 / 365, 0.04, 0.01, "put")
    assert ours.volatility[0] == pytest.approx(expected, abs=1e-9)


def test_american_round_trip_on_the_same_tree():
    vols = np.array([0.15, 0.3, 0.6])
    prices = price_options(
        100.0, [90.0, 100.0, 120.0], 1.0, 0.05, vols, 0.0, "put", "american", "binomial", 300
    )
    result = implied_volatility(
        prices.price, 100.0, [90.0, 100.0, 120.0], 1.0, 0.05, 0.0, "put", "american", steps=300
    )
    np.testing.assert_allclose(result.volatility, vols, atol=1e-9)


@pytest.mark.parametrize(
    ("price", "kind", "message"),
    [
        (0.5, "call", "lower no-arbitrage bound"),  # below intrinsic S e^{-qT} - K e^{-rT}
        (101.0, "call", "upper no-arbitrage bound"),  # above the spot
        (0.0001, "put", "lower"),  # deep ITM put with almost no value
        (200.0, "put", "upper"),
    ],
)
def test_prices_outside_no_arbitrage_bounds_are_rejected(price, kind, message):
    strike = 80.0 if kind == "call" else 130.0
    with pytest.raises(ActionError, match=message):
        implied_volatility(price, 100.0, strike, 1.0, 0.02, 0.0, kind)


def test_a_quote_at_its_bound_gets_a_reason_and_the_rest_of_the_batch_is_solved():
    # option 1 sits exactly at its lower bound (intrinsic value, zero rates)
    result = implied_volatility(
        [10.0, 50.0, 10.0], 100.0, [100.0, 50.0, 100.0], 1.0, 0.0, 0.0, "call"
    )
    assert np.isnan(result.volatility[1]) and "lower no-arbitrage bound" in result.reasons[1]
    assert result.reasons[0] is None and result.reasons[2] is None
    single = implied_volatility(10.0, 100.0, 100.0, 1.0, 0.0, 0.0, "call")
    np.testing.assert_allclose(result.volatility[[0, 2]], single.volatility[0], rtol=1e-12)
    with pytest.raises(ActionError, match="No option can be inverted"):
        implied_volatility([50.0, 60.0], 100.0, [50.0, 40.0], 1.0, 0.0, 0.0, "call")


def test_the_action_returns_a_row_per_quote_with_its_reason():
    from engine.actions import ActionContext, UserRef, get_action

    action = get_action("implied_volatility")
    params = action.params_model(
        price=[10.0, 50.0, 12.0],
        spot=100.0,
        strike=[100.0, 50.0, 100.0],
        maturity_years=1.0,
        rate=0.0,
    )
    result = action.run(params, ActionContext(user=UserRef.system()))
    table = result.tables["implied_volatility"]
    assert len(table) == 3 and table["reason"].notna().tolist() == [False, True, False]
    assert result.values["n_unsolved"] == 1 and result.values["implied_volatility"][1] is None
    assert "option 1" in result.summary
