"""Walk-forward splits: order, purge, embargo, hold-out, hand-computed layouts."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

from engine.ml.splits import WalkForwardSplit, iid_holdout_split, iid_splitter, make_splitter


def _ranges(cv, n):
    return [
        ((int(tr[0]), int(tr[-1]) + 1), (int(te[0]), int(te[-1]) + 1)) for tr, te in cv.split(n)
    ]


def test_hand_computed_without_holdout():
    # n=30, K=3, h=2, E=1: T = (30-2-2)//4 = 6; first test starts 30-18-2 = 10
    cv = WalkForwardSplit(n_splits=3, horizon=2, embargo=1)
    assert _ranges(cv, 30) == [
        ((0, 8), (10, 16)),
        ((0, 15), (17, 23)),
        ((0, 22), (24, 30)),
    ]
    assert cv.holdout_indices(30).size == 0
    with pytest.raises(ValueError, match="no hold-out"):
        cv.holdout_split(30)


def test_hand_computed_with_holdout():
    # n=40, 25% hold-out -> rows 30..39; dev ends at 30 - E - h = 27; T = 23//4 = 5
    cv = WalkForwardSplit(n_splits=3, horizon=2, embargo=1, holdout_fraction=0.25)
    assert _ranges(cv, 40) == [
        ((0, 8), (10, 15)),
        ((0, 14), (16, 21)),
        ((0, 20), (22, 27)),
    ]
    np.testing.assert_array_equal(cv.holdout_indices(40), np.arange(30, 40))
    train, holdout = cv.holdout_split(40)
    np.testing.assert_array_equal(train, np.arange(0, 28))  # purge of h=2 before row 30
    np.testing.assert_array_equal(holdout, np.arange(30, 40))


def test_hand_computed_with_min_train():
    # n=20, K=2, h=1, E=0, min_train=10: T = (20-1-10)//2 = 4; first test at 12
    cv = WalkForwardSplit(n_splits=2, horizon=1, min_train=10)
    assert _ranges(cv, 20) == [((0, 11), (12, 16)), ((0, 15), (16, 20))]


GRID = list(itertools.product([60, 257, 1000, 2500], [2, 5, 8], [0, 1, 5, 20], [0, 3, 10]))


@pytest.mark.parametrize("holdout", [0.0, 0.2])
def test_invariants_over_a_grid(holdout):
    for n, n_splits, horizon, embargo in GRID:
        _check_invariants(n, n_splits, horizon, embargo, holdout)


def _check_invariants(n, n_splits, horizon, embargo, holdout):
    cv = WalkForwardSplit(n_splits, horizon, embargo, holdout_fraction=holdout)
    try:
        folds = list(cv.split(np.zeros((n, 2))))
    except ValueError:
        assert n < 100  # only tiny histories may be too short
        return
    assert len(folds) == cv.get_n_splits() == n_splits
    held = set(cv.holdout_indices(n).tolist())
    previous_test_end = None
    for train, test in folds:
        assert train.size >= 1 and test.size >= 1
        assert train.max() < test.min()  # no train index >= any test index
        assert test.min() - train.max() - 1 >= horizon  # purge
        assert train[0] == 0 and np.all(np.diff(train) == 1)  # expanding window
        assert not held & set(train.tolist()) and not held & set(test.tolist())
        if previous_test_end is not None:
            assert test.min() - previous_test_end >= embargo  # embargo after each block
        previous_test_end = test.max() + 1
    sizes = {test.size for _, test in folds}
    assert len(sizes) == 1  # equal test blocks
    if holdout:
        start = n - int(np.floor(n * holdout))
        assert held == set(range(start, n))
        assert start - previous_test_end >= horizon + embargo  # no CV label from hold-out
        train, test = cv.holdout_split(n)
        assert test.min() - train.max() - 1 == horizon


def test_too_short_history_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        list(WalkForwardSplit(n_splits=5, horizon=5, embargo=5).split(np.zeros((20, 1))))


def test_parameter_validation():
    with pytest.raises(ValueError):
        WalkForwardSplit(n_splits=0)
    with pytest.raises(ValueError):
        WalkForwardSplit(horizon=-1)
    with pytest.raises(ValueError):
        WalkForwardSplit(holdout_fraction=1.0)


def test_works_with_cross_validate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    cv = WalkForwardSplit(n_splits=4, horizon=1, embargo=2, holdout_fraction=0.2)
    result = cross_validate(LogisticRegression(), X, y, cv=cv, scoring="roc_auc")
    assert result["test_score"].shape == (4,)
    assert np.all(result["test_score"] > 0.6)


def test_describe_reports_dates():
    index = pd.bdate_range("2020-01-01", periods=200)
    X = pd.DataFrame({"a": np.arange(200)}, index=index)
    table = WalkForwardSplit(n_splits=3, horizon=5, embargo=2, holdout_fraction=0.2).describe(X)
    assert list(table["fold"]) == ["0", "1", "2", "holdout"]
    assert (table["test_first_date"] > table["train_last_date"]).all()
    assert table.iloc[-1]["test_rows"] == 40


def test_iid_splitters_are_shuffled_and_seeded():
    y = np.array([0, 1] * 50)
    cv = iid_splitter("classification", n_splits=5, seed=3)
    assert isinstance(cv, StratifiedKFold) and cv.shuffle and cv.random_state == 3
    for _, test in cv.split(np.zeros((100, 1)), y):
        assert y[test].mean() == pytest.approx(0.5)
        assert np.any(np.diff(test) > 1)  # not contiguous blocks
    reg = iid_splitter("regression", n_splits=4, seed=1)
    assert isinstance(reg, KFold) and reg.shuffle
    train, test = iid_holdout_split(y, 0.2, seed=0)
    assert len(test) == 20 and y[test].mean() == pytest.approx(0.5)
    assert not set(train) & set(test)
    with pytest.raises(ValueError):
        iid_splitter("clustering")


def test_make_splitter_never_shuffles_temporal_data():
    cv = make_splitter(temporal=True, task="classification", horizon=3, embargo=2)
    assert isinstance(cv, WalkForwardSplit) and cv.horizon == 3
    assert isinstance(make_splitter(temporal=False, task="regression"), KFold)
