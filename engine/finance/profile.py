"""One option's payoff, value and Greeks over a grid of spots (the data of its profile
chart; the chart itself is drawn in ``ui/presenters/finance.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.finance.options import desk_greeks, price_options

PROFILE_POINTS = 121
PROFILE_NODE_BUDGET = 2e7  # binomial node updates allowed for the whole spot grid
PROFILE_GREEKS = (
    ("delta", "delta"),
    ("gamma", "gamma"),
    ("vega", "vega (per vol point)"),
    ("theta", "theta (per calendar day)"),
)
# The parameters of one option that its profile is computed from (price_option stores
# them in its result's values under "option").
PROFILE_INPUTS = (
    "spot",
    "strike",
    "maturity_years",
    "rate",
    "volatility",
    "dividend_yield",
    "option_type",
    "style",
    "method",
    "steps",
)


def option_profile(
    spot: float,
    strike: float,
    maturity_years: float,
    rate: float,
    volatility: float,
    dividend_yield: float = 0.0,
    option_type: str = "call",
    style: str = "european",
    method: str = "black_scholes",
    steps: int = 500,
    points: int = PROFILE_POINTS,
) -> tuple[pd.DataFrame, str]:
    """One option's payoff at expiry, value today and Greeks over a grid of spots (vega
    per volatility point, theta per calendar day, as ``price_option`` quotes them).

    The grid runs from 50 % of the lower to 150 % of the higher of spot and strike.
    Everything is priced in ONE vectorised call. Monte Carlo requests are drawn with
    Black–Scholes (the value Monte Carlo estimates, without its noise); binomial
    requests use the same tree with at most as many steps as the node budget allows.
    Returns the table (columns spot, payoff, value and the Greeks) and a label of the
    pricing method used. Raises ``ActionError`` when the grid cannot be priced (e.g. a
    binomial tree too coarse for the rates).
    """
    grid = np.linspace(0.5 * min(spot, strike), 1.5 * max(spot, strike), points)
    sign = 1.0 if option_type == "call" else -1.0
    if method == "binomial":
        copies = 9 if style == "american" else 1
        steps = max(2, min(steps, int(np.sqrt(2.0 * PROFILE_NODE_BUDGET / (copies * points)))))
        label = f"binomial, {steps} steps"
    else:
        method = "black_scholes"
        label = "Black–Scholes"
    result = price_options(
        grid,
        strike,
        maturity_years,
        rate,
        volatility,
        dividend_yield,
        option_type,
        style=style,
        method=method,
        steps=steps,
    )
    table = pd.DataFrame(
        {
            "spot": grid,
            "payoff": np.maximum(sign * (grid - strike), 0.0),
            "value": result.price,
            **desk_greeks({name: getattr(result, name) for name, _ in PROFILE_GREEKS}),
        }
    )
    return table, label
