"""Validation plans, per-fold metrics and the out-of-sample trading statistics.

- :func:`plan_splits`: walk-forward folds (purge = horizon, embargo, final hold-out)
  for temporal data, shuffled (stratified) k-fold with a random hold-out for
  independent rows. Every model of a comparison, a study or an ensemble is evaluated
  on the same plan; :meth:`SplitPlan.fingerprint` proves it.
- :func:`score_split`: the task's metrics on one fold (or the hold-out); for price
  targets also the information coefficient (Spearman) and the positions: long when
  the model predicts up (or a positive return), flat otherwise.
- :func:`trade_splits`: the Sharpe ratio of trading those positions, the position
  decided at the close of t earning t+1's return, costs ``cost_bps`` per unit of
  turnover (:func:`engine.finance.backtest.run_positions`), and of buy and hold over
  the same days. Each test block is traded from flat to flat.
- :func:`aggregate`: mean and sample standard deviation across folds.
- :func:`strategy_statistics`: what the deflated Sharpe ratio needs from the pooled
  out-of-sample returns (per-period Sharpe, observations, skewness, kurtosis).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.actions.base import ActionError
from engine.finance import TRADING_DAYS
from engine.lazy import pandas as pd
from engine.ml import metrics as mlm
from engine.ml.dataset import PreparedData
from engine.ml.params import (
    CLASSIFICATION_METRICS,
    FINANCIAL_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
)

DEFAULT_METRIC = {"classification": "balanced_accuracy", "regression": "rmse"}


def metric_names(task: str, financial: bool) -> list[str]:
    base = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    return list(base) + (list(FINANCIAL_METRICS) if financial else [])


def primary_metric(task: str, requested: str | None, financial: bool) -> str:
    """The metric a trial is ranked by: ``requested`` (checked) or the task's default."""
    if not requested:
        return DEFAULT_METRIC[task]
    name = requested.strip().lower().replace(" ", "_").replace("-", "_")
    name = {"auc": "roc_auc", "ic": "ic", "logloss": "log_loss", "sharpe_ratio": "sharpe"}.get(
        name, name
    )
    allowed = metric_names(task, financial)
    if name not in allowed:
        extra = "" if financial else " (ic and sharpe need price data)"
        raise ActionError(
            f"Metric {requested!r} does not apply to {task}{extra}; "
            f"choose one of {', '.join(allowed)}."
        )
    return name


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


# --- splits ------------------------------------------------------------------------------


@dataclass
class SplitPlan:
    """Row positions of every fold and of the hold-out; ``final_train`` fits the model
    that is saved (every row before the hold-out, purged; all rows without one)."""

    evaluation: str  # walk_forward | kfold
    folds: list[tuple[np.ndarray, np.ndarray]]
    holdout: tuple[np.ndarray, np.ndarray] | None
    final_train: np.ndarray
    splitter: str
    # What the result states about the validation that ran (see :meth:`description`).
    step: str = "rows"  # rows | dates: the unit of the purge and the embargo
    purge: int = 0
    embargo: int = 0
    time_column: str | None = None
    time_column_detected: bool = False
    shuffled_dates: str | None = None  # the date column shuffled folds ignored (override)

    @property
    def n_folds(self) -> int:
        return len(self.folds)

    def description(self) -> str:
        """One line saying which validation ran, for the result and its page."""
        holdout = f" + a final hold-out of {len(self.holdout[1])} rows" if self.holdout else ""
        if self.evaluation == "walk_forward":
            along = ""
            if self.time_column:
                how = "detected" if self.time_column_detected else "given"
                along = f" along date column {self.time_column!r} ({how})"
            return (
                f"walk-forward{along}: {self.n_folds} expanding folds, purge {self.purge} "
                f"{self.step}, embargo {self.embargo} {self.step}{holdout}"
            )
        text = f"shuffled {self.n_folds}-fold (rows treated as independent){holdout}"
        if self.shuffled_dates:
            text += f"; OVERRIDE: the rows are dated by {self.shuffled_dates!r}"
        return text

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        parts = [part for fold in self.folds for part in fold]
        if self.holdout is not None:
            parts += list(self.holdout)
        for part in parts:
            digest.update(np.asarray(part, dtype=np.int64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()[:16]

    def describe(self, index: pd.Index) -> list[dict[str, Any]]:
        """One JSON-safe row per fold and the hold-out (sizes, ranges, index hash)."""
        rows = []
        named = [(f"fold_{k}", train, test) for k, (train, test) in enumerate(self.folds)]
        if self.holdout is not None:
            named.append(("holdout", *self.holdout))
        for name, train, test in named:
            row: dict[str, Any] = {
                "split": name,
                "n_train": int(len(train)),
                "n_test": int(len(test)),
                "train_first_row": int(train.min()),
                "train_last_row": int(train.max()),
                "test_first_row": int(test.min()),
                "test_last_row": int(test.max()),
                "test_hash": hashlib.sha256(np.asarray(test, dtype=np.int64).tobytes()).hexdigest()[
                    :12
                ],
            }
            if isinstance(index, pd.DatetimeIndex):
                row["train_last_date"] = index[int(train.max())].date().isoformat()
                row["test_first_date"] = index[int(test.min())].date().isoformat()
                row["test_last_date"] = index[int(test.max())].date().isoformat()
            rows.append(row)
        return rows


def plan_splits(
    data: PreparedData,
    *,
    validation: str,
    n_splits: int,
    embargo: int,
    holdout_fraction: float,
    seed: int,
) -> SplitPlan:
    from engine.ml.splits import (
        WalkForwardSplit,
        date_starts,
        iid_holdout_split,
        iid_splitter,
        rows_of_units,
    )

    n = data.n_rows
    time_column = data.provenance.get("time_column")
    detected = bool(data.provenance.get("time_column_detected"))
    if data.temporal:
        if validation == "kfold":
            raise ActionError(
                "Temporal data (prices, or a table with a time column) must be validated "
                "walk-forward, not with shuffled k-fold: shuffled folds train on the future."
            )
        splitter = WalkForwardSplit(
            n_splits=n_splits,
            horizon=data.horizon,
            embargo=embargo,
            holdout_fraction=holdout_fraction,
        )
        # Rows sharing a date move together: the folds, the purge, the embargo and the
        # hold-out are laid out over the distinct dates, then mapped back to rows.
        starts = date_starts(data.X.index)
        steps = len(starts) if starts is not None else n

        def rows(units: np.ndarray) -> np.ndarray:
            return rows_of_units(units, starts, n)

        try:
            folds = [(rows(train), rows(test)) for train, test in splitter.split(steps)]
            holdout = None
            if holdout_fraction > 0:
                train, test = splitter.holdout_split(steps)
                holdout = (rows(train), rows(test))
        except ValueError as error:
            raise ActionError(
                f"{str(error)[0].upper()}{str(error)[1:]}. Use fewer splits, a smaller "
                "embargo or hold-out, or a longer period."
            ) from None
        final_train = holdout[0] if holdout is not None else np.arange(n)
        return SplitPlan(
            "walk_forward",
            folds,
            holdout,
            final_train,
            repr(splitter) + (" over distinct dates" if starts is not None else ""),
            step="dates" if starts is not None else "rows",
            purge=data.horizon,
            embargo=embargo,
            time_column=time_column if data.kind == "table" else None,
            time_column_detected=detected,
        )

    y = data.y.to_numpy()
    if data.task == "classification":
        smallest = int(pd.Series(y).value_counts().min())
        needed = n_splits + (1 if holdout_fraction > 0 else 0)
        if smallest < needed:
            raise ActionError(
                f"The rarest class has {smallest} row(s); stratified {n_splits}-fold "
                f"validation{' with a hold-out' if holdout_fraction > 0 else ''} needs at "
                f"least {needed}. Use fewer splits or more data."
            )
    holdout = None
    dev = np.arange(n)
    if holdout_fraction > 0:
        dev, test = iid_holdout_split(y, holdout_fraction, seed=seed, task=data.task)
        holdout = (dev, test)
    splitter = iid_splitter(data.task, n_splits=n_splits, seed=seed)
    folds = [
        (dev[train], dev[test]) for train, test in splitter.split(np.zeros((len(dev), 1)), y[dev])
    ]
    return SplitPlan(
        "kfold",
        folds,
        holdout,
        dev,
        repr(splitter),
        shuffled_dates=data.provenance.get("shuffled_dates"),
    )


# --- scoring -------------------------------------------------------------------------------


@dataclass
class SplitScore:
    """Metrics of one split and what the tables, figures and trading statistics need."""

    metrics: dict[str, float]
    predictions: pd.DataFrame  # index label, actual, predicted, score, forward return, position
    long: np.ndarray | None = None  # price targets: 1 where the split is long, else 0
    strategy_returns: pd.Series | None = None  # filled by trade_splits
    benchmark_returns: pd.Series | None = None


def up_scores(task: str, predicted: np.ndarray, scores: np.ndarray | None, is_proba: bool):
    """A score that ranks rows by how bullish the prediction is (for the IC)."""
    if task == "regression":
        return np.asarray(predicted, dtype=float)
    if scores is None:
        return np.asarray(predicted, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 2:
        return scores[:, -1] if scores.shape[1] == 2 else None
    return scores


def annualised_sharpe(returns: pd.Series | np.ndarray) -> float:
    from engine.finance.metrics import sharpe

    values = np.asarray(returns, dtype=float)
    if values.size < 2:
        return math.nan
    return float(sharpe(values))


def score_split(
    data: PreparedData,
    test: np.ndarray,
    predicted: np.ndarray,
    scores: np.ndarray | None,
    is_proba: bool,
) -> SplitScore:
    """The task's metrics on the ``test`` rows, and for price targets the IC and the
    long/flat positions (their Sharpe ratios come from :func:`trade_splits`)."""
    y_true = data.y.to_numpy()[test]
    if data.task == "classification":
        values = mlm.classification_metrics(y_true, predicted, scores if is_proba else None)
        if not is_proba and scores is not None:
            values["roc_auc"] = mlm.roc_auc(y_true, predicted, scores)
    else:
        values = mlm.regression_metrics(y_true, predicted)
    index = data.X.index[test]
    frame = pd.DataFrame({"actual": y_true, "predicted": predicted}, index=index)
    bullish = up_scores(data.task, predicted, scores, is_proba)
    if data.task == "classification" and scores is not None and is_proba:
        proba = np.asarray(scores, dtype=float)
        frame["probability"] = proba[:, -1] if proba.shape[1] == 2 else proba.max(axis=1)
    out = SplitScore(values, frame)
    if data.financial:
        if data.forward_returns is None:
            raise ValueError("price data prepared without its forward returns")
        realised = data.forward_returns.to_numpy()[test]
        long = (predicted == 1) if data.task == "classification" else (predicted > 0)
        values["ic"] = (
            mlm.information_coefficient(bullish, realised) if bullish is not None else math.nan
        )
        values["sharpe"] = math.nan  # trade_splits
        values["benchmark_sharpe"] = math.nan
        values["exposure"] = float(np.mean(long))
        frame["forward_return"] = realised
        frame["position"] = long.astype(float)
        out.long = long.astype(float)
    return out


@dataclass
class _Window:
    """One split's trading days: price rows ``[start, end)`` of the traded asset."""

    score: SplitScore
    dates: pd.Index
    start: int
    end: int


def trade_splits(
    data: PreparedData, splits: list[tuple[np.ndarray, SplitScore]], cost_bps: float
) -> None:
    """Trade each split's long/flat positions and fill its ``sharpe``,
    ``benchmark_sharpe`` and daily returns (:func:`equity_curve` draws them).

    A position decided at the close of t earns t+1's return; each split is traded from
    flat before its first date to flat after its last, against buy and hold over the
    same days, both with ``cost_bps`` per unit of turnover, through
    :func:`engine.finance.backtest.run_positions`. Splits whose windows (their dates and
    the next price date, when the last position is closed) do not touch are backtested
    in one call for the strategy and one for buy and hold: between the windows the
    position is flat, which earns nothing and costs nothing, so every split's daily
    returns are exactly those of backtesting it alone."""
    from engine.finance.backtest import run_positions

    if data.close is None:
        raise ValueError("only price data can be traded (this dataset has no close)")
    prices = data.close.dropna().to_frame("asset")
    windows: list[_Window] = []
    for test, score in splits:
        dates = data.X.index[test]
        start = prices.index.get_loc(dates[0])
        end = min(prices.index.get_loc(dates[-1]) + 2, len(prices))
        windows.append(_Window(score, dates, start, end))
    batches: list[list[_Window]] = []
    for window in windows:
        if batches and window.start >= batches[-1][-1].end:
            batches[-1].append(window)
        else:
            batches.append([window])
    for batch in batches:
        first, last = batch[0].start, batch[-1].end
        span = prices.iloc[first:last]
        dates = batch[0].dates.append([w.dates for w in batch[1:]])
        long = np.concatenate([w.score.long for w in batch])
        strategy = run_positions(span, pd.DataFrame({"asset": long}, index=dates), cost_bps)
        hold = pd.DataFrame({"asset": np.ones(len(dates))}, index=dates)
        benchmark = run_positions(span, hold, cost_bps=cost_bps)
        for window in batch:
            part = slice(window.start - first, window.end - first)
            _fill_trading(window.score, strategy.returns.iloc[part], benchmark.returns.iloc[part])


def _fill_trading(score: SplitScore, strategy: pd.Series, benchmark: pd.Series) -> None:
    score.metrics["sharpe"] = annualised_sharpe(strategy)
    score.metrics["benchmark_sharpe"] = annualised_sharpe(benchmark)
    score.strategy_returns = strategy
    score.benchmark_returns = benchmark


def equity_curve(score: SplitScore) -> pd.DataFrame | None:
    """Growth of 1 of the traded split (strategy and buy and hold) and its daily net returns."""
    strategy, benchmark = score.strategy_returns, score.benchmark_returns
    if strategy is None or benchmark is None:
        return None
    return pd.DataFrame(
        {
            "strategy": (1.0 + strategy).cumprod(),
            "buy_and_hold": (1.0 + benchmark).cumprod(),
            "net_return": strategy,
        }
    ).rename_axis("date")


def aggregate(per_split: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof=1) of each metric over the folds,
    ignoring folds where a metric is undefined (NaN)."""
    names = list(dict.fromkeys(name for row in per_split for name in row))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        values = np.array([row.get(name, math.nan) for row in per_split], dtype=float)
        finite = values[np.isfinite(values)]
        out[name] = {
            "mean": float(finite.mean()) if finite.size else math.nan,
            "std": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
        }
    return out


def strategy_statistics(returns: pd.Series) -> dict[str, float]:
    """Per-period Sharpe ratio, observations, skewness and (non-excess) kurtosis of the
    pooled out-of-sample strategy returns, and the annualised Sharpe ratio."""
    from scipy import stats

    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    n = int(values.size)
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    if n < 3 or std == 0.0:
        return {
            "strategy_sharpe_daily": math.nan,
            "strategy_n_obs": n,
            "strategy_skew": math.nan,
            "strategy_kurtosis": math.nan,
            "sharpe": math.nan,
        }
    daily = float(values.mean() / std)
    return {
        "strategy_sharpe_daily": daily,
        "strategy_n_obs": n,
        "strategy_skew": float(stats.skew(values)),
        "strategy_kurtosis": float(stats.kurtosis(values, fisher=False)),
        "sharpe": daily * math.sqrt(TRADING_DAYS),
    }
