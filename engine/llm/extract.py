"""Pull structured values out of an analyst's sentence, for the offline planner.

Conventions match the finance actions: percentages become decimals (5% -> 0.05),
maturities are years (6 months -> 0.5, 30 days -> 30/365), windows are trading days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
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
    "week": 7 / 365,
    "weeks": 7 / 365,
    "d": 1 / 365,
    "day": 1 / 365,
    "days": 1 / 365,
}
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
    "the index": "SPX",
    "real gdp": "MACRO:realgdp",
    "gdp": "MACRO:realgdp",
    "inflation": "MACRO:infl",
    "unemployment": "MACRO:unemp",
    "t-bill rate": "MACRO:tbilrate",
    "money supply": "MACRO:m1",
}
# Upper-case words that look like tickers but are finance vocabulary.
NOT_TICKERS = {
    "GARCH",
    "EWMA",
    "ATM",
    "OTM",
    "ITM",
    "MC",
    "ETF",
    "PNL",
    "YTD",
    "MTD",
    "ROI",
    "CAPM",
    "ID",
    "OK",
    "US",
    "USA",
    "EUR",
    "GDP",
    "CPI",
    "IC",
    "RMSE",
    "MAE",
    "OLS",
    "SVM",
    "KNN",
    "LSTM",
    "XGB",
    "PCA",
    "ES",
    "TA",
    "HFT",
    "BPS",
    "DSR",
    "MSE",
    "LDA",
    "QDA",
    "NB",
    "GP",
    "MLP",
    "RF",
    "GBT",
    "VAR",
    "CVAR",
    "RSI",
    "SMA",
    "EMA",
    "MACD",
    "ATR",
    "OBV",
    "HRP",
    "ROC",
    "AUC",
    "CAGR",
    "ML",
    "GBM",
    "USD",
    "IV",
    "PUT",
    "CALL",
    "CSV",
    "FRED",
    "API",
    "AI",
}


def to_number(text: str) -> float:
    return float(text.replace(",", "."))


def known_symbols() -> set[str]:
    from engine.data.bundled import MACRO_DESCRIPTIONS, SPX_ALIASES, STOCK_NAMES

    return set(STOCK_NAMES) | SPX_ALIASES | {f"MACRO:{name}".upper() for name in MACRO_DESCRIPTIONS}


def extract_symbols(text: str) -> list[str]:
    """Tickers in the order mentioned: explicit tickers, company names, macro series."""
    from engine.data.bundled import MACRO_DESCRIPTIONS, resolve_symbol

    found: list[tuple[int, str]] = []
    lowered = text.lower()
    for phrase, symbol in COMPANY_WORDS.items():
        for match in re.finditer(rf"(?<![\w&]){re.escape(phrase)}(?![\w&])", lowered):
            found.append((match.start(), symbol))
    for match in re.finditer(r"\bmacro:\s*(\w+)", lowered):
        found.append((match.start(), f"MACRO:{match.group(1)}"))
    for name in MACRO_DESCRIPTIONS:
        for match in re.finditer(rf"\b{re.escape(name)}\b", lowered):
            found.append((match.start(), f"MACRO:{name}"))
    known = known_symbols()
    for match in re.finditer(r"(?<![\w:])\^?[A-Za-z][A-Za-z.&]{0,5}\b", text):
        word = match.group(0)
        if word.upper() in NOT_TICKERS:
            continue
        if word.isupper() or word.upper() in {"SPX", "^GSPC"}:
            if word.upper() in known:
                found.append((match.start(), resolve_symbol(word) or word.upper()))
            elif word.isupper() and 1 < len(word) <= 5 and word.isalpha():
                found.append((match.start(), word))  # unknown ticker: let the action say so
    ordered: list[str] = []
    for _, symbol in sorted(found):
        if symbol not in ordered:
            ordered.append(symbol)
    return ordered


def extract_percent_after(text: str, keywords: tuple[str, ...]) -> float | None:
    """The number following one of ``keywords``; '%' or a number above 1 means percent."""
    for keyword in keywords:
        pattern = (
            rf"\b{keyword}\w*\b(?:\s+(?:of|at|is|=|:|to))?\s*(?:=|:)?\s*({NUMBER})"
            r"\s*(%|percent|pct|bps)?"
        )
        match = re.search(pattern, text, re.I)
        if match:
            value = to_number(match.group(1))
            unit = (match.group(2) or "").lower()
            if unit == "bps":
                return value / 10_000
            return value / 100 if unit in ("%", "percent", "pct") or abs(value) > 1 else value
    for keyword in keywords:  # "25% vol", "5 percent rate"
        match = re.search(
            rf"({NUMBER})\s*(%|percent|pct)\s+(?:annual\w*\s+)?{keyword}\w*\b", text, re.I
        )
        if match:
            return to_number(match.group(1)) / 100
    return None


def extract_number_after(text: str, keywords: tuple[str, ...]) -> float | None:
    for keyword in keywords:
        pattern = (
            rf"\b{keyword}\w*\b(?:\s+(?:price|of|at|is|=|:|window|period))*"
            rf"\s*(?:=|:)?\s*\$?({NUMBER})"
        )
        match = re.search(pattern, text, re.I)
        if match:
            return to_number(match.group(1))
    return None


def extract_duration_years(text: str) -> float | None:
    """'6 months', '1y', '90 days', '2 years' -> years."""
    units = "|".join(sorted(_UNIT_YEARS, key=len, reverse=True))
    match = re.search(rf"({NUMBER})\s*-?\s*({units})\b", text, re.I)
    if not match:
        return None
    return to_number(match.group(1)) * _UNIT_YEARS[match.group(2).lower()]


def extract_window_days(text: str, keywords: tuple[str, ...] = ()) -> int | None:
    """'20-day', '50 day', 'window 30' -> trading days."""
    for keyword in keywords:
        value = extract_number_after(text, (keyword,))
        if value is not None:
            return int(value)
    match = re.search(rf"({NUMBER})\s*-?\s*(?:trading\s+)?days?\b", text, re.I)
    return int(to_number(match.group(1))) if match else None


def extract_pair(text: str) -> tuple[int, int] | None:
    """'20/50', '20 and 50', '20-50 day' -> (fast, slow)."""
    match = re.search(r"\b(\d{1,3})\s*(?:/|and|vs\.?|-)\s*(\d{1,3})\b", text, re.I)
    if match:
        fast, slow = int(match.group(1)), int(match.group(2))
        return (min(fast, slow), max(fast, slow)) if fast != slow else None
    return None


@dataclass(frozen=True)
class DateRange:
    start: str | None
    end: str | None


def extract_dates(text: str) -> DateRange:
    """ISO dates or years: 'from 2015 to 2020', 'since 2010-03-01', 'until 2019'."""

    def normalise(token: str, is_end: bool) -> str:
        if re.fullmatch(r"\d{4}", token):
            return f"{token}-12-31" if is_end else f"{token}-01-01"
        return token

    date_token = r"(\d{4}-\d{2}-\d{2}|\d{4})"
    between = re.search(
        rf"\b(?:from|between)\s+{date_token}\s+(?:to|and|until|-)\s+{date_token}", text, re.I
    )
    if between:
        return DateRange(normalise(between.group(1), False), normalise(between.group(2), True))
    start = re.search(rf"\b(?:since|from|after|starting)\s+{date_token}", text, re.I)
    end = re.search(rf"\b(?:until|to|through|before|till)\s+{date_token}", text, re.I)
    span = re.search(rf"\b{date_token}\s*(?:-|–|to)\s*{date_token}\b", text)
    if span and not (start or end):
        return DateRange(normalise(span.group(1), False), normalise(span.group(2), True))
    only_year = re.search(r"\bin\s+(\d{4})\b", text)
    if only_year and not (start or end):
        year = only_year.group(1)
        return DateRange(f"{year}-01-01", f"{year}-12-31")
    return DateRange(
        normalise(start.group(1), False) if start else None,
        normalise(end.group(1), True) if end else None,
    )
