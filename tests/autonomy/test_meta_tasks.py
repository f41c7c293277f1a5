"""Meta-task tables: features from the past only, targets from the future, exact values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.autonomy import meta_tasks as mt


def prices(days: int = 900, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    returns = (
        rng.normal(0, 0.01, days) * np.repeat(rng.uniform(0.5, 2.0, days // 50 + 1), 50)[:days]
    )
    index = pd.bdate_range("2001-01-01", periods=days, name="date")
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(returns))}, index=index)


def test_features_at_a_date_do_not_change_when_later_prices_do():
    frame = prices()
    cut = frame.index[600]
    changed = frame.copy()
    changed.loc[changed.index > cut, "close"] *= np.linspace(0.5, 3.0, (frame.index > cut).sum())
    before, after = mt.past_features(frame), mt.past_features(changed)
    pd.testing.assert_frame_equal(before.loc[:cut], after.loc[:cut])
    assert not before.loc[cut:].iloc[1:].equals(after.loc[cut:].iloc[1:])


@pytest.mark.parametrize("target", sorted(mt.TARGETS))
def test_targets_look_only_as_far_ahead_as_declared(target):
    frame = prices()
    task = mt.meta_task("XYZ", target)
    function = mt.TARGETS[target][0]
    reach = task.target_days
    t = 600
    changed = frame.copy()
    changed.iloc[t + reach + 1 :, 0] *= 1.7  # beyond the label's reach: no effect
    assert function(frame["close"]).iloc[t] == function(changed["close"]).iloc[t]
    # Within its reach: a calm future (prices flat), a violent one (up 10 %, then to
    # twice the price) or a crash (down 10 %, then to half) changes the label, whichever
    # way it was.
    value = function(frame["close"]).iloc[t]
    calm, violent, crash = frame.copy(), frame.copy(), frame.copy()
    calm.iloc[t + 1 : t + reach + 1, 0] = frame["close"].iloc[t]
    violent.iloc[t + 1 : t + reach + 1, 0] = frame["close"].iloc[t] * np.linspace(1.1, 2, reach)
    crash.iloc[t + 1 : t + reach + 1, 0] = frame["close"].iloc[t] * np.linspace(0.9, 0.5, reach)
    changed_labels = {function(scenario["close"]).iloc[t] for scenario in (calm, violent, crash)}
    assert changed_labels - {value}
    assert task.horizon == math.ceil(reach / mt.STRIDE)


def test_target_values_by_hand():
    frame = prices()
    close = frame["close"]
    r = np.log(close).diff()
    t = 500
    ahead5 = r.iloc[t + 1 : t + 6]
    vol5 = math.sqrt((ahead5**2).sum() / 5 * 252)
    assert mt.TARGETS["log_vol_next5"][0](close).iloc[t] == pytest.approx(math.log(vol5 + 1e-3))
    ahead20 = r.iloc[t + 1 : t + 21]
    past20 = r.iloc[t - 19 : t + 1].std() * math.sqrt(252)
    up = math.sqrt((ahead20**2).sum() / 20 * 252) > past20
    assert mt.TARGETS["vol_up_next20"][0](close).iloc[t] == float(up)
    move = abs(math.log(close.iloc[t + 5] / close.iloc[t]))
    sigma = r.iloc[t - 249 : t + 1].std() * math.sqrt(5)
    expected = float(move > 1.5 * sigma)
    assert mt.TARGETS["big_move_next5"][0](close).iloc[t] == expected
    move10 = math.log(close.iloc[t + 10] / close.iloc[t])
    sigma10 = r.iloc[t - 249 : t + 1].std() * math.sqrt(10)
    assert mt.TARGETS["down_move_next10"][0](close).iloc[t] == float(move10 < -sigma10)
    assert mt.TARGETS["up_next5"][0](close).iloc[t] == float(close.iloc[t + 5] > close.iloc[t])
    dip = math.log(close.iloc[t + 1 : t + 21].min() / close.iloc[t])
    sigma20 = r.iloc[t - 249 : t + 1].std() * math.sqrt(20)
    assert mt.TARGETS["drawdown_next20"][0](close).iloc[t] == float(dip < -sigma20)
    ratio = math.log((math.sqrt((ahead20**2).sum() / 20 * 252) + 1e-3) / (past20 + 1e-3))
    assert mt.TARGETS["vol_ratio_next20"][0](close).iloc[t] == pytest.approx(ratio)


def test_every_target_has_a_type_and_max_rows_keeps_the_latest():
    assert set(mt.TARGET_TYPES) == set(mt.TARGETS)
    frame = prices()
    task = mt.meta_task("XYZ", "up_next5")
    full, small = mt.task_table(task, frame), mt.task_table(task, frame, max_rows=40)
    pd.testing.assert_frame_equal(small, full.iloc[-40:].reset_index(drop=True))


def test_task_table_rows_are_strided_complete_and_typed():
    frame = prices()
    table = mt.task_table(mt.meta_task("XYZ", "big_move_next5"), frame)
    assert table.columns[0] == "date" and "big_move_next5" in table.columns
    assert not table.isna().any().any()
    assert table["big_move_next5"].dtype.kind == "i"
    gaps = frame.index.get_indexer(pd.DatetimeIndex(table["date"]))
    assert set(np.diff(gaps)) == {mt.STRIDE}
    assert table["date"].iloc[0] >= frame.index[250]  # the 250-day windows are full
