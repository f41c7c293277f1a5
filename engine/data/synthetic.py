"""Synthetic prices: seeded geometric Brownian motion or an arithmetic random walk.

Everything produced here is labelled ``synthetic: true`` in its provenance; it is
for testing ideas and pipelines, never evidence about real markets.

- ``gbm``: ``S_t = S_{t-1} * exp((mu - sigma^2 / 2) dt + sigma sqrt(dt) Z_t)``
- ``random_walk``: ``S_t = S_{t-1} + mu S_0 dt + sigma S_0 sqrt(dt) Z_t``
  (arithmetic; it can cross zero over long horizons with a high volatility)

with ``dt = 1/252`` on business days. Open/high/low and volume are drawn around
the close path so candlestick charts and OHLCV pipelines work. Each symbol has its
own random stream derived from ``(seed, symbol)``: adding a symbol does not change
the others, and the same seed always gives the same numbers.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd

from engine.actions.base import ActionError

TRADING_DAYS = 252
DEFAULT_START = "2015-01-02"
MODELS = ("gbm", "random_walk")


def _stream(seed: int, symbol: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(symbol.encode())])


def simulate(
    symbol: str,
    dates: pd.DatetimeIndex,
    *,
    model: str = "gbm",
    drift: float = 0.07,
    volatility: float = 0.2,
    start_price: float = 100.0,
    seed: int = 0,
) -> pd.DataFrame:
    """One symbol's daily OHLCV on ``dates``."""
    if model not in MODELS:
        raise ActionError(f"Unknown synthetic model {model!r}; use one of {', '.join(MODELS)}.")
    if start_price <= 0:
        raise ActionError("start_price must be positive.")
    if volatility < 0:
        raise ActionError("volatility must be zero or positive.")
    rng = _stream(seed, symbol)
    days = len(dates)
    dt = 1.0 / TRADING_DAYS
    shocks = rng.standard_normal(days)
    daily_sigma = volatility * np.sqrt(dt)
    if model == "gbm":
        steps = (drift - 0.5 * volatility**2) * dt + daily_sigma * shocks
        steps[0] = 0.0
        close = start_price * np.exp(np.cumsum(steps))
        gap = np.exp(0.25 * daily_sigma * rng.standard_normal(days))
        previous = np.concatenate([[start_price], close[:-1]])
        open_ = previous * gap
        wick_up = np.exp(np.abs(0.5 * daily_sigma * rng.standard_normal(days)))
        wick_down = np.exp(-np.abs(0.5 * daily_sigma * rng.standard_normal(days)))
        high = np.maximum(open_, close) * wick_up
        low = np.minimum(open_, close) * wick_down
    else:
        steps = drift * start_price * dt + daily_sigma * start_price * shocks
        steps[0] = 0.0
        close = start_price + np.cumsum(steps)
        scale = daily_sigma * start_price
        previous = np.concatenate([[start_price], close[:-1]])
        open_ = previous + 0.25 * scale * rng.standard_normal(days)
        high = np.maximum(open_, close) + np.abs(0.5 * scale * rng.standard_normal(days))
        low = np.minimum(open_, close) - np.abs(0.5 * scale * rng.standard_normal(days))
    moves = np.abs(np.diff(np.log(np.abs(close) + 1e-12), prepend=np.log(start_price)))
    volume = np.round(1e6 * np.exp(0.3 * rng.standard_normal(days)) * (1 + 20 * moves))
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.DatetimeIndex(dates, name="date").as_unit("ns"),
    )
    return frame.astype("float64")


def business_days(start=None, end=None, days: int | None = None) -> pd.DatetimeIndex:
    first = pd.Timestamp(start) if start is not None else None
    last = pd.Timestamp(end) if end is not None else None
    if first is not None and last is not None:
        dates = pd.bdate_range(first, last)
    elif last is not None:
        dates = pd.bdate_range(end=last, periods=days or 5 * TRADING_DAYS)
    else:
        dates = pd.bdate_range(first or DEFAULT_START, periods=days or 5 * TRADING_DAYS)
    if len(dates) == 0:
        raise ActionError("The synthetic date range holds no business days.")
    if len(dates) > 100 * TRADING_DAYS:
        raise ActionError("Synthetic series are limited to 100 years of business days.")
    return dates


def synthetic_frames(
    symbols: list[str],
    *,
    start=None,
    end=None,
    days: int | None = None,
    model: str = "gbm",
    drift: float = 0.07,
    volatility: float = 0.2,
    start_price: float = 100.0,
    seed: int = 0,
):
    """The loader's entry point: one OHLCV frame per symbol, labelled synthetic."""
    from engine.data.sources import SourceFrames

    dates = business_days(start, end, days)
    parameters: dict[str, Any] = {
        "model": model,
        "drift": drift,
        "volatility": volatility,
        "start_price": start_price,
        "seed": seed,
        "days": len(dates),
        "start": f"{dates[0]:%Y-%m-%d}",
        "calendar": "business days (Mon-Fri, no holidays)",
        "per_symbol_stream": "numpy default_rng([seed, crc32(symbol)])",
    }
    frames = {
        symbol: simulate(
            symbol,
            dates,
            model=model,
            drift=drift,
            volatility=volatility,
            start_price=start_price,
            seed=seed,
        )
        for symbol in symbols
    }
    notes = ["Synthetic data: simulated prices, not market observations."]
    if model == "random_walk" and any((frame["low"] <= 0).any() for frame in frames.values()):
        notes.append(
            "The arithmetic random walk crossed zero; use model='gbm' for positive prices."
        )
    return SourceFrames(frames, details={"generator": parameters}, synthetic=True, notes=notes)


def generate_prices(
    symbols: list[str] | str = "SYN",
    *,
    start=None,
    end=None,
    days: int | None = None,
    model: str = "gbm",
    drift: float = 0.07,
    volatility: float = 0.2,
    start_price: float = 100.0,
    seed: int = 0,
    field: str = "ohlcv",
):
    """Synthetic :class:`~engine.data.loader.PriceData` with full provenance."""
    from engine.data.loader import assemble, normalise_field, normalise_symbols
    from engine.data.provenance import build_provenance
    from engine.data.sources import PriceData

    symbols = normalise_symbols(symbols)
    field = normalise_field(field)
    loaded = synthetic_frames(
        symbols,
        start=start,
        end=end,
        days=days,
        model=model,
        drift=drift,
        volatility=volatility,
        start_price=start_price,
        seed=seed,
    )
    frame = assemble(loaded.frames, field, None, None, "synthetic")
    provenance = build_provenance(
        frame,
        source="synthetic",
        symbols=symbols,
        field=field,
        synthetic=True,
        details=loaded.details,
    )
    provenance["notes"] = loaded.notes
    return PriceData(frame=frame, provenance=provenance, notes=loaded.notes)
