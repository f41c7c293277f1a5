"""Offline planner intents for the data actions."""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, register_intent


def _dates(text: str, params: dict[str, Any]) -> dict[str, Any]:
    span = extract.extract_dates(text)
    params.update({k: v for k, v in (("start", span.start), ("end", span.end)) if v})
    return params


def _symbols(text: str) -> list[str]:
    symbols = extract.extract_symbols(text)
    if not symbols:
        raise MissingValue("symbols (e.g. AAPL, SPX or MACRO:realgdp)")
    return symbols


def build_load(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"symbols": _symbols(text)}
    if re.search(r"ohlc|candle|volume|open.*high", text, re.I):
        params["field"] = "ohlcv"
    if re.search(r"polygon", text, re.I):
        params["source"] = "polygon"
    return _dates(text, params)


def build_describe(text: str) -> dict[str, Any]:
    match = re.search(r"dataset\s+#?(\d+)", text, re.I)
    if match:
        return {"dataset_id": int(match.group(1))}
    return _dates(text, {"symbols": _symbols(text)})


def build_fred(text: str) -> dict[str, Any]:
    candidates = [
        word
        for word in re.findall(r"\b[A-Z][A-Z0-9_]{2,29}\b", text)
        if word not in ("FRED", "SERIES", "FROM", "GET")
    ]
    if not candidates:
        raise MissingValue("a FRED series id (e.g. DGS10, CPIAUCSL, UNRATE)")
    return _dates(text, {"series_id": candidates[0]})


def build_synthetic(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    days = re.search(r"(\d{2,6})\s*(?:trading\s+)?days", text, re.I)
    if days:
        params["days"] = int(days.group(1))
    vol = extract.extract_percent_after(text, ("vol", "volatility", "sigma"))
    if vol is not None:
        params["volatility"] = vol
    drift = extract.extract_percent_after(text, ("drift", "mu"))
    if drift is not None:
        params["drift"] = drift
    seed = re.search(r"seed\s*(\d+)", text, re.I)
    if seed:
        params["seed"] = int(seed.group(1))
    if re.search(r"random walk", text, re.I):
        params["model"] = "random_walk"
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
            (r"\b(?:load|show|get|plot|chart|fetch)\b", 2),
            (r"prices?|candles?|ohlc|closes?|chart", 1.5),
            (r"history|historical", 1),
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
                r"geometric brownian",
                4,
            ),
        ),
        build_synthetic,
        "Generate 1000 days of synthetic GBM prices with 25% vol, seed 7",
    ),
):
    register_intent(intent)
