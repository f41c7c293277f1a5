"""Offline planner intents for the data actions."""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, apply_dates, register_intent


def _dates(text: str, params: dict[str, Any]) -> dict[str, Any]:
    return apply_dates(text, params)


def _symbols(text: str) -> list[str]:
    symbols = extract.extract_symbols(text)
    if not symbols:
        raise MissingValue("symbols (e.g. AAPL, SPX or MACRO:realgdp)")
    return symbols


def build_load(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    if extract.mentions(r"ohlcv?|candles?\w*|volume|open.*high|bars", text):
        params["field"] = "ohlcv"
    if extract.mentions(r"polygon", text):
        params["source"] = "polygon"
    extract.mentions(r"\b(?:daily|prices?|closes?|history|historical|data)\b", text)
    return _dates(text, params)


def build_describe(text: str) -> dict[str, Any]:
    match = re.search(r"dataset\s+#?(\d+)", text, re.I)
    if match:
        return {"dataset_id": int(match.group(1))}
    return _dates(text, {"symbols": _symbols(text)})


def build_fred(text: str) -> dict[str, Any]:
    found = [
        match
        for match in re.finditer(r"\b[A-Z][A-Z0-9_]{2,29}\b", text)
        if match.group(0) not in ("FRED", "SERIES", "FROM", "GET")
    ]
    if not found:
        raise MissingValue("a FRED series id (e.g. DGS10, CPIAUCSL, UNRATE)")
    extract.take(found[0].start(), found[0].end(), text)
    extract.mentions(r"\bfred\b", text)
    return _dates(text, {"series_id": found[0].group(0)})


def build_synthetic(text: str) -> dict[str, Any]:
    """Synthetic prices; also 'simulate monte carlo paths for a stock at 100 with 20% vol'
    (one seeded path per symbol: a count of paths is left for the reply to name)."""
    params: dict[str, Any] = {}
    days = extract.search(r"(\d{2,6})\s*(?:trading\s+|business\s+)?days", text)
    if days:
        params["days"] = int(days.group(1))
    years = extract.search(r"(\d{1,2})\s*(?:years?|yrs?)\b", text)
    if years and not days:
        params["days"] = int(years.group(1)) * 252
    vol = extract.extract_percent_after(text, ("vol", "volatility", "sigma"))
    if vol is None:
        found = extract.search(r"(\d+(?:\.\d+)?)\s*(%)?\s*(?:annual\s+)?(?:vol|volatility)\b", text)
        if found:
            value = float(found.group(1))
            vol = value / 100 if found.group(2) or value > 1 else value
    if vol is not None:
        params["volatility"] = vol
    drift = extract.extract_percent_after(text, ("drift", "mu"))
    if drift is not None:
        params["drift"] = drift
    seed = extract.search(r"seed\s*(?:=|:|of)?\s*(\d+)", text)
    if seed:
        params["seed"] = int(seed.group(1))
    start = extract.search(
        r"\b(?:stock|price|spot|starting at|start(?:ing)? price(?: of)?|s0)\s*(?:at|of|=|from)?"
        r"\s*\$?(\d+(?:\.\d+)?)(?!\s*(?:%|days|paths))",
        text,
    )
    if start:
        params["start_price"] = float(start.group(1))
    if extract.mentions(r"random walk", text):
        params["model"] = "random_walk"
    extract.mentions(r"synthetic|simulat\w*|fake|\bgbm\b|geometric brownian", text)
    return params


for intent in (
    Intent(
        "list_datasets",
        (
            (r"what data|which (?:data|symbols|tickers)|list (?:the )?data", 4),
            (r"datasets?|available", 1.5),
        ),
        lambda text: {},
        "Which datasets and symbols are available?",
    ),
    Intent(
        "load_prices",
        (
            (r"\b(?:load|show|get|plot|chart|fetch|give|pull|download|grab)\b", 2),
            (r"prices?|candles?|ohlc|closes?|chart", 1.5),
            (r"history|historical", 1),
            (r"clos(?:e|ing) prices?|price (?:history|data|series)|daily (?:prices|bars)", 1.5),
        ),
        build_load,
        "Show SPX candles from 2008 to 2009",
    ),
    Intent(
        "describe_dataset",
        (
            (
                r"describe|summary statistics|summari[sz]e|missing (?:data|values)"
                r"|coverage",
                4,
            ),
        ),
        build_describe,
        "Describe the AAPL and MSFT price data since 2015",
    ),
    Intent(
        "fetch_fred_series",
        ((r"\bfred\b", 4), (r"series", 1)),
        build_fred,
        "Fetch FRED series DGS10 from 2015 to 2020",
    ),
    Intent(
        "generate_synthetic_prices",
        (
            (
                r"synthetic|simulated prices|random walk|\bgbm\b|"
                r"geometric brownian|fake (?:price|data)",
                4,
            ),
            (
                r"monte[- ]carlo (?:price )?paths|simulat\w* (?:\d+\s*[kK]?\s+)?"
                r"(?:monte[- ]carlo\s+)?(?:price\s+)?paths",
                7,
            ),
        ),
        build_synthetic,
        "Generate 1000 days of synthetic GBM prices with 25% vol, seed 7",
    ),
):
    register_intent(intent)
