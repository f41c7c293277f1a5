"""Realistic analyst functions run in the sandbox on bundled prices; their numbers are
checked against the same computation done with pandas here."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.sandbox.runner import run_source
from tests.sandbox.conftest import TEST_LIMITS


def zscore_expected(prices, window):
    returns = prices.pct_change()
    rolling = returns.rolling(window, min_periods=window)
    return (returns - rolling.mean()) / rolling.std()


def ensemble_expected(prices, w_momentum, w_reversion):
    momentum = np.sign(prices.pct_change(20))
    rolling = prices.rolling(10, min_periods=10)
    reversion = (-(prices - rolling.mean()) / rolling.std() / 2).clip(-1, 1)
    total = abs(w_momentum) + abs(w_reversion)
    return (w_momentum * momentum.fillna(0) + w_reversion * reversion.fillna(0)) / total


# name -> (source, params, expected(prices, params), kind)
ANALYST_FUNCTIONS = {
    "rolling_zscore": (
        '''
"""Rolling z-score of daily returns."""
import pandas as pd


def run(data, window: int = 20):
    returns = data.pct_change()
    rolling = returns.rolling(window, min_periods=window)
    return (returns - rolling.mean()) / rolling.std()
''',
        {"window": 30},
        lambda p, kw: zscore_expected(p, kw["window"]),
        "frame",
    ),
    "ratio_of_two_symbols": (
        """
def run(data, numerator="KO", denominator="PEP"):
    ratio = data[numerator] / data[denominator]
    return ratio.rename(f"{numerator}/{denominator}")
""",
        {"numerator": "KO", "denominator": "PEP"},
        lambda p, kw: (p["KO"] / p["PEP"]).rename("KO/PEP"),
        "series",
    ),
    "ewma_volatility": (
        """
import numpy as np


def run(data, decay=0.94, annualize=True):
    returns = np.log(data).diff()
    variance = (returns**2).ewm(alpha=1 - decay, adjust=False).mean()
    volatility = np.sqrt(variance)
    return volatility * np.sqrt(252) if annualize else volatility
""",
        {"decay": 0.97},
        lambda p, kw: (
            np.sqrt((np.log(p).diff() ** 2).ewm(alpha=1 - kw["decay"], adjust=False).mean())
            * np.sqrt(252)
        ),
        "frame",
    ),
    "drawdown_series": (
        """
def run(data):
    peak = data.cummax()
    return data / peak - 1
""",
        {},
        lambda p, kw: p / p.cummax() - 1,
        "frame",
    ),
    "weighted_signal_ensemble": (
        """
import numpy as np


def momentum(data, window):
    return np.sign(data.pct_change(window))


def reversion(data, window):
    rolling = data.rolling(window, min_periods=window)
    return (-(data - rolling.mean()) / rolling.std() / 2).clip(-1, 1)


def run(data, w_momentum=0.6, w_reversion=0.4):
    parts = [(w_momentum, momentum(data, 20)), (w_reversion, reversion(data, 10))]
    total = sum(abs(weight) for weight, signal in parts)
    return sum(weight * signal.fillna(0) for weight, signal in parts) / total
""",
        {"w_momentum": 0.7, "w_reversion": -0.3},
        lambda p, kw: ensemble_expected(p, kw["w_momentum"], kw["w_reversion"]),
        "frame",
    ),
    "sharpe_by_symbol": (
        """
import math


def run(data, risk_free=0.0):
    returns = data.pct_change().dropna(how="all")
    excess = returns - risk_free / 252
    sharpe = excess.mean() / excess.std() * math.sqrt(252)
    return {symbol: float(value) for symbol, value in sharpe.items()}
""",
        {"risk_free": 0.02},
        lambda p, kw: {
            s: float(v)
            for s, v in (
                (p.pct_change().dropna(how="all") - 0.02 / 252).mean()
                / (p.pct_change().dropna(how="all") - 0.02 / 252).std()
                * np.sqrt(252)
            ).items()
        },
        "dict",
    ),
    "return_correlation": (
        """
def run(data, first="JPM", second="KO"):
    returns = data[[first, second]].pct_change().dropna()
    return float(returns[first].corr(returns[second]))
""",
        {},
        lambda p, kw: float(p[["JPM", "KO"]].pct_change().dropna().corr().iloc[0, 1]),
        "number",
    ),
    "return_skew_scipy": (
        """
from scipy import stats


def run(data):
    returns = data.pct_change().dropna()
    return {symbol: float(stats.skew(returns[symbol])) for symbol in returns.columns}
""",
        {},
        lambda p, kw: {s: float(stats.skew(p.pct_change().dropna()[s])) for s in p.columns},
        "dict",
    ),
}


@pytest.fixture(scope="module")
def outcomes(prices):
    def one(name):
        source, params, _, _ = ANALYST_FUNCTIONS[name]
        return name, run_source(source, prices, params, limits=TEST_LIMITS)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, ANALYST_FUNCTIONS))


@pytest.mark.parametrize("name", list(ANALYST_FUNCTIONS))
def test_analyst_function_matches_pandas(name, outcomes, prices):
    _, params, expected_of, kind = ANALYST_FUNCTIONS[name]
    run = outcomes[name]
    assert run.ok, run.describe() + run.stderr
    assert run.kind == kind
    expected = expected_of(prices, params)
    if kind == "frame":
        pd.testing.assert_frame_equal(
            run.value, expected, check_freq=False, check_names=False, rtol=1e-12, atol=1e-12
        )
        assert run.value.index.equals(prices.index)
    elif kind == "series":
        pd.testing.assert_series_equal(
            run.value, expected, check_freq=False, check_names=False, rtol=1e-12, atol=1e-12
        )
        assert run.value.name == expected.name
    elif kind == "dict":
        assert run.value.keys() == expected.keys()
        for key, value in expected.items():
            assert run.value[key] == pytest.approx(value, rel=1e-12)
    else:
        assert run.value == pytest.approx(expected, rel=1e-12)
    assert run.cpu_seconds > 0 and run.layers


def test_results_survive_the_json_round_trip(outcomes):
    payload = outcomes["rolling_zscore"].to_json()
    assert payload["ok"] and payload["kind"] == "frame"
    result = payload["result"]
    assert len(result["index"]) == len(result["data"]) and result["columns"][0] == "AAPL"
    assert result["data"][0] == [None] * len(result["columns"])  # NaN becomes null
