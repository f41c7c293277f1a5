"""Leakage-free validation splits.

Temporal data (prices, time-ordered tables) is evaluated with :class:`WalkForwardSplit`:
expanding training windows, each followed by a test block further in time, with

- a **purge** of ``horizon`` rows between the last training row and the first test
  row: the label of row t uses prices up to t + horizon, so without the purge the
  last training labels would be computed from prices inside the test block;
- an **embargo** of ``embargo`` rows skipped after each test block (never tested),
  which keeps consecutive test blocks apart so that their scores are closer to
  independent (serially correlated errors would otherwise straddle the boundary);
- a **hold-out**: the final ``holdout_fraction`` of the rows is never in any fold.
  It is separated from the last test block by the embargo and a purge, so no
  cross-validation label is computed from hold-out prices. Use
  :meth:`WalkForwardSplit.holdout_split` for the final, reported-separately score.

Layout (``n`` rows, ``K`` folds, test blocks of ``T`` rows, ``h`` = horizon,
``E`` = embargo, ``H`` = hold-out rows)::

    |-- train_0 --|h|-- test_0 --|E|-- test_1 --|E| ... |-- test_K-1 --|E|h|-- hold-out H --|
    |------------ train_1 ------------|h|

Test blocks end at ``dev_end = n - H - E - h`` (``n`` without a hold-out);
``T = (dev_end - h - (K-1)E - min_train) // K`` when ``min_train`` is given, else
``(dev_end - h - (K-1)E) // (K+1)`` (the first training window is then about one
test block long). Rows left over by the integer division go to the first training
window.

When several rows share a date (a panel: many symbols per day), every count above is
in *dates*, not rows: :func:`date_starts` finds where each date's rows begin and
:func:`rows_of_units` turns date positions back into rows, so the purge and the
embargo never split a day and no test date is also a training date.
:class:`PurgedKFold` gives stacking's inner folds the same purge and embargo.

Independent (i.i.d.) tables use :func:`iid_splitter`: shuffled stratified k-fold for
classification, shuffled k-fold for regression.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split


def n_rows(X: Any) -> int:
    """Number of rows of an array/frame, or the int itself."""
    if isinstance(X, (int, np.integer)):
        return int(X)
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold as half-open row ranges ``[start, end)``."""

    number: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train(self) -> np.ndarray:
        return np.arange(0, self.train_end)

    @property
    def test(self) -> np.ndarray:
        return np.arange(self.test_start, self.test_end)


class WalkForwardSplit:
    """Expanding-window walk-forward splits with purge, embargo and a final hold-out.

    Works as ``cv=`` for :func:`sklearn.model_selection.cross_validate` (rows must be
    in time order). Indices are positions, not labels.
    """

    def __init__(
        self,
        n_splits: int = 5,
        horizon: int = 1,
        embargo: int = 0,
        min_train: int | None = None,
        holdout_fraction: float = 0.0,
    ):
        if int(n_splits) < 1:
            raise ValueError("n_splits must be at least 1")
        if int(horizon) < 0 or int(embargo) < 0:
            raise ValueError("horizon and embargo must be non-negative")
        if min_train is not None and int(min_train) < 1:
            raise ValueError("min_train must be at least 1")
        if not 0.0 <= float(holdout_fraction) < 1.0:
            raise ValueError("holdout_fraction must be in [0, 1)")
        self.n_splits = int(n_splits)
        self.horizon = int(horizon)
        self.embargo = int(embargo)
        self.min_train = None if min_train is None else int(min_train)
        self.holdout_fraction = float(holdout_fraction)

    def __repr__(self) -> str:
        return (
            f"WalkForwardSplit(n_splits={self.n_splits}, horizon={self.horizon}, "
            f"embargo={self.embargo}, min_train={self.min_train}, "
            f"holdout_fraction={self.holdout_fraction})"
        )

    # -- layout ------------------------------------------------------------------

    def holdout_size(self, X: Any) -> int:
        n = n_rows(X)
        if self.holdout_fraction <= 0:
            return 0
        return max(1, int(np.floor(n * self.holdout_fraction)))

    def holdout_start(self, X: Any) -> int:
        return n_rows(X) - self.holdout_size(X)

    def dev_end(self, X: Any) -> int:
        """End (exclusive) of the rows the folds may use."""
        n = n_rows(X)
        if self.holdout_size(X) == 0:
            return n
        return self.holdout_start(X) - self.embargo - self.horizon

    def folds(self, X: Any) -> list[Fold]:
        n = n_rows(X)
        k, h, e = self.n_splits, self.horizon, self.embargo
        dev_end = self.dev_end(X)
        room = dev_end - h - (k - 1) * e
        if self.min_train is None:
            test_size = room // (k + 1)
        else:
            test_size = (room - self.min_train) // k
        first_test = dev_end - k * test_size - (k - 1) * e
        first_train = first_test - h
        if test_size < 1 or first_train < max(1, self.min_train or 1):
            raise ValueError(
                f"{n} rows are too few for {k} walk-forward folds with horizon {h}, "
                f"embargo {e}, min_train {self.min_train} and a "
                f"{self.holdout_fraction:.0%} hold-out"
            )
        out = []
        for number in range(k):
            start = first_test + number * (test_size + e)
            out.append(Fold(number, start - h, start, start + test_size))
        return out

    # -- scikit-learn splitter protocol -----------------------------------------

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for fold in self.folds(X):
            yield fold.train, fold.test

    # -- hold-out ------------------------------------------------------------------

    def holdout_indices(self, X: Any) -> np.ndarray:
        """Rows reserved for the final hold-out score (never in any fold)."""
        return np.arange(self.holdout_start(X), n_rows(X))

    def holdout_split(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Train on everything up to the purge before the hold-out; test on the hold-out."""
        holdout = self.holdout_indices(X)
        if holdout.size == 0:
            raise ValueError("this splitter has no hold-out (holdout_fraction=0)")
        train_end = int(holdout[0]) - self.horizon
        if train_end < 1:
            raise ValueError("no training rows before the hold-out")
        return np.arange(0, train_end), holdout

    def describe(self, X: Any) -> pd.DataFrame:
        """One row per fold (and the hold-out): row ranges, sizes and, when ``X`` has a
        DatetimeIndex, the first and last dates of each part."""
        dates = X.index if isinstance(getattr(X, "index", None), pd.DatetimeIndex) else None
        rows = []

        def _row(name: str, train_end: int, start: int, end: int) -> dict[str, Any]:
            row: dict[str, Any] = {
                "fold": name,
                "train_rows": train_end,
                "test_rows": end - start,
                "train_end_row": train_end - 1,
                "test_start_row": start,
                "test_end_row": end - 1,
            }
            if dates is not None:
                row["train_last_date"] = dates[train_end - 1]
                row["test_first_date"] = dates[start]
                row["test_last_date"] = dates[end - 1]
            return row

        for fold in self.folds(X):
            rows.append(_row(str(fold.number), fold.train_end, fold.test_start, fold.test_end))
        if self.holdout_size(X):
            train, holdout = self.holdout_split(X)
            rows.append(_row("holdout", len(train), int(holdout[0]), int(holdout[-1]) + 1))
        return pd.DataFrame(rows)


# --- time steps: rows, or dates shared by several rows ---------------------------------


def date_starts(index: Any) -> np.ndarray | None:
    """First row of each distinct date of a sorted DatetimeIndex with repeated dates;
    None when every row has its own date (or there are no dates): rows are the steps."""
    if not isinstance(index, pd.DatetimeIndex) or index.is_unique or len(index) == 0:
        return None
    values = index.values
    boundaries = np.flatnonzero(values[1:] != values[:-1]) + 1
    return np.concatenate([[0], boundaries]).astype(np.int64)


def rows_of_units(units: np.ndarray, starts: np.ndarray | None, n: int) -> np.ndarray:
    """Rows of the time steps ``units`` (sorted positions); the steps themselves when
    ``starts`` is None."""
    units = np.asarray(units, dtype=np.int64)
    if starts is None:
        return units
    ends = np.append(starts[1:], n)
    lengths = ends[units] - starts[units]
    before = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.repeat(starts[units] - before, lengths) + np.arange(int(lengths.sum()))


class PurgedKFold:
    """Contiguous k-fold whose test blocks partition the rows (as stacking's
    ``cross_val_predict`` needs), with training rows purged ``horizon`` steps before
    each test block (their labels reach into it) and ``horizon + embargo`` steps after
    it (its labels reach into them). Steps are dates when several rows share one
    (``X`` with a DatetimeIndex), else rows. López de Prado (2018), ch. 7."""

    def __init__(self, n_splits: int = 5, horizon: int = 1, embargo: int = 0):
        if int(n_splits) < 2:
            raise ValueError("n_splits must be at least 2")
        self.n_splits, self.horizon, self.embargo = int(n_splits), int(horizon), int(embargo)

    def __repr__(self) -> str:
        return (
            f"PurgedKFold(n_splits={self.n_splits}, horizon={self.horizon}, embargo={self.embargo})"
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = n_rows(X)
        starts = date_starts(getattr(X, "index", None))
        steps = len(starts) if starts is not None else n
        if steps < self.n_splits:
            raise ValueError(f"{steps} time steps are too few for {self.n_splits} folds")
        for block in np.array_split(np.arange(steps), self.n_splits):
            low, high = int(block[0]), int(block[-1]) + 1
            before = np.arange(0, max(low - self.horizon, 0))
            after = np.arange(min(high + self.horizon + self.embargo, steps), steps)
            train = np.concatenate([before, after])
            if train.size == 0:
                raise ValueError("a purged fold has no training rows left; use fewer folds")
            yield rows_of_units(train, starts, n), rows_of_units(block, starts, n)


# --- i.i.d. tables -------------------------------------------------------------------


def iid_splitter(task: str, n_splits: int = 5, seed: int = 0) -> KFold | StratifiedKFold:
    """Shuffled k-fold for rows that are independent (no time order)."""
    if task == "classification":
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    if task == "regression":
        return KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    raise ValueError(f"task must be classification or regression; got {task!r}")


def iid_holdout_split(
    y: Any, fraction: float, seed: int = 0, task: str = "classification"
) -> tuple[np.ndarray, np.ndarray]:
    """A random (stratified for classification) hold-out of independent rows."""
    n = n_rows(y)
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be in (0, 1)")
    stratify = np.asarray(y) if task == "classification" else None
    train, test = train_test_split(
        np.arange(n), test_size=fraction, random_state=seed, shuffle=True, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def make_splitter(
    *,
    temporal: bool,
    task: str,
    n_splits: int = 5,
    seed: int = 0,
    horizon: int = 1,
    embargo: int = 0,
    holdout_fraction: float = 0.0,
    min_train: int | None = None,
) -> WalkForwardSplit | KFold | StratifiedKFold:
    """Walk-forward for temporal data (never shuffled folds), shuffled k-fold otherwise."""
    if temporal:
        return WalkForwardSplit(
            n_splits=n_splits,
            horizon=horizon,
            embargo=embargo,
            min_train=min_train,
            holdout_fraction=holdout_fraction,
        )
    return iid_splitter(task, n_splits=n_splits, seed=seed)
