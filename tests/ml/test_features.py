"""Price features use only past data; targets are the next h days; look-ahead check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.ml.features import (
    LookaheadError,
    assert_no_lookahead,
    build_price_features,
    forward_returns,
    price_feature_frame,
)
from tests.ml._prices import gbm_ohlcv

FRAME = gbm_ohlcv(300, seed=4)


def _features(frame):
    return build_price_features(frame, horizon=1, task="classification")[0]


def test_shapes_columns_and_no_nans():
    X, y = build_price_features(FRAME, horizon=1, task="classification")
    assert len(X) == len(y) and X.index.equals(y.index)
    assert X.notna().all().all() and np.isfinite(X.to_numpy()).all()
    assert set(y.unique()) <= {0, 1} and y.dtype.kind == "i"
    expected = {"ret_1", "ret_5", "ret_10", "ret_20", "ret_1_lag_5", "vol_20", "rsi_14"}
    assert expected <= set(X.columns)
    assert {"volume_chg_1", "volume_z_20", "atr_14_rel", "stoch_k_14", "gap"} <= set(X.columns)
    # warm-up: the 50-day SMA ratio is the longest window; the last row has no target
    assert X.index[0] == FRAME.index[49]
    assert X.index[-1] == FRAME.index[-2]


def test_close_only_series_works_and_skips_volume_and_range_features():
    X, y = build_price_features(FRAME["close"], horizon=5, task="regression")
    assert "volume_chg_1" not in X.columns and "atr_14_rel" not in X.columns
    assert X.index[-1] == FRAME.index[-6]  # the last 5 rows have no 5-day target
    assert y.dtype.kind == "f"


@pytest.mark.parametrize("horizon", [1, 3, 10])
def test_target_is_the_next_h_day_return(horizon):
    X, y = build_price_features(FRAME, horizon=horizon, task="regression")
    close = FRAME["close"]
    for date in (X.index[0], X.index[len(X) // 2], X.index[-1]):
        i = close.index.get_loc(date)
        assert y[date] == pytest.approx(close.iloc[i + horizon] / close.iloc[i] - 1.0)
    _, direction = build_price_features(FRAME, horizon=horizon, task="classification")
    assert (direction == (y > 0).astype(int)).all()


def test_features_match_hand_computed_values():
    X, _ = build_price_features(FRAME, horizon=1, task="regression")
    close = FRAME["close"]
    date = X.index[10]
    i = close.index.get_loc(date)
    assert X.loc[date, "ret_5"] == pytest.approx(close.iloc[i] / close.iloc[i - 5] - 1)
    assert X.loc[date, "ret_1_lag_2"] == pytest.approx(close.iloc[i - 2] / close.iloc[i - 3] - 1)
    window = close.iloc[i - 20 : i + 1].pct_change().dropna()
    assert X.loc[date, "vol_20"] == pytest.approx(window.std(ddof=1))


def test_no_lookahead_in_the_price_features():
    # the last row, and the rows at 25/50/75% of the history
    assert_no_lookahead(_features, FRAME)


@pytest.mark.parametrize("k", [60, 61, 150, 298])
def test_no_lookahead_for_any_row(k):
    assert_no_lookahead(lambda f: price_feature_frame(f), FRAME, rows=[k])


def test_perturbing_a_row_does_change_that_row_and_later_ones():
    # the check has teeth: features at and after the perturbed row do move
    base = price_feature_frame(FRAME)
    bumped = FRAME.copy()
    bumped.iloc[150, :4] *= 1.25
    after = price_feature_frame(bumped)
    assert not np.allclose(base.iloc[150], after.iloc[150], equal_nan=True)
    assert np.allclose(base.iloc[:150], after.iloc[:150], equal_nan=True)


def test_future_leaking_features_are_detected():
    def leaky(frame):
        X = price_feature_frame(frame)
        X["tomorrow"] = frame["close"].shift(-1) / frame["close"] - 1.0
        return X

    with pytest.raises(LookaheadError, match="tomorrow"):
        assert_no_lookahead(leaky, FRAME)

    def centred(frame):
        return frame["close"].rolling(5, center=True).mean().to_frame("centred_ma")

    with pytest.raises(LookaheadError, match="centred_ma"):
        assert_no_lookahead(centred, FRAME, rows=[100])

    def full_sample_zscore(frame):  # normalising with whole-history statistics
        close = frame["close"]
        return ((close - close.mean()) / close.std()).to_frame("zscore_all")

    with pytest.raises(LookaheadError, match="zscore_all"):
        assert_no_lookahead(full_sample_zscore, FRAME)

    def backfilled(frame):  # bfill pulls later values into earlier rows
        return frame["close"].rolling(10).mean().bfill().to_frame("sma_bfill")

    with pytest.raises(LookaheadError, match="sma_bfill"):
        assert_no_lookahead(backfilled, FRAME, rows=[5])


def test_forward_returns_and_input_validation():
    fwd = forward_returns(FRAME, 2)
    assert fwd.iloc[-2:].isna().all() and fwd.iloc[:-2].notna().all()
    with pytest.raises(ValueError, match="sorted"):
        build_price_features(FRAME.iloc[::-1])
    with pytest.raises(ValueError, match="close"):
        build_price_features(FRAME.drop(columns="close"))
    with pytest.raises(ValueError, match="longer price history"):
        build_price_features(FRAME.iloc[:40])
    with pytest.raises(ValueError, match="task"):
        build_price_features(FRAME, task="ranking")
    multi = pd.concat({"AAA": FRAME, "BBB": FRAME}, axis=1)
    with pytest.raises(ValueError, match="ONE symbol"):
        build_price_features(multi)


def test_upper_case_columns_and_missing_closes():
    frame = FRAME.rename(columns=str.title)
    frame.iloc[100, frame.columns.get_loc("Close")] = np.nan
    X, y = build_price_features(frame, horizon=1, task="classification")
    assert FRAME.index[100] not in X.index
    assert X.notna().all().all()
