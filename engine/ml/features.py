"""Features and targets for one instrument's price history, from past data only.

:func:`build_price_features` returns ``(X, y)`` indexed by date. Every feature at
date t is computed from rows up to and including t (returns, lags, rolling
volatility, volume and range features, and the causal indicators of
:func:`engine.finance.indicators.compute`). The target at t is the simple return
from the close at t to the close at t + horizon (regression) or whether it is
positive (classification, 1 if > 0). Warm-up rows (any feature NaN) and the last
``horizon`` rows (no target yet) are dropped.

:func:`assert_no_lookahead` checks any feature builder for look-ahead: it perturbs
one row of the input and requires every feature at earlier dates to stay the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

RETURN_WINDOWS = (1, 5, 10, 20)
LAGS = (1, 2, 3, 4, 5)
VOLATILITY_WINDOWS = (5, 20)


def _normalise(frame: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Lower-case column names; a Series is taken as the close."""
    if isinstance(frame, pd.Series):
        return frame.astype(float).to_frame("close")
    if isinstance(frame.columns, pd.MultiIndex):
        raise ValueError("build_price_features takes ONE symbol; select it first")
    out = frame.rename(columns={c: str(c).strip().lower() for c in frame.columns})
    if "close" not in out.columns:
        if "adj close" in out.columns or "adj_close" in out.columns:
            out["close"] = out.get("adj_close", out.get("adj close"))
        else:
            raise ValueError("the price frame needs a 'close' column")
    return out


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    if not frame.index.is_monotonic_increasing:
        raise ValueError("prices must be sorted by date (oldest first)")
    if frame.index.has_duplicates:
        raise ValueError("prices have duplicate dates")
    data = frame[frame["close"].notna()].copy()
    if (data["close"] <= 0).any():
        raise ValueError("close prices must be positive")
    return data


def _safe_ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    return out.replace([np.inf, -np.inf], np.nan)


def _indicator_features(data: pd.DataFrame) -> pd.DataFrame:
    """Scale-free indicators from ``engine.finance.indicators`` (causal by contract)."""
    from engine.finance import indicators

    close = data["close"].astype(float)
    has_range = {"high", "low"} <= set(data.columns) and data[["high", "low"]].notna().all().all()
    names = ["rsi", "macd", "bollinger", "zscore", "sma"]
    if has_range:
        names += ["atr", "stochastic"]
    raw = indicators.compute(data, names, sma_window=[10, 50])
    out = pd.DataFrame(index=data.index)
    out["rsi_14"] = raw["rsi_14"] / 100.0
    for column in ("macd", "macd_signal", "macd_hist"):
        out[f"{column}_rel"] = raw[column] / close  # price units -> fraction of price
    out["bb_pctb_20"] = raw["bb_pctb_20"]
    out["bb_width_20"] = raw["bb_width_20"]
    out["zscore_20"] = raw["zscore_20"]
    for window in (10, 50):
        out[f"close_sma_{window}"] = close / raw[f"sma_{window}"] - 1.0
    if has_range:
        out["atr_14_rel"] = raw["atr_14"] / close
        out["stoch_k_14"] = raw["stoch_k_14"] / 100.0
        out["stoch_d_14_3"] = raw["stoch_d_14_3"] / 100.0
    return out


def price_feature_frame(frame: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Every feature at every date (warm-up rows NaN, nothing dropped)."""
    data = _clean(_normalise(frame))
    close = data["close"].astype(float)
    ret1 = close.pct_change(fill_method=None)
    feats: dict[str, pd.Series] = {}
    for window in RETURN_WINDOWS:
        feats[f"ret_{window}"] = close.pct_change(window, fill_method=None)
    for lag in LAGS:
        feats[f"ret_1_lag_{lag}"] = ret1.shift(lag)
    for window in VOLATILITY_WINDOWS:
        feats[f"vol_{window}"] = ret1.rolling(window, min_periods=window).std(ddof=1)
    feats["vol_ratio_5_20"] = _safe_ratio(feats["vol_5"], feats["vol_20"])
    if "volume" in data.columns and data["volume"].notna().any():
        volume = data["volume"].astype(float)
        log_volume = np.log(volume.where(volume > 0))
        feats["volume_chg_1"] = log_volume.diff()
        feats["volume_rel_20"] = log_volume - log_volume.rolling(20, min_periods=20).mean()
        feats["volume_z_20"] = _safe_ratio(
            feats["volume_rel_20"], log_volume.rolling(20, min_periods=20).std(ddof=1)
        )
    if {"high", "low"} <= set(data.columns):
        feats["range_rel"] = _safe_ratio(data["high"] - data["low"], close)
        feats["close_in_range"] = _safe_ratio(close - data["low"], data["high"] - data["low"])
    if "open" in data.columns:
        feats["gap"] = _safe_ratio(data["open"], close.shift(1)) - 1.0
        feats["intraday"] = _safe_ratio(close, data["open"]) - 1.0
    out = pd.DataFrame(feats, index=data.index)
    out = out.join(_indicator_features(data))
    return out.replace([np.inf, -np.inf], np.nan)


def forward_returns(frame: pd.DataFrame | pd.Series, horizon: int = 1) -> pd.Series:
    """Simple return from the close at t to the close at t + horizon (NaN at the end)."""
    if int(horizon) < 1:
        raise ValueError("horizon must be at least 1")
    close = _clean(_normalise(frame))["close"].astype(float)
    return (close.shift(-int(horizon)) / close - 1.0).rename(f"fwd_ret_{int(horizon)}")


def price_target(
    frame: pd.DataFrame | pd.Series, horizon: int = 1, task: str = "classification"
) -> pd.Series:
    """The label at t: next-h-day return (regression) or its direction (1 if > 0)."""
    fwd = forward_returns(frame, horizon)
    if task == "regression":
        return fwd.rename("target")
    if task == "classification":
        return (fwd > 0).astype(float).where(fwd.notna()).rename("target")
    raise ValueError(f"task must be classification or regression; got {task!r}")


def build_price_features(
    ohlcv_or_close: pd.DataFrame | pd.Series, horizon: int = 1, task: str = "classification"
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` for ONE symbol: past-only features, next-``horizon``-day target.

    Rows with any NaN feature (warm-up) or no target (the last ``horizon`` rows) are
    dropped. Classification labels are integers 0/1.
    """
    features = price_feature_frame(ohlcv_or_close)
    target = price_target(ohlcv_or_close, horizon, task)
    keep = features.notna().all(axis=1) & target.notna()
    X = features[keep]
    y = target[keep]
    if task == "classification":
        y = y.astype(int)
    if X.empty:
        raise ValueError(
            f"no rows left after the warm-up and the {horizon}-day target horizon; "
            "give a longer price history"
        )
    return X, y


# --- look-ahead check ------------------------------------------------------------------


class LookaheadError(AssertionError):
    """A feature at some date changed when only a later row of the input changed."""


def _as_features(result: Any) -> pd.DataFrame:
    if isinstance(result, tuple):
        result = result[0]
    if isinstance(result, pd.Series):
        result = result.to_frame()
    if not isinstance(result, pd.DataFrame):
        raise TypeError("the builder must return a DataFrame (or a tuple starting with one)")
    return result


def _perturb(frame: pd.DataFrame | pd.Series, position: int, factor: float) -> Any:
    out = frame.copy()
    if isinstance(out, pd.Series):
        out.iloc[position] = out.iloc[position] * factor
        return out
    numeric = out.select_dtypes("number").columns
    positions = [out.columns.get_loc(c) for c in numeric]
    out.iloc[position, positions] = out.iloc[position, positions].to_numpy() * factor
    return out


def assert_no_lookahead(
    builder: Callable[[Any], Any],
    frame: pd.DataFrame | pd.Series,
    rows: Iterable[int] | None = None,
    factors: Sequence[float] = (1.25, 0.8),
    rtol: float = 1e-9,
) -> None:
    """Raise :class:`LookaheadError` if ``builder`` uses data from the future.

    For each row position k (default: the last row and rows at 25%, 50% and 75% of
    the history), every numeric column of ``frame`` at row k is scaled by each factor
    and ``builder`` is run again; every feature at dates strictly before date k must
    be unchanged (NaN equal to NaN). ``builder(frame)`` returns a DataFrame of
    features indexed by date, or a tuple ``(X, ...)``.
    """
    n = len(frame)
    if n < 2:
        raise ValueError("need at least two rows")
    if rows is None:
        rows = sorted({n - 1, n // 4, n // 2, (3 * n) // 4})
    base = _as_features(builder(frame))
    for k in rows:
        k = int(k) % n
        cutoff = frame.index[k]
        for factor in factors:
            changed = _as_features(builder(_perturb(frame, k, factor)))
            before = base.index[base.index < cutoff]
            common = before.intersection(changed.index)
            if len(common) != len(before):
                raise LookaheadError(
                    f"perturbing row {k} ({cutoff}) removed or added rows before it"
                )
            a = base.loc[common].to_numpy(dtype=float)
            b = changed.loc[common, base.columns].to_numpy(dtype=float)
            same = np.isclose(a, b, rtol=rtol, atol=0.0, equal_nan=True)
            if not same.all():
                bad_rows, bad_cols = np.nonzero(~same)
                columns = sorted({str(base.columns[c]) for c in bad_cols})
                first = common[int(bad_rows.min())]
                raise LookaheadError(
                    f"features {', '.join(columns)} at {first} changed when row {k} "
                    f"({cutoff}) was perturbed: they use future data"
                )
