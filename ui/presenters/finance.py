"""Charts of the finance actions, drawn from their results' data."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from engine.actions.base import ActionError, ActionResult
from engine.finance.profile import PROFILE_GREEKS, PROFILE_POINTS, option_profile
from ui.presenters.registry import axis, figure, label, labels, line_traces, presents, table

# Symbols are chart text through ``label``: an uploaded file's column names are the
# symbols, and Plotly renders a few tags (``<a href>``, ``<b>``) in labels and titles.


# Payoff/value on top (full width), the four Greeks in 2 x 2 panels below.
PROFILE_PANELS = (
    ("x", "y", (0.0, 1.0), (0.56, 1.0)),
    ("x2", "y2", (0.0, 0.45), (0.29, 0.46)),
    ("x3", "y3", (0.55, 1.0), (0.29, 0.46)),
    ("x4", "y4", (0.0, 0.45), (0.0, 0.17)),
    ("x5", "y5", (0.55, 1.0), (0.0, 0.17)),
)


def _axis_key(ref: str) -> str:
    return ref[0] + "axis" + ref[1:]


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
    profile, method_label = option_profile(
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
    x = profile["spot"].to_numpy()
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": x,
            "y": profile["payoff"].to_numpy(),
            "name": "payoff at expiry",
            "line": {"color": "grey", "dash": "dash"},
        },
        {
            "type": "scatter",
            "x": x,
            "y": profile["value"].to_numpy(),
            "name": "value today",
            "line": {"color": "navy"},
        },
    ]
    for (name, _), (xref, yref, _, _) in zip(PROFILE_GREEKS, PROFILE_PANELS[1:], strict=True):
        traces.append(
            {
                "type": "scatter",
                "x": x,
                "y": profile[name].to_numpy(),
                "name": name,
                "showlegend": False,
                "xaxis": xref,
                "yaxis": yref,
            }
        )
    titles = ("payoff at expiry and value today",) + tuple(t for _, t in PROFILE_GREEKS)
    layout: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    marks = ((spot, "spot", "crimson", 1.0), (strike, "strike", "grey", 0.9))
    for (xref, yref, xdomain, ydomain), text in zip(PROFILE_PANELS, titles, strict=True):
        layout[_axis_key(xref)] = {"domain": list(xdomain), "anchor": yref}
        layout[_axis_key(yref)] = {"domain": list(ydomain), "anchor": xref}
        annotations.append(
            {
                "text": text,
                "x": sum(xdomain) / 2,
                "y": ydomain[1],
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
            }
        )
        for value, _, color, _ in marks:
            shapes.append(
                {
                    "type": "line",
                    "x0": value,
                    "x1": value,
                    "xref": xref,
                    "y0": 0,
                    "y1": 1,
                    "yref": f"{yref} domain",
                    "line": {"dash": "dot", "color": color, "width": 1},
                }
            )
    for value, text, color, height in marks:
        annotations.append(
            {
                "x": value,
                "y": height,
                "xref": "x",
                "yref": "y domain",
                "text": f"{text} {value:g}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"color": color, "size": 11},
            }
        )
    for xref, _, _, _ in PROFILE_PANELS[3:]:
        layout[_axis_key(xref)]["title"] = {"text": "spot"}
    return figure(
        traces,
        f"{style} {option_type}, strike {strike:g}, {maturity_years:g} years, "
        f"volatility {volatility:.1%} ({label(method_label)})",
        height=720,
        annotations=annotations,
        shapes=shapes,
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
        **layout,
    )


@presents("price_option")
def price_option(result: ActionResult) -> dict[str, go.Figure]:
    """One option (its inputs are in the values): its profile against spot. Many options:
    no chart (their table says it all). A grid the tree cannot price: no chart."""
    option = result.values.get("option")
    if not option:
        return {}
    values = result.values
    try:
        profile = option_profile_figure(
            **option,
            style=values.get("style", "european"),
            method=values.get("method", "black_scholes"),
            steps=values.get("steps", 500),
        )
    except ActionError:
        return {}
    return {"profile": profile}


@presents("efficient_frontier")
def efficient_frontier(result: ActionResult) -> dict[str, go.Figure]:
    """Frontier line, the assets, the minimum-variance and the chosen portfolio."""
    frontier, assets, values = result.series["frontier"], result.series["assets"], result.values
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": frontier.x,
            "y": frontier.y["expected_return"],
            "mode": "lines+markers",
            "name": "efficient frontier",
            "marker": {"size": 4},
        },
        {
            "type": "scatter",
            "x": assets.x,
            "y": assets.y["expected_return"],
            "mode": "markers+text",
            "text": labels(assets.labels or []),  # the symbols
            "textposition": "top center",
            "name": "assets",
            "marker": {"size": 7, "color": "grey"},
        },
    ]
    minimum = values.get("min_variance")
    if minimum:
        traces.append(
            {
                "type": "scatter",
                "x": [minimum["volatility"]],
                "y": [minimum["expected_return"]],
                "mode": "markers",
                "name": "minimum variance",
                "marker": {"size": 11, "symbol": "diamond"},
            }
        )
    traces.append(
        {
            "type": "scatter",
            "x": [values["volatility"]],
            "y": [values["expected_return"]],
            "mode": "markers",
            "name": label(str(values.get("objective", "chosen portfolio")).replace("_", " ")),
            "marker": {"size": 14, "symbol": "star", "color": "crimson"},
        }
    )
    return {
        "frontier": figure(
            traces,
            "Efficient frontier (annualised)",
            xaxis=axis("volatility", tickformat=".0%"),
            yaxis=axis("expected return", tickformat=".0%"),
        )
    }


VAR_COLORS = {"historical": "crimson", "parametric": "darkorange", "monte_carlo": "purple"}


@presents("risk_report")
def risk_report(result: ActionResult) -> dict[str, go.Figure]:
    """Histogram of horizon returns with a VaR and a CVaR line per method (losses are
    negative returns)."""
    histogram, values = result.series["return_distribution"], result.values
    horizon, confidence = values.get("horizon_days", 1), values.get("confidence", 0.95)
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": histogram.x,
            "y": histogram.y["count"],
            "width": values.get("histogram_bin_width"),
            "name": f"{horizon}-day returns",
            "opacity": 0.7,
        }
    ]
    for method, measures in (values.get("var") or {}).items():
        color = VAR_COLORS.get(method, "black")
        for kind, dash in (("var", "solid"), ("cvar", "dash")):
            if measures.get(kind) is None:
                continue
            x = -measures[kind]
            traces.append(
                {
                    "type": "scatter",
                    "x": [x, x],
                    "y": [0, 1],
                    "yaxis": "y2",
                    "mode": "lines",
                    "line": {"color": color, "dash": dash},
                    "name": f"{kind.upper()} {method} {measures[kind]:.2%}",
                }
            )
    return {
        "return_distribution": figure(
            traces,
            f"Return distribution with {confidence:.0%} VaR / CVaR ({horizon}-day)",
            xaxis=axis("return", tickformat=".1%"),
            yaxis=axis("windows" if horizon > 1 else "days"),
            yaxis2={"overlaying": "y", "range": [0, 1], "visible": False},
            bargap=0.02,
        )
    }


OVERLAYS = ("sma_", "ema_", "bb_upper", "bb_mid", "bb_lower")
PANELS = ("rsi_", "macd", "stoch_")


@presents("compute_indicators")
def compute_indicators(result: ActionResult) -> dict[str, go.Figure]:
    """Price with overlays (SMA, EMA, Bollinger) and one panel per oscillator group."""
    series = result.series["indicators"]
    symbol = label(result.values.get("chart_symbol", ""))
    columns = [c for c in series.y if c != "close"]
    overlays = [c for c in columns if c.startswith(OVERLAYS)]
    panels = [group for p in PANELS if (group := [c for c in columns if c.startswith(p)])]
    rows = 1 + len(panels)
    gap = 0.03
    heights = [0.55] + [0.45 / len(panels)] * len(panels) if panels else [1.0]
    traces = line_traces(series, ["close"], name=f"{symbol} close")
    traces += line_traces(series, overlays)
    layout: dict[str, Any] = {}
    top = 1.0
    for row, height in enumerate(heights, start=1):
        suffix = "" if row == 1 else str(row)
        low = top - height + (gap / 2 if row < rows else 0.0)
        high = top - (gap / 2 if row > 1 else 0.0)
        layout[f"yaxis{suffix}"] = {"domain": [max(low, 0.0), high], "anchor": f"x{suffix}"}
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "showticklabels": row == rows}
        if row > 1:
            layout[f"xaxis{suffix}"]["matches"] = "x"
        top -= height
    layout["yaxis"]["title"] = {"text": label(series.units.get("close", "price"))}
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for row, group in enumerate(panels, start=2):
        layout[f"yaxis{row}"]["title"] = {"text": label(_panel_title(group, series.units))}
        bands = next(
            (b for prefix, b in OSCILLATOR_BANDS.items() if group[0].startswith(prefix)), None
        )
        if bands is not None:
            layout[f"yaxis{row}"]["range"] = [0, 100]
            shapes += _band_shapes(bands, f"y{row}")
            current = _last_value(series.y[group[0]])
            if current is not None:
                annotations.append(
                    {
                        "x": 1.0,
                        "xref": "paper",
                        "y": current,
                        "yref": f"y{row}",
                        "xanchor": "right",
                        "yanchor": "bottom",
                        "showarrow": False,
                        "text": label(f"{group[0]} now {current:.1f}"),
                        "font": {"size": 11},
                    }
                )
        for column in group:
            trace = {
                "type": "bar" if column == "macd_hist" else "scatter",
                "x": series.x,
                "y": series.y[column],
                "name": label(column),
                "xaxis": f"x{row}",
                "yaxis": f"y{row}",
            }
            if trace["type"] == "scatter":
                trace["mode"] = "lines"
            traces.append(trace)
    return {
        "indicators": figure(
            traces,
            f"{symbol}: indicators",
            height=300 + 180 * len(panels),
            shapes=shapes,
            annotations=annotations,
            **layout,
        )
    }


# Oscillators' conventional bands: RSI oversold/overbought 30/70, stochastic 20/80.
OSCILLATOR_BANDS = {"rsi_": (30.0, 70.0), "stoch_": (20.0, 80.0)}


def _band_shapes(bands: tuple[float, float], yref: str) -> list[dict[str, Any]]:
    low, high = bands
    line = {"color": "grey", "dash": "dash", "width": 1}
    return [
        {
            "type": "rect",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": yref,
            "y0": low,
            "y1": high,
            "fillcolor": "rgba(128, 128, 128, 0.08)",
            "line": {"width": 0},
            "layer": "below",
        },
        *(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": yref,
                "y0": y,
                "y1": y,
                "line": line,
            }
            for y in (low, high)
        ),
    ]


def _last_value(values: list[Any]) -> float | None:
    for value in reversed(values):
        if value is not None:
            return float(value)
    return None


def _panel_title(group: list[str], units: dict[str, str]) -> str:
    kinds = {units.get(column) for column in group} - {None}
    name = group[0].split("_")[0].upper()
    return f"{name} ({kinds.pop()})" if len(kinds) == 1 else name


def _equity_and_drawdown(series, compared: str, compared_name: str, name: str, title: str):
    """Equity of ``series.y["strategy"]`` against ``series.y[compared]`` (log scale, top)
    with the strategy's drawdown below: the layout both backtest presenters share."""
    traces = [
        {"type": "scatter", "x": series.x, "y": series.y["strategy"], "name": name},
        {
            "type": "scatter",
            "x": series.x,
            "y": series.y[compared],
            "name": compared_name,
            "line": {"color": "grey", "dash": "dot"},
        },
        {
            "type": "scatter",
            "x": series.x,
            "y": series.y["drawdown"],
            "name": "drawdown",
            "fill": "tozeroy",
            "line": {"color": "crimson"},
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ]
    return figure(
        traces,
        title,
        xaxis={"anchor": "y", "showticklabels": False},
        xaxis2={"anchor": "y2", "matches": "x"},
        yaxis={"domain": [0.32, 1.0], **axis("equity (start = 1)", type="log")},
        yaxis2={"domain": [0.0, 0.28], **axis("drawdown", tickformat=".0%")},
    )


@presents("backtest_strategy")
def backtest_strategy(result: ActionResult) -> dict[str, go.Figure]:
    """Equity of the strategy and of buy and hold (log scale, top) and drawdown (bottom)."""
    values = result.values
    strategy = label(str(values.get("strategy", "strategy")).replace("_", " "))
    symbols = label(", ".join(str(s) for s in values.get("symbols") or []))
    title = f"{strategy} on {symbols}" if symbols else strategy
    return {
        "equity": _equity_and_drawdown(
            result.series["equity"], "buy_and_hold", "buy and hold", "strategy", title
        )
    }


@presents("optimize_portfolio")
def optimize_portfolio(result: ActionResult) -> dict[str, go.Figure]:
    """Weights and risk contributions per symbol."""
    weights = table(result, "weights")
    if weights is None or weights.empty:
        return {}
    bars = [
        {"type": "bar", "x": labels(weights["symbol"]), "y": weights[column], "name": name}
        for column, name in (("weight", "weight"), ("risk_contribution", "risk contribution"))
        if column in weights
    ]
    objective = str(result.values.get("objective", "")).replace("_", " ")
    return {
        "weights": figure(
            bars, label(f"{objective} portfolio".strip()), yaxis=axis("share", tickformat=".0%")
        )
    }


@presents("correlation_matrix")
def correlation_matrix(result: ActionResult) -> dict[str, go.Figure]:
    """The correlation matrix as a heatmap on a fixed −1..1 scale, each cell labelled."""
    matrix = table(result, "correlation")
    if matrix is None or matrix.empty:
        return {}
    matrix = matrix.set_index("symbol")
    values = matrix.to_numpy(dtype=float)
    columns = labels(str(s) for s in matrix.columns)
    heatmap = {
        "type": "heatmap",
        "z": values,
        "x": columns,
        "y": labels(str(s) for s in matrix.index),
        "zmin": -1,
        "zmax": 1,
        "colorscale": "RdBu",
        "reversescale": True,
        "text": [[f"{v:.2f}" for v in row] for row in values],
        "texttemplate": "%{text}",
        "colorbar": {"title": {"text": "correlation"}},
    }
    method = str(result.values.get("method", "pearson"))
    period = _period(result.values)
    return {
        "correlation": figure(
            [heatmap],
            f"{method.capitalize()} correlation of daily returns{period}",
            yaxis={"autorange": "reversed"},
            height=max(360, 40 * len(columns) + 160),
        )
    }


def _period(values: dict[str, Any]) -> str:
    start, end = values.get("start"), values.get("end")
    return f", {str(start)[:10]} to {str(end)[:10]}" if start and end else ""


@presents("rolling_beta")
def rolling_beta(result: ActionResult) -> dict[str, go.Figure]:
    """Each symbol's rolling beta, with its full-period beta (dotted) and beta 1 (the
    benchmark itself, dashed)."""
    series = result.series.get("rolling_beta")
    if series is None or not series.x:
        return {}
    betas = table(result, "betas")
    full = dict(zip(betas["symbol"], betas["beta"], strict=True)) if betas is not None else {}
    traces = line_traces(series)  # names through label()
    shapes = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "yref": "y",
            "y0": 1,
            "y1": 1,
            "line": {"color": "black", "dash": "dash", "width": 1},
        }
    ]
    annotations = []
    for symbol, beta in full.items():
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": beta,
                "y1": beta,
                "line": {"dash": "dot", "width": 1, "color": "grey"},
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "x": 0,
                "y": beta,
                "yref": "y",
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"{label(symbol)} full period {beta:.2f}",
                "font": {"size": 11},
            }
        )
    benchmark = label(result.values.get("benchmark", "the benchmark"))
    window = result.values.get("window")
    return {
        "rolling_beta": figure(
            traces,
            f"{window}-day rolling beta to {benchmark}" if window else f"Beta to {benchmark}",
            yaxis=axis(f"beta to {benchmark}"),
            shapes=shapes,
            annotations=annotations,
            legend={"orientation": "h"},
        )
    }


@presents("risk_contributions")
def risk_contributions(result: ActionResult) -> dict[str, go.Figure]:
    """Share of capital against share of risk per symbol (largest risk first)."""
    contributions = table(result, "contributions")
    if contributions is None or contributions.empty:
        return {}
    ordered = contributions.sort_values("percent_contribution", ascending=True)
    symbols = labels(str(s) for s in ordered["symbol"])
    bars = [
        {
            "type": "bar",
            "orientation": "h",
            "y": symbols,
            "x": ordered[column].to_numpy(dtype=float),
            "name": name,
            "text": [f"{v:.1%}" for v in ordered[column]],
            "textposition": "outside",
        }
        for column, name in (
            ("weight", "share of capital (weight)"),
            ("percent_contribution", "share of volatility"),
        )
    ]
    volatility = result.values.get("volatility")
    title = "Risk contributions"
    if isinstance(volatility, (int, float)):
        title += f": portfolio volatility {volatility:.1%} a year"
    return {
        "contributions": figure(
            bars,
            title + _period(result.values),
            barmode="group",
            xaxis=axis("share", tickformat=".0%"),
            height=max(300, 50 * len(symbols) + 150),
            legend={"orientation": "h"},
        )
    }


@presents("backtest_portfolio")
def backtest_portfolio(result: ActionResult) -> dict[str, go.Figure]:
    """Equity of the walk-forward portfolio and of equal weights (log scale) with the
    drawdown below; the weights chosen at each rebalance as stacked areas."""
    values = result.values
    objective = label(str(values.get("objective", "optimised")).replace("_", " "))
    rebalance = label(values.get("rebalance", ""))
    title = (
        f"Walk-forward {objective} portfolio, re-optimised {rebalance} "
        f"on the past {values.get('lookback_days')} days"
    )
    figures = {
        "equity": _equity_and_drawdown(
            result.series["equity"], "equal_weight", "equal weight", "optimised", title
        )
    }
    weights = result.series.get("weights")
    if weights is not None and weights.x:
        areas = [
            {
                "type": "scatter",
                "x": weights.x,
                "y": column,
                "name": label(name),
                "stackgroup": "weights",
                "mode": "lines",
                "line": {"shape": "hv", "width": 0.5},
            }
            for name, column in weights.y.items()
        ]
        figures["weights"] = figure(
            areas,
            "Weights chosen at each rebalance",
            yaxis=axis("weight", tickformat=".0%"),
            legend={"orientation": "h"},
        )
    return figures
