"""Pydantic parameter models of the finance actions (their JSON schemas are the tools)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from engine.actions.bounds import (
    MAX_OPTION_BATCH,
    MAX_SIGNAL_POINTS,
    MAX_SYMBOLS,
    MAX_WINDOWS,
    DateLike,
    DateText,
    SourceName,
    Symbol,
)

Positive = Annotated[float, Field(gt=0)]
PositiveOrList = (
    Positive | Annotated[list[Positive], Field(min_length=1, max_length=MAX_OPTION_BATCH)]
)
NumberOrList = float | Annotated[list[float], Field(min_length=1, max_length=MAX_OPTION_BATCH)]
OptionType = Literal["call", "put"]
Symbols = Annotated[
    list[Symbol],
    Field(min_length=1, max_length=MAX_SYMBOLS, description="Ticker symbols, e.g. ['AAPL']"),
]
Window = Annotated[int, Field(ge=1, le=5000)]
WindowOrList = Window | Annotated[list[Window], Field(min_length=1, max_length=MAX_WINDOWS)]
Weights = Annotated[dict[Symbol, float], Field(max_length=MAX_SYMBOLS)]
Signal = Annotated[dict[DateText, float], Field(max_length=MAX_SIGNAL_POINTS)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class OptionParams(_Params):
    spot: PositiveOrList = Field(description="Underlying price (> 0); a number or a list")
    strike: PositiveOrList = Field(description="Strike (> 0)")
    maturity_years: PositiveOrList = Field(description="Time to expiry in years (> 0)")
    rate: NumberOrList = Field(0.0, description="Continuously compounded risk-free rate, decimal")
    dividend_yield: NumberOrList = Field(0.0, description="Continuous dividend yield, decimal")
    option_type: (
        OptionType | Annotated[list[OptionType], Field(min_length=1, max_length=MAX_OPTION_BATCH)]
    ) = "call"
    style: Literal["european", "american"] = "european"


class PriceOptionParams(OptionParams):
    volatility: PositiveOrList = Field(description="Annual volatility as a decimal (> 0)")
    method: Literal["black_scholes", "binomial", "monte_carlo"] = "black_scholes"
    steps: int = Field(500, ge=2, le=20_000, description="Binomial tree steps")
    paths: int = Field(100_000, ge=2, le=20_000_000, description="Monte Carlo paths")
    seed: int | None = Field(None, description="Monte Carlo seed (default: the run's seed)")


class ImpliedVolParams(OptionParams):
    price: PositiveOrList = Field(description="Observed option price(s)")
    steps: int = Field(200, ge=10, le=5000, description="Binomial steps (American only)")


class _DataParams(_Params):
    symbols: Symbols
    source: SourceName = Field(
        "bundled", description="Data source: bundled, upload:<id>, polygon, ..."
    )
    start: DateLike = Field(None, description="First date (YYYY-MM-DD), optional")
    end: DateLike = Field(None, description="Last date (YYYY-MM-DD), optional")


class PortfolioParams(_DataParams):
    symbols: Annotated[
        list[Symbol],
        Field(min_length=2, max_length=MAX_SYMBOLS, description="At least two symbols"),
    ]
    objective: Literal[
        "min_variance", "max_sharpe", "efficient_return", "efficient_risk", "risk_parity", "hrp"
    ] = "max_sharpe"
    covariance: Literal["sample", "ledoit_wolf"] = "sample"
    risk_free_rate: float = Field(0.0, ge=-0.5, le=1.0, description="Annual, decimal")
    weight_bounds: tuple[float, float] = Field(
        (0.0, 1.0), description="(min, max) weight per symbol; (0, 1) is long-only"
    )
    target_return: float | None = Field(None, description="For efficient_return (annual)")
    target_volatility: float | None = Field(None, gt=0, description="For efficient_risk (annual)")


class FrontierParams(PortfolioParams):
    n_points: int = Field(30, ge=3, le=200, description="Points on the frontier")


class RiskReportParams(_DataParams):
    weights: Weights | None = Field(
        None, description="Symbol -> weight (adding up to 1); equal weights if omitted"
    )
    benchmark: Symbol | None = Field(None, description="Symbol to measure beta against")
    confidence: float = Field(0.95, ge=0.5, lt=1.0)
    horizon_days: int = Field(1, ge=1, le=252)
    risk_free_rate: float = Field(0.0, ge=-0.5, le=1.0)
    mc_paths: int = Field(100_000, ge=1_000, le=2_000_000)
    seed: int | None = None
    ewma_lambda: float = Field(0.94, gt=0.0, lt=1.0)
    garch: bool = True


IndicatorName = Literal[
    "sma",
    "ema",
    "rsi",
    "atr",
    "macd",
    "bollinger",
    "stochastic",
    "obv",
    "volatility",
    "zscore",
    "momentum",
]


class IndicatorParams(_DataParams):
    indicators: (
        Annotated[list[IndicatorName], Field(max_length=len(get_args(IndicatorName)))] | None
    ) = Field(None, description="Which indicators; all the data supports if omitted")
    sma_window: WindowOrList | None = None
    ema_window: WindowOrList | None = None
    rsi_window: WindowOrList | None = None
    atr_window: WindowOrList | None = None
    macd_fast: Window | None = None
    macd_slow: Window | None = None
    macd_signal: Window | None = None
    bb_window: Window | None = None
    bb_std: float | None = Field(None, gt=0)
    stoch_window: Window | None = None
    stoch_smooth: Window | None = None
    volatility_window: WindowOrList | None = None
    zscore_window: WindowOrList | None = None
    momentum_window: WindowOrList | None = None


class BacktestParams(_DataParams):
    strategy: Literal[
        "buy_and_hold", "sma_crossover", "momentum", "mean_reversion", "rsi", "signal"
    ] = "sma_crossover"
    fast: Window = Field(20, description="sma_crossover fast window")
    slow: Window = Field(50, description="sma_crossover slow window")
    lookback: Window = Field(126, description="momentum lookback (days)")
    zscore_window: Window = Field(20, description="mean_reversion window")
    entry_z: float = Field(1.0, gt=0, description="mean_reversion: enter beyond ±entry_z")
    exit_z: float = Field(0.0, ge=0, description="mean_reversion: exit inside ±exit_z")
    rsi_window: Window = Field(14, description="rsi strategy window")
    lower: float = Field(30.0, ge=0, le=100, description="rsi: go long below")
    upper: float = Field(70.0, ge=0, le=100, description="rsi: exit (or go short) above")
    signal: Signal | Annotated[dict[Symbol, Signal], Field(max_length=MAX_SYMBOLS)] | None = Field(
        None,
        description=(
            "strategy='signal': date -> position for every symbol, or symbol -> "
            "(date -> position); positions are held until the next date given"
        ),
    )
    cost_bps: float = Field(
        5.0,
        ge=0,
        le=1_000,
        description="Commission per unit of turnover, bps (on by default; 0 must be explicit)",
    )
    slippage_bps: float = Field(
        2.0,
        ge=0,
        le=1_000,
        description="Slippage per unit of turnover, bps (on by default; 0 must be explicit)",
    )
    evaluate_after: DateLike = Field(
        None,
        description="Score only the days after this date (e.g. a model's training cut-off); "
        "signals still use the earlier history",
    )
    long_short: bool = False
    weights: Weights | None = Field(None, description="Symbol weights; equal if omitted")
    risk_free_rate: float = Field(0.0, ge=-0.5, le=1.0)


class CorrelationParams(_DataParams):
    symbols: Annotated[
        list[Symbol],
        Field(min_length=2, max_length=MAX_SYMBOLS, description="At least two symbols"),
    ]
    method: Literal["pearson", "spearman"] = Field(
        "pearson", description="pearson (linear) or spearman (rank) correlation"
    )


class RollingBetaParams(_DataParams):
    symbols: Annotated[
        list[Symbol],
        Field(
            min_length=1, max_length=MAX_SYMBOLS, description="Symbols to measure, e.g. ['AAPL']"
        ),
    ]
    benchmark: Symbol = Field(
        "SPX", description="Benchmark symbol (bundled S&P 500 index: SPX, also ^GSPC)"
    )
    window: int = Field(126, ge=20, le=2520, description="Rolling window in trading days")


class RiskContributionParams(_DataParams):
    symbols: Annotated[
        list[Symbol],
        Field(min_length=2, max_length=MAX_SYMBOLS, description="At least two symbols"),
    ]
    weights: Weights | None = Field(
        None, description="Symbol -> weight (adding up to 1); equal weights if omitted"
    )


class PortfolioBacktestParams(PortfolioParams):
    lookback_days: int = Field(
        252, ge=20, le=2520, description="Daily returns each re-optimisation sees (past only)"
    )
    rebalance: Literal["weekly", "monthly", "quarterly"] = Field(
        "monthly", description="Re-optimise and rebalance on the last trading day of each period"
    )
    cost_bps: float = Field(
        5.0,
        ge=0,
        le=1_000,
        description="Commission per unit of turnover, bps (on by default; 0 must be explicit)",
    )
    slippage_bps: float = Field(
        2.0,
        ge=0,
        le=1_000,
        description="Slippage per unit of turnover, bps (on by default; 0 must be explicit)",
    )
