"""Plotly figures for the finance actions (built here, rendered by the UI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.finance.options import price_options

_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 40}}


def frontier_figure(
    frontier: pd.DataFrame,
    chosen: dict,
    assets: pd.DataFrame,
    min_variance: dict | None = None,
) -> go.Figure:
    """Frontier line, the chosen portfolio and the individual assets (vol × return)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frontier["volatility"],
            y=frontier["expected_return"],
            mode="lines+markers",
            name="efficient frontier",
            marker={"size": 4},
        )
    )
    fig.add_trace(
        go.Scatter(
            x=assets["volatility"],
            y=assets["expected_return"],
            mode="markers+text",
            text=assets.index.astype(str),
            textposition="top center",
            name="assets",
            marker={"size": 7, "color": "grey"},
        )
    )
    if min_variance is not None:
        fig.add_trace(
            go.Scatter(
                x=[min_variance["volatility"]],
                y=[min_variance["expected_return"]],
                mode="markers",
                name="minimum variance",
                marker={"size": 11, "symbol": "diamond"},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[chosen["volatility"]],
            y=[chosen["expected_return"]],
            mode="markers",
            name=chosen.get("label", "chosen portfolio"),
            marker={"size": 14, "symbol": "star", "color": "crimson"},
        )
    )
    fig.update_layout(
        title="Efficient frontier (annualised)",
        xaxis_title="volatility",
        yaxis_title="expected return",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        **_LAYOUT,
    )
    return fig


PROFILE_POINTS = 121
PROFILE_NODE_BUDGET = 2e7  # binomial node updates allowed for the whole spot grid
PROFILE_GREEKS = (
    ("delta", "delta"),
    ("gamma", "gamma"),
    ("vega", "vega (per 1.00 vol)"),
    ("theta", "theta (per year)"),
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
    """One option's payoff at expiry, value today and Greeks over a grid of spots.

    The grid runs from 50 % of the lower to 150 % of the higher of spot and strike.
    Everything is priced in ONE vectorised call. Monte Carlo requests are drawn with
    Black–Scholes (the value Monte Carlo estimates, without its noise); binomial
    requests use the same tree with at most as many steps as the node budget allows.
    Returns the table (columns spot, payoff, value and the Greeks) and a label of the
    pricing method used.
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
            **{name: getattr(result, name) for name, _ in PROFILE_GREEKS},
        }
    )
    return table, label


def option_profile_figure(
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
) -> go.Figure:
    """Payoff at expiry and value today against spot (top), delta, gamma, vega and
    theta against spot (2 × 2 panels below); dotted lines mark the spot and strike."""
    table, label = option_profile(
        spot,
        strike,
        maturity_years,
        rate,
        volatility,
        dividend_yield,
        option_type,
        style,
        method,
        steps,
        points,
    )
    titles = ("payoff at expiry and value today",) + tuple(t for _, t in PROFILE_GREEKS)
    fig = make_subplots(
        rows=3,
        cols=2,
        specs=[[{"colspan": 2}, None], [{}, {}], [{}, {}]],
        row_heights=[0.5, 0.25, 0.25],
        subplot_titles=titles,
        vertical_spacing=0.09,
        horizontal_spacing=0.1,
    )
    x = table["spot"].to_numpy()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=table["payoff"].to_numpy(),
            name="payoff at expiry",
            line={"color": "grey", "dash": "dash"},
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=x, y=table["value"].to_numpy(), name="value today", line={"color": "navy"}),
        row=1,
        col=1,
    )
    for index, (name, _) in enumerate(PROFILE_GREEKS):
        fig.add_trace(
            go.Scatter(x=x, y=table[name].to_numpy(), name=name, showlegend=False),
            row=2 + index // 2,
            col=1 + index % 2,
        )
    marks = ((spot, "spot", "crimson", 1.0), (strike, "strike", "grey", 0.9))
    for value, text, color, height in marks:
        fig.add_vline(x=value, line={"dash": "dot", "color": color, "width": 1}, row="all")
        fig.add_annotation(
            x=value,
            y=height,
            yref="y domain",
            text=f"{text} {value:g}",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"color": color, "size": 11},
        )
    fig.update_xaxes(title_text="spot", row=3)
    fig.update_layout(
        title=f"{style} {option_type}, strike {strike:g}, {maturity_years:g} years, "
        f"volatility {volatility:.1%} ({label})",
        height=720,
        **{**_LAYOUT, "margin": {**_LAYOUT["margin"], "t": 80}},
    )
    return fig


def var_figure(sample: pd.Series, var: dict, confidence: float, horizon: int) -> go.Figure:
    """Histogram of returns with a VaR and a CVaR line per method (losses are negative)."""
    fig = go.Figure()
    fig.add_trace(
        go.Histogram(x=sample.to_numpy(), nbinsx=120, name=f"{horizon}-day returns", opacity=0.7)
    )
    colors = {"historical": "crimson", "parametric": "darkorange", "monte_carlo": "purple"}
    for method, measures in var.items():
        color = colors.get(method, "black")
        for kind, dash in (("var", "solid"), ("cvar", "dash")):
            x = -measures[kind]
            fig.add_trace(
                go.Scatter(
                    x=[x, x],
                    y=[0, 1],
                    yaxis="y2",
                    mode="lines",
                    line={"color": color, "dash": dash},
                    name=f"{kind.upper()} {method} {measures[kind]:.2%}",
                )
            )
    fig.update_layout(
        title=f"Return distribution with {confidence:.0%} VaR / CVaR ({horizon}-day)",
        xaxis_title="return",
        xaxis_tickformat=".1%",
        yaxis_title="days",
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False},
        bargap=0.02,
        **_LAYOUT,
    )
    return fig


def equity_figure(
    equity: pd.Series, drawdown: pd.Series, benchmark: pd.Series | None = None, title=""
) -> go.Figure:
    """Equity curve (top) and drawdown (bottom)."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04
    )
    fig.add_trace(go.Scatter(x=equity.index, y=equity.to_numpy(), name="strategy"), row=1, col=1)
    if benchmark is not None:
        fig.add_trace(
            go.Scatter(
                x=benchmark.index,
                y=benchmark.to_numpy(),
                name="buy and hold",
                line={"color": "grey", "dash": "dot"},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=drawdown.index,
            y=drawdown.to_numpy(),
            name="drawdown",
            fill="tozeroy",
            line={"color": "crimson"},
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="equity (start = 1)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    fig.update_layout(title=title or "Equity and drawdown", **_LAYOUT)
    return fig


def indicators_figure(close: pd.Series, indicators: pd.DataFrame, symbol: str) -> go.Figure:
    """Price with overlays (SMA, EMA, Bollinger) and panels for oscillators."""
    overlays = [
        c
        for c in indicators.columns
        if c.startswith(("sma_", "ema_", "bb_upper", "bb_mid", "bb_lower"))
    ]
    panels = [
        group
        for group in (
            [c for c in indicators.columns if c.startswith("rsi_")],
            [c for c in indicators.columns if c.startswith("macd")],
            [c for c in indicators.columns if c.startswith("stoch_")],
        )
        if group
    ]
    rows = 1 + len(panels)
    heights = [0.55] + [0.45 / len(panels)] * len(panels) if panels else [1.0]
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.03
    )
    fig.add_trace(go.Scatter(x=close.index, y=close.to_numpy(), name=f"{symbol} close"), 1, 1)
    for column in overlays:
        fig.add_trace(
            go.Scatter(x=indicators.index, y=indicators[column].to_numpy(), name=column), 1, 1
        )
    for row, group in enumerate(panels, start=2):
        for column in group:
            values = indicators[column].to_numpy()
            trace = (
                go.Bar(x=indicators.index, y=values, name=column)
                if column == "macd_hist"
                else go.Scatter(x=indicators.index, y=values, name=column)
            )
            fig.add_trace(trace, row, 1)
    fig.update_layout(title=f"{symbol}: indicators", height=300 + 180 * len(panels), **_LAYOUT)
    return fig


def downsample(series: pd.Series, max_points: int = 5000) -> pd.Series:
    """Every k-th point (keeping the last) so long histories stay light in the browser."""
    if len(series) <= max_points:
        return series
    step = int(np.ceil(len(series) / max_points))
    keep = np.zeros(len(series), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    return series[keep]
