"""Option pricing against QuantLib (test-only dependency) and basic identities."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql

from engine.actions import ActionError
from engine.finance.options import black_scholes, prepare_inputs, price_options

TODAY = ql.Date(15, 1, 2024)
DAY_COUNT = ql.Actual365Fixed()  # maturity = days / 365 exactly, as in our inputs


def _quantlib_option(spot, strike, days, rate, vol, div, kind, american=False, steps=None):
    ql.Settings.instance().evaluationDate = TODAY
    curve = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DAY_COUNT))
    dividends = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, div, DAY_COUNT))
    vols = ql.BlackVolTermStructureHandle(
        ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DAY_COUNT)
    )
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(spot)), dividends, curve, vols
    )
    maturity = TODAY + int(days)
    exercise = ql.AmericanExercise(TODAY, maturity) if american else ql.EuropeanExercise(maturity)
    option_type = ql.Option.Call if kind == "call" else ql.Option.Put
    option = ql.VanillaOption(ql.PlainVanillaPayoff(option_type, strike), exercise)
    if steps is None:
        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
    else:
        option.setPricingEngine(ql.BinomialVanillaEngine(process, "crr", steps))
    return option


@pytest.fixture(scope="module")
def random_book():
    rng = np.random.default_rng(42)
    n = 60
    return {
        "spot": rng.uniform(20, 200, n),
        "strike": rng.uniform(20, 200, n),
        "days": rng.integers(5, 1500, n),
        "rate": rng.uniform(-0.02, 0.10, n),
        "vol": rng.uniform(0.05, 1.2, n),
        "div": rng.uniform(0.0, 0.06, n),
        "kind": np.where(rng.random(n) < 0.5, "call", "put"),
    }


def test_black_scholes_matches_quantlib_analytic_engine_to_1e9(random_book):
    b = random_book
    ours = price_options(
        b["spot"], b["strike"], b["days"] / 365.0, b["rate"], b["vol"], b["div"], list(b["kind"])
    )
    for i in range(len(b["spot"])):
        ref = _quantlib_option(
            b["spot"][i],
            b["strike"][i],
            b["days"][i],
            b["rate"][i],
            b["vol"][i],
            b["div"][i],
            b["kind"][i],
        )
        # QuantLib: theta per year, vega per 1.00 vol, rho per 1.00 rate (plain derivatives)
        expected = {
            "price": ref.NPV(),
            "delta": ref.delta(),
            "gamma": ref.gamma(),
            "vega": ref.vega(),
            "theta": ref.theta(),
            "rho": ref.rho(),
        }
        for name, value in expected.items():
            assert getattr(ours, name)[i] == pytest.approx(value, abs=1e-9), (name, i)


def test_binomial_american_put_matches_quantlib_crr_2000_steps():
    for spot, strike, days, rate, vol, div in [
        (100.0, 110.0, 365, 0.05, 0.25, 0.0),
        (36.0, 40.0, 365, 0.06, 0.20, 0.0),
        (50.0, 45.0, 180, 0.03, 0.40, 0.02),
    ]:
        ref = _quantlib_option(spot, strike, days, rate, vol, div, "put", True, steps=2000)
        ours = price_options(
            spot,
            strike,
            days / 365.0,
            rate,
            vol,
            div,
            "put",
            style="american",
            method="binomial",
            steps=2000,
        )
        assert ours.price[0] == pytest.approx(ref.NPV(), abs=1e-3)
        assert ours.delta[0] == pytest.approx(ref.delta(), abs=1e-3)
        assert ours.gamma[0] == pytest.approx(ref.gamma(), abs=1e-3)
        # the early-exercise premium is real: American put > European put
        european = price_options(spot, strike, days / 365.0, rate, vol, div, "put")
        assert ours.price[0] > european.price[0] + 1e-3


def test_binomial_european_converges_to_black_scholes_with_sensible_greeks():
    args = ([90.0, 100.0, 120.0], 100.0, 0.75, 0.04, 0.3, 0.01, ["call", "put", "put"])
    exact = price_options(*args)
    tree = price_options(*args, method="binomial", steps=2000)
    np.testing.assert_allclose(tree.price, exact.price, atol=5e-3)
    np.testing.assert_allclose(tree.delta, exact.delta, atol=1e-3)
    np.testing.assert_allclose(tree.gamma, exact.gamma, atol=1e-3)
    np.testing.assert_allclose(tree.theta, exact.theta, rtol=5e-3)
    # American call without dividends is worth the European call
    call = price_options(100.0, 100.0, 1.0, 0.05, 0.2, 0.0, "call", "american", "binomial", 1000)
    euro = price_options(100.0, 100.0, 1.0, 0.05, 0.2, 0.0, "call", "european", "binomial", 1000)
    assert call.price[0] == pytest.approx(euro.price[0], abs=1e-12)


def test_american_vega_and_rho_are_close_to_a_finite_difference_reference():
    # Reference: central differences of QuantLib's finite-difference engine.
    def fd_price(vol, rate):
        option = _quantlib_option(100.0, 105.0, 365, rate, vol, 0.01, "put", True, steps=None)
        ql.Settings.instance().evaluationDate = TODAY
        curve = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, rate, DAY_COUNT))
        dividends = ql.YieldTermStructureHandle(ql.FlatForward(TODAY, 0.01, DAY_COUNT))
        vols = ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(TODAY, ql.NullCalendar(), vol, DAY_COUNT)
        )
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(100.0)), dividends, curve, vols
        )
        option.setPricingEngine(ql.FdBlackScholesVanillaEngine(process, 400, 400))
        return option.NPV()

    h = 1e-3
    vega_ref = (fd_price(0.3 + h, 0.05) - fd_price(0.3 - h, 0.05)) / (2 * h)
    rho_ref = (fd_price(0.3, 0.05 + h) - fd_price(0.3, 0.05 - h)) / (2 * h)
    ours = price_options(100.0, 105.0, 1.0, 0.05, 0.3, 0.01, "put", "american", "binomial", 1000)
    assert ours.vega[0] == pytest.approx(vega_ref, rel=5e-3)
    assert ours.rho[0] == pytest.approx(rho_ref, rel=5e-3)


def test_monte_carlo_is_within_its_standard_error_and_reproducible():
    args = ([100.0, 100.0], [95.0, 110.0], [0.5, 2.0], 0.03, [0.2, 0.35], 0.01, ["call", "put"])
    exact = price_options(*args)
    mc = price_options(*args, method="monte_carlo", paths=400_000, seed=7)
    assert np.all(np.abs(mc.price - exact.price) < 4 * mc.std_error)
    assert np.all(mc.std_error < 0.05)
    np.testing.assert_allclose(mc.delta, exact.delta, atol=5e-3)
    np.testing.assert_allclose(mc.gamma, exact.gamma, atol=1e-3)
    np.testing.assert_allclose(mc.vega, exact.vega, rtol=2e-2)
    np.testing.assert_allclose(mc.rho, exact.rho, rtol=2e-2)
    np.testing.assert_allclose(mc.theta, exact.theta, rtol=3e-2)
    again = price_options(*args, method="monte_carlo", paths=400_000, seed=7)
    np.testing.assert_array_equal(again.price, mc.price)
    other = price_options(*args, method="monte_carlo", paths=400_000, seed=8)
    assert not np.array_equal(other.price, mc.price)


def test_put_call_parity_and_scalar_broadcasting():
    strikes = np.linspace(50, 150, 11)
    calls = price_options(100.0, strikes, 1.5, 0.04, 0.3, 0.02, "call")
    puts = price_options(100.0, strikes, 1.5, 0.04, 0.3, 0.02, "put")
    forward_value = 100.0 * np.exp(-0.02 * 1.5) - strikes * np.exp(-0.04 * 1.5)
    np.testing.assert_allclose(calls.price - puts.price, forward_value, atol=1e-12)
    np.testing.assert_allclose(calls.gamma, puts.gamma, atol=1e-15)
    np.testing.assert_allclose(calls.vega, puts.vega, atol=1e-12)
    assert calls.price.shape == (11,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volatility": -0.2}, "volatility must be > 0"),
        ({"volatility": 0.0}, "volatility must be > 0"),
        ({"maturity_years": 0.0}, "maturity_years must be > 0"),
        ({"spot": -5.0}, "spot must be > 0"),
        ({"strike": [100.0, 110.0], "spot": [1.0, 2.0, 3.0]}, "equal lengths"),
        ({"option_type": "straddle"}, "option_type"),
        ({"style": "american"}, "binomial"),
        ({"method": "binomial", "steps": 1}, "steps"),
        ({"method": "monte_carlo", "style": "american"}, "European"),
        ({"spot": [100.0, float("nan")]}, "non-finite"),
    ],
)
def test_bad_inputs_raise_action_error(kwargs, message):
    params = {"spot": 100.0, "strike": 100.0, "maturity_years": 1.0, "rate": 0.01}
    params.update({"volatility": 0.2, **kwargs})
    with pytest.raises(ActionError, match=message):
        price_options(**params)


def test_prepare_inputs_reports_position_of_bad_value():
    with pytest.raises(ActionError, match="position 2"):
        prepare_inputs([100, 100, 100], 100, 1.0, 0.0, [0.2, 0.3, -0.1])
    result = black_scholes(prepare_inputs(100, 100, 1.0, 0.0, 0.2))
    assert result.price[0] == pytest.approx(7.965567455405804, abs=1e-12)
