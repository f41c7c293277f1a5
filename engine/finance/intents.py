"""Offline planner intents of the cross-asset finance actions (loaded by
``engine.llm.planner.load_intents``): correlation matrix, rolling beta, risk
contributions and the walk-forward portfolio backtest.

The intents of the older finance actions (options, portfolio, risk, indicators,
backtests) live in ``engine/llm/planner.py``; these follow the packages' pattern
(``engine/<package>/intents.py`` registering :class:`~engine.llm.planner.Intent`).
Every value stated in the request that these actions take is extracted: dates, the
benchmark, the window, weights, a weight cap, long/short, the rebalance frequency, the
lookback and costs.
"""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, register_intent

PERCENT = r"(\d+(?:\.\d+)?)\s*(%|percent|pct)?"


def _dates(text: str, params: dict[str, Any]) -> dict[str, Any]:
    span = extract.extract_dates(text)
    params.update({k: v for k, v in (("start", span.start), ("end", span.end)) if v})
    return params


def _symbols(text: str, at_least: int = 1) -> list[str]:
    symbols = [s for s in extract.extract_symbols(text) if not s.startswith("MACRO:")]
    if len(symbols) < at_least:
        what = "two or more symbols" if at_least > 1 else "symbols"
        raise MissingValue(f"{what} (e.g. AAPL, MSFT, JPM)")
    return symbols


def build_correlation(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text, at_least=2)}
    if extract.search(r"spearman|\brank\w*", text):
        params["method"] = "spearman"
    extract.search(r"pearson", text)
    return _dates(text, params)


BENCHMARK = (
    r"(?:\bto|\bvs\.?|\bversus|\bagainst|relative to|benchmark(?:ed)?(?: to| against)?)\s+"
    r"(?:the\s+)?(\^?[\w&.:]+(?:\s*500)?)"
)


def build_rolling_beta(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    match = extract.search(BENCHMARK, text)
    if match:
        named = extract.extract_symbols(match.group(1))
        if named:
            params["benchmark"] = named[0]
        elif re.match(r"market|index", match.group(1), re.I):
            params["benchmark"] = "SPX"
    symbols = _symbols(text)
    if "benchmark" in params and params["benchmark"] in symbols and len(symbols) > 1:
        symbols.remove(params["benchmark"])
    params["symbols"] = symbols
    window = extract.search(
        r"(\d{2,4})[- ]?(?:trading[- ])?(?:day|d)\b(?:\s+(?:rolling|window))?"
        r"|window of (\d{2,4})",
        text,
    )
    if window:
        params["window"] = int(next(g for g in window.groups() if g))
    elif re.search(r"rolling|window", text, re.I):
        months = extract.search(r"(\d{1,2})[- ]?months?\b(?:\s+rolling|\s+window)?", text)
        if months:
            params["window"] = int(months.group(1)) * 21
    return _dates(text, params)


WEIGHT_PAIR = re.compile(r"\b([A-Z][A-Z.&]{0,5})\s*(?:=|:|at)?\s*" + PERCENT)


def _weights(text: str, symbols: list[str]) -> dict[str, float] | None:
    """'AAPL 40%, MSFT 60%' or 'AAPL=0.4 MSFT=0.6' -> weights of the named symbols."""
    weights: dict[str, float] = {}
    for match in WEIGHT_PAIR.finditer(text):
        symbol, number, percent = match.groups()
        resolved = extract.extract_symbols(symbol)
        if not resolved or resolved[0] not in symbols:
            continue
        value = float(number)
        weights[resolved[0]] = value / 100 if percent or value > 1 else value
        extract.take(match.start(), match.end(), text)
    return weights or None


def build_risk_contributions(text: str) -> dict[str, Any]:
    symbols = _symbols(text, at_least=2)
    params: dict[str, Any] = {"symbols": symbols}
    weights = _weights(text, symbols)
    if weights:
        params["weights"] = weights
    return _dates(text, params)


OBJECTIVES = (
    (r"min(?:imum)?[- ]?var(?:iance)?|lowest[- ]risk", "min_variance"),
    (r"risk[- ]parity|equal[- ]risk", "risk_parity"),
    (r"\bhrp\b|hierarchical risk parity", "hrp"),
    (r"max(?:imum)?[- ]?sharpe|tangency|best risk[- ]adjusted", "max_sharpe"),
)
FREQUENCIES = (
    (r"\bweekly\b|every week", "weekly"),
    (r"\bquarterly\b|every quarter", "quarterly"),
    (r"\bmonthly\b|every month", "monthly"),
)


def _cap(text: str) -> float | None:
    """'no stock above 40%', 'cap 30%', 'max weight 25%' -> 0.4, 0.3, 0.25."""
    match = extract.search(
        r"(?:no (?:single )?(?:stock|symbol|asset|name|position|weight)s? (?:above|over|more than)"
        r"|(?:weights? )?caps?(?:ped)?(?: at| of)?|max(?:imum)? (?:weight|position)(?: of)?"
        r"|at most|weights? (?:below|under|up to))\s*" + PERCENT,
        text,
    )
    if not match:
        return None
    value = float(match.group(1))
    return value / 100 if match.group(2) or value > 1 else value


def _lookback_days(text: str) -> int | None:
    match = extract.search(
        r"(?:lookback|look-back|estimat\w*|trailing|past|last)\s+(?:of\s+|window\s+of\s+)?"
        r"(\d{1,4})\s*-?\s*(days?|weeks?|months?|years?)\b"
        r"|(\d{1,4})\s*-?\s*(days?|weeks?|months?|years?)\s+(?:lookback|look-back|window|"
        r"of (?:history|data) (?:each|per|at each))",
        text,
    )
    if not match:
        return None
    number = int(match.group(1) or match.group(3))
    unit = (match.group(2) or match.group(4)).lower().rstrip("s")
    return number * {"day": 1, "week": 5, "month": 21, "year": 252}[unit]


def build_portfolio_backtest(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text, at_least=2)}
    for pattern, objective in OBJECTIVES:
        if extract.search(pattern, text):
            params["objective"] = objective
            break
    for pattern, frequency in FREQUENCIES:
        if extract.search(pattern, text):
            params["rebalance"] = frequency
            extract.search(r"\b(?:re-?balanc\w*|re-?optimi[sz]\w*)", text)
            break
    extract.search(r"\bwalk[- ]?forward\b", text)
    lookback = _lookback_days(text)
    if lookback is not None:
        params["lookback_days"] = lookback
    cost = extract.search(r"(\d+(?:\.\d+)?)\s*(?:bps|bp|basis points?)", text)
    if cost:
        params["cost_bps"] = float(cost.group(1))
    elif extract.search(
        r"\b(?:no|zero|without)\s+(?:trading\s+)?costs?\b|costless|frictionless", text
    ):
        params["cost_bps"] = 0.0
        params["slippage_bps"] = 0.0
    cap = _cap(text)
    shorts = extract.search(r"long[/ -]short|allow(?:ing)? shorts?|short selling", text)
    if cap is not None or shorts:
        params["weight_bounds"] = (-1.0 if shorts else 0.0, cap if cap is not None else 1.0)
    return _dates(text, params)


for intent in (
    Intent(
        "correlation_matrix",
        (
            (r"correlat", 4),
            (r"\bmatrix\b|heat ?map", 1),
            (r"move together|co-?move", 3),
        ),
        build_correlation,
        "Correlation matrix of AAPL, MSFT, JPM and XOM returns since 2010",
    ),
    Intent(
        "rolling_beta",
        (
            (r"\bbetas?\b", 2.5),
            (r"rolling|over time|through time|window", 2),
            (r"(?:to|vs\.?|against|relative to) (?:the )?(?:s&p|spx|\^gspc|market|index)", 1),
        ),
        build_rolling_beta,
        "Rolling 126-day beta of AAPL to the S&P 500 since 2005",
    ),
    Intent(
        "risk_contributions",
        (
            (
                r"risk contributions?|contribut\w* to (?:the )?(?:portfolio(?:'s)? )?"
                r"(?:risk|volatility|variance)|risk (?:decomposition|budget\w*|attribution)"
                r"|marginal (?:risk|contribution)|decompose (?:the )?(?:portfolio )?risk",
                5,
            ),
            (r"portfolio", 0.5),
        ),
        build_risk_contributions,
        "Risk contributions of a portfolio of AAPL 40%, MSFT 30%, JPM 20%, XOM 10%",
    ),
    Intent(
        "backtest_portfolio",
        (
            (
                r"(?:backtest|back-test|simulate)\w*\b.*\b(?:optimi[sz]\w*|max[- ]?sharpe|"
                r"min(?:imum)?[- ]?variance|risk[- ]parity|\bhrp\b|portfolio)",
                8,
            ),
            (r"walk[- ]?forward", 5),
            (r"rebalanc", 3),
            (r"re-?optimi[sz]", 3),
            # a trading strategy on several symbols is backtest_strategy's
            (
                r"\bsma\b|crossover|moving average|momentum|mean[- ]reversion|\brsi\b|"
                r"buy[- ](?:and|&)[- ]hold|strateg|signal",
                -6,
            ),
        ),
        build_portfolio_backtest,
        "Backtest a max-Sharpe portfolio of AAPL, MSFT, JPM and XOM rebalanced monthly "
        "with a 1-year lookback, no stock above 40%, 5 bps costs",
    ),
):
    register_intent(intent)
