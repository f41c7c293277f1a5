"""Offline planner intents for dynamic actions: requests that no built-in action fits
(rolling statistics, formulas, ratios/spreads, signal ensembles, rolling risk measures)
become ``create_dynamic_from_template`` calls; listing, testing, approving and retiring
dynamic actions by name are understood too."""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, register_intent

STATS = (
    (r"z[- ]?scores?", "zscore"),
    (r"quantile|percentile", "quantile"),
    (r"median", "median"),
    (r"standard deviation|\bstd\b|stdev", "std"),
    (r"\bmin(?:imum)?\b", "min"),
    (r"\bmax(?:imum)?\b", "max"),
    (r"\bmean\b|average", "mean"),
)
RISK_MEASURES = (
    (r"\bcvar\b|expected shortfall|conditional value at risk", "cvar"),
    (r"\bvar\b|value at risk", "var"),
    (r"downside (?:deviation|risk|vol)", "downside_deviation"),
    (r"max(?:imum)? drawdown", "max_drawdown"),
    (r"drawdown", "drawdown"),
    (r"vol(?:atility)?\b", "volatility"),
)
SIGNALS = (
    (r"momentum|trend", "momentum"),
    (r"mean[- ]reversion|revert", "mean_reversion"),
    (r"\bma[- ]cross|crossover|moving[- ]average cross", "ma_cross"),
    (r"\brsi\b|relative strength", "rsi"),
)
ACTION_NAME = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")


def _symbols(text: str) -> list[str]:
    return [s for s in extract.extract_symbols(text) if not s.startswith("MACRO:")]


def _window(text: str) -> int | None:
    return extract.extract_window_days(text, ("window", "lookback", "over"))


def _rolling_stat(text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pattern, stat in STATS:
        if re.search(pattern, text, re.I):
            options["stat"] = stat
            break
    window = _window(text)
    if window:
        options["window"] = window
    if re.search(r"log[- ]returns?", text, re.I):
        options["on"] = "log_returns"
    elif re.search(r"\breturns?\b", text, re.I):
        options["on"] = "returns"
    if options.get("stat") == "quantile":
        level = re.search(r"(\d{1,2}(?:\.\d+)?)(?:st|nd|rd|th)?\s*(?:%|percentile)", text, re.I)
        quantile = re.search(r"quantile\s*(?:of|at|=|:)?\s*(0?\.\d+)", text, re.I)
        if quantile:
            options["q"] = float(quantile.group(1))
        elif level:
            options["q"] = float(level.group(1)) / 100
    return options


def _risk(text: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pattern, measure in RISK_MEASURES:
        if re.search(pattern, text, re.I):
            options["measure"] = measure
            break
    window = _window(text)
    if window:
        options["window"] = max(window, 5)
    level = re.search(r"\b(9\d(?:\.\d+)?)\s*%", text)
    if level:
        options["confidence"] = float(level.group(1)) / 100
    if re.search(r"not annuali[sz]ed|daily vol", text, re.I):
        options["annualize"] = False
    return options


def _pair(text: str, symbols: list[str]) -> dict[str, Any]:
    if len(symbols) < 2:
        raise MissingValue("two symbols (e.g. KO and PEP)")
    options: dict[str, Any] = {"symbol_a": symbols[0], "symbol_b": symbols[1]}
    if re.search(r"log[- ]spread|log[- ]ratio", text, re.I):
        options["mode"] = "log_spread"
    elif re.search(r"\bspread\b", text, re.I):
        options["mode"] = "spread"
    else:
        options["mode"] = "ratio"
    hedge = extract.extract_number_after(text, ("hedge ratio", "beta of", "hedge"))
    if hedge is not None:
        options["hedge_ratio"] = hedge
    if re.search(r"z[- ]?score", text, re.I):
        options["zscore_window"] = _window(text) or 60
    return options


def _ensemble(text: str) -> dict[str, Any]:
    signals: list[dict[str, Any]] = []
    for pattern, kind in SIGNALS:
        match = re.search(pattern, text, re.I)
        if not match:
            continue
        spec: dict[str, Any] = {"signal": kind}
        before = text[max(0, match.start() - 12) : match.start()]
        after = text[match.end() : match.end() + 14]
        weight = re.search(r"(\d+(?:\.\d+)?)\s*(%)?\s*(?:on\s+|of\s+)?$", before)
        weight_after = re.search(r"^\s*(?:weight(?:ed)?|at|=|:)?\s*(\d+(?:\.\d+)?)\s*(%)?", after)
        found = weight or weight_after
        if found:
            value = float(found.group(1))
            spec["weight"] = value / 100 if found.group(2) or value > 1 else value
        signals.append(spec)
    if not signals:
        raise MissingValue("the signals to combine (momentum, mean reversion, MA cross, RSI)")
    return {"signals": signals}


def _formula(text: str) -> dict[str, Any]:
    match = re.search(r"formula\s*(?:is|of|:|=)?\s*[`'\"]?(.+?)[`'\"]?\s*$", text, re.I)
    if not match or not match.group(1).strip():
        raise MissingValue("the formula, e.g. (AAPL - mean(AAPL, 20)) / std(AAPL, 20)")
    return {"formula": match.group(1).strip().rstrip(".")}


def build_template(text: str) -> dict[str, Any]:
    symbols = _symbols(text)
    params: dict[str, Any] = {}
    if re.search(r"\bformula\b", text, re.I):
        template, options = "formula", _formula(text)
    elif re.search(r"ensemble|blend|combin|weighted (?:sum|mix|average) of", text, re.I):
        template, options = "ensemble", _ensemble(text)
    elif re.search(r"\bratio\b|\bspread\b", text, re.I):
        template, options = "pair", _pair(text, symbols)
    elif re.search(
        r"\bvar\b|value at risk|cvar|shortfall|drawdown|downside|volatility|\bvol\b", text, re.I
    ):
        template, options = "risk", _risk(text)
    elif re.search(r"rolling|moving|z[- ]?score|quantile|percentile|median", text, re.I):
        template, options = "rolling_stat", _rolling_stat(text)
    else:
        raise MissingValue(
            "what to compute: a rolling statistic, a formula, a ratio or spread, an "
            "ensemble of signals or a rolling risk measure"
        )
    params["template"] = template
    params["options"] = options
    if template == "pair":
        params["symbols"] = [options["symbol_a"], options["symbol_b"]]
    elif symbols and template != "formula":
        params["symbols"] = symbols
    name = re.search(r"\b(?:named|called)\s+([a-z][a-z0-9_]{2,63})\b", text)
    if name:
        params["name"] = name.group(1)
    if re.search(r"\bpreview\b|don'?t save|without saving", text, re.I):
        params["save"] = False
    return params


def _action_name(text: str) -> str:
    match = ACTION_NAME.search(text)
    if not match:
        raise MissingValue("the dynamic action's name (e.g. rolling_zscore_price_20)")
    return match.group(1)


def _version(text: str, params: dict[str, Any]) -> dict[str, Any]:
    match = re.search(r"\bv(?:ersion)?\s*(\d+)\b", text, re.I)
    if match:
        params["version"] = int(match.group(1))
    return params


def build_test(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {"name": _action_name(text)}
    symbols = _symbols(text)
    if not symbols:
        raise MissingValue("symbols to run it on (e.g. AAPL, MSFT)")
    params["symbols"] = symbols
    span = extract.extract_dates(text)
    params.update({k: v for k, v in (("start", span.start), ("end", span.end)) if v})
    return _version(text, params)


def build_name_version(text: str) -> dict[str, Any]:
    return _version(text, {"name": _action_name(text)})


for intent in (
    Intent(
        "create_dynamic_from_template",
        (
            (
                r"\b(?:create|build|make|define|write|add|new)\b[^.]*\b(?:action|indicator|"
                r"measure|signal|function|metric)\b",
                3,
            ),
            (r"\bcustom\b|dynamic action|\btemplate\b", 3),
            (r"\bformula\b", 4),
            (
                r"rolling\s+(?:[\w-]+\s+){0,2}(?:mean|average|std|standard deviation|"
                r"z[- ]?score|quantile|percentile|median|min|max)",
                2.5,
            ),
            (r"\b(?:ratio|spread)\b.*\b(?:of|between|to|and)\b", 2.5),
            (r"ensemble|weighted (?:combination|blend|mix|sum)|combin\w* .*signals", 3),
            (
                r"(?:ensemble|blend|combin\w*|mix)\b.*\b(?:momentum|mean[- ]reversion|rsi|"
                r"crossover|ma[- ]cross|signals?)\b|\b(?:momentum|mean[- ]reversion|rsi|"
                r"signals?)\b.*\b(?:ensemble|blend|combin\w*)",
                8,
            ),
            (
                r"rolling\s+(?:[\w-]+\s+){0,2}(?:var\b|value at risk|cvar|expected shortfall|"
                r"vol\b|volatility|drawdown|max drawdown|downside)",
                4,
            ),
            (r"drawdown series", 3),
        ),
        build_template,
        "Create a rolling 60-day z-score of returns for AAPL",
    ),
    Intent(
        "list_dynamic_actions",
        ((r"(?:list|show|which|what)\b.*\b(?:dynamic|custom) actions?", 6),),
        lambda text: {},
        "List the dynamic actions",
    ),
    Intent(
        "test_dynamic_action",
        ((r"\b(?:test|run|try)\b.*\b(?:dynamic|custom) action\b", 6),),
        build_test,
        "Test dynamic action rolling_zscore_price_20 on AAPL and MSFT",
    ),
    Intent(
        "approve_dynamic_action",
        ((r"\bapprove\b", 6),),
        build_name_version,
        "Approve dynamic action rolling_zscore_price_20",
    ),
    Intent(
        "retire_dynamic_action",
        ((r"\bretire\b", 6),),
        build_name_version,
        "Retire dynamic action rolling_zscore_price_20 version 1",
    ),
):
    register_intent(intent)
