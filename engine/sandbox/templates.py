"""Offline creation of dynamic actions: parameterised templates that write the same kind
of source Claude would propose (one ``run(data, **params)`` over a prices frame).

Templates
---------
``rolling_stat``   rolling mean, std, z-score or quantile of prices or returns.
``formula``        a custom indicator from a formula over columns, e.g.
                   ``(AAPL - mean(AAPL, 20)) / std(AAPL, 20)`` or
                   ``ema(price, 12) - ema(price, 26)``.
``pair``           ratio, spread or log-spread of two symbols, optionally as a rolling z-score.
``ensemble``       a weighted ensemble of momentum, mean-reversion, moving-average-cross and
                   RSI signals, each scaled to [-1, 1].
``risk``           a risk measure over a rolling window: volatility, VaR, CVaR, max drawdown,
                   downside deviation, or the drawdown series.

Every generated source still goes through the validator and the sandbox like any other.
The window and similar settings become declared parameters of ``run`` (with the chosen
values as defaults), so a saved action can be re-run with other values.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.actions.base import ActionError

TEMPLATES = ("rolling_stat", "formula", "pair", "ensemble", "risk")


@dataclass(frozen=True)
class Generated:
    """A template's output: a suggested name, a description and the source."""

    name: str
    description: str
    source: str
    test_symbols: list[str]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RollingStatOptions(_Options):
    stat: Literal["mean", "std", "zscore", "quantile", "median", "min", "max"] = "zscore"
    window: int = Field(20, ge=2, le=2520)
    on: Literal["price", "returns", "log_returns"] = "price"
    q: float = Field(0.5, gt=0, lt=1, description="quantile level when stat='quantile'")


class FormulaOptions(_Options):
    formula: str = Field(..., min_length=1, max_length=500)


class PairOptions(_Options):
    symbol_a: str = Field(..., min_length=1, max_length=32)
    symbol_b: str = Field(..., min_length=1, max_length=32)
    mode: Literal["ratio", "spread", "log_spread"] = "ratio"
    hedge_ratio: float = Field(1.0, ge=-100, le=100)
    zscore_window: int = Field(0, ge=0, le=2520, description="0 = no z-score")


class SignalSpec(_Options):
    signal: Literal["momentum", "mean_reversion", "ma_cross", "rsi"]
    weight: float = Field(1.0, ge=-10, le=10)
    window: int = Field(20, ge=2, le=500)
    slow_window: int = Field(50, ge=3, le=1000, description="ma_cross only")


class EnsembleOptions(_Options):
    signals: list[SignalSpec] = Field(
        default_factory=lambda: [
            SignalSpec(signal="momentum", weight=0.5, window=60),
            SignalSpec(signal="mean_reversion", weight=0.3, window=20),
            SignalSpec(signal="ma_cross", weight=0.2, window=20, slow_window=50),
        ],
        min_length=1,
        max_length=8,
    )

    @field_validator("signals")
    @classmethod
    def _distinct(cls, signals: list[SignalSpec]) -> list[SignalSpec]:
        kinds = [s.signal for s in signals]
        if len(set(kinds)) != len(kinds):
            raise ValueError("use each signal kind once")
        if not any(s.weight for s in signals):
            raise ValueError("at least one weight must be non-zero")
        return signals


class RiskOptions(_Options):
    measure: Literal[
        "volatility", "var", "cvar", "max_drawdown", "downside_deviation", "drawdown"
    ] = "volatility"
    window: int = Field(63, ge=5, le=2520)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    annualize: bool = True


OPTION_MODELS: dict[str, type[_Options]] = {
    "rolling_stat": RollingStatOptions,
    "formula": FormulaOptions,
    "pair": PairOptions,
    "ensemble": EnsembleOptions,
    "risk": RiskOptions,
}

TEMPLATE_HELP = {
    "rolling_stat": "rolling mean/std/z-score/quantile/median/min/max of prices or returns "
    "(options: stat, window, on=price|returns|log_returns, q)",
    "formula": "a custom indicator from a formula over columns (option: formula), e.g. "
    "'(AAPL - mean(AAPL, 20)) / std(AAPL, 20)' or 'ema(price, 12) - ema(price, 26)'",
    "pair": "ratio, spread or log-spread of two symbols, optionally as a rolling z-score "
    "(options: symbol_a, symbol_b, mode, hedge_ratio, zscore_window)",
    "ensemble": "weighted ensemble of signals scaled to [-1, 1] (option: signals, a list of "
    "{signal: momentum|mean_reversion|ma_cross|rsi, weight, window, slow_window})",
    "risk": "a risk measure over a rolling window (options: measure=volatility|var|cvar|"
    "max_drawdown|downside_deviation|drawdown, window, confidence, annualize)",
}


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = "dyn_" + slug
    return slug[:60]


def _header(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9 _.,:;()+\-*/^%=<>'\[\]]", " ", text)
    return f'"""{safe} (generated from a template)."""\n'


# ---------------------------------------------------------------------- rolling_stat


def rolling_stat(options: RollingStatOptions) -> Generated:
    stat, on = options.stat, options.on
    lines = [
        _header(f"Rolling {stat} of {on.replace('_', ' ')} over a window"),
        "import numpy as np",
        "import pandas as pd",
        "",
        "",
        f'def run(data, window: int = {options.window}, on: str = "{on}"'
        + (f", q: float = {options.q!r}" if stat == "quantile" else "")
        + "):",
        '    if on == "returns":',
        "        series = data.pct_change()",
        '    elif on == "log_returns":',
        "        series = np.log(data).diff()",
        "    else:",
        "        series = data",
        "    rolling = series.rolling(window, min_periods=window)",
    ]
    body = {
        "mean": "    return rolling.mean()",
        "std": "    return rolling.std()",
        "median": "    return rolling.median()",
        "min": "    return rolling.min()",
        "max": "    return rolling.max()",
        "quantile": "    return rolling.quantile(q)",
        "zscore": "    return (series - rolling.mean()) / rolling.std()",
    }[stat]
    lines.append(body)
    source = "\n".join(lines) + "\n"
    return Generated(
        f"rolling_{stat}_{on}_{options.window}",
        f"Rolling {options.window}-day {stat} of each symbol's {on.replace('_', ' ')}.",
        source,
        ["SPX"],
    )


# --------------------------------------------------------------------------- formula

FORMULA_FUNCTIONS: dict[str, tuple[int, str]] = {
    # name: (number of arguments, helper source)
    "mean": (2, "def mean(x, n):\n    return x.rolling(int(n), min_periods=int(n)).mean()\n"),
    "std": (2, "def std(x, n):\n    return x.rolling(int(n), min_periods=int(n)).std()\n"),
    "rmin": (2, "def rmin(x, n):\n    return x.rolling(int(n), min_periods=int(n)).min()\n"),
    "rmax": (2, "def rmax(x, n):\n    return x.rolling(int(n), min_periods=int(n)).max()\n"),
    "rsum": (2, "def rsum(x, n):\n    return x.rolling(int(n), min_periods=int(n)).sum()\n"),
    "zscore": (
        2,
        "def zscore(x, n):\n    r = x.rolling(int(n), min_periods=int(n))\n"
        "    return (x - r.mean()) / r.std()\n",
    ),
    "ema": (2, "def ema(x, n):\n    return x.ewm(span=n, adjust=False).mean()\n"),
    "shift": (2, "def shift(x, n):\n    return x.shift(int(n))\n"),
    "diff": (2, "def diff(x, n):\n    return x.diff(int(n))\n"),
    "pct_change": (2, "def pct_change(x, n):\n    return x.pct_change(int(n))\n"),
    "log": (1, "def log(x):\n    return np.log(x)\n"),
    "exp": (1, "def exp(x):\n    return np.exp(x)\n"),
    "sqrt": (1, "def sqrt(x):\n    return np.sqrt(x)\n"),
    "abs": (1, "def absolute(x):\n    return np.abs(x)\n"),
    "sign": (1, "def sign(x):\n    return np.sign(x)\n"),
}
_RENAMED = {"abs": "absolute"}
_FORMULA_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


def _formula_error(message: str) -> ActionError:
    functions = ", ".join(f"{name}(x{', n' if n == 2 else ''})" for name, (n, _) in
                          FORMULA_FUNCTIONS.items())  # fmt: skip
    return ActionError(
        f"Formula: {message}. Use symbols (AAPL), `price` for every column, numbers, "
        f"+ - * / ** and the functions {functions}; col('BRK.B') names other columns."
    )


class _FormulaRewriter(ast.NodeTransformer):
    def __init__(self) -> None:
        self.symbols: list[str] = []
        self.uses_price = False
        self.functions: set[str] = set()

    def generic_visit(self, node: ast.AST) -> ast.AST:
        allowed = (
            ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Call, ast.Name,
            ast.Constant, ast.Load, *_FORMULA_OPS,
        )  # fmt: skip
        if not isinstance(node, allowed):
            raise _formula_error(f"'{type(node).__name__}' is not allowed")
        return super().generic_visit(node)

    def _column(self, symbol: str) -> ast.AST:
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        return ast.Subscript(
            value=ast.Name("data", ast.Load()), slice=ast.Constant(symbol), ctx=ast.Load()
        )

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _formula_error("only numbers may appear as constants")
        if abs(node.value) > 1e12:
            raise _formula_error("number too large")
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("price", "prices", "close"):
            self.uses_price = True
            return ast.Name("data", ast.Load())
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,9}", node.id):
            raise _formula_error(f"unknown name '{node.id}' (symbols are upper case)")
        return self._column(node.id)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if not isinstance(node.op, _FORMULA_OPS):
            raise _formula_error("only + - * / ** are allowed")
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and isinstance(exponent.value, (int, float))
                and abs(exponent.value) <= 10
            ):
                raise _formula_error("exponents must be numbers between -10 and 10")
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise _formula_error("call functions by name with positional arguments")
        name = node.func.id
        if name == "col":
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Constant):
                raise _formula_error("col() takes one quoted column name")
            symbol = node.args[0].value
            if not isinstance(symbol, str) or not re.fullmatch(r"[A-Za-z0-9.:^\-_ ]{1,40}", symbol):
                raise _formula_error("col() needs a column name")
            return self._column(symbol)
        if name not in FORMULA_FUNCTIONS:
            raise _formula_error(f"unknown function '{name}'")
        arity = FORMULA_FUNCTIONS[name][0]
        if len(node.args) != arity:
            raise _formula_error(f"{name}() takes {arity} argument{'s' if arity > 1 else ''}")
        if arity == 2:
            window = node.args[1]
            if not (
                isinstance(window, ast.Constant)
                and isinstance(window.value, int)
                and not isinstance(window.value, bool)
                and 1 <= window.value <= 2520
            ):
                raise _formula_error(f"the second argument of {name}() is a whole number 1..2520")
        self.functions.add(name)
        node.args = [self.visit(arg) for arg in node.args]
        node.func = ast.Name(_RENAMED.get(name, name), ast.Load())
        return node


def formula(options: FormulaOptions) -> Generated:
    try:
        tree = ast.parse(options.formula.strip(), mode="eval")
    except SyntaxError as error:
        raise _formula_error(f"syntax error at column {error.offset}") from None
    except (ValueError, RecursionError, MemoryError):
        raise _formula_error("the formula cannot be parsed") from None
    text = ast.unparse(tree)  # canonical: no comments, normalised spacing
    rewriter = _FormulaRewriter()
    tree = ast.fix_missing_locations(rewriter.visit(tree))
    if rewriter.uses_price and rewriter.symbols:
        raise _formula_error("use either `price` (every column) or symbol names, not both")
    if not rewriter.uses_price and not rewriter.symbols:
        raise _formula_error("the formula uses no data")
    expression = ast.unparse(tree)
    helpers = "\n\n".join(FORMULA_FUNCTIONS[name][1] for name in sorted(rewriter.functions))
    source = (
        _header(f"Custom indicator: {text}")
        + "import numpy as np\nimport pandas as pd\n\n\n"
        + (helpers + "\n\n" if helpers else "")
        + "def run(data):\n"
        + f"    result = {expression}\n"
        + "    if isinstance(result, (int, float)):\n"
        + "        raise ValueError('the formula does not depend on the data')\n"
        + "    if isinstance(result, pd.Series):\n"
        + "        result = result.rename('indicator')\n"
        + "    return result\n"
    )
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    name = _slug("formula_" + "_".join(rewriter.symbols[:3] or ["price"]) + "_" + digest)
    return Generated(
        name,
        f"Custom indicator computed from the formula {text}.",
        source,
        rewriter.symbols or ["SPX"],
    )


# ------------------------------------------------------------------------------ pair


def pair(options: PairOptions) -> Generated:
    a, b = options.symbol_a.strip(), options.symbol_b.strip()
    if a == b:
        raise ActionError("A pair needs two different symbols.")
    for symbol in (a, b):
        if not re.fullmatch(r"[A-Za-z0-9.:^\-_]{1,32}", symbol):
            raise ActionError(f"'{symbol}' is not a symbol.")
    mode = options.mode
    lines = [
        _header(f"{mode.replace('_', ' ').title()} of {a} and {b}"),
        "import numpy as np",
        "import pandas as pd",
        "",
        "",
        f'def run(data, symbol_a: str = "{a}", symbol_b: str = "{b}", '
        f'mode: str = "{mode}", hedge_ratio: float = {options.hedge_ratio!r}, '
        f"zscore_window: int = {options.zscore_window}):",
        "    first = data[symbol_a]",
        "    second = data[symbol_b]",
        '    if mode == "ratio":',
        "        value = first / second",
        '    elif mode == "log_spread":',
        "        value = np.log(first) - hedge_ratio * np.log(second)",
        "    else:",
        "        value = first - hedge_ratio * second",
        "    value = value.rename(mode)",
        "    if zscore_window and zscore_window > 1:",
        "        rolling = value.rolling(zscore_window, min_periods=zscore_window)",
        '        zscore = ((value - rolling.mean()) / rolling.std()).rename("zscore")',
        "        return pd.concat([value, zscore], axis=1)",
        "    return value",
    ]
    suffix = f"_z{options.zscore_window}" if options.zscore_window else ""
    return Generated(
        _slug(f"{mode}_{a}_{b}{suffix}"),
        f"{mode.replace('_', ' ').capitalize()} of {a} and {b}"
        + (f" with its {options.zscore_window}-day z-score" if options.zscore_window else "")
        + ".",
        "\n".join(lines) + "\n",
        [a, b],
    )


# -------------------------------------------------------------------------- ensemble

_SIGNAL_CODE = {
    "momentum": ("def momentum(data, window):\n    return np.sign(data.pct_change(window))\n"),
    "mean_reversion": (
        "def mean_reversion(data, window):\n"
        "    rolling = data.rolling(window, min_periods=window)\n"
        "    zscore = (data - rolling.mean()) / rolling.std()\n"
        "    return (-zscore / 2).clip(-1, 1)\n"
    ),
    "ma_cross": (
        "def ma_cross(data, window, slow_window):\n"
        "    fast = data.rolling(window, min_periods=window).mean()\n"
        "    slow = data.rolling(slow_window, min_periods=slow_window).mean()\n"
        "    return np.sign(fast - slow)\n"
    ),
    "rsi": (
        "def rsi(data, window):\n"
        "    change = data.diff()\n"
        "    gain = change.clip(lower=0).ewm(alpha=1 / window, adjust=False).mean()\n"
        "    loss = (-change.clip(upper=0)).ewm(alpha=1 / window, adjust=False).mean()\n"
        "    strength = 100 - 100 / (1 + gain / loss)\n"
        "    return ((50 - strength) / 50).clip(-1, 1)\n"
    ),
}


def ensemble(options: EnsembleOptions) -> Generated:
    helpers = "\n\n".join(_SIGNAL_CODE[s.signal] for s in options.signals)
    arguments = []
    calls = []
    for spec in options.signals:
        kind = spec.signal
        arguments.append(f"w_{kind}: float = {spec.weight!r}")
        arguments.append(f"{kind}_window: int = {spec.window}")
        extra = ""
        if kind == "ma_cross":
            if spec.slow_window <= spec.window:
                raise ActionError("ma_cross needs slow_window > window.")
            arguments.append(f"ma_cross_slow_window: int = {spec.slow_window}")
            extra = ", ma_cross_slow_window"
        calls.append(f"        (w_{kind}, {kind}(data, {kind}_window{extra})),")
    source = (
        _header("Weighted ensemble of " + ", ".join(s.signal for s in options.signals))
        + "import numpy as np\nimport pandas as pd\n\n\n"
        + helpers
        + "\n\n"
        + "def run(\n    data,\n"
        + "".join(f"    {argument},\n" for argument in arguments)
        + "):\n"
        + "    parts = [\n"
        + "\n".join(calls)
        + "\n    ]\n"
        + "    total = sum(abs(weight) for weight, signal in parts)\n"
        + "    if total == 0:\n"
        + "        raise ValueError('all weights are zero')\n"
        + "    combined = sum(weight * signal.fillna(0) for weight, signal in parts) / total\n"
        + "    return combined.where(data.notna())\n"
    )
    return Generated(
        _slug("ensemble_" + "_".join(s.signal for s in options.signals)),
        "Weighted ensemble signal in [-1, 1] of "
        + ", ".join(f"{s.signal} ({s.weight:g})" for s in options.signals)
        + "; positive means long.",
        source,
        ["SPX"],
    )


# ------------------------------------------------------------------------------ risk

_RISK_BODY = {
    "volatility": "    value = returns.rolling(window, min_periods=window).std()\n"
    "    return value * np.sqrt(252) if annualize else value\n",
    "downside_deviation": "    downside = returns.clip(upper=0)\n"
    "    value = np.sqrt((downside**2).rolling(window, min_periods=window).mean())\n"
    "    return value * np.sqrt(252) if annualize else value\n",
    "var": "    return -returns.rolling(window, min_periods=window).quantile(1 - confidence)\n",
    "cvar": "    threshold = returns.rolling(window, min_periods=window).quantile(1 - confidence)\n"
    "    tail = returns.where(returns <= threshold)\n"
    "    return -tail.rolling(window, min_periods=1).mean().where(threshold.notna())\n",
    "max_drawdown": "    rolling = data.rolling(window, min_periods=window)\n"
    "    return rolling.apply(window_drawdown, raw=True)\n",
    "drawdown": "    return data / data.cummax() - 1\n",
}


def risk(options: RiskOptions) -> Generated:
    measure = options.measure
    body = _RISK_BODY[measure]
    helper = ""
    if measure == "max_drawdown":
        helper = (
            "def window_drawdown(values):\n"
            "    peak = np.maximum.accumulate(values)\n"
            "    return float(np.min(values / peak - 1))\n\n\n"
        )
    source = (
        _header(f"Rolling {measure.replace('_', ' ')} of each symbol")
        + "import numpy as np\nimport pandas as pd\n\n\n"
        + helper
        + f"def run(data, window: int = {options.window}, "
        + f"confidence: float = {options.confidence!r}, annualize: bool = {options.annualize}):\n"
        + "    returns = data.pct_change()\n"
        + body
    )
    what = {
        "volatility": "volatility of daily returns"
        + (" (annualised)" if options.annualize else ""),
        "downside_deviation": "downside deviation of daily returns",
        "var": f"historical {options.confidence:.0%} value at risk of daily returns (a loss, >0)",
        "cvar": f"historical {options.confidence:.0%} expected shortfall of daily returns",
        "max_drawdown": "maximum drawdown within the window (<= 0)",
        "drawdown": "drawdown from the running peak (<= 0)",
    }[measure]
    window = "" if measure == "drawdown" else f"_{options.window}"
    return Generated(
        f"rolling_{measure}{window}" if measure != "drawdown" else "drawdown_series",
        f"Rolling {options.window}-day {what}." if measure != "drawdown" else f"The {what}.",
        source,
        ["SPX"],
    )


# Each renderer takes its own options model; parse_options returns the one for the template.
RENDERERS: dict[str, Callable[[Any], Generated]] = {
    "rolling_stat": rolling_stat,
    "formula": formula,
    "pair": pair,
    "ensemble": ensemble,
    "risk": risk,
}


def parse_options(template: str, options: dict[str, Any] | None) -> _Options:
    if template not in OPTION_MODELS:
        raise ActionError(f"Unknown template '{template}'. Templates: {', '.join(TEMPLATES)}.")
    try:
        return OPTION_MODELS[template].model_validate(options or {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'options'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise ActionError(f"Invalid options for template '{template}' — {problems}") from None


def render(template: str, options: dict[str, Any] | None = None) -> Generated:
    """The source for ``template`` with ``options`` (raises ActionError when invalid)."""
    parsed = parse_options(template, options)
    return RENDERERS[template](parsed)
