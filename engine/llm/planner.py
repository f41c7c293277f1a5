"""The offline planner: maps common analyst requests to the same action calls Claude
would make, deterministically, when no ANTHROPIC_API_KEY is set.

Each intent names an action, the phrases that point to it (weighted), and a builder
that extracts its parameters (a builder may plan several calls: "buy and hold AAPL vs
SPX" is two backtests). The best-scoring intent wins; when a required value is missing
the planner asks for it instead of guessing, and when nothing matches it names the two
or three closest actions and the values it did understand.

Nothing the analyst stated is dropped silently: while a builder runs, every extraction
marks the words it used (``extract.tracking``); a number, ticker or constraint that no
extraction used and that is not in the planned call is named in the reply as not
understood. Misspelt finance words are repaired first ("pirce an europen call").
Follow-ups ("and the put?", "same with 10bp", "same for MSFT") reuse the previous
call's parameters (see :func:`plan`'s ``previous``).
"""

from __future__ import annotations

import datetime as dt
import math
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
    # Parts of the request no call uses, quoted ("'20%' (in 'turnover limit of 20%')").
    not_understood: list[str] = field(default_factory=list)
    # The request as planned (typos repaired; a follow-up with what it built on).
    request: str = ""
    # "what did the last backtest return?": the action whose recorded result to show.
    recall: str | None = None

    @property
    def understood(self) -> str:
        return "; ".join(call.describe() for call in self.calls)


class MissingValue(Exception):
    def __init__(self, *names: str):
        super().__init__(", ".join(names))
        self.names = names


BuildResult = dict[str, Any] | list[dict[str, Any]]
Builder = Callable[[str], BuildResult]


@dataclass(frozen=True)
class Intent:
    action: str
    phrases: tuple[tuple[str, float], ...]
    build: Builder
    example: str


# ------------------------------------------------------------------------ shared values
def data_end(symbols: list[str], source: str = "bundled") -> dt.date:
    """The last date the data has for all ``symbols`` (bundled), else today: what
    'over the last 3 years' counts back from."""
    if source == "bundled" and symbols:
        from engine.data.bundled import catalog, resolve_symbol

        entries = catalog()
        ends = [
            entries[resolved].end
            for symbol in symbols
            if (resolved := resolve_symbol(symbol)) is not None and resolved in entries
        ]
        if ends:
            return dt.date.fromisoformat(min(ends))
    return dt.date.today()


def apply_dates(text: str, params: dict[str, Any], also: list[str] | None = None) -> dict[str, Any]:
    """start/end from the request; relative periods count back from the end of the data
    of the symbols (and ``also``: a benchmark)."""
    span = extract.extract_dates(text)
    if span.last is not None:
        symbols = [*(params.get("symbols") or []), *(also or [])]
        end = data_end(symbols, str(params.get("source", "bundled")))
        params["start"], params["end"] = extract.relative_range(span.last, end)
        return params
    if span.start:
        params["start"] = span.start
    if span.end:
        params["end"] = span.end
    return params


_dates = apply_dates


def _symbols(text: str, *, required: bool = True, default: list[str] | None = None) -> list[str]:
    symbols = [s for s in extract.extract_symbols(text) if not s.startswith("MACRO:")]
    if not symbols and default:
        return default
    if not symbols and required:
        raise MissingValue("symbols (e.g. AAPL, MSFT or SPX)")
    return symbols


def _num(match: re.Match[str] | None, group: int = 1) -> float | None:
    return extract.number_value(match.group(group)) if match else None


N = extract.NUMBER


def _first(text: str, *patterns: str, group: int = 1) -> float | None:
    return _num(extract.search_any(patterns, text), group)


def _pct(value: float | None, explicit: bool = False) -> float | None:
    if value is None:
        return None
    return value / 100 if explicit or abs(value) > 1 else value


def _first_pct(text: str, *patterns: str) -> float | None:
    """Group 1 the number, group 2 an optional '%': a percentage as a decimal."""
    match = extract.search_any(patterns, text)
    if match:
        return _pct(extract.to_number(match.group(1)), bool(match.group(2)))
    return None


PCT = r"\s*(%|percent|pct)?"


# ----------------------------------------------------------------------------- options
def _option_type(text: str) -> str:
    return extract.first_listed(((r"\bputs?\b", "put"), (r"\bcalls?\b", "call")), text) or "call"


def _maturity(text: str) -> float | None:
    explicit = extract.search(
        rf"\b(?:t|maturity|expiry|tenor|expir(?:ing|es) in|time to expiry)\s*(?:=|:|of|in|is)?"
        rf"\s*({N})\s*-?\s*({extract._DURATION_UNITS})?\b(?!\s*%)",
        text,
    )
    if explicit:
        unit = (explicit.group(2) or "y").lower()
        return extract.to_number(explicit.group(1)) * extract._UNIT_YEARS[unit]
    return extract.extract_duration_years(text)


def _option_values(text: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    values["maturity_years"] = _maturity(text)
    values["rate"] = _first_pct(
        text,
        rf"\b(?:r|rf|rates?|risk[- ]?free(?: rates?)?|interest(?: rates?)?)\s*(?:=|:|of|at|is)?"
        rf"\s*({N}){PCT}(?![\d/])",
        rf"({N})\s*(%|percent|pct)\s*(?:risk[- ]?free\s*)?(?:rates?|interest|r\b|rf\b)",
    )
    values["dividend_yield"] = _first_pct(
        text,
        rf"\b(?:dividend(?:s| yield)?|div(?:idend)?(?: yield)?|q)\s*(?:=|:|of|at)?\s*({N}){PCT}",
        rf"({N})\s*(%|percent)\s*(?:dividend|div)",
    )
    if values["dividend_yield"] is None and extract.mentions(r"\bno dividends?\b", text):
        values["dividend_yield"] = 0.0
    values["steps"] = _first(text, rf"({N})\s*(?:time\s*)?steps\b", rf"\bsteps\s*(?:=|:)?\s*({N})")
    values["paths"] = _first(
        text,
        rf"({N}\s*[kKmM]?)\s*(?:monte[- ]carlo\s+)?(?:paths|simulations|sims)\b",
        rf"\bpaths\s*(?:=|:)?\s*({N}\s*[kKmM]?)\b",
    )
    pair = extract.search(rf"(?<![\d.])({N})\s*/\s*({N})\s+(?:calls?|puts?)\b", text)
    if pair:  # "a 100/105 call": spot 100, strike 105
        values["spot"] = extract.to_number(pair.group(1))
        values["strike"] = extract.to_number(pair.group(2))
    at_money = extract.mentions(r"\batm\b|at[- ]the[- ]money", text)
    values["strike"] = values.get("strike") or _first(
        text,
        rf"\b(?:strike|k|struck|exercise)\s*(?:price)?\s*(?:=|:|at|of|is|@)?\s*\$?({N})(?!\s*%)",
        rf"\$?({N})\s*-?\s*strike\b",
        rf"\b(?:calls?|puts?)\s+(?:struck\s+)?(?:at|@)\s+\$?({N})",
        rf"(?<![\d.])\$?({N})\s+(?:calls?|puts?)\b",
    )
    moneyness = extract.search(
        rf"({N})\s*(%|percent)\s*(otm|itm|out[- ]of[- ]the[- ]money|in[- ]the[- ]money)", text
    )
    values["spot"] = values.get("spot") or _first(
        text,
        rf"\b(?:spot|underlying|s0|s_0|s(?!\d)|stock|share|price of the stock|stock price)"
        rf"\s*(?:price)?"
        rf"\s*(?:=|:|at|is|of|@|trades at|trading at)?\s*\$?({N})(?!\s*%)",
        rf"\b(?:on|for)\s+an?\s+\$?({N})\s*(?:dollar\s+|usd\s+)?(?:stock|share|underlying|name)",
        rf"\$({N})\s*(?:stock|share|underlying)",
        rf"(?<![\d.])\$?({N})\s*(?:spot|underlying)\b",
    )
    if moneyness and values["strike"] is None and values["spot"] is not None:
        # "5% OTM put": a put out of the money is struck below spot, a call above
        distance = extract.to_number(moneyness.group(1)) / 100
        below = bool(re.search(r"\bputs?\b", text, re.I)) == moneyness.group(3).lower().startswith(
            ("otm", "out")
        )
        values["strike"] = round(values["spot"] * (1 - distance if below else 1 + distance), 10)
    if at_money and values["strike"] is None:
        values["strike"] = values["spot"]
    if at_money and values["spot"] is None:
        values["spot"] = values["strike"]
    return values


def _volatility(text: str) -> float | None:
    return _first_pct(
        text,
        rf"\b(?:implied\s+)?(?:vol|vols|volatility|sigma|iv|σ)\s*(?:=|:|of|at|is)?\s*({N}){PCT}"
        rf"(?![\d/])",
        rf"({N}){PCT}\s*(?:annual\w*\s+|implied\s+)?(?:vol|volatility|iv|sigma)\b",
    )


def _style_and_method(text: str, params: dict[str, Any]) -> None:
    if extract.mentions(r"\bamerican\b", text):
        params["style"] = "american"
        params["method"] = "binomial"
    elif extract.mentions(r"\beuropean\b", text):
        params["style"] = "european"
    if extract.mentions(r"binomial|\btree\b|\bcrr\b", text):
        params["method"] = "binomial"
    if extract.mentions(r"monte[- ]carlo|simulat\w*", text):
        params["method"] = "monte_carlo"
    extract.mentions(r"black[- ]scholes(?:[- ]merton)?|\bbsm?\b", text)


def build_price_option(text: str) -> dict[str, Any]:
    vol = _volatility(text)
    values = _option_values(text)
    option_type = _option_type(text)
    missing = [
        name
        for name, value in (
            ("spot", values["spot"]),
            ("strike", values["strike"]),
            ("volatility", vol),
            ("maturity", values["maturity_years"]),
        )
        if value is None
    ]
    if missing:
        raise MissingValue(*missing)
    params: dict[str, Any] = {
        "spot": values["spot"],
        "strike": values["strike"],
        "maturity_years": round(values["maturity_years"], 10),
        "volatility": vol,
        "rate": values["rate"] or 0.0,
        "option_type": option_type,
    }
    if values["dividend_yield"]:
        params["dividend_yield"] = values["dividend_yield"]
    _style_and_method(text, params)
    if values["steps"]:
        params["steps"] = int(values["steps"])
        params.setdefault("method", "binomial")
    if values["paths"]:
        params["paths"] = int(values["paths"])
        params["method"] = "monte_carlo"
    if params.get("method") == "monte_carlo":
        seed = _first(text, r"\bseed\s*(?:=|:|of)?\s*(\d+)")
        params["seed"] = int(seed) if seed is not None else 0
    extract.mentions(r"greeks|delta|gamma|vega|theta|\brho\b|premium|worth|value|price", text)
    return params


def build_implied_vol(text: str) -> dict[str, Any]:
    price = _first(
        text,
        rf"\b(?:premium|priced(?: at)?|trading at|trades at|going for|quoted at|costs?|worth|"
        rf"last traded(?: at)?|last(?: price)?|traded at|mid(?: price)?|"
        rf"market price|option price|(?:call|put) price|price)\s*(?:=|:|of|at|is)?\s*\$?({N})"
        rf"(?!\s*%)",
        rf"\$?({N})\s*(?:premium|for the (?:call|put))",
    )
    if price is None and re.search(
        r"\bstrike|\bk\s*=?\s*\d|struck|\batm\b|at[- ]the[- ]money", text, re.I
    ):
        price = _first(
            text,
            rf"(?<![\d.])\$?({N})\s+(?:calls?|puts?)\b",  # "a 5.50 call"
            rf"\b(?:calls?|puts?)\s+(?:at|@|for)\s+\$?({N})(?!\s*%)",  # "a put at 2.10"
        )
    values = _option_values(text)
    option_type = _option_type(text)
    missing = [
        n
        for n, v in (
            ("option price", price),
            ("spot", values["spot"]),
            ("strike", values["strike"]),
            ("maturity", values["maturity_years"]),
        )
        if v is None
    ]
    if missing:
        raise MissingValue(*missing)
    params: dict[str, Any] = {
        "price": price,
        "spot": values["spot"],
        "strike": values["strike"],
        "maturity_years": round(values["maturity_years"], 10),
        "rate": values["rate"] or 0.0,
        "option_type": option_type,
    }
    if values["dividend_yield"]:
        params["dividend_yield"] = values["dividend_yield"]
    if extract.mentions(r"\bamerican\b", text):
        params["style"] = "american"
    extract.mentions(r"implied vol\w*|\biv\b|back out|solve for", text)
    return params


# --------------------------------------------------------------------------- portfolios
OBJECTIVES = (
    (
        r"target(?:ing)?\s+(?:an?\s+)?(?:annual\s+)?return|return of at least|"
        r"\d+(?:\.\d+)?\s*%\s*(?:target\s+)?(?:annual\s+)?return|efficient[_ ]return",
        "efficient_return",
    ),
    (
        r"target(?:ing)?\s+(?:an?\s+)?(?:vol\w*|risk)|(?:vol\w*|risk) of at most|"
        r"\d+(?:\.\d+)?\s*%\s*target\s+vol\w*|efficient[_ ]risk|"
        r"target(?:ing)?\s+(?:an?\s+)?\d+(?:\.\d+)?\s*%\s*(?:annual\s+)?(?:vol\w*|risk)|"
        r"\d+(?:\.\d+)?\s*%\s*(?:annual\s+)?vol(?:atility)?\s+target",
        "efficient_risk",
    ),
    (
        r"min(?:imum|imi[sz]e|imal)?[- ](?:var\w*|vol\w*|risk)|lowest[- ](?:risk|var\w*|vol\w*)"
        r"|least risk|global minimum",
        "min_variance",
    ),
    (r"\bhrp\b|hierarchical(?: risk parity)?", "hrp"),
    (r"risk[- ]parity|equal risk(?: contribution)?", "risk_parity"),
    (
        r"max(?:imum|imi[sz]e|imal)?[- ]sharpe|best sharpe|highest sharpe|tangency|"
        r"optimal risk[- ]adjusted",
        "max_sharpe",
    ),
)
_PCT_N = rf"(-?{N})\s*(%|percent)?"


# A cap on something other than each weight ("sector cap of 30%") is not a weight bound.
_OTHER = r"(?<!sector )(?<!sectors )(?<!turnover )(?<!leverage )(?<!industry )"


def _weight_bounds(text: str) -> list[float] | None:
    both = extract.search(
        rf"\b(?:weights?|each|allocations?|positions?)\s+(?:\w+\s+){{0,2}}(?:between|from)\s+"
        rf"{_PCT_N}\s*(?:and|to|-|–)\s*{_PCT_N}",
        text,
    )
    if both:
        low = _pct(extract.to_number(both.group(1)), True)
        high = _pct(extract.to_number(both.group(3)), True)
        return [low or 0.0, high or 1.0]
    upper = _first_pct(
        text,
        rf"\bno (?:stock|name|asset|position|holding|single \w+|one \w+|weight)s?\s+"
        rf"(?:above|over|more than|bigger than|larger than|>|exceeding)\s+{_PCT_N}",
        rf"{_OTHER}\b(?:max(?:imum)?|at most|up to|no more than|not more than|cap(?:ped)?)"
        rf"\s*(?:weight|position|allocation)?\s*(?:each|of|per \w+|at|to|in|on)?\s*(?:each\s+)?"
        rf"(?:at\s+)?{_PCT_N}(?=\s*(?:%|per|in|each|weight|a name|for|,|$|\.|;| of| on| to))",
        rf"{_OTHER}\b(?:max(?:imum)?|cap)\s+(?:weight|position|allocation)s?\s*(?:of|at|=|:)?\s*{_PCT_N}",
        rf"{_OTHER}\bcap\s+(?:each|every|all|the weights?)\s+(?:\w+\s+)?at\s+{_PCT_N}",
    )
    lower = _first_pct(
        text,
        rf"\b(?:at least|min(?:imum)?(?: weight)?(?: of)?|no less than|floor(?: of)?)\s*"
        rf"{_PCT_N}\s*(?:in|per|for|of|on)?\s*(?:each|every|all|any)",
        rf"\bmin(?:imum)?\s+weight\s*(?:of|=|:)?\s*{_PCT_N}",
    )
    shorts = extract.mentions(
        r"allow(?:ing)? short\w*|short(?:s|ing)? allowed|long[/ -]short|with shorts?", text
    )
    extract.mentions(r"long[- ]only|no short\w*", text)
    if upper is None and lower is None and not shorts:
        return None
    return [lower if lower is not None else (-1.0 if shorts else 0.0), upper or 1.0]


def _portfolio_params(text: str) -> dict[str, Any]:
    symbols = _symbols(text)
    if len(symbols) < 2:
        raise MissingValue("at least two symbols")
    params: dict[str, Any] = {"symbols": symbols}
    objective = extract.first_listed(OBJECTIVES, text, mark=False)
    if objective is not None:
        params["objective"] = objective
        if objective in ("efficient_return", "efficient_risk"):  # their values mark
            extract.mentions(r"min(?:imum|imi[sz]e)?[- ](?:risk|vol\w*|var\w*)", text)
        else:
            extract.mentions(dict((v, p) for p, v in OBJECTIVES)[objective], text)
    if params.get("objective") == "efficient_risk":
        params["target_volatility"] = _first_pct(
            text,
            rf"(?:target(?:ing)?\s+(?:an?\s+)?(?:annual\s+)?(?:vol\w*|risk)|(?:vol\w*|risk) of "
            rf"at most)\s*(?:of|=|:)?\s*{_PCT_N}",
            rf"{_PCT_N}\s*(?:annual\s+)?(?:target\s+)?(?:vol\w*|risk)",
        )
    if params.get("objective") == "efficient_return":
        params["target_return"] = _first_pct(
            text,
            rf"(?:target(?:ing)?\s+(?:an?\s+)?(?:annual\s+)?return|return of at least)\s*"
            rf"(?:of|=|:)?\s*{_PCT_N}",
            rf"(?:target(?:ing)?\s+)?{_PCT_N}\s*(?:target\s+)?(?:annual\s+)?return",
        )
    if extract.mentions(r"ledoit|shrink\w*", text):
        params["covariance"] = "ledoit_wolf"
    rate = _first_pct(
        text,
        rf"\b(?:risk[- ]?free(?: rate)?|rf|cash rate)\s*(?:of|=|:|at)?\s*{_PCT_N}",
        rf"{_PCT_N}\s*(?:risk[- ]?free|rf)\b",
    )
    if rate is not None:
        params["risk_free_rate"] = rate
    bounds = _weight_bounds(text)
    if bounds is not None:
        params["weight_bounds"] = bounds
    points = _first(text, rf"({N})\s*(?:frontier\s+)?points\b", rf"\bpoints\s*(?:=|:)?\s*({N})")
    if points:
        params["n_points"] = int(points)
    extract.mentions(r"optimi[sz]\w*|optimal|portfolio|weights?|allocat\w*|frontier|book", text)
    return apply_dates(text, params)


# --------------------------------------------------------------------------------- risk
_PORTFOLIO_WORDS = (
    r"portfolio|\bbook\b|\bweights?\b|weighted|equal[- ]weight|together|combined|as one|"
    r"\d+\s*/\s*\d+\s+[A-Za-z]"
)
_SEPARATE_WORDS = (
    r"\beach\b|separately|individually|\bcompar\w*|\bvs\.?\b|\bversus\b|against|\bthan\b"
)


def _split(params: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """One call per symbol when the request compares symbols rather than pooling them."""
    symbols = params["symbols"]
    if len(symbols) < 2 or len(symbols) > 10 or re.search(_PORTFOLIO_WORDS, text, re.I):
        return [params]
    return [{**params, "symbols": [symbol]} for symbol in symbols]


def _risk_weights(text: str) -> dict[str, float] | None:
    slash = extract.search(
        r"\b(\d{1,3})\s*/\s*(\d{1,3})\s+([A-Za-z]{1,5})\s*/\s*([A-Za-z]{1,5})\b", text
    )
    if slash:
        names = [
            extract.extract_symbols(slash.group(3).upper()),
            extract.extract_symbols(slash.group(4).upper()),
        ]
        if all(names):
            return {names[0][0]: int(slash.group(1)) / 100, names[1][0]: int(slash.group(2)) / 100}
    pairs = list(
        re.finditer(
            rf"\b([A-Z]{{1,5}})\s*(?:at\s+)?({N})\s*%|({N})\s*%\s*(?:in\s+)?([A-Z]{{1,5}})\b", text
        )
    )
    weights: dict[str, float] = {}
    used: list[re.Match[str]] = []
    for match in pairs:
        symbol = match.group(1) or match.group(4)
        value = match.group(2) or match.group(3)
        resolved = extract.extract_symbols(symbol)
        if resolved:
            weights[resolved[0]] = extract.to_number(value) / 100
            used.append(match)
    if len(weights) < 2:
        return None
    for match in used:
        extract.take(*match.span(), text)
    return weights


def build_risk_report(text: str) -> BuildResult:
    weights = _risk_weights(text)
    benchmark = None
    bench = extract.search(
        r"(?:beta|relative|benchmark\w*|correlat\w*)\s+(?:[\w,&]+\s+){0,5}?(?:to|vs\.?|versus|against|with|"
        r"relative to|on)\s+((?:the\s+)?(?:S&P(?:\s*500)?|SP\s?500|market|index|[A-Z]{1,5}\b|"
        r"[a-z][\w&-]+))",
        text,
    )
    if bench:
        resolved = extract.extract_symbols(bench.group(1))
        if resolved:
            benchmark = resolved[0]
            extract.take(bench.start(1), bench.end(1), text)
    symbols = [s for s in _symbols(text) if s != benchmark or benchmark is None]
    if benchmark and not symbols:
        raise MissingValue("the symbol whose beta to measure (e.g. AAPL)")
    params: dict[str, Any] = {"symbols": symbols}
    if benchmark:
        params["benchmark"] = benchmark
    params = apply_dates(text, params, also=[benchmark] if benchmark else [])
    mc = _first(
        text,
        rf"({N}\s*[kKmM]?)\s*(?:monte[- ]carlo\s+)?(?:paths|simulations|sims|scenarios)\b",
    )
    if mc:
        params["mc_paths"] = int(mc)
    rate = _first_pct(
        text,
        rf"\b(?:risk[- ]?free(?: rate)?|rf)\s*(?:of|=|:|at)?\s*{_PCT_N}",
        rf"{_PCT_N}\s*(?:risk[- ]?free|rf)\b",
    )
    if rate is not None:
        params["risk_free_rate"] = rate
    basel = extract.search(
        r"\b(9\d(?:\.\d+)?)\s*/\s*(\d{1,3})\s*(?:-?day\s+)?(?:c?var|value at risk)", text
    )
    if basel:  # "99/10 VaR": 99 % over 10 days
        params["confidence"] = float(basel.group(1)) / 100
        params["horizon_days"] = int(basel.group(2))
    horizon = extract.search(
        r"(?:horizon(?: of)?|over|holding period(?: of)?)?\s*\b(\d+|one|ten)[- ]?"
        r"(days?|d|weeks?|wk|months?|mo)\b(?!\s*(?:window|lookback|rolling))",
        text,
    )
    if horizon:
        count = {"one": 1, "ten": 10}.get(horizon.group(1).lower()) or int(horizon.group(1))
        params["horizon_days"] = extract.trading_days(count, horizon.group(2))
    elif extract.mentions(r"\b(?:daily|one[- ]day)\s+(?:var|value at risk|es)\b", text):
        params["horizon_days"] = 1
    elif within := extract.search(r"\b(?:in|over|within) (?:a|one) (day|week|month)\b", text):
        params["horizon_days"] = extract.trading_days(1, within.group(1))
    elif extract.mentions(r"\b(?:weekly)\s+(?:var|value at risk|es)\b", text):
        params["horizon_days"] = 5
    confidence = _first_pct(
        text,
        rf"\bconfidence(?: level)?\s*(?:of|=|:|at)?\s*({N})\s*(%)?",
        rf"({N})\s*(%)?\s*(?:confidence|c\.?l\.?)\b",
        r"(?<![\d.])(9\d(?:\.\d+)?|0\.9\d*)\s*(%)?\s*(?:\d+[- ]?d(?:ays?)?\s+)?"
        r"(?:var|cvar|value at risk|es\b|expected shortfall|level)",
        r"\b(?:var|cvar|value at risk|es|expected shortfall)\s*(?:at|of|@)?\s*"
        r"(?:the\s+)?(9\d(?:\.\d+)?|0\.9\d*)\s*(%)?",
        r"\bat\s+(?:the\s+)?(9\d(?:\.\d+)?)\s*(%|percent|pct)",
        r"(?<![\d.])(9\d(?:\.\d+)?)\s*(%|percent|pct)(?!\s*(?:in|of|weight))",
    )
    if confidence is not None and 0.5 <= confidence < 1 and not basel:
        params["confidence"] = confidence
    if weights:
        params["weights"] = weights
    extract.mentions(r"\bmax(?:imum)? drawdowns?", text)
    extract.mentions(
        r"\b(?:var|cvar|value at risk|expected shortfall|es|drawdowns?|sharpe|sortino|calmar|"
        r"beta|garch|ewma|vol(?:atility)?|risk\w*|volatile|ratio)\b",
        text,
    )
    return params if weights else _split(params, text)


# --------------------------------------------------------------------------- indicators
INDICATOR_WORDS = {
    "sma": r"\bsmas?\b|simple moving|moving averages?|\bmas?\b(?!\w)",
    "ema": r"\bemas?\b|exponential moving",
    "rsi": r"\brsi\b|relative strength",
    "macd": r"\bmacd\b",
    "bollinger": r"bollinger",
    "atr": r"\batr\b|average true range",
    "stochastic": r"stochastic",
    "obv": r"\bobv\b|on[- ]balance",
    "volatility": r"rolling vol\w*|reali[sz]ed vol\w*|\bvol(?:atility)?\b",
    "zscore": r"z[- ]?scores?",
    "momentum": r"momentum|rate of change",
}
_WINDOW_KEYS = {
    "sma": "sma_window",
    "ema": "ema_window",
    "rsi": "rsi_window",
    "atr": "atr_window",
    "volatility": "volatility_window",
    "zscore": "zscore_window",
    "momentum": "momentum_window",
}


def build_indicators(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    params = apply_dates(text, params)
    chosen = [name for name, pattern in INDICATOR_WORDS.items() if extract.mentions(pattern, text)]
    if "sma" in chosen and "ema" in chosen and not re.search(r"\bsma|simple", text, re.I):
        chosen.remove("sma")  # "exponential moving average" is not also a simple one
    if chosen:
        params["indicators"] = chosen
    if "macd" in chosen:
        macd = extract.search(
            r"(?<=macd)\s*\(?\s*(\d{1,3})\s*[,/ ]\s*(\d{1,3})\s*[,/ ]\s*(\d{1,3})\s*\)?", text
        )
        if macd:
            params["macd_fast"], params["macd_slow"], params["macd_signal"] = (
                int(macd.group(1)),
                int(macd.group(2)),
                int(macd.group(3)),
            )
    if "bollinger" in chosen:
        both = extract.search(
            rf"(?:(?<=bollinger)|(?<=bands))\s*\(\s*(\d{{1,4}})\s*,\s*({N})\s*\)", text
        )
        if both:
            params["bb_window"], params["bb_std"] = (
                int(both.group(1)),
                extract.to_number(both.group(2)),
            )
        std = None if both else _first(text, rf"({N})\s*(?:std|standard deviations?|sd|sigma)\b")
        if std:
            params["bb_std"] = std
        window = _first(text, rf"(?<=bollinger)\s*(?:bands?)?\s*(?:\(|of|with)?\s*({N})\b")
        if window:
            params["bb_window"] = int(window)
    for name in ("sma", "ema", "rsi", "atr"):
        own = _first(
            text,
            rf"(?<={name})\s*\(\s*(\d{{1,4}})\s*\)",
            rf"(?<={name})\s+(\d{{1,4}})\b(?!\s*(?:/|%|and|,\s*\d))",
            rf"(?<![\d.])(\d{{1,4}})\s*-?\s*(?:day|period|d)?\s*(?={name}\b)",
        )
        if own and name in chosen:
            params[_WINDOW_KEYS[name]] = int(own)
    windows: list[int] = []
    pair = extract.search(r"\b(\d{1,4})\s*(?:,|/|and|&)\s*(\d{1,4})\s*-?\s*(?:days?|d)\b", text)
    if pair:
        windows = [int(pair.group(1)), int(pair.group(2))]
    else:
        window = extract.extract_window_days(text, ("window", "period", "length"))
        if window is None:
            bare = _first(
                text, r"(?<![\d.])(\d{1,4})\s*-?\s*(?:period\s+)?(?=(?:sma|ema|rsi|atr)\b)"
            )
            window = int(bare) if bare else None
        if window:
            windows = [window]
    windowed = [n for n in chosen if n in _WINDOW_KEYS and _WINDOW_KEYS[n] not in params]
    if windows and len(windowed) == 1:
        key = _WINDOW_KEYS[windowed[0]]
        params[key] = windows[0] if len(windows) == 1 else windows
    extract.mentions(r"indicators?|compute|calculate|show|plot|bands?|oscillator", text)
    return params


# ---------------------------------------------------------------------------- backtests
STRATEGIES = (
    (r"buy[- ]?(?:and|&|n)[- ]?hold|\bb&h\b|passive", "buy_and_hold"),
    (
        r"crossover|cross[- ]over|golden cross|death cross|moving[- ]average|\bsmas?\b|\bmas?\b"
        r"(?!\w)|\bcross\b",
        "sma_crossover",
    ),
    (r"mean[- ]reversion|mean[- ]reverting|revert\w*|z[- ]?score", "mean_reversion"),
    (r"\brsi\b", "rsi"),
    (r"momentum|trend[- ]following|\btrend\b|\btsmom\b", "momentum"),
)


def _costs(text: str, params: dict[str, Any]) -> None:
    if extract.mentions(
        r"\b(?:no|zero|without|ignore|ignoring|free of|0)\s+(?:trading\s+|transaction\s+)?"
        r"(?:costs?|fees?|commissions?)|frictionless|costless",
        text,
    ):
        params["cost_bps"] = 0.0
        params["slippage_bps"] = 0.0
    slippage = extract.extract_bps(text, ("slippage", "slip"))
    if slippage is not None:
        params["slippage_bps"] = slippage
    cost = extract.extract_bps(text)
    if cost is not None:
        params["cost_bps"] = cost
    extract.mentions(r"\b(?:trading |transaction )?(?:costs?|commissions?|fees?)\b", text)


def _backtest_values(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    _costs(text, params)
    # "momentum vs buy and hold": every backtest is reported against buy and hold
    versus = extract.mentions(
        r"(?:vs\.?|versus|against|compared (?:to|with)|relative to|and|beats?|outperforms?|"
        r"better than)\s+(?:a\s+)?"
        r"(?:plain\s+)?buy[- ]?(?:and|&|n)[- ]?hold",
        text,
    )
    versus = versus or extract.mentions(
        r"buy[- ]?(?:and|&|n)[- ]?hold\s+(?:vs\.?|versus|against|or|compared (?:to|with))"
        r"(?=\s+(?:an?\s+|the\s+)?(?:sma|ma|moving|crossover|momentum|mean|rsi|trend))",
        text,
    )
    choices = [(p, s) for p, s in STRATEGIES if not (versus and s == "buy_and_hold")]
    chosen_strategy = extract.first_listed(choices, text)
    if chosen_strategy is not None:
        params["strategy"] = chosen_strategy
    strategy = params.get("strategy", "sma_crossover")
    if strategy == "sma_crossover" and re.search(r"\bemas?\b|exponential", text, re.I):
        extract.cannot_use("'ema' (the crossover strategy uses simple moving averages)")
    if strategy == "sma_crossover":
        pair = extract.extract_pair(text)
        if pair:
            params["fast"], params["slow"] = pair
        elif extract.mentions(r"golden cross|death cross", text):
            params["fast"], params["slow"] = 50, 200
    if strategy == "momentum":
        lookback = extract.extract_window_days(text, ("lookback",))
        if lookback:
            params["lookback"] = lookback
    if strategy == "mean_reversion":
        window = extract.extract_window_days(text, ("window", "lookback"))
        if window:
            params["zscore_window"] = window
        entry = _first(
            text,
            rf"\b(?:entry|enter)\s*(?:z|at|=|:)?\s*(?:of|at|=)?\s*({N})",
            rf"\bz\s*(?:entry|enter)\s*(?:at|of|=|:)?\s*({N})",
            rf"({N})\s*-?\s*(?:sigma|sd|std|z)\s*(?:entry|enter|bands?)",
        )
        if entry is not None:
            params["entry_z"] = entry
        exit_z = _first(text, rf"\bexit\w*\s*(?:z|at|=|:)?\s*(?:of|at|=)?\s*({N})")
        if exit_z is not None:
            params["exit_z"] = exit_z
    if strategy == "rsi":
        bands = extract.search(r"\b(\d{1,2})\s*/\s*(\d{1,2})\b", text)
        if bands:
            params["lower"], params["upper"] = float(bands.group(1)), float(bands.group(2))
        lower = _first(
            text,
            rf"\b(?:buy|long|enter)\w*\s+(?:when\s+)?(?:rsi\s+)?(?:is\s+)?"
            rf"(?:under|below|<)\s*({N})",
        )
        upper = _first(
            text,
            rf"\b(?:sell|exit|short)\w*\s+(?:when\s+)?(?:rsi\s+)?(?:is\s+)?"
            rf"(?:over|above|>)\s*({N})",
        )
        if lower is not None:
            params["lower"] = lower
        if upper is not None:
            params["upper"] = upper
        window = extract.extract_window_days(text, ("window", "period"))
        if window:
            params["rsi_window"] = window
    if extract.mentions(r"long[/ -]short|short selling|allow(?:ing)? shorts?|with shorts?", text):
        params["long_short"] = True
    extract.mentions(r"long[- ]only", text)
    extract.mentions(r"backtest\w*|strateg\w*|\btest\b|trading|trade", text)
    return params


def build_backtest(text: str) -> BuildResult:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    params = apply_dates(text, params)
    params.update(_backtest_values(text))
    symbols = params["symbols"]
    if (
        len(symbols) > 1
        and re.search(_SEPARATE_WORDS, text, re.I)
        and not re.search(r"portfolio|together|combined|as one|equal[- ]weight", text, re.I)
    ):
        return [{**params, "symbols": [symbol]} for symbol in symbols]
    return params


INTENTS: list[Intent] = [
    Intent(
        "price_option",
        (
            (r"\boptions?\b", 1.5),
            (r"\bcalls?\b", 1.5),
            (r"\bputs?\b", 1.5),
            (r"\bprice\b|\bvalue\b|\bworth\b|\bpremium\b|how much", 1),
            (r"greeks|delta|gamma|vega|theta", 1.5),
            (r"black[- ]scholes|binomial", 2),
            (r"strike|struck|\batm\b|at[- ]the[- ]money", 1.5),
            (r"\bvol\w*\s*\d|\d\s*%?\s*vol|\biv\s*\d", 1),
        ),
        build_price_option,
        "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%",
    ),
    Intent(
        "implied_volatility",
        (
            (r"implied vol\w*|\biv\b", 4),
            (r"\boption|call|put", 1),
            (r"back out|solve for", 1),
            (r"\bimplied by\b|vol(?:atility)? (?:is|does .{0,20}) imply|\bimply\b", 4),
            (
                r"(?:\biv|implied vol\w*)\s*(?:=|:|of|is)?\s*\d+(?:\.\d+)?\s*(?:%|percent)|"
                r"(?:\biv|implied vol\w*)\s*(?:=|:|of|is)?\s*0?\.\d+|"
                r"\d\s*(?:%|percent)?\s*(?:iv|implied vol\w*)\b",
                -6,
            ),
        ),
        build_implied_vol,
        "Implied vol of a call priced 7.5 with spot 100, strike 100, 1 year, rate 3%",
    ),
    Intent(
        "efficient_frontier",
        ((r"frontier", 5),),
        _portfolio_params,
        "Plot the efficient frontier of AAPL, MSFT, JPM and XOM",
    ),
    Intent(
        "optimize_portfolio",
        (
            (r"optimi[sz]|optimal", 3),
            (r"portfolio|\bbook\b", 1.5),
            (r"weights?", 1),
            (r"allocat", 2),
            (r"risk[- ]parity|\bhrp\b|min(imum)?[- ](?:variance|vol)", 3),
            (
                r"(?:lowest|least|min(?:imum)?)[- ](?:risk|vol\w*|variance) "
                r"(?:portfolio|allocation|mix)",
                3,
            ),
            (
                r"max(?:imum|imi[sz]e|imal)?[- ]sharpe|tangency|best sharpe|highest sharpe|"
                r"\bmix of\b",
                3,
            ),
            (r"target(?:ing)?\s+(?:an?\s+)?\d+(?:\.\d+)?\s*%", 3),
            (
                r"no (?:stock|name|asset|position|holding)s? (?:above|over|bigger|larger|more)|"
                r"\bcap\b.*\d+\s*%",
                1,
            ),
            (r"target(?:ing)?\s+(?:an?\s+)?\d+\s*%\s*return|\d+\s*%\s*target vol", 3),
        ),
        _portfolio_params,
        "Optimise a max-Sharpe portfolio of AAPL, MSFT and KO since 2010",
    ),
    Intent(
        "risk_report",
        (
            (r"\brisk\b|\brisky\b|\briski(?:er|est)\b", 2),
            (r"\bc?var\b|value at risk|expected shortfall", 3),
            (r"drawdowns?", 2),
            (r"could (?:i|we) lose|how much .{0,20}\blose\b|worst[- ]case loss|tail risk", 3),
            (r"garch|ewma", 3),
            (r"sortino|calmar|\bbeta\b|sharpe(?: ratio)?\s+(?:of|for)", 2),
            (r"\bsharpe\b", 1),
            (r"(?:sharpe|sortino|calmar|treynor|information) ratio", 1.5),
            (r"volatility of|how volatile|\bvol(?:atility)? of|annuali[sz]ed vol", 2),
        ),
        build_risk_report,
        "Risk report for JPM: 99% VaR over 10 days, beta to SPX",
    ),
    Intent(
        "compute_indicators",
        (
            (r"indicators?", 3),
            (r"\brsi\b|macd|bollinger|\batr\b|obv", 2.5),
            (r"stochastic|moving averages?|\bsmas?\b|\bemas?\b", 2),
            (r"rolling vol\w*|reali[sz]ed vol\w*", 4.5),
            (r"z[- ]?scores?", 2),
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
            (r"crossover|golden cross|death cross", 3),
            (r"mean[- ]reversion|buy[- ]?(?:and|&)[- ]?hold|momentum|trend[- ]following", 2),
            (r"trade|trading", 1),
            (r"\d\s*(?:bps?|basis points?)\b", 1),
            (r"how (?:would|did)\b.*\b(?:do|done|perform)", 1),
            (r"\bwould\b.*\bhave (?:worked|done|performed|made|returned)", 2),
            (r"(?:rsi|momentum|crossover|mean[- ]reversion|trend)\s+strateg", 1),
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
    return sum(
        weight for pattern, weight in intent.phrases if extract.compiled(pattern, re.I).search(text)
    )


def _ranked(text: str, available: dict[str, Any]) -> list[tuple[float, int, Intent]]:
    candidates = [
        (score(intent, text), index, intent)
        for index, intent in enumerate(load_intents())
        if intent.action in available
    ]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    return candidates


def _understood_values(text: str) -> str:
    """The values a request states, for a reply that could not act on them."""
    with extract.tracking(text):
        symbols = extract.extract_symbols(text)
        span = extract.extract_dates(text)
    numbers = [
        text[s.start : s.end].strip()
        for s in extract.salient_spans(text)
        if s.kind == "number" and not re.fullmatch(r"(?:19|20)\d\d", text[s.start : s.end])
    ]
    parts = []
    if symbols:
        parts.append("symbols " + ", ".join(symbols))
    if span.start or span.end or span.last:
        if span.last:
            parts.append(f"a period of the last {span.last[0]:g} {span.last[1]}")
        else:
            parts.append(f"dates {span.start or '…'} to {span.end or '…'}")
    if numbers:
        parts.append("numbers " + ", ".join(numbers))
    return "; ".join(parts)


def miss_message(text: str, *, reason: str = "", closest: list[Intent] | None = None) -> str:
    """A short answer: the two or three closest actions with an example each, and the
    values the request did state."""
    from engine.actions import load_catalog

    available = load_catalog()
    if closest is None:
        ranked = [item for item in _ranked(text, available) if item[0] > 0]
        closest = [intent for _, _, intent in ranked[:3]]
        if not closest:
            closest = _closest_by_words(text, available)
    lines = [reason or "I could not map that to an action."]
    values = _understood_values(text)
    if values:
        lines.append(f"I understood: {values}.")
    if closest:
        lines.append("Closest actions I can run offline:")
        lines += [f'- {intent.action}, e.g. "{intent.example}"' for intent in closest[:3]]
    return "\n".join(lines)


def _closest_by_words(text: str, available: dict[str, Any]) -> list[Intent]:
    """No phrase matched: the actions whose example shares the most words."""
    words = set(re.findall(r"[a-z]{4,}", text.lower())) - _COMMON
    scored = []
    for index, intent in enumerate(load_intents()):
        if intent.action not in available:
            continue
        shared = len(words & set(re.findall(r"[a-z]{4,}", intent.example.lower())))
        scored.append((-shared, index, intent))
    scored.sort(key=lambda item: (item[0], item[1]))
    related = [intent for shared, _, intent in scored[:3] if shared < 0]
    if related:
        return related
    # Nothing in common: one action from each of the main kinds of work.
    return [i for i in load_intents() if i.action in _STARTERS and i.action in available][:3]


_STARTERS = ("price_option", "backtest_strategy", "train_model")
_COMMON = frozenset(
    "what with from that this have your there their about which would could should into "
    "when where will them then than also just like make give tell show please".split()
)


def help_text() -> str:
    from engine.actions import load_catalog

    available = load_catalog()
    examples = [f"- {intent.example}" for intent in load_intents() if intent.action in available]
    return "Here is what I can do offline:\n" + "\n".join(examples)


# --------------------------------------------------------------------------- leftovers
def _param_numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _param_numbers(item)]
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _param_numbers(item)]
    if isinstance(value, str):
        return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", value)]
    return []


def _param_symbols(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value.upper()}
    if isinstance(value, dict):
        return {k.upper() for k in value} | {s for v in value.values() for s in _param_symbols(v)}
    if isinstance(value, (list, tuple)):
        return {s for item in value for s in _param_symbols(item)}
    return set()


_SCALES = (1.0, 0.01, 0.0001, 1000.0, 1e6, 1 / 12, 1 / 52, 1 / 365, 21.0, 5.0, 252.0)


def _number_used(token: str, numbers: list[float]) -> bool:
    match = re.match(rf"({extract.NUMBER})\s*([kKmM])?", token)
    if not match:
        return True
    value = extract.to_number(match.group(1))
    if match.group(2):
        value *= {"k": 1e3, "m": 1e6}[match.group(2).lower()]
    return any(
        math.isclose(value * scale, number, rel_tol=1e-6, abs_tol=1e-9)
        for number in numbers
        for scale in _SCALES
    )


def leftovers(text: str, tracker: extract.Tracker, calls: list[PlannedCall]) -> list[str]:
    """What the request states that no extraction used and no call carries."""
    numbers = [n for call in calls for n in _param_numbers(call.params)]
    numbers += [float(len(call.params.get("symbols") or [])) for call in calls]  # "the 5 names"
    symbols = {s for call in calls for s in _param_symbols(call.params)}
    spans = extract.salient_spans(text)
    unused: list[extract.Leftover] = []
    accounted: list[extract.Leftover] = []
    for span in spans:
        token = text[span.start : span.end]
        if tracker.used(span.start, span.end):
            accounted.append(span)
        elif span.kind == "number" and _number_used(token, numbers):
            accounted.append(span)
        elif span.kind == "symbol" and any(
            m.symbol.upper() in symbols for m in extract.find_symbols(token)
        ):
            accounted.append(span)
        else:
            unused.append(span)
    result = []
    for span in unused:
        hard = re.fullmatch(extract.HARD_CONSTRAINTS, text[span.start : span.end], re.I)
        if span.kind == "constraint" and not hard:
            # 'at least 0.55' ('20 trials max') is understood when its number is
            following = next((s for s in spans if s.kind == "number" and s.start > span.end), None)
            before = [s for s in spans if s.kind == "number" and s.end <= span.start]
            if (
                following is not None
                and following.start - span.end <= 25
                and following in accounted
            ) or (before and span.start - before[-1].end <= 12 and before[-1] in accounted):
                continue
        result.append(span.quote(text))
    return result + tracker.notes


# ------------------------------------------------------------------------------ planning
HELP = (
    r"\s*(?:help|\?|what can you do|what (?:else )?can (?:you|i) (?:do|ask)|what do you do|"
    r"(?:list|show)(?: me)? (?:all )?(?:the |your )?(?:actions|commands|examples)|capabilities)"
    r"\s*[.!?]*\s*"
)
FOLLOW_UP = (
    r"^\s*(?:and|now|ok(?:ay)?|then|also|but|what about|how about|what if|if|same|do the same|"
    r"redo|again|instead|try|make it|change|use)\b|\bsame\b|\binstead\b|\bagain\b|\bredo\b|"
    r"\brerun\b|^\s*(?:with|for|at|on|using)\b"
)
RECALL = re.compile(
    r"\b(?:what|how much|how)\s+did\s+(?:the|my|that|your)\s+(?:last\s+|previous\s+|latest\s+)?"
    r"([\w-]+)|\b(?:last|previous|latest)\s+([\w-]+?)(?:'s)?\s+(?:results?|returns?|numbers?|"
    r"output|sharpe|value)",
    re.I,
)
RECALL_WORDS = {
    "backtest": "backtest_strategy",
    "strategy": "backtest_strategy",
    "option": "price_option",
    "price": "price_option",
    "pricing": "price_option",
    "portfolio": "optimize_portfolio",
    "optimisation": "optimize_portfolio",
    "optimization": "optimize_portfolio",
    "var": "risk_report",
    "risk": "risk_report",
    "model": "train_model",
    "training": "train_model",
    "comparison": "compare_models",
    "tuning": "tune_model",
    "tune": "tune_model",
    "frontier": "efficient_frontier",
}


def recall_action(text: str) -> str | None:
    """'what did the last backtest return?' -> 'backtest_strategy' (answered from the
    conversation's records, not by running anything)."""
    match = RECALL.search(text)
    if not match:
        return None
    word = (match.group(1) or match.group(2) or "").lower()
    return RECALL_WORDS.get(word) or RECALL_WORDS.get(word.rstrip("s"))


FOLLOW_UP_JOIN = " ;; "
# Longest request the planner reads (a longer one is refused before any pattern runs:
# some patterns cost time quadratic in the length of a run of digits or words), and the
# longest chain of follow-ups it replays (each follow-up is planned over the requests it
# builds on; a longer chain is refused rather than cut, which would silently drop the
# changes made in the middle of it).
MAX_REQUEST_CHARS = 2000
MAX_CHAIN_CHARS = 8000
# Longest run of digits read as a number (the number patterns cost time quadratic in it).
MAX_DIGITS = 30


def _follow_up_text(text: str, previous: Plan) -> str:
    """The follow-up followed by the previous request, whose symbols are blanked when the
    follow-up names its own ("same for MSFT"): extractions take the first value they
    find, so the follow-up's values win and the rest comes from the previous request."""
    earlier = previous.request
    if extract.find_symbols(text):
        replaced = {s for call in previous.calls for s in (call.params.get("symbols") or [])}
        for mention in reversed(extract.find_symbols(earlier)):
            if mention.symbol in replaced:
                earlier = (
                    earlier[: mention.start]
                    + " " * (mention.end - mention.start)
                    + earlier[mention.end :]
                )
    return f"{text}{FOLLOW_UP_JOIN}{earlier}"


def _is_follow_up(text: str, previous: Plan | None, best: float, previous_score: float) -> bool:
    """A follow-up starts like one ("and", "now", "same", "what about") and points at no
    other action more than at the previous one."""
    if previous is None or not previous.calls or not previous.request:
        return False
    if not re.search(FOLLOW_UP, text, re.I):
        return False
    return previous_score >= best or best < MIN_SCORE


def plan(text: str, previous: Plan | None = None) -> Plan:
    """Plan one request. ``previous``: the plan of the conversation's previous offline
    turn, for follow-ups ("and the put?", "now do the same with 10bp", "same for MSFT")."""
    from engine.actions import load_catalog

    available = load_catalog()
    request = " ".join(text.split())
    if len(request) > MAX_REQUEST_CHARS:
        return Plan(
            message=f"That request is {len(request):,} characters long; the offline planner "
            f"reads requests of up to {MAX_REQUEST_CHARS:,} characters. Ask for one thing at "
            "a time, in fewer words.",
            request=request[:MAX_REQUEST_CHARS],
        )
    digits = re.search(rf"\d{{{MAX_DIGITS + 1},}}", request)
    if digits:
        return Plan(
            message=f"That request holds a number {len(digits.group(0)):,} digits long; no "
            f"parameter takes a number of more than {MAX_DIGITS} digits.",
            request=request,
        )
    request = extract.repair_typos(request)
    if re.fullmatch(HELP, request, re.I):
        return Plan(message=help_text(), request=request)
    recalled = recall_action(request)
    if recalled is not None:
        return Plan(
            message=f"Looking up the last {recalled} result in this conversation.",
            request=request,
            recall=recalled,
        )
    blocked = extract.unsupported(request)
    if blocked:
        return Plan(
            message=miss_message(
                request,
                reason=f"Not understood: {', '.join(blocked)} — no action here computes "
                "that, so I did not run a different calculation in its place.",
            ),
            not_understood=blocked,
            request=request,
        )
    ranked = _ranked(request, available)
    best_score = ranked[0][0] if ranked else 0.0
    planned_text = request
    intent: Intent | None = ranked[0][2] if ranked and best_score >= MIN_SCORE else None
    follow_up = False
    if previous is not None and previous.calls:
        previous_action = previous.calls[0].action
        previous_intent = next((i for i in load_intents() if i.action == previous_action), None)
        previous_score = score(previous_intent, request) if previous_intent else 0.0
        if previous_intent is not None and _is_follow_up(
            request, previous, best_score, previous_score
        ):
            intent, follow_up = previous_intent, True
            planned_text = _follow_up_text(request, previous)
            if len(planned_text) > MAX_CHAIN_CHARS:
                return Plan(
                    message="This follow-up builds on a chain of earlier requests longer than "
                    f"{MAX_CHAIN_CHARS:,} characters, more than the offline planner replays. "
                    "Write the whole request again (with every value you want).",
                    request=request,
                )
    if intent is None:
        return Plan(message=miss_message(request), request=request)
    ends = tuple(m.start() for m in re.finditer(re.escape(FOLLOW_UP_JOIN), planned_text))
    with extract.tracking(planned_text, ends if follow_up else ()) as tracker:
        try:
            built = intent.build(planned_text)
        except MissingValue as missing:
            return Plan(
                message=f"That looks like '{intent.action}', but I need: "
                f'{", ".join(missing.names)}. For example: "{intent.example}".',
                missing=list(missing.names),
                request=request,
            )
    fields = available[intent.action].params_model.model_fields
    calls = [
        PlannedCall(
            intent.action,
            {key: value for key, value in params.items() if key in fields and value is not None},
        )
        for params in (built if isinstance(built, list) else [built])
    ]
    own = request if not follow_up else planned_text[: len(request)]
    unused = leftovers(own, _own_tracker(tracker, len(request)) if follow_up else tracker, calls)
    shown = "; ".join(call.describe() for call in calls)
    lead = "Offline mode — follow-up on the previous request" if follow_up else "Offline mode"
    message = f"{lead} — I understood: {shown}."
    if unused:
        message += f" Not understood (not used): {', '.join(unused)}."
    notice = _key_notice(calls)
    if notice:
        message = f"{notice}\n\n{message}"
    return Plan(calls=calls, message=message, not_understood=unused, request=planned_text)


def _own_tracker(tracker: extract.Tracker, length: int) -> extract.Tracker:
    own = extract.Tracker(tracker.text[:length], notes=tracker.notes)
    own.spans = [(a, min(b, length)) for a, b in tracker.spans if a < length]
    return own


def _key_notice(calls: list[PlannedCall]) -> str:
    """A Polygon request without a key: say so first, clearly."""
    if not any(str(call.params.get("source", "")) == "polygon" for call in calls):
        return ""
    from engine.data import polygon

    if polygon.configured_key():
        return ""
    return f"The Polygon API key is missing. {polygon.MISSING_KEY_MESSAGE}"
