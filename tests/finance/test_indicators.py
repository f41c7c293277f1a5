"""Indicators: agreement with the `ta` library after warm-up, and causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta
from arch.data import sp500

from engine.actions import ActionError
from engine.finance import indicators

WARM_UP = 300  # Wilder smoothing seeds differ from ta's; the difference decays as (1-1/14)^t


@pytest.fixture(scope="module")
def ohlcv() -> pd.DataFrame:
    frame = sp500.load().iloc[:2500]
    return frame.rename(columns=str.lower)[["open", "high", "low", "close", "volume"]]


@pytest.fixture(scope="module")
def computed(ohlcv) -> pd.DataFrame:
    return indicators.compute(ohlcv)


def _agree(ours: pd.Series, theirs: pd.Series, tol: float = 1e-6) -> None:
    a = ours.iloc[WARM_UP:].to_numpy()
    b = theirs.iloc[WARM_UP:].to_numpy()
    assert not np.isnan(a).any() and not np.isnan(b).any()
    np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def test_moving_averages_rsi_atr_agree_with_ta(ohlcv, computed):
    c, h, lo = ohlcv["close"], ohlcv["high"], ohlcv["low"]
    _agree(computed["sma_20"], ta.trend.sma_indicator(c, 20))
    _agree(computed["ema_20"], ta.trend.ema_indicator(c, 20))
    _agree(computed["rsi_14"], ta.momentum.rsi(c, 14))
    _agree(computed["atr_14"], ta.volatility.average_true_range(h, lo, c, 14))


def test_macd_bollinger_stochastic_momentum_agree_with_ta(ohlcv, computed):
    c, h, lo = ohlcv["close"], ohlcv["high"], ohlcv["low"]
    macd = ta.trend.MACD(c, 26, 12, 9)
    _agree(computed["macd"], macd.macd())
    _agree(computed["macd_signal"], macd.macd_signal())
    _agree(computed["macd_hist"], macd.macd_diff())
    bands = ta.volatility.BollingerBands(c, 20, 2)
    _agree(computed["bb_upper_20"], bands.bollinger_hband())
    _agree(computed["bb_lower_20"], bands.bollinger_lband())
    _agree(computed["bb_mid_20"], bands.bollinger_mavg())
    _agree(computed["bb_pctb_20"], bands.bollinger_pband())
    _agree(computed["bb_width_20"] * 100, bands.bollinger_wband())  # ta reports percent
    stoch = ta.momentum.StochasticOscillator(h, lo, c, 14, 3)
    _agree(computed["stoch_k_14"], stoch.stoch())
    _agree(computed["stoch_d_14_3"], stoch.stoch_signal())
    _agree(computed["momentum_20"] * 100, ta.momentum.roc(c, 20))  # ta: percent


def test_obv_matches_ta_on_days_the_close_moves(ohlcv, computed):
    # ta adds the volume on unchanged closes (and on the first day); standard OBV does not.
    c, v = ohlcv["close"], ohlcv["volume"]
    theirs = ta.volume.OnBalanceVolumeIndicator(c, v).on_balance_volume()
    moved = c.diff().fillna(0) != 0
    np.testing.assert_allclose(computed["obv"].diff()[moved][1:], theirs.diff()[moved][1:])
    assert (computed["obv"].diff()[~moved].iloc[1:] == 0).all()
    assert computed["obv"].iloc[0] == 0


def test_rolling_volatility_and_zscore_by_hand(ohlcv, computed):
    c = ohlcv["close"]
    i = 1000
    window = c.iloc[i - 20 : i + 1].to_numpy()
    returns = window[1:] / window[:-1] - 1
    assert computed["volatility_20"].iloc[i] == pytest.approx(returns.std(ddof=1) * np.sqrt(252))
    last20 = window[1:]
    expected_z = (last20[-1] - last20.mean()) / last20.std(ddof=0)
    assert computed["zscore_20"].iloc[i] == pytest.approx(expected_z)


def test_rsi_first_value_uses_wilder_seed():
    close = pd.Series([44.0, 44.5, 44.2, 44.8, 45.1, 44.9, 45.5, 46.0])
    out = indicators.rsi(close, 3)
    changes = close.diff().to_numpy()[1:]
    gains, losses = np.clip(changes, 0, None), np.clip(-changes, 0, None)
    avg_gain, avg_loss = gains[:3].mean(), losses[:3].mean()
    assert np.isnan(out.iloc[2]) and out.iloc[3] == pytest.approx(
        100 - 100 / (1 + avg_gain / avg_loss)
    )
    avg_gain = (avg_gain * 2 + gains[3]) / 3
    avg_loss = (avg_loss * 2 + losses[3]) / 3
    assert out.iloc[4] == pytest.approx(100 - 100 / (1 + avg_gain / avg_loss))


def test_perturbing_the_last_row_never_changes_earlier_values(ohlcv):
    frame = ohlcv.iloc[:400]
    before = indicators.compute(frame, sma_window=[5, 50], momentum_window=[1, 30])
    changed = frame.copy()
    changed.iloc[-1] = changed.iloc[-1] * np.array([1.3, 1.5, 0.7, 1.4, 9.0])
    after = indicators.compute(changed, sma_window=[5, 50], momentum_window=[1, 30])
    pd.testing.assert_frame_equal(before.iloc[:-1], after.iloc[:-1])
    assert not before.iloc[-1].equals(after.iloc[-1])


def test_multiindex_frames_and_close_only_series(ohlcv):
    frame = pd.concat({"A": ohlcv.iloc[:300], "B": ohlcv.iloc[:300] * 2}, axis=1)
    out = indicators.compute(frame, ["sma", "rsi", "atr"])
    assert list(out.columns.get_level_values(0).unique()) == ["A", "B"]
    np.testing.assert_allclose(out[("B", "sma_20")], 2 * out[("A", "sma_20")], equal_nan=True)
    np.testing.assert_allclose(out[("B", "rsi_14")], out[("A", "rsi_14")], equal_nan=True)
    close_only = indicators.compute(ohlcv["close"].iloc[:300], ["ema", "macd"], ema_window=[5, 10])
    assert list(close_only.columns) == ["ema_5", "ema_10", "macd", "macd_signal", "macd_hist"]
    assert close_only["ema_5"].isna().sum() == 4


def test_missing_leading_rows_are_skipped_then_restored(ohlcv):
    frame = ohlcv.iloc[:200].copy()
    frame.iloc[:50] = np.nan
    out = indicators.compute(frame, ["rsi", "sma"])
    clean = indicators.compute(ohlcv.iloc[50:200], ["rsi", "sma"])
    pd.testing.assert_frame_equal(out.iloc[50:], clean)
    assert out.iloc[:50].isna().all().all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: indicators.compute(f, ["vwap"]), "unknown indicator"),
        (lambda f: indicators.compute(f["close"], ["atr"]), "needs columns high, low"),
        (lambda f: indicators.compute(f, ["sma"], sma_window=0), "positive integers"),
        (lambda f: indicators.compute(f, ["sma"], sma_windw=5), "unknown indicator parameter"),
        (lambda f: indicators.compute(f.iloc[:0], ["sma"]), "empty"),
        (lambda f: indicators.compute(f, ["macd"], macd_fast=30), "macd_fast < macd_slow"),
    ],
)
def test_bad_requests_raise_action_error(ohlcv, call, message):
    with pytest.raises(ActionError, match=message):
        call(ohlcv.iloc[:100])
