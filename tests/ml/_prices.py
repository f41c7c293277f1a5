"""Synthetic price paths for the ML tests (numpy GBM; labelled synthetic by nature)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def gbm_ohlcv(
    n: int = 400, seed: int = 0, drift: float = 0.0002, vol: float = 0.01, volume: bool = True
) -> pd.DataFrame:
    """Daily OHLCV of a geometric Brownian motion (a pure random walk in log price)."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(drift - 0.5 * vol**2, vol, size=n)
    close = 100.0 * np.exp(np.cumsum(log_returns))
    open_ = close * np.exp(rng.normal(0.0, vol / 4, size=n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2, size=n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2, size=n)))
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close},
        index=pd.bdate_range("2010-01-04", periods=n, name="date"),
    )
    if volume:
        frame["volume"] = rng.lognormal(13.0, 0.4, size=n).round()
    return frame
