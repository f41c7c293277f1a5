"""Technical indicators computed from past data only (causal).

:func:`compute` is the reusable entry point (the ML feature builder calls it)::

    compute(frame_ohlcv, ["sma", "rsi", "macd"], sma_window=[10, 50]) -> DataFrame

Each value at date t uses rows up to and including t; nothing is centred,
back-filled or forward-looking. The first rows of each indicator are NaN until its
window is full (the warm-up).

Definitions (simple daily returns, 252 days a year):

- ``sma``: rolling mean of close over ``sma_window`` (default 20).
- ``ema``: ``close.ewm(span=ema_window, adjust=False)`` (default 20), NaN for the
  first ``ema_window − 1`` rows.
- ``rsi``: Wilder RSI (``rsi_window`` 14): average gain and loss seeded with the
  mean of the first ``window`` changes, then Wilder smoothing (α = 1/window);
  100 when there are no losses.
- ``atr``: Wilder average true range (``atr_window`` 14), seeded with the mean of
  the first ``window`` true ranges (the first true range is high − low).
- ``macd``: EMA(12) − EMA(26) of close, signal EMA(9) of MACD, histogram
  (``macd_fast``, ``macd_slow``, ``macd_signal``).
- ``bollinger``: SMA ± ``bb_std`` (2) × population std (ddof=0) over ``bb_window``
  (20); also %b and width ``(upper − lower) / mid``.
- ``stochastic``: %K = 100 (close − lowest low) / (highest high − lowest low) over
  ``stoch_window`` (14); %D = SMA(``stoch_smooth`` 3) of %K.
- ``obv``: on-balance volume: cumulative sum of volume × sign(close change);
  unchanged closes add nothing; 0 on the first row.
- ``volatility``: rolling std (ddof=1) of simple returns × √252 over
  ``volatility_window`` (20).
- ``zscore``: (close − SMA) / population std over ``zscore_window`` (20).
- ``momentum``: ``close / close.shift(momentum_window) − 1`` (20).

Windows for ``sma``, ``ema``, ``rsi``, ``atr``, ``volatility``, ``zscore`` and
``momentum`` accept an int or a list of ints (one column per window).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS
from engine.lazy import pandas as pd

INDICATORS = (
    "sma",
    "ema",
    "rsi",
    "atr",
    "macd",
    "bollinger",
    "stochastic",
    "obv",
    "volatility",
    "zscore",
    "momentum",
)
DEFAULTS: dict[str, int | float] = {
    "sma_window": 20,
    "ema_window": 20,
    "rsi_window": 14,
    "atr_window": 14,
    "macd_fast": 12,
    "macd_slow": 26,
    "macd_signal": 9,
    "bb_window": 20,
    "bb_std": 2.0,
    "stoch_window": 14,
    "stoch_smooth": 3,
    "volatility_window": 20,
    "zscore_window": 20,
    "momentum_window": 20,
}
NEEDS = {"atr": ("high", "low"), "stochastic": ("high", "low"), "obv": ("volume",)}
FIELDS = ("open", "high", "low", "close", "volume")


def sma(close: pd.Series, window: int) -> pd.Series:
    return close.rolling(window, min_periods=window).mean()


def ema(close: pd.Series, window: int) -> pd.Series:
    return close.ewm(span=window, min_periods=window, adjust=False).mean()


def wilder(series: pd.Series, window: int) -> pd.Series:
    """Wilder smoothing: seed with the mean of the first ``window`` values, then
    ``y_t = y_{t-1} + (x_t − y_{t-1}) / window``. Leading NaNs are skipped."""
    values = series.to_numpy(dtype=np.float64)
    out = np.full(values.shape[0], np.nan)
    valid = np.flatnonzero(~np.isnan(values))
    if valid.size >= window:
        start = int(valid[0])
        tail = values[start + window :]
        if np.isnan(values[start:]).any():
            raise ActionError("Wilder smoothing needs a gap-free series")
        seed = values[start : start + window].mean()
        out[start + window - 1] = seed
        if tail.size:
            from scipy.signal import lfilter  # ~0.6 s to import: loads when first used

            alpha = 1.0 / window
            out[start + window :], _ = lfilter(
                [alpha], [1.0, alpha - 1.0], tail, zi=[(1.0 - alpha) * seed]
            )
    return pd.Series(out, index=series.index)


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Wilder RSI; the first value uses the mean gain/loss of the first ``window`` changes."""
    change = close.diff()
    gain = wilder(change.clip(lower=0.0), window)
    loss = wilder((-change).clip(lower=0.0), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + gain / loss)
    value = value.where(loss != 0, 100.0)
    return value.where(gain.notna() & loss.notna())


def true_range(high: pd.Series, low: pd.Series, close: pd.Series) -> pd.Series:
    """max(high − low, |high − previous close|, |low − previous close|); the first
    row, with no previous close, is high − low."""
    previous = close.shift(1)
    ranges = pd.concat([high - low, (high - previous).abs(), (low - previous).abs()], axis=1)
    return ranges.max(axis=1, skipna=True)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14) -> pd.Series:
    """Wilder ATR seeded with the mean of the first ``window`` true ranges."""
    return wilder(true_range(high, low, close), window)


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    line = ema(close, fast) - ema(close, slow)
    signal_line = ema(line, signal)
    return pd.DataFrame({"macd": line, "macd_signal": signal_line, "macd_hist": line - signal_line})


def bollinger(close: pd.Series, window: int = 20, n_std: float = 2.0) -> pd.DataFrame:
    mid = sma(close, window)
    std = close.rolling(window, min_periods=window).std(ddof=0)
    upper, lower = mid + n_std * std, mid - n_std * std
    width = upper - lower
    return pd.DataFrame(
        {
            f"bb_mid_{window}": mid,
            f"bb_upper_{window}": upper,
            f"bb_lower_{window}": lower,
            f"bb_pctb_{window}": ((close - lower) / width).where(width > 0),
            f"bb_width_{window}": (width / mid).where(mid != 0),
        }
    )


def stochastic(
    high: pd.Series, low: pd.Series, close: pd.Series, window: int = 14, smooth: int = 3
) -> pd.DataFrame:
    lowest = low.rolling(window, min_periods=window).min()
    highest = high.rolling(window, min_periods=window).max()
    span = highest - lowest
    k = (100.0 * (close - lowest) / span).where(span > 0)
    d = k.rolling(smooth, min_periods=smooth).mean()
    return pd.DataFrame({f"stoch_k_{window}": k, f"stoch_d_{window}_{smooth}": d})


def obv(close: pd.Series, volume: pd.Series) -> pd.Series:
    direction = np.sign(close.diff()).fillna(0.0)
    return (direction * volume).cumsum()


def rolling_volatility(close: pd.Series, window: int = 20) -> pd.Series:
    returns = close.pct_change(fill_method=None)
    return returns.rolling(window, min_periods=window).std(ddof=1) * np.sqrt(TRADING_DAYS)


def zscore(close: pd.Series, window: int = 20) -> pd.Series:
    mean = sma(close, window)
    std = close.rolling(window, min_periods=window).std(ddof=0)
    return ((close - mean) / std).where(std > 0)


def momentum(close: pd.Series, window: int = 20) -> pd.Series:
    return close / close.shift(window) - 1.0


def _windows(value) -> list[int]:
    values = [value] if isinstance(value, (int, np.integer)) else list(value)
    if not values or any(int(v) != v or int(v) < 1 for v in values):
        raise ActionError(f"indicator windows must be positive integers; got {value!r}")
    return [int(v) for v in values]


def _normalise(frame: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(frame, pd.Series):
        return frame.astype(float).to_frame("close")
    renamed = {c: str(c).strip().lower().replace("adj close", "adj_close") for c in frame.columns}
    out = frame.rename(columns=renamed)
    if "close" not in out.columns:
        raise ActionError("the price frame needs a 'close' column")
    return out


def _single(frame: pd.DataFrame, names: Sequence[str], params: dict) -> pd.DataFrame:
    data = _normalise(frame)
    data = data[data["close"].notna()]
    for name in names:
        missing = [c for c in NEEDS.get(name, ()) if c not in data.columns]
        if missing:
            raise ActionError(f"indicator {name!r} needs columns {', '.join(missing)}")
    close = data["close"].astype(float)
    high = data["high"].astype(float) if "high" in data else None
    low = data["low"].astype(float) if "low" in data else None
    columns: dict[str, pd.Series] = {}
    for name in names:
        if name == "sma":
            for w in _windows(params["sma_window"]):
                columns[f"sma_{w}"] = sma(close, w)
        elif name == "ema":
            for w in _windows(params["ema_window"]):
                columns[f"ema_{w}"] = ema(close, w)
        elif name == "rsi":
            for w in _windows(params["rsi_window"]):
                columns[f"rsi_{w}"] = rsi(close, w)
        elif name == "atr":
            for w in _windows(params["atr_window"]):
                columns[f"atr_{w}"] = atr(high, low, close, w)
        elif name == "macd":
            fast, slow, sig = (int(params[k]) for k in ("macd_fast", "macd_slow", "macd_signal"))
            if not 1 <= fast < slow or sig < 1:
                raise ActionError("MACD needs 1 <= macd_fast < macd_slow and macd_signal >= 1")
            columns.update(macd(close, fast, slow, sig).items())
        elif name == "bollinger":
            window = _windows(params["bb_window"])[0]
            columns.update(bollinger(close, window, float(params["bb_std"])).items())
        elif name == "stochastic":
            window = _windows(params["stoch_window"])[0]
            smooth = _windows(params["stoch_smooth"])[0]
            columns.update(stochastic(high, low, close, window, smooth).items())
        elif name == "obv":
            columns["obv"] = obv(close, data["volume"].astype(float))
        elif name == "volatility":
            for w in _windows(params["volatility_window"]):
                if w < 2:
                    raise ActionError("volatility_window must be at least 2")
                columns[f"volatility_{w}"] = rolling_volatility(close, w)
        elif name == "zscore":
            for w in _windows(params["zscore_window"]):
                columns[f"zscore_{w}"] = zscore(close, w)
        elif name == "momentum":
            for w in _windows(params["momentum_window"]):
                columns[f"momentum_{w}"] = momentum(close, w)
    result = pd.DataFrame(columns, index=close.index)
    return result.reindex(frame.index)


def output_width(names: Sequence[str], windows: dict) -> int:
    """Columns :func:`compute` returns per symbol for ``names`` and ``windows``."""
    params = {**DEFAULTS, **{k: v for k, v in windows.items() if v is not None}}
    fixed = {"macd": 3, "bollinger": 3, "stochastic": 2, "obv": 1}
    width = 0
    for name in names:
        if name in fixed:
            width += fixed[name]
        else:
            value = params[f"{name}_window"]
            width += 1 if isinstance(value, (int, np.integer)) else len(value)
    return width


def resolve_names(names: Iterable[str] | str | None) -> list[str]:
    if names is None:
        return list(INDICATORS)
    if isinstance(names, str):
        names = [names]
    resolved = []
    for name in names:
        key = str(name).strip().lower()
        if key not in INDICATORS:
            raise ActionError(f"unknown indicator {name!r}; choose from {', '.join(INDICATORS)}")
        if key not in resolved:
            resolved.append(key)
    if not resolved:
        raise ActionError("choose at least one indicator")
    return resolved


def compute(
    frame_ohlcv: pd.DataFrame | pd.Series,
    names: Iterable[str] | str | None = None,
    **windows,
) -> pd.DataFrame:
    """Indicators for one instrument or many.

    ``frame_ohlcv``: a close Series, a DataFrame with columns open/high/low/close/
    volume (case-insensitive; only close is required for close-based indicators),
    or a DataFrame with column MultiIndex ``(symbol, field)``, in which case the
    result has columns ``(symbol, indicator)``. ``names`` defaults to all
    indicators; ``windows`` override :data:`DEFAULTS` (e.g. ``sma_window=[10, 50]``).
    Rows where close is missing are skipped when computing, then restored as NaN.
    """
    unknown = set(windows) - set(DEFAULTS)
    if unknown:
        raise ActionError(
            f"unknown indicator parameter(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(DEFAULTS)}"
        )
    params = {**DEFAULTS, **{k: v for k, v in windows.items() if v is not None}}
    resolved = resolve_names(names)
    if len(frame_ohlcv) == 0:
        raise ActionError("the price series is empty")
    if isinstance(frame_ohlcv, pd.DataFrame) and isinstance(frame_ohlcv.columns, pd.MultiIndex):
        symbols = list(dict.fromkeys(frame_ohlcv.columns.get_level_values(0)))
        parts = {symbol: _single(frame_ohlcv[symbol], resolved, params) for symbol in symbols}
        return pd.concat(parts, axis=1, names=["symbol", "indicator"])
    return _single(frame_ohlcv, resolved, params)
