"""The offline planner: maps common analyst requests to the same action calls Claude
would make, deterministically, when no ANTHROPIC_API_KEY is set.

Each intent names an action, the phrases that point to it (weighted), and a builder
that extracts its parameters. The best-scoring intent wins; when a required value is
missing the planner asks for it instead of guessing, and when nothing matches it
says what it can do, with examples.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.llm import extract

MIN_SCORE = 2.0


@dataclass
class PlannedCall:
    action: str
    params: dict[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.action} with {shown}" if shown else self.action


@dataclass
class Plan:
    """What the planner understood: calls to make, or a question/help text."""

    calls: list[PlannedCall] = field(default_factory=list)
    message: str = ""
    missing: list[str] = field(default_factory=list)

    @property
    def understood(self) -> str:
        return "; ".join(call.describe() for call in self.calls)


class MissingValue(Exception):
    def __init__(self, *names: str):
        super().__init__(", ".join(names))
        self.names = names


Builder = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Intent:
    action: str
    phrases: tuple[tuple[str, float], ...]
    build: Builder
    example: str


def _dates(text: str, params: dict[str, Any]) -> dict[str, Any]:
    span = extract.extract_dates(text)
    if span.start:
        params["start"] = span.start
    if span.end:
        params["end"] = span.end
    return params


def _symbols(text: str, *, required: bool = True, default: list[str] | None = None) -> list[str]:
    symbols = [s for s in extract.extract_symbols(text) if not s.startswith("MACRO:")]
    if not symbols and default:
        return default
    if not symbols and required:
        raise MissingValue("symbols (e.g. AAPL, MSFT or SPX)")
    return symbols


def _option_type(text: str) -> str:
    return "put" if re.search(r"\bputs?\b", text, re.I) else "call"


def build_price_option(text: str) -> dict[str, Any]:
    spot = extract.extract_number_after(text, ("spot", "underlying", "stock at", "s=", "s "))
    if spot is None:
        priced = re.search(r"\$\s?(\d+(?:\.\d+)?)\s*(?:stock|share|underlying)", text, re.I)
        spot = float(priced.group(1)) if priced else None
    strike = extract.extract_number_after(text, ("strike", "k=", "struck at"))
    if strike is None:
        at_match = re.search(
            r"\b(?:call|put)s?\s+(?:struck\s+)?at\s+\$?(\d+(?:\.\d+)?)", text, re.I
        )
        strike = float(at_match.group(1)) if at_match else None
    if strike is None and re.search(r"at[- ]the[- ]money|\batm\b", text, re.I):
        strike = spot
    vol = extract.extract_percent_after(text, ("vol", "volatility", "sigma", "iv"))
    rate = extract.extract_percent_after(
        text, ("rate", "risk-free", "risk free", "interest", "r=", "r")
    )
    dividend = extract.extract_percent_after(text, ("dividend", "div yield", "yield", "q="))
    maturity = extract.extract_duration_years(text)
    if maturity is None:
        maturity = extract.extract_number_after(text, ("maturity", "expiry", "expiring in", "t="))
    missing = [
        name
        for name, value in (
            ("spot", spot),
            ("strike", strike),
            ("volatility", vol),
            ("maturity", maturity),
        )
        if value is None
    ]
    if missing or maturity is None:
        raise MissingValue(*missing)
    params: dict[str, Any] = {
        "spot": spot,
        "strike": strike,
        "maturity_years": round(maturity, 10),
        "volatility": vol,
        "rate": rate or 0.0,
        "option_type": _option_type(text),
    }
    if dividend:
        params["dividend_yield"] = dividend
    if re.search(r"\bamerican\b", text, re.I):
        params["style"] = "american"
        params["method"] = "binomial"
    if re.search(r"binomial|tree|crr", text, re.I):
        params["method"] = "binomial"
    if re.search(r"monte[- ]carlo|simulat", text, re.I):
        params["method"] = "monte_carlo"
        params["seed"] = 0
    return params


def build_implied_vol(text: str) -> dict[str, Any]:
    price = extract.extract_number_after(text, ("price", "premium", "trading at", "worth", "costs"))
    spot = extract.extract_number_after(text, ("spot", "underlying", "stock at"))
    strike = extract.extract_number_after(text, ("strike",))
    maturity = extract.extract_duration_years(text)
    rate = extract.extract_percent_after(text, ("rate", "risk-free", "interest"))
    missing = [
        n
        for n, v in (
            ("option price", price),
            ("spot", spot),
            ("strike", strike),
            ("maturity", maturity),
        )
        if v is None
    ]
    if missing or maturity is None:
        raise MissingValue(*missing)
    return {
        "price": price,
        "spot": spot,
        "strike": strike,
        "maturity_years": round(maturity, 10),
        "rate": rate or 0.0,
        "option_type": _option_type(text),
    }


OBJECTIVES = (
    (r"min(?:imum)?[- ]var|lowest (?:risk|variance)|least risk", "min_variance"),
    (r"risk[- ]parity|equal risk", "risk_parity"),
    (r"\bhrp\b|hierarchical", "hrp"),
    (r"target (?:vol|risk)|volatility of at most|efficient[_ ]risk", "efficient_risk"),
    (r"target return|return of at least|efficient[_ ]return", "efficient_return"),
    (r"max(?:imum|imise|imize)?[- ]sharpe|best sharpe|tangency", "max_sharpe"),
)


def _portfolio_params(text: str) -> dict[str, Any]:
    symbols = _symbols(text)
    if len(symbols) < 2:
        raise MissingValue("at least two symbols")
    params: dict[str, Any] = {"symbols": symbols}
    for pattern, objective in OBJECTIVES:
        if re.search(pattern, text, re.I):
            params["objective"] = objective
            break
    if params.get("objective") == "efficient_risk":
        params["target_volatility"] = extract.extract_percent_after(
            text, ("target vol", "target risk", "volatility of at most", "vol", "risk")
        )
    if params.get("objective") == "efficient_return":
        params["target_return"] = extract.extract_percent_after(
            text, ("target return", "return of at least", "return")
        )
    if re.search(r"ledoit|shrink", text, re.I):
        params["covariance"] = "ledoit_wolf"
    rate = extract.extract_percent_after(text, ("risk-free", "risk free", "rf"))
    if rate is not None:
        params["risk_free_rate"] = rate
    return _dates(text, params)


def build_risk_report(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    confidence = extract.extract_percent_after(text, ("confidence", "var at", "at the"))
    match = re.search(r"\b(9\d(?:\.\d+)?)\s*%", text)
    if confidence is None and match:
        confidence = float(match.group(1)) / 100
    if confidence is not None and 0.5 < confidence < 1:
        params["confidence"] = confidence
    horizon = re.search(
        r"(\d+)[- ]day (?:var|horizon|value at risk)|horizon of (\d+)|over (\d+) (?:trading )?days",
        text,
        re.I,
    )
    if horizon:
        params["horizon_days"] = int(next(group for group in horizon.groups() if group))
    bench = re.search(r"(?:beta|relative|benchmark)\w*\s+(?:to|vs\.?|against)\s+(\S+)", text, re.I)
    if bench:
        resolved = extract.extract_symbols(bench.group(1))
        if resolved:
            params["benchmark"] = resolved[0]
            if params["benchmark"] in params["symbols"] and len(params["symbols"]) > 1:
                params["symbols"].remove(params["benchmark"])
    return _dates(text, params)


INDICATOR_WORDS = {
    "sma": r"\bsma\b|simple moving",
    "ema": r"\bema\b|exponential moving",
    "rsi": r"\brsi\b|relative strength",
    "macd": r"\bmacd\b",
    "bollinger": r"bollinger",
    "atr": r"\batr\b|average true range",
    "stochastic": r"stochastic",
    "obv": r"\bobv\b|on[- ]balance",
    "volatility": r"rolling vol",
    "zscore": r"z[- ]?score",
    "momentum": r"momentum|rate of change",
}


def build_indicators(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    chosen = [name for name, pattern in INDICATOR_WORDS.items() if re.search(pattern, text, re.I)]
    if chosen:
        params["indicators"] = chosen
    window = extract.extract_window_days(text)
    if window and len(chosen) == 1 and chosen[0] in ("sma", "ema", "rsi", "atr"):
        params[f"{chosen[0]}_window"] = window
    return _dates(text, params)


STRATEGIES = (
    (r"buy[- ](?:and|&)[- ]hold", "buy_and_hold"),
    (r"crossover|moving average|\bsma\b|\bma\b", "sma_crossover"),
    (r"mean[- ]reversion|revert|z[- ]?score", "mean_reversion"),
    (r"\brsi\b", "rsi"),
    (r"momentum|trend[- ]following", "momentum"),
)


def build_backtest(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    for pattern, strategy in STRATEGIES:
        if re.search(pattern, text, re.I):
            params["strategy"] = strategy
            break
    pair = extract.extract_pair(text)
    if params.get("strategy", "sma_crossover") == "sma_crossover" and pair:
        params["fast"], params["slow"] = pair
    if params.get("strategy") == "momentum":
        lookback = extract.extract_window_days(text, ("lookback",))
        if lookback:
            params["lookback"] = lookback
    cost = re.search(r"(\d+(?:\.\d+)?)\s*(?:bps|basis points)", text, re.I)
    if cost:
        params["cost_bps"] = float(cost.group(1))
    if re.search(r"long[/ -]short|short selling|allow shorts?", text, re.I):
        params["long_short"] = True
    return _dates(text, params)


INTENTS: list[Intent] = [
    Intent(
        "price_option",
        (
            (r"\boptions?\b", 1.5),
            (r"\bcalls?\b", 1.5),
            (r"\bputs?\b", 1.5),
            (r"\bprice\b|\bvalue\b|\bworth\b", 1),
            (r"greeks|delta|gamma", 1.5),
            (r"black[- ]scholes|binomial|monte[- ]carlo", 2),
            (r"strike", 1.5),
        ),
        build_price_option,
        "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%",
    ),
    Intent(
        "implied_volatility",
        ((r"implied vol|\biv\b", 4), (r"\boption|call|put", 1)),
        build_implied_vol,
        "Implied vol of a call priced 7.5 with spot 100, strike 100, 1 year, rate 3%",
    ),
    Intent(
        "efficient_frontier",
        ((r"frontier", 5),),
        lambda t: _portfolio_params(t),
        "Plot the efficient frontier of AAPL, MSFT, JPM and XOM",
    ),
    Intent(
        "optimize_portfolio",
        (
            (r"optimi[sz]", 3),
            (r"portfolio", 1.5),
            (r"weights?", 1),
            (r"allocat", 2),
            (r"risk parity|\bhrp\b|min(imum)? variance", 3),
            (r"max(imum)? sharpe", 3),
        ),
        lambda t: _portfolio_params(t),
        "Optimise a max-Sharpe portfolio of AAPL, MSFT and KO since 2010",
    ),
    Intent(
        "risk_report",
        (
            (r"\brisk\b", 2),
            (r"\bvar\b|value at risk|cvar|expected shortfall", 3),
            (r"drawdown", 2),
            (r"garch|ewma", 3),
            (r"sortino|calmar|beta", 2),
            (r"volatility of|how volatile", 2),
        ),
        build_risk_report,
        "Risk report for JPM: 99% VaR over 10 days, beta to SPX",
    ),
    Intent(
        "compute_indicators",
        (
            (r"indicators?", 3),
            (r"\brsi\b|macd|bollinger|\batr\b|obv", 2.5),
            (r"stochastic|moving average|\bsma\b|\bema\b", 2),
            (r"compute|calculate|show", 0.5),
        ),
        build_indicators,
        "Compute RSI and MACD for MSFT from 2018 to 2020",
    ),
    Intent(
        "backtest_strategy",
        (
            (r"backtest", 4),
            (r"strateg", 2),
            (r"crossover", 3),
            (r"mean[- ]reversion|buy[- ]and[- ]hold|momentum", 2),
            (r"trade|trading", 1),
        ),
        build_backtest,
        "Backtest a 20/50 SMA crossover on AAPL with 5 bps costs",
    ),
]


def register_intent(intent: Intent) -> None:
    """Let other packages teach the planner their actions (same mechanism as the registry):
    a package's ``intents`` module (``engine/<package>/intents.py``) calls this."""
    INTENTS[:] = [existing for existing in INTENTS if existing.action != intent.action]
    INTENTS.append(intent)


_intents_loaded = False


def load_intents() -> list[Intent]:
    global _intents_loaded
    if not _intents_loaded:
        import importlib
        import importlib.util
        import pkgutil

        import engine

        for module in pkgutil.iter_modules(engine.__path__):
            name = f"engine.{module.name}.intents"
            if module.ispkg and importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        _intents_loaded = True
    return INTENTS


def score(intent: Intent, text: str) -> float:
    return sum(weight for pattern, weight in intent.phrases if re.search(pattern, text, re.I))


def help_text() -> str:
    from engine.actions import load_catalog

    available = load_catalog()
    examples = [f"- {intent.example}" for intent in load_intents() if intent.action in available]
    return "I could not map that to an action. Here is what I can do offline:\n" + "\n".join(
        examples
    )


def plan(text: str) -> Plan:
    from engine.actions import load_catalog

    available = load_catalog()
    candidates = [
        (score(intent, text), index, intent)
        for index, intent in enumerate(load_intents())
        if intent.action in available
    ]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    if not candidates or candidates[0][0] < MIN_SCORE:
        return Plan(message=help_text())
    intent = candidates[0][2]
    try:
        params = intent.build(text)
    except MissingValue as missing:
        return Plan(
            message=f"That looks like '{intent.action}', but I need: {', '.join(missing.names)}. "
            f'For example: "{intent.example}".',
            missing=list(missing.names),
        )
    fields = available[intent.action].params_model.model_fields
    params = {key: value for key, value in params.items() if key in fields and value is not None}
    call = PlannedCall(intent.action, params)
    return Plan(calls=[call], message=f"Offline mode — I understood: {call.describe()}.")
