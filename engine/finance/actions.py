"""Finance actions: options, portfolios, risk, indicators and backtests.

Conventions (stated in every description): simple daily returns, 252 trading days
a year, rates and volatilities as decimals, maturities in years.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.actions import ActionContext, ActionError, ActionResult, Series, register
from engine.actions.base import json_safe
from engine.actions.bounds import require_within
from engine.data.sources import survivorship_note
from engine.finance import analytics, backtest, indicators, portfolio, risk, walkforward
from engine.finance.data import load_close, load_ohlcv
from engine.finance.implied_vol import implied_volatility as solve_implied_vol
from engine.finance.options import DESK_UNITS, desk_greeks, price_options
from engine.finance.params import (
    BacktestParams,
    CorrelationParams,
    FrontierParams,
    ImpliedVolParams,
    IndicatorParams,
    PortfolioBacktestParams,
    PortfolioParams,
    PriceOptionParams,
    RiskContributionParams,
    RiskReportParams,
    RollingBetaParams,
)
from engine.lazy import pandas as pd

CONVENTIONS = (
    "Conventions: simple daily returns, 252 trading days a year, rates and "
    "volatilities as decimals (0.2 = 20%), maturities in years."
)


def _is_scalar(*values) -> bool:
    return not any(isinstance(v, list) for v in values)


def _pct(x: object) -> str:
    """A statistic as a percentage; n/a when it is missing or not a finite number."""
    return f"{x:.2%}" if isinstance(x, (int, float)) and np.isfinite(x) else "n/a"


def _num(x: object, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) and np.isfinite(x) else "n/a"


# ----------------------------------------------------------------------------- options


@register(
    "price_option",
    description=f"""Price European or American vanilla options and compute their Greeks with
    Black–Scholes–Merton (analytic, European), a Cox–Ross–Rubinstein binomial tree
    (European or American) or Monte Carlo with antithetic variates (European, returns
    its standard error). Every numeric parameter takes a number or a list; equal-length
    lists price many options in one call. Greeks as desks quote them: delta per 1.00 of
    spot, vega per volatility point (the price change for +0.01 volatility), theta per
    calendar day (the price change as one day passes, year/365), rho per rate point
    (+0.01 rate). A single option's result also
    holds its inputs, from which the page draws its payoff, value and Greeks against
    spot. {CONVENTIONS}""",
    params=PriceOptionParams,
    category="finance",
)
def price_option(params: PriceOptionParams, ctx: ActionContext) -> ActionResult:
    seed = ctx.seed if params.seed is None else params.seed
    result = price_options(
        params.spot,
        params.strike,
        params.maturity_years,
        params.rate,
        params.volatility,
        params.dividend_yield,
        params.option_type,
        style=params.style,
        method=params.method,
        steps=params.steps,
        paths=params.paths,
        seed=seed,
    )
    scalar = _is_scalar(
        params.spot,
        params.strike,
        params.maturity_years,
        params.rate,
        params.volatility,
        params.dividend_yield,
        params.option_type,
    )
    quoted = {k: np.asarray(v).tolist() for k, v in desk_greeks(result.as_dict()).items()}
    values: dict[str, Any] = {
        name: column[0] if scalar else column for name, column in quoted.items()
    }
    values.update({"style": params.style, "method": params.method, "count": len(result.price)})
    if params.method == "binomial":
        values["steps"] = params.steps
    if params.method == "monte_carlo":
        values.update({"paths": params.paths, "seed": seed})
    table = pd.DataFrame({name: np.atleast_1d(v) for name, v in quoted.items()})
    kind = params.option_type if isinstance(params.option_type, str) else "mixed"
    label = f"{params.style} {kind} ({params.method.replace('_', '-')})"
    if scalar:
        summary = (
            f"{label.capitalize()}: price {values['price']:.4f}, delta {values['delta']:.4f}, "
            f"gamma {values['gamma']:.4f}, vega {values['vega']:.4f} per vol point, "
            f"theta {values['theta']:.4f} per day, rho {values['rho']:.4f} per rate point"
        )
        if result.std_error is not None:
            summary += f" (standard error {result.std_error[0]:.4f})"
        values["option"] = {
            "spot": params.spot,
            "strike": params.strike,
            "maturity_years": params.maturity_years,
            "rate": params.rate,
            "volatility": params.volatility,
            "dividend_yield": params.dividend_yield,
            "option_type": params.option_type,
        }
    else:
        summary = (
            f"Priced {len(result.price):,} {label} options; "
            f"prices from {result.price.min():.4f} to {result.price.max():.4f}."
        )
    units = {name: OPTION_UNITS[name] for name in table.columns if name in OPTION_UNITS}
    return ActionResult(
        summary=summary,
        values=values,
        tables={"options": table},
        units={"options": units},
        value_units=units if scalar else {},
    )


OPTION_UNITS = {
    "price": "currency",
    "delta": "per 1.00 of spot",
    "gamma": "per 1.00 of spot, squared",
    "vega": DESK_UNITS["vega"],
    "theta": DESK_UNITS["theta"],
    "rho": DESK_UNITS["rho"],
    "std_error": "currency",
}


@register(
    "implied_volatility",
    description=f"""Implied volatility of European options (Black–Scholes–Merton, vectorised
    safeguarded Newton) or American options (bisection on a CRR binomial tree) from
    observed prices. Numbers or equal-length lists. A single price outside (or at) its
    no-arbitrage bounds is rejected with the bounds in the message; in a list such a quote
    gets no volatility and a `reason` in its row, and the others are solved. {CONVENTIONS}""",
    params=ImpliedVolParams,
    category="finance",
)
def implied_volatility(params: ImpliedVolParams, ctx: ActionContext) -> ActionResult:
    result = solve_implied_vol(
        params.price,
        params.spot,
        params.strike,
        params.maturity_years,
        params.rate,
        params.dividend_yield,
        params.option_type,
        style=params.style,
        steps=params.steps,
    )
    vols = result.volatility
    scalar = _is_scalar(
        params.price,
        params.spot,
        params.strike,
        params.maturity_years,
        params.rate,
        params.dividend_yield,
        params.option_type,
    )
    reasons = result.reasons or [None] * vols.size
    solved = np.isfinite(vols)
    values = {
        "implied_volatility": float(vols[0]) if scalar else json_safe(vols.tolist()),
        "iterations": result.iterations,
        "converged": bool(result.converged[solved].all()),
        "style": params.style,
        "n_solved": int(solved.sum()),
        "n_unsolved": int((~solved).sum()),
    }
    if scalar:
        summary = f"Implied volatility {vols[0]:.4%} ({params.style})."
    else:
        good = vols[solved]
        summary = (
            f"Implied volatilities of {good.size:,} of {vols.size:,} options: "
            f"{good.min():.2%} to {good.max():.2%} (median {np.median(good):.2%})."
        )
        if good.size < vols.size:
            first = int(np.flatnonzero(~solved)[0])
            summary += (
                f" {vols.size - good.size} option(s) have no implied volatility (see the "
                f"reason column); option {first}: {reasons[first]}."
            )
    table = pd.DataFrame({"implied_volatility": vols, "reason": reasons})
    return ActionResult(
        summary=summary,
        values=values,
        tables={"implied_volatility": table},
        units={"implied_volatility": {"implied_volatility": ANNUAL}},
        value_units={"implied_volatility": ANNUAL, "iterations": COUNT}
        if scalar
        else {"n_solved": COUNT, "n_unsolved": COUNT},
    )


# ----------------------------------------------------------------------------- portfolios

ANNUAL = "fraction a year"
FRACTION = "fraction"
RATIO = "ratio"
COUNT = "count"
DATE = "date"
PORTFOLIO_VALUE_UNITS = {
    "expected_return": ANNUAL,
    "volatility": ANNUAL,
    "sharpe": RATIO,
    "estimation_start": DATE,
    "estimation_end": DATE,
    "estimation_days": "days",
}
BACKTEST_VALUE_UNITS = {
    "total_return": FRACTION,
    "cagr": ANNUAL,
    "volatility": ANNUAL,
    "sharpe": RATIO,
    "sortino": RATIO,
    "max_drawdown": FRACTION,
    "calmar": RATIO,
    "n_trades": COUNT,
    "turnover": "times the capital a year",
    "total_costs": FRACTION,
    "exposure": "fraction of days",
    "start": DATE,
    "end": DATE,
    "days": "days",
    "max_drawdown_peak": DATE,
    "max_drawdown_trough": DATE,
}
WEIGHT_UNITS = {
    "weight": "fraction of capital",
    "risk_contribution": "fraction of variance",
    "expected_return": ANNUAL,
    "volatility": ANNUAL,
}
FRONTIER_UNITS = {"expected_return": ANNUAL, "volatility": ANNUAL, "sharpe": "ratio, annual"}
BACKTEST_UNITS = {
    "equity": "equity (start = 1)",
    "drawdown": "fraction",
    "net_return": "fraction a day",
    "gross_return": "fraction a day",
    "cost": "fraction a day",
    "gross_exposure": "fraction of capital",
    "net_exposure": "fraction of capital",
    "buy_and_hold_equity": "equity (start = 1)",
}


def _estimates(params: PortfolioParams) -> tuple[portfolio.Estimates, dict]:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    return portfolio.estimate(prices, params.covariance), provenance


def _optimise(params: PortfolioParams, estimates: portfolio.Estimates):
    return portfolio.optimize(
        estimates,
        params.objective,
        risk_free_rate=params.risk_free_rate,
        bounds=params.weight_bounds,
        target_return=params.target_return,
        target_volatility=params.target_volatility,
    )


def _portfolio_summary(result: portfolio.PortfolioResult) -> str:
    top = result.weights.sort_values(ascending=False)
    weights = ", ".join(f"{s} {w:.1%}" for s, w in top.items() if abs(w) >= 0.005)
    return (
        f"{result.objective.replace('_', ' ')} portfolio: expected return "
        f"{_pct(result.expected_return)}, volatility {_pct(result.volatility)}, "
        f"Sharpe {_num(result.sharpe)}. Weights: {weights}."
    )


def _weights_table(result: portfolio.PortfolioResult, estimates) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "weight": result.weights,
            "risk_contribution": pd.Series(result.extras["risk_contributions"]),
            "expected_return": estimates.mu.to_numpy(),
            "volatility": np.sqrt(np.diag(estimates.cov.to_numpy())),
        }
    ).rename_axis("symbol")


def _estimation_values(estimates: portfolio.Estimates, provenance: dict) -> dict:
    returns = estimates.returns
    return {
        "covariance": estimates.covariance,
        "estimation_start": returns.index[0],
        "estimation_end": returns.index[-1],
        "estimation_days": len(returns),
        "provenance": provenance,
    }


@register(
    "optimize_portfolio",
    description=f"""Optimise portfolio weights for symbols from historical prices:
    min_variance, max_sharpe, efficient_return (target_return), efficient_risk
    (target_volatility), risk_parity or hrp. Mean of daily returns × 252 and sample
    (or Ledoit–Wolf) covariance × 252; weights sum to one within weight_bounds
    (default long-only 0..1). Returns weights, expected return, volatility and
    Sharpe ratio. {CONVENTIONS}""",
    params=PortfolioParams,
    category="finance",
)
def optimize_portfolio(params: PortfolioParams, ctx: ActionContext) -> ActionResult:
    estimates, provenance = _estimates(params)
    result = _optimise(params, estimates)
    values = {**result.values(), "risk_free_rate": params.risk_free_rate}
    values.update(_estimation_values(estimates, provenance))
    return ActionResult(
        summary=_portfolio_summary(result),
        values=values,
        tables={"weights": _weights_table(result, estimates)},
        units={"weights": WEIGHT_UNITS},
        value_units=PORTFOLIO_VALUE_UNITS,
    )


# Frontier points × symbols²: each point is a constrained optimisation over every
# symbol's weight whose cost grows at least with symbols² (bench/bench_frontier.py, on a
# loaded 2-core machine: 0.15–0.4 ms per point and symbol², 0.8 s a point for 70
# symbols, 3.2 s for 100). The action runs inline, in the caller's process: the limit
# allows the default 30 points for 70 symbols (~25 s there), 200 points for 27 and 15
# for 100; the parameters' maximum, 200 points × 100 symbols, took over ten minutes.
MAX_FRONTIER_WORK = 150_000


@register(
    "efficient_frontier",
    description=f"""Trace the mean–variance efficient frontier of symbols (minimum
    volatility for evenly spaced target returns within weight_bounds) and mark the
    portfolio chosen by `objective` (default max_sharpe) and the individual assets.
    Returns a table and a series of frontier points and the assets as a series.
    {CONVENTIONS}""",
    params=FrontierParams,
    category="finance",
)
def efficient_frontier(params: FrontierParams, ctx: ActionContext) -> ActionResult:
    symbols = len(params.symbols)
    require_within(
        f"{params.n_points} frontier points × {symbols} symbols² (one optimisation over "
        f"{symbols} weights per point)",
        params.n_points * symbols**2,
        MAX_FRONTIER_WORK,
        "use fewer n_points or fewer symbols",
    )
    estimates, provenance = _estimates(params)
    ctx.progress(0.1)
    chosen = _optimise(params, estimates)
    minimum = portfolio.optimize(
        estimates, "min_variance", params.risk_free_rate, params.weight_bounds
    )
    points = portfolio.frontier(
        estimates, params.n_points, params.weight_bounds, params.risk_free_rate
    )
    ctx.progress(0.9)
    assets = pd.DataFrame(
        {"expected_return": estimates.mu, "volatility": np.sqrt(np.diag(estimates.cov))},
        index=estimates.mu.index,
    )
    annual = {"volatility": "fraction a year", "expected_return": "fraction a year"}
    series = {
        "frontier": Series.from_frame(
            points.sort_values("volatility")[["volatility", "expected_return"]],
            x="volatility",
            units=annual,
        ),
        "assets": Series.from_frame(
            assets, x="volatility", labels=[str(s) for s in assets.index], units=annual
        ),
    }
    values = {**chosen.values(), "risk_free_rate": params.risk_free_rate}
    values["frontier_points"] = len(points)
    values["min_variance"] = {
        "expected_return": minimum.expected_return,
        "volatility": minimum.volatility,
    }
    values.update(_estimation_values(estimates, provenance))
    return ActionResult(
        summary=f"Efficient frontier with {len(points)} points from volatility "
        f"{_pct(points['volatility'].min())} to {_pct(points['volatility'].max())}. "
        + _portfolio_summary(chosen),
        values=values,
        tables={"frontier": points, "weights": _weights_table(chosen, estimates)},
        units={"frontier": FRONTIER_UNITS, "weights": WEIGHT_UNITS},
        series=series,
        value_units={**PORTFOLIO_VALUE_UNITS, "frontier_points": COUNT},
    )


# ----------------------------------------------------------------------------- risk

HISTOGRAM_BINS = 120


MAX_RISK_DRAWS = 1_000_000_000  # normal draws of the Monte Carlo VaR (paths × days × assets)


@register(
    "risk_report",
    description=f"""Risk report for one symbol or a portfolio (symbols with weights, equal if
    omitted; rebalanced daily): volatility, Sharpe, Sortino, max drawdown with peak and
    trough dates, Calmar, beta to a benchmark, VaR and CVaR (historical, parametric
    normal, Monte Carlo) at `confidence` over `horizon_days`, EWMA volatility and a
    GARCH(1,1) volatility forecast. VaR/CVaR are positive fractions of value lost.
    Includes the histogram of horizon returns as a series. {CONVENTIONS}""",
    params=RiskReportParams,
    category="finance",
)
def risk_report(params: RiskReportParams, ctx: ActionContext) -> ActionResult:
    require_within(
        f"{params.mc_paths:,} Monte Carlo paths × {params.horizon_days} days × "
        f"{len(params.symbols)} symbols",
        params.mc_paths * params.horizon_days * len(params.symbols),
        MAX_RISK_DRAWS,
        "reduce mc_paths, horizon_days or the number of symbols",
    )
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    seed = ctx.seed if params.seed is None else params.seed
    benchmark = None
    if params.benchmark:
        bench, _ = load_close([params.benchmark], params.source, params.start, params.end)
        benchmark = bench.iloc[:, 0]
    ctx.progress(0.2)
    out = risk.report(
        prices,
        params.weights,
        benchmark,
        confidence=params.confidence,
        horizon_days=params.horizon_days,
        risk_free_rate=params.risk_free_rate,
        mc_paths=params.mc_paths,
        seed=seed,
        ewma_lambda=params.ewma_lambda,
        garch=params.garch,
    )
    values = out["values"]
    values.update({"mc_paths": params.mc_paths, "seed": seed, "provenance": provenance})
    sample = risk.horizon_returns(out["returns"], params.horizon_days)
    counts, edges = np.histogram(sample.dropna().to_numpy(), bins=HISTOGRAM_BINS)
    histogram = Series(
        x=((edges[:-1] + edges[1:]) / 2).tolist(),
        y={"count": counts.tolist()},
        x_label=f"{params.horizon_days}-day return",
        units={f"{params.horizon_days}-day return": "fraction", "count": "windows"},
    )
    values["histogram_bin_width"] = float(edges[1] - edges[0])
    # the historical VaR and CVaR again at the top level: the headline numbers
    values["historical_var"] = values["var"]["historical"]["var"]
    values["historical_cvar"] = values["var"]["historical"]["cvar"]
    name = params.symbols[0] if len(params.symbols) == 1 else "Portfolio"
    hist = values["var"]["historical"]
    summary = (
        f"{name} {values['start']:%Y-%m-%d}..{values['end']:%Y-%m-%d}: volatility "
        f"{_pct(values['volatility'])}, Sharpe {_num(values['sharpe'])}, Sortino "
        f"{_num(values['sortino'])}, max drawdown {_pct(values['max_drawdown'])}; "
        f"{params.horizon_days}-day {params.confidence:.0%} historical VaR {_pct(hist['var'])}, "
        f"CVaR {_pct(hist['cvar'])}."
    )
    if "beta" in values:
        summary += f" Beta to {params.benchmark}: {_num(values['beta'])}."
    if "garch" in values:
        summary += f" GARCH next-day volatility {_pct(values['garch']['next_day_volatility'])}."
    var_table = pd.DataFrame(
        [{"method": m, "var": v["var"], "cvar": v["cvar"]} for m, v in values["var"].items()]
    )
    series = pd.DataFrame(
        {
            "return": out["returns"],
            "equity": out["equity"],
            "drawdown": out["equity"] / out["equity"].cummax() - 1.0,
            "ewma_volatility": out["ewma"],
        }
    ).rename_axis("date")
    return ActionResult(
        summary=summary,
        values=values,
        tables={"var": var_table, "daily": series},
        units={
            "var": {
                "var": f"fraction of value lost over {params.horizon_days} day(s)",
                "cvar": f"fraction of value lost over {params.horizon_days} day(s)",
            },
            "daily": {
                "return": "fraction",
                "equity": "equity (start = 1)",
                "drawdown": "fraction",
                "ewma_volatility": ANNUAL,
            },
        },
        series={"return_distribution": histogram},
        value_units=_risk_value_units(values, params.horizon_days),
    )


def _risk_value_units(values: dict[str, Any], horizon: int) -> dict[str, str]:
    """The risk report's headline numbers and their units (beta and GARCH when present)."""
    lost = f"fraction of value lost over {horizon} day{'s' if horizon > 1 else ''}"
    units = {
        "volatility": ANNUAL,
        "sharpe": RATIO,
        "max_drawdown": FRACTION,
        "historical_var": lost,
        "historical_cvar": lost,
        "beta": RATIO,
        "cagr": ANNUAL,
        "sortino": RATIO,
        "annual_return": ANNUAL,
        "calmar": RATIO,
        "ewma_volatility": ANNUAL,
        "correlation": "correlation",
        "confidence": FRACTION,
        "horizon_days": "days",
        "start": DATE,
        "end": DATE,
        "days": "days",
        "max_drawdown_peak": DATE,
        "max_drawdown_trough": DATE,
        "max_drawdown_recovery": DATE,
    }
    return {name: unit for name, unit in units.items() if name in values}


# ----------------------------------------------------------------------------- indicators


WINDOW_FIELDS = tuple(indicators.DEFAULTS)
# A stored cell costs about 70 bytes of JSON (value and date): a million is ~70 MB.
MAX_INDICATOR_CELLS = 1_000_000


@register(
    "compute_indicators",
    description="""Technical indicators from past data only: SMA, EMA, RSI and ATR (Wilder),
    MACD 12/26/9, Bollinger bands (population std), stochastic oscillator, OBV,
    rolling volatility (annualised), z-score and momentum. Windows are configurable
    (sma_window=[10, 50] gives two columns). OHLC-based indicators (ATR, stochastic,
    OBV) need OHLCV data (bundled: SPX); with close-only data, omit `indicators` to get
    every close-based one.""",
    params=IndicatorParams,
    category="finance",
)
def compute_indicators(params: IndicatorParams, ctx: ActionContext) -> ActionResult:
    windows = {k: getattr(params, k) for k in WINDOW_FIELDS if getattr(params, k) is not None}
    names = indicators.resolve_names(params.indicators)
    needs_ohlcv = any(name in indicators.NEEDS for name in names)
    note = ""
    try:
        frame, provenance = load_ohlcv(params.symbols, params.source, params.start, params.end)
    except ActionError:
        if needs_ohlcv and params.indicators is not None:
            raise
        frame, provenance = load_close(params.symbols, params.source, params.start, params.end)
        frame = pd.concat({s: frame[[s]].set_axis(["close"], axis=1) for s in frame}, axis=1)
        if params.indicators is None:
            names = [n for n in names if n not in indicators.NEEDS]
            note = " Only close prices are available, so ATR, stochastic and OBV were skipped."
    symbols = frame.columns.get_level_values(0).nunique()
    width = indicators.output_width(names, windows)
    require_within(
        f"{width} indicator columns × {symbols} symbols × {len(frame):,} rows",
        width * symbols * len(frame),
        MAX_INDICATOR_CELLS,
        "ask for fewer windows or symbols, or a shorter date range",
    )
    result = indicators.compute(frame, names, **windows)
    tables, latest = {}, {}
    for symbol in dict.fromkeys(result.columns.get_level_values(0)):
        table = result[symbol].rename_axis("date")
        tables[str(symbol)] = table
        last = table.dropna(how="all")
        latest[str(symbol)] = (
            {"date": last.index[-1], **last.iloc[-1].to_dict()} if len(last) else {}
        )
    first = str(params.symbols[0]) if str(params.symbols[0]) in tables else next(iter(tables))
    close = frame[first]["close"]
    columns = list(tables[first].columns)
    chart = pd.concat([close.rename("close"), tables[first]], axis=1).rename_axis("date")
    units = indicator_units(["close", *columns])
    return ActionResult(
        summary=f"Computed {len(columns)} indicator columns ({', '.join(columns)}) for "
        f"{', '.join(tables)} over {len(result):,} dates.{note}",
        values={
            "latest": latest,
            "columns": columns,
            "chart_symbol": first,
            "provenance": provenance,
        },
        tables=tables,
        units={
            name: {c: units[c] for c in table.columns if c in units}
            for name, table in tables.items()
        },
        series={"indicators": Series.from_frame(chart, units=units)},
    )


INDICATOR_UNITS = (
    (("close", "sma_", "ema_", "bb_mid", "bb_upper", "bb_lower", "atr_", "macd"), "price"),
    (("rsi_", "stoch_"), "index 0-100"),
    (("volatility_",), ANNUAL),
    (("momentum_", "bb_pctb", "bb_width"), FRACTION),
    (("zscore_",), "standard deviations"),
    (("obv",), "volume"),
)


def indicator_units(columns: list[str]) -> dict[str, str]:
    """The unit of each indicator column, by its name."""
    units = {}
    for column in columns:
        for prefixes, unit in INDICATOR_UNITS:
            if column.startswith(prefixes):
                units[column] = unit
                break
    return units


# ----------------------------------------------------------------------------- backtests


BENCH_KEYS = ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")


def _signal_positions(signal, prices: pd.DataFrame, long_short: bool) -> pd.DataFrame:
    if not signal:
        raise ActionError("strategy 'signal' needs `signal`: date -> position (or per symbol)")
    nested = all(isinstance(v, dict) for v in signal.values())
    per_symbol = signal if nested else {s: signal for s in prices.columns}
    unknown = [s for s in per_symbol if s not in prices.columns]
    if unknown:
        raise ActionError(f"signal given for symbols not in the backtest: {', '.join(unknown)}")
    columns = {}
    for symbol, series in per_symbol.items():
        try:
            index = pd.to_datetime(list(series.keys()))
        except (ValueError, TypeError):
            raise ActionError(f"signal for {symbol} has keys that are not dates") from None
        values = pd.Series(list(series.values()), index=index, dtype=float).sort_index()
        union = values.index.union(prices.index)
        columns[symbol] = values.reindex(union).ffill().reindex(prices.index)
    frame = pd.DataFrame(columns, index=prices.index).reindex(columns=prices.columns)
    if not long_short and (frame < 0).to_numpy().any():
        raise ActionError("the signal has short (negative) positions; set long_short=true")
    return frame.fillna(0.0)


@register(
    "backtest_strategy",
    description=f"""Backtest a trading strategy on symbols: buy_and_hold, sma_crossover
    (fast, slow), momentum (lookback), mean_reversion (z-score entry/exit bands), rsi
    (lower/upper) or signal (positions given by date, e.g. from a model). The position
    decided at a day's close earns the next day's return (no look-ahead); costs are
    cost_bps/10,000 × |change in position|; long/flat unless long_short; several
    symbols equally weighted or with given weights. Costs are on by default
    (cost_bps 5 commission + slippage_bps 2 per unit of turnover; zero must be set
    explicitly); evaluate_after scores only the days after a date (signals still use
    the earlier history); bundled S&P 500 stocks carry a survivorship-bias note.
    Returns total return, CAGR,
    volatility, Sharpe, max drawdown, trades, turnover, the equity and drawdown curves,
    compared with buy and hold. {CONVENTIONS}""",
    params=BacktestParams,
    category="finance",
)
def backtest_strategy(params: BacktestParams, ctx: ActionContext) -> ActionResult:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    by_strategy: dict[str, dict[str, Any]] = {
        "sma_crossover": {"fast": params.fast, "slow": params.slow},
        "momentum": {"lookback": params.lookback},
        "mean_reversion": {
            "window": params.zscore_window,
            "entry_z": params.entry_z,
            "exit_z": params.exit_z,
        },
        "rsi": {"window": params.rsi_window, "lower": params.lower, "upper": params.upper},
    }
    strategy_params = by_strategy.get(params.strategy, {})
    if params.strategy == "signal":
        signals = _signal_positions(params.signal, prices, params.long_short)
        weights = backtest.symbol_weights(prices.columns, params.weights)
        positions = signals.mul(weights, axis=1).where(prices.notna(), 0.0)
    else:
        positions = backtest.strategy_positions(
            prices, params.strategy, strategy_params, params.long_short, params.weights
        )
    bench_positions = backtest.strategy_positions(
        prices, "buy_and_hold", None, False, params.weights
    )
    # Signals are computed on the whole history; only the days after evaluate_after are
    # traded and scored (starting flat), e.g. after a model's training cut-off.
    window = "the whole period"
    if params.evaluate_after is not None:
        after = pd.Timestamp(params.evaluate_after)
        keep = prices.index > after
        if int(keep.sum()) < 2:
            raise ActionError(
                f"There are fewer than two trading days after {after:%Y-%m-%d} "
                f"(the data ends {prices.index[-1]:%Y-%m-%d}); choose an earlier evaluate_after."
            )
        prices, positions = prices.loc[keep], positions.loc[keep]
        bench_positions = bench_positions.loc[keep]
        window = f"only the days after {after:%Y-%m-%d}"
    friction = params.cost_bps + params.slippage_bps
    result = backtest.run_positions(prices, positions, friction, params.risk_free_rate)
    bench = backtest.run_positions(prices, bench_positions, friction, params.risk_free_rate)
    stats = result.stats
    notes = []
    if friction == 0:
        notes.append("No commission or slippage: both were set to 0 explicitly.")
    survivors = survivorship_note(list(params.symbols), params.source)
    if survivors:
        notes.append(survivors)
    values = {
        **stats,
        "strategy": params.strategy,
        "symbols": list(params.symbols),
        "parameters": strategy_params,
        "cost_bps": params.cost_bps,
        "slippage_bps": params.slippage_bps,
        "execution": "next bar: a position decided at a day's close earns the next day's return",
        "evaluated": window,
        "evaluate_after": str(params.evaluate_after) if params.evaluate_after else None,
        "survivorship_bias": survivors is not None,
        "notes": notes,
        "long_short": params.long_short,
        "buy_and_hold": {
            k: bench.stats[k]
            for k in ("total_return", "cagr", "volatility", "sharpe", "max_drawdown")
        },
        "provenance": provenance,
    }
    summary = (
        f"{params.strategy.replace('_', ' ')} on {', '.join(params.symbols)} "
        f"({stats['start']:%Y-%m-%d}..{stats['end']:%Y-%m-%d}; {window}; next-bar execution; "
        f"{params.cost_bps:g} bps commission + {params.slippage_bps:g} bps slippage): total "
        f"return {_pct(stats['total_return'])}, CAGR {_pct(stats['cagr'])}, volatility "
        f"{_pct(stats['volatility'])}, Sharpe {_num(stats['sharpe'])}, max drawdown "
        f"{_pct(stats['max_drawdown'])}, {stats['n_trades']} trades. Buy and hold: CAGR "
        f"{_pct(bench.stats['cagr'])}, Sharpe {_num(bench.stats['sharpe'])}."
    )
    for note in notes:
        summary += f" {note}"
    table = result.table().rename_axis("date")
    table["buy_and_hold_equity"] = bench.equity
    curves = pd.DataFrame(
        {"strategy": result.equity, "buy_and_hold": bench.equity, "drawdown": result.drawdown}
    ).rename_axis("date")
    units = {"strategy": "equity (start = 1)", "buy_and_hold": "equity (start = 1)"}
    return ActionResult(
        summary=summary,
        values=values,
        tables={"equity": table},
        units={"equity": BACKTEST_UNITS},
        series={"equity": Series.from_frame(curves, units={**units, "drawdown": "fraction"})},
        value_units=BACKTEST_VALUE_UNITS,
    )


# ----------------------------------------------------------------------------- cross-asset


@register(
    "correlation_matrix",
    description=f"""Correlation matrix of symbols' daily returns (pearson, or spearman rank
    correlation) on the dates where every symbol has a return, with the most and least
    correlated pairs and the average pairwise correlation. {CONVENTIONS}""",
    params=CorrelationParams,
    category="finance",
)
def correlation_matrix(params: CorrelationParams, ctx: ActionContext) -> ActionResult:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    matrix = analytics.correlation_matrix(prices, params.method)
    returns = analytics.daily_returns(prices)
    symbols = list(matrix.columns)
    upper = np.triu_indices(len(symbols), k=1)
    pairs = pd.DataFrame(
        {
            "first": [symbols[i] for i in upper[0]],
            "second": [symbols[j] for j in upper[1]],
            "correlation": matrix.to_numpy()[upper],
        }
    ).sort_values("correlation", ascending=False, kind="stable")
    high, low = pairs.iloc[0], pairs.iloc[-1]
    values = {
        "average_correlation": float(pairs["correlation"].mean()),
        "highest_pair": [high["first"], high["second"]],
        "highest_correlation": float(high["correlation"]),
        "lowest_pair": [low["first"], low["second"]],
        "lowest_correlation": float(low["correlation"]),
        "start": returns.index[0],
        "end": returns.index[-1],
        "days": len(returns),
        "method": params.method,
        "provenance": provenance,
    }
    summary = (
        f"{params.method.capitalize()} correlation of daily returns of {len(symbols)} symbols "
        f"({values['start']:%Y-%m-%d}..{values['end']:%Y-%m-%d}, {len(returns):,} common days): "
        f"average {values['average_correlation']:.2f}; highest {high['first']}/{high['second']} "
        f"{high['correlation']:.2f}, lowest {low['first']}/{low['second']} "
        f"{low['correlation']:.2f}."
    )
    return ActionResult(
        summary=summary,
        values=values,
        tables={"correlation": matrix.rename_axis("symbol"), "pairs": pairs.reset_index(drop=True)},
        units={
            "correlation": {s: "correlation" for s in symbols},
            "pairs": {"correlation": "correlation"},
        },
        value_units={
            "average_correlation": "correlation",
            "highest_correlation": "correlation",
            "lowest_correlation": "correlation",
            "start": DATE,
            "end": DATE,
            "days": "days",
        },
    )


@register(
    "rolling_beta",
    description=f"""Rolling beta of symbols to a benchmark (default SPX, the bundled S&P 500
    index; ^GSPC also works): beta over the `window` trading days ending at each date,
    cov(r, r_benchmark) / var(r_benchmark) from past returns only, with the rolling
    correlation; plus the full-period beta, annualised alpha, correlation and R² on the
    common dates. {CONVENTIONS}""",
    params=RollingBetaParams,
    category="finance",
)
def rolling_beta(params: RollingBetaParams, ctx: ActionContext) -> ActionResult:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    bench, bench_provenance = load_close(
        [params.benchmark], params.source, params.start, params.end
    )
    benchmark = bench.iloc[:, 0]
    frames, rows = {}, []
    for symbol in prices.columns:
        if str(symbol) == str(benchmark.name):
            raise ActionError(f"{symbol} is the benchmark itself; its beta is 1 by definition")
        out = analytics.rolling_beta(prices[symbol], benchmark, params.window)
        latest = out.rolling["beta"].dropna()
        frames[str(symbol)] = out.rolling["beta"]
        rows.append(
            {
                "symbol": str(symbol),
                "beta": out.beta,
                "alpha": out.alpha,
                "correlation": out.correlation,
                "r_squared": out.r_squared,
                "latest_beta": float(latest.iloc[-1]),
                "latest_date": latest.index[-1],
                "min_beta": float(latest.min()),
                "max_beta": float(latest.max()),
                "days": out.days,
            }
        )
    summary_table = pd.DataFrame(rows).set_index("symbol")
    daily = pd.DataFrame(frames).rename_axis("date").dropna(how="all")
    first = rows[0]
    values: dict[str, Any] = {
        "benchmark": str(benchmark.name),
        "window": params.window,
        "beta": first["beta"],
        "latest_beta": first["latest_beta"],
        "alpha": first["alpha"],
        "correlation": first["correlation"],
        "r_squared": first["r_squared"],
        "latest_date": first["latest_date"],
        "start": daily.index[0],
        "end": daily.index[-1],
        "provenance": {"symbols": provenance, "benchmark": bench_provenance},
    }
    parts = [
        f"{row['symbol']} beta {row['beta']:.2f} (latest {params.window}-day "
        f"{row['latest_beta']:.2f}, range {row['min_beta']:.2f}..{row['max_beta']:.2f}; "
        f"alpha {_pct(row['alpha'])} a year, R² {row['r_squared']:.2f})"
        for row in rows
    ]
    summary = (
        f"Beta to {benchmark.name} on daily returns ({daily.index[0]:%Y-%m-%d}.."
        f"{daily.index[-1]:%Y-%m-%d}, rolling {params.window} days): " + "; ".join(parts) + "."
    )
    beta_units = {str(s): "beta" for s in daily.columns}
    return ActionResult(
        summary=summary,
        values=values,
        tables={"betas": summary_table, "rolling_beta": daily},
        units={
            "betas": {
                "beta": "beta",
                "alpha": ANNUAL,
                "correlation": "correlation",
                "r_squared": FRACTION,
                "latest_beta": "beta",
                "min_beta": "beta",
                "max_beta": "beta",
                "days": "days",
            },
            "rolling_beta": beta_units,
        },
        series={
            "rolling_beta": Series.from_frame(
                daily,
                units=beta_units,
                title=f"{params.window}-day rolling beta to {benchmark.name}",
            )
        },
        value_units={
            "beta": "beta",
            "latest_beta": "beta",
            "alpha": ANNUAL,
            "correlation": "correlation",
            "r_squared": FRACTION,
            "window": "days",
            "latest_date": DATE,
        },
    )


@register(
    "risk_contributions",
    description=f"""Risk contributions of a portfolio (weights adding up to 1, equal if
    omitted): each symbol's marginal contribution to volatility (∂σ/∂w, annual), its
    contribution w·∂σ/∂w (these add up to the portfolio's annual volatility) and its percent
    contribution (adding up to 100 %), beside its weight and its own volatility; sample
    covariance of daily returns × 252 on the common dates. {CONVENTIONS}""",
    params=RiskContributionParams,
    category="finance",
)
def risk_contributions(params: RiskContributionParams, ctx: ActionContext) -> ActionResult:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    out = analytics.risk_contributions(prices, params.weights)
    table = out.table
    top = table["percent_contribution"].sort_values(ascending=False)
    values = {
        "volatility": out.volatility,
        "sum_of_contributions": float(table["contribution"].sum()),
        "diversification_ratio": out.diversification_ratio,
        "largest_contributor": str(top.index[0]),
        "largest_percent_contribution": float(top.iloc[0]),
        "weights": {str(k): float(v) for k, v in table["weight"].items()},
        "start": out.start,
        "end": out.end,
        "days": out.days,
        "provenance": provenance,
    }
    shares = ", ".join(
        f"{symbol} {table.loc[symbol, 'weight']:.1%} of capital → {share:.1%} of risk"
        for symbol, share in top.items()
    )
    summary = (
        f"Portfolio volatility {_pct(out.volatility)} a year "
        f"({out.start:%Y-%m-%d}..{out.end:%Y-%m-%d}, {out.days:,} days); contributions: "
        f"{shares}. Diversification ratio {out.diversification_ratio:.2f}."
    )
    return ActionResult(
        summary=summary,
        values=values,
        tables={"contributions": table},
        units={
            "contributions": {
                "weight": "fraction of capital",
                "volatility": ANNUAL,
                "marginal_contribution": "volatility a year per unit of weight",
                "contribution": ANNUAL,
                "percent_contribution": "fraction of volatility",
            }
        },
        value_units={
            "volatility": ANNUAL,
            "sum_of_contributions": ANNUAL,
            "largest_percent_contribution": "fraction of volatility",
            "diversification_ratio": RATIO,
            "start": DATE,
            "end": DATE,
            "days": "days",
        },
    )


# Rebalances × symbols²: each rebalance is one optimisation like a frontier point.
MAX_WALK_FORWARD_WORK = MAX_FRONTIER_WORK


@register(
    "backtest_portfolio",
    description=f"""Walk-forward backtest of an optimised portfolio: on the last trading
    day of every week/month/quarter (`rebalance`, default monthly) the weights are
    re-optimised (`objective`, as optimize_portfolio, within weight_bounds) on the
    `lookback_days` daily returns up to that close only, traded at that close and held,
    drifting with prices, until the next rebalance; costs (cost_bps commission +
    slippage_bps, on by default) are charged on the turnover. No look-ahead: a
    rebalance never sees a later price, so the first one is the first period end with
    lookback_days of returns after `start` (the results start there). Compared with
    the equal-weight portfolio on the same days and costs. Returns total return, CAGR,
    volatility, Sharpe, max drawdown, turnover, the equity curves and the weights at
    each rebalance.
    {CONVENTIONS}""",
    params=PortfolioBacktestParams,
    category="finance",
)
def backtest_portfolio(params: PortfolioBacktestParams, ctx: ActionContext) -> ActionResult:
    prices, provenance = load_close(params.symbols, params.source, params.start, params.end)
    common = prices.dropna(how="any")
    planned = walkforward.rebalance_positions(
        pd.DatetimeIndex(common.index), params.rebalance, params.lookback_days
    )
    symbols = len(params.symbols)
    require_within(
        f"{len(planned)} rebalances × {symbols} symbols² (one optimisation over {symbols} "
        "weights per rebalance)",
        len(planned) * symbols**2,
        MAX_WALK_FORWARD_WORK,
        "rebalance less often (quarterly), use fewer symbols or a shorter date range",
    )

    def step(done: int, total: int) -> None:
        ctx.raise_if_cancelled()
        ctx.progress(0.05 + 0.9 * done / total)

    friction = params.cost_bps + params.slippage_bps
    out = walkforward.walk_forward(
        common,
        params.objective,
        lookback=params.lookback_days,
        frequency=params.rebalance,
        covariance=params.covariance,
        bounds=params.weight_bounds,
        risk_free_rate=params.risk_free_rate,
        target_return=params.target_return,
        target_volatility=params.target_volatility,
        cost_bps=friction,
        on_step=step,
    )
    stats, bench = out.strategy.stats, out.equal_weight.stats
    rebalances = out.weights.dropna(how="all")
    turnover = out.strategy.turnover[out.strategy.turnover > 0]
    notes = []
    if friction == 0:
        notes.append("No commission or slippage: both were set to 0 explicitly.")
    if out.failed:
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in out.failed[:5])
        notes.append(
            f"{len(out.failed)} rebalance(s) could not be optimised and kept the previous "
            f"holdings ({shown}{', ...' if len(out.failed) > 5 else ''})."
        )
    survivors = survivorship_note(list(params.symbols), params.source)
    if survivors:
        notes.append(survivors)
    latest = rebalances.iloc[-1]
    values: dict[str, Any] = {
        **stats,
        "objective": params.objective,
        "symbols": list(params.symbols),
        "rebalance": params.rebalance,
        "lookback_days": params.lookback_days,
        "n_rebalances": len(out.weights),
        "n_failed_rebalances": len(out.failed),
        "average_turnover": float(turnover.mean()) if len(turnover) else 0.0,
        "cost_bps": params.cost_bps,
        "slippage_bps": params.slippage_bps,
        "weight_bounds": list(params.weight_bounds),
        "latest_weights": {str(k): float(v) for k, v in latest.items()},
        "latest_rebalance": rebalances.index[-1],
        "execution": "weights optimised on returns up to a rebalance day's close, traded at "
        "that close, held (drifting) until the next rebalance",
        "equal_weight": {key: bench[key] for key in BENCH_KEYS},
        "notes": notes,
        "survivorship_bias": survivors is not None,
        "provenance": provenance,
    }
    objective = params.objective.replace("_", " ")
    summary = (
        f"Walk-forward {objective} portfolio of {', '.join(params.symbols)} "
        f"({stats['start']:%Y-%m-%d}..{stats['end']:%Y-%m-%d}; re-optimised {params.rebalance} "
        f"on the past {params.lookback_days} days only; {params.cost_bps:g} bps commission + "
        f"{params.slippage_bps:g} bps slippage): total return {_pct(stats['total_return'])}, "
        f"CAGR {_pct(stats['cagr'])}, volatility {_pct(stats['volatility'])}, Sharpe "
        f"{_num(stats['sharpe'])}, max drawdown {_pct(stats['max_drawdown'])}, "
        f"{len(out.weights)} rebalances. Equal weight: CAGR {_pct(bench['cagr'])}, Sharpe "
        f"{_num(bench['sharpe'])}."
    )
    for note in notes:
        summary += f" {note}"
    table = out.strategy.table().rename_axis("date")
    table["equal_weight_equity"] = out.equal_weight.equity
    curves = pd.DataFrame(
        {
            "strategy": out.strategy.equity,
            "equal_weight": out.equal_weight.equity,
            "drawdown": out.strategy.drawdown,
        }
    ).rename_axis("date")
    weight_units = {s: "fraction of capital" for s in out.weights.columns}
    return ActionResult(
        summary=summary,
        values=values,
        tables={"equity": table, "weights": out.weights},
        units={
            "equity": {
                **{k: v for k, v in BACKTEST_UNITS.items() if k in table.columns},
                "equal_weight_equity": "equity (start = 1)",
            },
            "weights": weight_units,
        },
        series={
            "equity": Series.from_frame(
                curves,
                units={
                    "strategy": "equity (start = 1)",
                    "equal_weight": "equity (start = 1)",
                    "drawdown": FRACTION,
                },
            ),
            "weights": Series.from_frame(out.weights.fillna(0.0), units=weight_units),
        },
        value_units={
            **{k: v for k, v in BACKTEST_VALUE_UNITS.items() if k != "n_trades"},
            "n_rebalances": COUNT,
            "average_turnover": "fraction of capital",
            "latest_rebalance": DATE,
        },
    )
