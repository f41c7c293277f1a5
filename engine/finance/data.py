"""Price loading for the finance actions (through the data layer) and input checks."""

from __future__ import annotations

import numpy as np

from engine.actions.base import ActionError
from engine.data.sources import PriceData, load_prices
from engine.lazy import pandas as pd


def _load(symbols: list[str], source: str, start, end, field: str) -> PriceData:
    return load_prices(list(symbols), source=source, start=start, end=end, field=field)


def check_close(frame: pd.DataFrame, min_rows: int = 2) -> pd.DataFrame:
    """Reject empty, too short, non-positive or constant close series."""
    if frame is None or frame.empty or frame.shape[1] == 0:
        raise ActionError("no prices were loaded (the price series is empty)")
    frame = frame.dropna(how="all")
    short = [str(c) for c in frame.columns if frame[c].notna().sum() < min_rows]
    if short:
        raise ActionError(
            f"not enough prices for {', '.join(short)} (need at least {min_rows} dates)"
        )
    if (frame <= 0).to_numpy().any():
        bad = [str(c) for c in frame.columns if (frame[c] <= 0).any()]
        raise ActionError(f"non-positive prices for {', '.join(bad)}")
    constant = [str(c) for c in frame.columns if np.nanmax(frame[c]) == np.nanmin(frame[c])]
    if constant:
        raise ActionError(
            f"the price series of {', '.join(constant)} is constant; "
            "returns, volatility and ratios are undefined"
        )
    return frame


def load_close(
    symbols: list[str], source: str = "bundled", start=None, end=None, min_rows: int = 2
) -> tuple[pd.DataFrame, dict]:
    """Close prices (dates × symbols) and their provenance."""
    data = _load(symbols, source, start, end, "close")
    frame = data.frame
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.xs("close", axis=1, level=-1)
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return check_close(frame, min_rows), data.provenance


def load_ohlcv(
    symbols: list[str], source: str = "bundled", start=None, end=None
) -> tuple[pd.DataFrame, dict]:
    """OHLCV frame with column MultiIndex (symbol, field) and its provenance."""
    data = _load(symbols, source, start, end, "ohlcv")
    frame = data.frame
    check_close(frame.xs("close", axis=1, level=-1))
    return frame, data.provenance
