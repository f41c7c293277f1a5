"""Pull structured values out of an analyst's sentence, for the offline planner.

Conventions match the finance actions: percentages become decimals (5% -> 0.05),
maturities are years (6 months -> 0.5, 30 days -> 30/365), windows are trading days.

Every value taken from the request marks the span of text it came from (a
:class:`Tracker`, active while the planner plans one request). What no extraction
took -- a number, a ticker, a constraint -- is a *leftover* that the planner names
in its reply as not understood, so nothing the analyst stated is silently dropped.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

NUMBER = r"[-+]?\d+(?:[.,]\d+)?"


# ---------------------------------------------------------------------------- tracking
@dataclass
class Tracker:
    """The request being planned and the spans of it that some extraction used."""

    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    # What a builder recognised but cannot honour ("'ema': the crossover uses SMAs").
    notes: list[str] = field(default_factory=list)
    # A follow-up is planned as "<follow-up> ;; <previous request> ;; <the one before>":
    # the newest text (up to each of these ends) is searched first, so "and at 95%
    # instead" beats the earlier "99% VaR".
    priority: tuple[int, ...] = ()

    def limits(self) -> list[int | None]:
        return [*self.priority, None]

    def free(self, start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in self.spans)

    def take(self, start: int, end: int) -> None:
        if end > start:
            self.spans.append((start, end))

    def used(self, start: int, end: int) -> bool:
        return not self.free(start, end)


_TRACKER: ContextVar[Tracker | None] = ContextVar("planner_tracker", default=None)


@contextmanager
def tracking(text: str, priority: tuple[int, ...] = ()) -> Iterator[Tracker]:
    tracker = Tracker(text, priority=priority)
    token = _TRACKER.set(tracker)
    try:
        yield tracker
    finally:
        _TRACKER.reset(token)


def _tracker_for(text: str) -> Tracker | None:
    tracker = _TRACKER.get()
    return tracker if tracker is not None and tracker.text == text else None


def take(start: int, end: int, text: str | None = None) -> None:
    tracker = _TRACKER.get()
    if tracker is not None and (text is None or tracker.text == text):
        tracker.take(start, end)


@lru_cache(maxsize=4096)
def compiled(pattern: str, flags: int = re.I) -> re.Pattern[str]:
    """The planner's own pattern cache: it has more patterns than ``re``'s cache holds
    (512), which would otherwise compile some of them again for every request."""
    return re.compile(pattern, flags)


def cannot_use(note: str) -> None:
    """A builder recognised part of the request but no parameter takes it: the reply
    names it as not understood."""
    tracker = _TRACKER.get()
    if tracker is not None and note not in tracker.notes:
        tracker.notes.append(note)


def search(
    pattern: str,
    text: str,
    flags: int = re.I,
    *,
    fresh: bool = True,
    group: int | None = None,
    limit: int | None = None,
) -> re.Match[str] | None:
    """``re.search`` that marks what it matched as used. With ``fresh`` (the default) a
    match overlapping text that another extraction already used is skipped, so one
    number is never read twice ("5 bps" is a cost, not also a window). ``group``: mark
    only that group's span (a keyword that only decides which pattern applies).
    ``limit``: only a match that starts before it."""
    tracker = _tracker_for(text)
    for match in compiled(pattern, flags).finditer(text):
        if limit is not None and match.start() >= limit:
            return None
        span = match.span(group) if group is not None else match.span()
        if tracker is not None:
            if fresh and tracker.used(*match.span()):
                continue
            tracker.take(*span)
        return match
    return None


def search_any(patterns: Iterable[str], text: str, flags: int = re.I) -> re.Match[str] | None:
    """The first of ``patterns`` that matches (in their order of preference); in a
    follow-up, the follow-up's own words are searched with every pattern first."""
    patterns = list(patterns)
    tracker = _tracker_for(text)
    for limit in tracker.limits() if tracker is not None else [None]:
        for pattern in patterns:
            match = search(pattern, text, flags, limit=limit)
            if match:
                return match
    return None


def first_listed(choices: Iterable[tuple[str, str]], text: str, *, mark: bool = True) -> str | None:
    """The value of the first (pattern, value) whose pattern the request mentions; a
    follow-up's own words first. ``mark=False``: leave the words for a later extraction
    (a target return's number)."""
    choices = list(choices)
    tracker = _tracker_for(text)
    for limit in tracker.limits() if tracker is not None else [None]:
        for pattern, value in choices:
            found = compiled(pattern, re.I).search(text, 0, len(text) if limit is None else limit)
            if found:
                if mark:
                    take(*found.span(), text)
                return value
    return None


def finditer(pattern: str, text: str, flags: int = re.I) -> list[re.Match[str]]:
    """Every match not overlapping used text, each marked used."""
    found = []
    tracker = _tracker_for(text)
    for match in compiled(pattern, flags).finditer(text):
        if tracker is not None:
            if tracker.used(*match.span()):
                continue
            tracker.take(*match.span())
        found.append(match)
    return found


def mentions(pattern: str, text: str, flags: int = re.I) -> bool:
    """Whether the request says this (its words are marked used)."""
    return search(pattern, text, flags, fresh=False) is not None


# ------------------------------------------------------------------------ typo repair
VOCABULARY = (
    "price pricing priced value worth premium option options european american call calls "
    "put puts strike struck spot underlying volatility volatile implied maturity expiry "
    "expiring months years weeks dividend interest binomial monte carlo simulate simulation "
    "black scholes greeks delta gamma portfolio portfolios optimise optimize optimal "
    "optimised optimized allocation weights weight frontier efficient variance minimum maximum "
    "sharpe sortino calmar drawdown drawdowns shortfall expected confidence horizon benchmark "
    "backtest backtests strategy strategies crossover momentum reversion average moving "
    "indicators indicator bollinger stochastic relative strength historical prices "
    "synthetic generate compare comparison train predict prediction forecast ensemble "
    "stacking voting regression logistic classifier forest random boosting gradient "
    "hyperparameters tune tuning trials notebook bundle reproduce export dataset datasets "
    "describe summary statistics goal goals threshold accuracy balanced direction returns "
    "commission slippage costs basis points lookback window rolling correlation beta "
    "covariance shrinkage parity hierarchical target percent annualised annualized"
).split()
# Right as written, although close to a vocabulary word ("shorting" is not "sortino").
_LEAVE = (
    "short shorts shorting sorting sorted rebalance rebalanced rebalancing leverage "
    "leveraged averages spots steps paths turnover sector sectors strikes valued values "
    "pricer priced tuned trained models rates rated puts"
).split()
_KNOWN_WORDS = frozenset(VOCABULARY) | frozenset(_LEAVE)


def _edits(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and
    swaps of neighbours ('pirce' -> 'price' is one edit)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


_INFLECTIONS = {"s", "es", "d", "ed", "ing", "ly", "al"}


@lru_cache(maxsize=4096)
def _repair_word(word: str) -> str:
    lowered = word.lower()
    if len(lowered) < 5 or lowered in _KNOWN_WORDS or not lowered.isalpha():
        return word
    allowed = 1 if len(lowered) < 9 else 2
    for candidate in difflib.get_close_matches(lowered, VOCABULARY, n=3, cutoff=0.75):
        longer, shorter = max(candidate, lowered, key=len), min(candidate, lowered, key=len)
        if longer.startswith(shorter) and longer[len(shorter) :] in _INFLECTIONS:
            return word  # an inflection ('trial', 'returns'), not a typo
        if _edits(lowered, candidate) <= allowed:
            return candidate
    return word


def repair_typos(text: str) -> str:
    """Fix misspelt finance words ('pirce an europen call' -> 'price an european call'):
    a word of five or more letters (not upper case: tickers stay) one edit away from a
    word of the planner's vocabulary (two for long words) takes that word."""
    return re.sub(r"\b[A-Za-z][a-z]{4,}\b", lambda match: _repair_word(match.group(0)), text)


# ----------------------------------------------------------------------------- numbers
def to_number(text: str) -> float:
    return float(text.replace(",", "."))


def number_value(token: str) -> float:
    """'200k' -> 200000, '1.5m' -> 1500000, '2,5' -> 2.5."""
    match = re.fullmatch(rf"({NUMBER})\s*([kKmM]?)", token.strip())
    if not match:
        raise ValueError(token)
    scale = {"k": 1e3, "m": 1e6}.get(match.group(2).lower(), 1.0)
    return to_number(match.group(1)) * scale


_UNIT_YEARS = {
    "y": 1.0,
    "yr": 1.0,
    "yrs": 1.0,
    "year": 1.0,
    "years": 1.0,
    "m": 1 / 12,
    "mo": 1 / 12,
    "mos": 1 / 12,
    "month": 1 / 12,
    "months": 1 / 12,
    "w": 7 / 365,
    "wk": 7 / 365,
    "wks": 7 / 365,
    "week": 7 / 365,
    "weeks": 7 / 365,
    "d": 1 / 365,
    "day": 1 / 365,
    "days": 1 / 365,
}
# Trading days in a calendar unit (windows, lookbacks, VaR horizons).
TRADING_DAYS = {"d": 1, "w": 5, "m": 21, "y": 252}
COMPANY_WORDS = {
    "apple": "AAPL",
    "amd": "AMD",
    "bank of america": "BAC",
    "best buy": "BBY",
    "chevron": "CVX",
    "general electric": "GE",
    "home depot": "HD",
    "johnson & johnson": "JNJ",
    "johnson and johnson": "JNJ",
    "jpmorgan": "JPM",
    "jp morgan": "JPM",
    "coca-cola": "KO",
    "coca cola": "KO",
    "coke": "KO",
    "eli lilly": "LLY",
    "lilly": "LLY",
    "merck": "MRK",
    "microsoft": "MSFT",
    "pepsico": "PEP",
    "pepsi": "PEP",
    "pfizer": "PFE",
    "procter": "PG",
    "range resources": "RRC",
    "unitedhealth": "UNH",
    "walmart": "WMT",
    "exxon": "XOM",
    "s&p 500": "SPX",
    "s&p500": "SPX",
    "s&p": "SPX",
    "sp500": "SPX",
    "sp 500": "SPX",
    "the index": "SPX",
    "the market": "SPX",
    "real gdp": "MACRO:realgdp",
    "gdp": "MACRO:realgdp",
    "inflation": "MACRO:infl",
    "unemployment rate": "MACRO:unemp",
    "unemployment": "MACRO:unemp",
    "t-bill rate": "MACRO:tbilrate",
    "t-bill": "MACRO:tbilrate",
    "money supply": "MACRO:m1",
}
# Upper-case words that look like tickers but are finance vocabulary.
NOT_TICKERS = {
    "GARCH", "EWMA", "ATM", "OTM", "ITM", "MC", "ETF", "PNL", "YTD", "MTD", "ROI", "CAPM",
    "ID", "OK", "US", "USA", "EUR", "GDP", "CPI", "IC", "RMSE", "MAE", "OLS", "SVM", "KNN",
    "LSTM", "XGB", "PCA", "ES", "TA", "HFT", "BPS", "BP", "DSR", "MSE", "LDA", "QDA", "NB",
    "GP", "MLP", "RF", "GBT", "VAR", "CVAR", "RSI", "SMA", "EMA", "MACD", "ATR", "OBV",
    "HRP", "ROC", "AUC", "CAGR", "ML", "GBM", "USD", "IV", "PUT", "CALL", "CSV", "FRED",
    "API", "AI", "MA", "CV", "VS", "VOL", "STD", "MAX", "MIN", "AVG", "PE", "EPS", "IPO",
    "NAV", "YOY", "QOQ", "DD", "FX", "HV", "RV", "SR", "PLS", "EW", "LS", "TSMOM", "ARIMA",
    "OHLC", "OHLCV", "BS", "BSM", "CRR", "PV", "NPV", "IRR", "PDF", "CDF", "KPI", "SVC",
    "SVR", "HGB", "LGBM", "TPE", "R2", "ESG", "CEO", "UK", "EU", "AM", "PM", "ASAP", "FYI",
    "IS", "OOS", "WF", "SD", "VWAP", "ADV", "EOD", "EOM", "LO",
}  # fmt: skip
# Lower-case tickers an analyst types ("aapl"): bundled symbols that are not English words.
_LOWER_TICKERS = {
    "aapl", "msft", "jpm", "xom", "cvx", "bac", "bby", "jnj", "lly", "mrk", "pfe", "rrc",
    "unh", "wmt", "spx", "tsla", "nvda", "amzn", "googl", "goog",
}  # fmt: skip


def known_symbols() -> set[str]:
    from engine.data.bundled import MACRO_DESCRIPTIONS, SPX_ALIASES, STOCK_NAMES

    return set(STOCK_NAMES) | SPX_ALIASES | {f"MACRO:{name}".upper() for name in MACRO_DESCRIPTIONS}


@dataclass(frozen=True)
class SymbolMention:
    start: int
    end: int
    symbol: str


def find_symbols(text: str) -> list[SymbolMention]:
    """Every ticker, company name or macro series mentioned, in order, with its span."""
    return list(_find_symbols(text))


@lru_cache(maxsize=512)
def _find_symbols(text: str) -> tuple[SymbolMention, ...]:
    from engine.data.bundled import MACRO_DESCRIPTIONS, resolve_symbol

    found: list[SymbolMention] = []
    lowered = text.lower()
    for phrase, symbol in COMPANY_WORDS.items():
        if phrase not in lowered:
            continue
        for match in re.finditer(rf"(?<![\w&]){re.escape(phrase)}(?![\w&])", lowered):
            found.append(SymbolMention(match.start(), match.end(), symbol))
    for match in re.finditer(r"\bmacro:\s*(\w+)", lowered):
        found.append(SymbolMention(match.start(), match.end(), f"MACRO:{match.group(1)}"))
    for name in MACRO_DESCRIPTIONS:
        if name not in lowered:
            continue
        for match in re.finditer(rf"(?<!:)\b{re.escape(name)}\b", lowered):
            if len(name) > 3:  # 'pop', 'cpi', 'm1' are words or FRED ids, not these series
                found.append(SymbolMention(match.start(), match.end(), f"MACRO:{name}"))
    known = known_symbols()
    for match in re.finditer(r"(?<![\w:$])\^?[A-Za-z][A-Za-z.&]{0,5}\b", text):
        word = match.group(0).rstrip(".")
        upper = word.upper()
        if upper in NOT_TICKERS or upper.lstrip("^") in NOT_TICKERS:
            continue
        if word.isupper() or upper in {"SPX", "^GSPC"} or word in _LOWER_TICKERS:
            if upper in known:
                resolved = resolve_symbol(word) or upper
                found.append(SymbolMention(match.start(), match.start() + len(word), resolved))
            elif (
                (word.isupper() or word in _LOWER_TICKERS) and 1 < len(word) <= 5 and word.isalpha()
            ):
                # unknown ticker: let the action say so
                found.append(SymbolMention(match.start(), match.start() + len(word), upper))
    found.sort(key=lambda mention: (mention.start, -(mention.end - mention.start)))
    kept: list[SymbolMention] = []
    for mention in found:
        if kept and mention.start < kept[-1].end:
            continue  # 's&p 500' and 's&p' at the same place: the longer one
        kept.append(mention)
    return tuple(kept)


def extract_symbols(text: str) -> list[str]:
    """Tickers in the order mentioned: explicit tickers, company names, macro series.
    Their words are marked used."""
    ordered: list[str] = []
    for mention in find_symbols(text):
        take(mention.start, mention.end, text)
        if mention.symbol not in ordered:
            ordered.append(mention.symbol)
    return ordered


def _percent(value: float, unit: str) -> float:
    unit = unit.lower()
    if unit in ("bps", "bp"):
        return value / 10_000
    return value / 100 if unit in ("%", "percent", "pct") or abs(value) > 1 else value


def extract_percent_after(text: str, keywords: tuple[str, ...]) -> float | None:
    """The number following (or, with a '%', preceding) one of ``keywords``; '%' or a
    number above 1 means percent ('vol 20%', 'sigma 0.2', '25% vol', 'vol of 30')."""
    after = [
        rf"\b{keyword}\w*\b(?:\s+(?:of|at|is|=|:|to|around|about))?\s*(?:=|:)?\s*"
        rf"({NUMBER})\s*(%|percent|pct|bps)?(?![\d/])"
        for keyword in keywords
    ]
    before = [  # "25% vol", "5 percent rate"
        rf"({NUMBER})\s*(%|percent|pct)\s+(?:annual\w*\s+)?{keyword}\w*\b" for keyword in keywords
    ]
    match = search_any(after + before, text)
    if not match:
        return None
    return _percent(to_number(match.group(1)), match.group(2) or "")


def extract_number_after(text: str, keywords: tuple[str, ...]) -> float | None:
    match = search_any(
        (
            rf"\b{keyword}\w*\b(?:\s+(?:price|of|at|is|=|:|window|period))*"
            rf"\s*(?:=|:)?\s*\$?({NUMBER})(?![\d%])"
            for keyword in keywords
        ),
        text,
    )
    return to_number(match.group(1)) if match else None


_DURATION_UNITS = "|".join(sorted(_UNIT_YEARS, key=len, reverse=True))
DURATION = rf"({NUMBER})\s*-?\s*({_DURATION_UNITS})\b"


def extract_duration_years(text: str) -> float | None:
    """'6 months', '1y', '90 days', '2 years', '6m' -> years (the first unused one)."""
    match = search_any([DURATION], text)
    if not match:
        return None
    return to_number(match.group(1)) * _UNIT_YEARS[match.group(2).lower()]


def trading_days(value: float, unit: str) -> int:
    """A span in trading days: '6 month' -> 126, '1 year' -> 252, '2 weeks' -> 10."""
    return int(round(value * TRADING_DAYS[unit.lower()[0]]))


def extract_window_days(text: str, keywords: tuple[str, ...] = ()) -> int | None:
    """'20-day', '50 day', 'window 30', '6 month lookback' -> trading days."""
    for keyword in keywords:
        value = extract_number_after(text, (keyword,))
        if value is not None:
            return int(value)
    match = search_any(
        [rf"({NUMBER})\s*-?\s*(?:trading\s+)?(days?|d|weeks?|months?|years?|yrs?)\b"], text
    )
    if not match:
        return None
    return trading_days(to_number(match.group(1)), match.group(2))


def extract_pair(text: str) -> tuple[int, int] | None:
    """'20/50', '20 and 50', '20-50 day' -> (fast, slow)."""
    match = search_any(
        [
            r"\b(\d{1,3})\s*(?:/|and|vs\.?|-|&)\s*(\d{1,3})\b(?!\s*%)",
            r"(?<=sma|ema)\s+(\d{1,3})\s*,?\s+(\d{1,3})\b(?!\s*%)",
        ],
        text,
    )
    if match:
        fast, slow = int(match.group(1)), int(match.group(2))
        return (min(fast, slow), max(fast, slow)) if fast != slow else None
    return None


def extract_bps(text: str, keywords: tuple[str, ...] = ()) -> float | None:
    """'5bp', '10 bps', '2 basis points' (next to one of ``keywords`` when given)."""
    unit = r"(?:bps?|basis[- ]points?|bips)\b"
    if keywords:
        words = "|".join(keywords)
        match = search_any(
            [
                rf"({NUMBER})\s*{unit}\s*(?:of\s+|in\s+|for\s+)?(?:\w+\s+)?(?:{words})",
                rf"(?:{words})\w*\s*(?:of|at|=|:)?\s*({NUMBER})\s*{unit}",
            ],
            text,
        )
    else:
        match = search_any([rf"({NUMBER})\s*{unit}"], text)
    return to_number(match.group(1)) if match else None


# ------------------------------------------------------------------------------ dates
@dataclass(frozen=True)
class DateRange:
    start: str | None
    end: str | None
    # "over the last 3 years": counted back from the end of the data (see relative_range)
    last: tuple[float, str] | None = None


_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})


def extract_dates(text: str) -> DateRange:
    """ISO dates or years: 'from 2015 to 2020', 'since 2010-03-01', 'until 2019',
    'in 2019', 'during 2008', '2000-2018'; 'over the last 3 years', 'past 6 months',
    'past year', 'YTD' are relative (resolved against the data by the planner)."""

    def normalise(token: str, is_end: bool) -> str:
        if re.fullmatch(r"\d{4}", token):
            return f"{token}-12-31" if is_end else f"{token}-01-01"
        return token

    date_token = r"((?:19|20)\d{2}-\d{2}-\d{2}|(?:19|20)\d{2})(?!\d|-\d\d-)"
    relative = search(
        r"\b(?:over|in|for|during)?\s*(?:the\s+)?(?:last|past|previous|trailing|recent)\s+"
        r"(\d+(?:\.\d+)?|one|two|three|four|five|six|ten|twelve)?\s*"
        r"(years?|yrs?|y|months?|mos?|weeks?|days?)\b",
        text,
    )
    if relative:
        words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10,
                 "twelve": 12}  # fmt: skip
        amount = relative.group(1)
        count = float(words.get(amount.lower(), 0) or amount) if amount else 1.0
        return DateRange(None, None, last=(count, relative.group(2).lower()[0]))
    if search(r"\b(?:ytd|year[- ]to[- ]date)\b", text):
        return DateRange(None, None, last=(0, "ytd"))
    between = search(
        rf"\b(?:from|between)\s+{date_token}\s+(?:to|and|until|till|through|thru|-|–)\s+"
        rf"{date_token}",
        text,
    )
    if between:
        return DateRange(normalise(between.group(1), False), normalise(between.group(2), True))
    span = search(rf"\b{date_token}\s*(?:-|–|to|through|thru|until|till)\s*{date_token}", text)
    if span:
        return DateRange(normalise(span.group(1), False), normalise(span.group(2), True))
    start = search(rf"\b(?:since|from|after|starting(?:\s+in)?)\s+{date_token}", text)
    end = search(rf"\b(?:until|to|through|before|till|up to)\s+{date_token}", text)
    if start or end:
        return DateRange(
            normalise(start.group(1), False) if start else None,
            normalise(end.group(1), True) if end else None,
        )
    only_year = search(rf"\b(?:in|during|for|of|over)\s+(?:the\s+year\s+)?{date_token}", text)
    if only_year is None:  # a bare year ('SPX 2017'), not an id, seed or price
        for match in re.finditer(
            rf"(?<![\d.,/$#]){date_token}(?!\s*(?:%|bps?|days?|trials|paths|steps|k\b))", text
        ):
            before = text[: match.start()].split()[-1:] or [""]
            if before[0].lower().rstrip(":=#") in _NOT_A_YEAR or not _tracker_free(match):
                continue
            only_year = match
            take(*match.span(), text)
            break
    if only_year:
        year = only_year.group(1)
        if len(year) == 4:
            return DateRange(f"{year}-01-01", f"{year}-12-31")
        return DateRange(year, None)
    return DateRange(None, None)


_NOT_A_YEAR = {
    "seed", "trial", "trials", "goal", "job", "dataset", "table", "strike", "spot", "k", "s",
    "price", "priced", "paths", "steps", "conversation", "version", "v", "id", "number", "no",
    "window", "lookback", "at", "of", "above", "below", "under", "over",
}  # fmt: skip


def _tracker_free(match: re.Match[str]) -> bool:
    tracker = _TRACKER.get()
    return tracker is None or tracker.free(*match.span())


def relative_range(last: tuple[float, str], data_end: dt.date) -> tuple[str, str]:
    """'last 3 years' ending at ``data_end`` -> (start, end) as ISO dates."""
    count, unit = last
    if unit == "ytd":
        return dt.date(data_end.year, 1, 1).isoformat(), data_end.isoformat()
    if unit in ("y", "m"):
        months = int(round(count * (12 if unit == "y" else 1)))
        year, month = divmod(data_end.month - 1 - months, 12)
        year += data_end.year
        month += 1
        day = min(data_end.day, calendar.monthrange(year, month)[1])
        start = dt.date(year, month, day)
    else:
        start = data_end - dt.timedelta(days=count * (7 if unit == "w" else 1))
    return start.isoformat(), data_end.isoformat()


# -------------------------------------------------------------------------- leftovers
# Requests for things no action does: the planner refuses them instead of answering a
# different question (a vanilla price for a barrier option is a confident wrong number).
UNSUPPORTED = (
    (r"\bbarrier\b|knock[- ]?(?:out|in)\b|\bup[- ]and[- ](?:out|in)\b", "barrier options"),
    (r"\basian\b", "Asian options"),
    (r"\bdigital\b|\bbinary option", "digital options"),
    (r"\bbermudan\b", "Bermudan options"),
    (r"\bpairs?[- ]trad\w*|\bcointegrat\w*|\bstat(?:istical)?[- ]arb\w*", "pairs trading"),
)
# Constraints no action takes: named unless an extraction used them.
HARD_CONSTRAINTS = (
    r"\bturnover\b|\bleverage\w*|\bsectors?\b|\bindustr(?:y|ies)\b|\bexclud\w*|"
    r"\brebalanc\w*|\bstop[- ]?loss\b|\btake[- ]profit\b|\btrailing stop\b|\btax\w*|"
    r"\bmargin\b|\bposition[- ]siz\w*|\bvol(?:atility)?[- ]target\w*"
)
# Words that bound a number ("at most 30%"): understood when that number is used.
CONSTRAINT_WORDS = (
    rf"{HARD_CONSTRAINTS}|\bwithout\b|\bno more than\b|\bat most\b|\bat least\b|"
    r"\bcap(?:ped)?\b|\blimit\w*|\bmax(?:imum)?\b|\bmin(?:imum)?\b|"
    r"\bno (?:stock|name|asset|position|holding|single)\w*\b"
)


def unsupported(text: str) -> list[str]:
    return [name for pattern, name in UNSUPPORTED if re.search(pattern, text, re.I)]


@dataclass(frozen=True)
class Leftover:
    start: int
    end: int
    kind: str  # number | symbol | constraint

    def quote(self, text: str) -> str:
        """The leftover with a little context: '40%' in 'no stock above 40%'."""
        piece = text[self.start : self.end].strip()
        before = text[: self.start].split()[-3:]
        after = text[self.end :].split()[:1] if self.kind != "constraint" else []
        context = " ".join([*before, piece, *after]).strip(" ,.;:?!")
        return f"'{piece}'" + (f" (in '{context}')" if context != piece else "")


def salient_spans(text: str) -> list[Leftover]:
    """What a request states that must be used or named: numbers (with their unit),
    tickers and company names, constraint words."""
    spans: list[Leftover] = []
    for match in re.finditer(
        rf"(?<![\w.]){NUMBER}(?:\s*(?:%|bps?\b|basis points?|[kKmM]\b))?", text
    ):
        spans.append(Leftover(match.start(), match.end(), "number"))
    for mention in find_symbols(text):
        spans.append(Leftover(mention.start, mention.end, "symbol"))
    for match in re.finditer(CONSTRAINT_WORDS, text, re.I):
        spans.append(Leftover(match.start(), match.end(), "constraint"))
    return sorted(spans, key=lambda span: span.start)
