"""Prediction tasks built from bundled daily prices, for learning what to try first.

The configuration portfolio (:mod:`engine.autonomy.portfolio`) is chosen by how
configurations did on these tasks, and ``bench/bench_autonomy.py`` builds its
evaluation tasks the same way (on symbols the portfolio never saw).

Rows are every :data:`STRIDE`-th trading day, so 5-day targets do not overlap.
Features at date t use prices up to t only; targets use prices after t only, and a
label reaching h rows ahead (:attr:`MetaTask.horizon`) must be purged and embargoed
by h rows when it is validated walk-forward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

STRIDE = 5  # trading days between rows
TRADING_DAYS = 252
BIG_MOVE_SIGMAS = 1.5


@dataclass(frozen=True)
class MetaTask:
    """A target on a symbol: what it predicts, how it is scored, how far it looks."""

    symbol: str
    target: str  # a key of TARGETS
    task: str  # classification | regression
    metric: str
    target_days: int

    @property
    def key(self) -> str:
        return f"{self.symbol.lower()}_{self.target}"

    @property
    def horizon(self) -> int:
        """Rows a label reaches ahead: the purge (and embargo) of the walk-forward."""
        return math.ceil(self.target_days / STRIDE)


def _log_vol(returns: pd.Series) -> pd.Series:
    # The floor keeps log finite on the rare flat stretches of old stock prices.
    return np.log(returns * math.sqrt(TRADING_DAYS) + 1e-3)


def past_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Features at date t from rows up to t only (rolling windows end at t).

    The last five daily log returns; log returns over 5, 20, 60 and 250 days; log
    annualised realised volatility over 5 to 250 days; log distance of the close from
    its 50- and 200-day means; drawdown from the 250-day high. With high, low and
    volume also the log high-low range (Parkinson-style volatility) of the day and its
    5- and 20-day means, and log volume over its 20-day mean.
    """
    close = frame["close"]
    r = np.log(close).diff()
    out = pd.DataFrame(index=frame.index)
    for lag in range(5):
        out[f"ret_lag{lag}"] = r.shift(lag)
    for days in (5, 20, 60, 250):
        out[f"ret_{days}"] = np.log(close / close.shift(days))
    for days in (5, 10, 20, 60, 120, 250):
        out[f"log_vol_{days}"] = _log_vol(r.rolling(days).std())
    out["dist_ma50"] = np.log(close / close.rolling(50).mean())
    out["dist_ma200"] = np.log(close / close.rolling(200).mean())
    out["drawdown_250"] = np.log(close / close.rolling(250).max())
    if {"high", "low", "volume"} <= set(frame.columns):
        day_range = np.log(frame["high"] / frame["low"])
        out["log_range_1"] = np.log(day_range + 1e-4)
        out["log_range_5"] = np.log(day_range.rolling(5).mean() + 1e-4)
        out["log_range_20"] = np.log(day_range.rolling(20).mean() + 1e-4)
        volume = frame["volume"]
        out["log_volume_ratio"] = np.log(volume / volume.rolling(20).mean())
    return out


def future_vol(returns: pd.Series, days: int) -> pd.Series:
    """Annualised realised volatility of the returns of t+1 .. t+days, at t."""
    ahead = (returns**2).rolling(days).sum().shift(-days)
    return np.sqrt(ahead / days * TRADING_DAYS)


def _log_future_vol(close: pd.Series, days: int) -> pd.Series:
    return np.log(future_vol(np.log(close).diff(), days) + 1e-3)


def _vol_up(close: pd.Series, days: int) -> pd.Series:
    """Is the realised volatility of the next ``days`` above that of the last ``days``?"""
    r = np.log(close).diff()
    ahead = future_vol(r, days)
    past = r.rolling(days).std() * math.sqrt(TRADING_DAYS)
    return (ahead > past).astype(float).where(ahead.notna() & past.notna())


def _trailing_sigma(close: pd.Series, days: int) -> pd.Series:
    """The trailing year's daily log-return volatility scaled to ``days``, at t."""
    return np.log(close).diff().rolling(250).std() * math.sqrt(days)


def _forward_return(close: pd.Series, days: int) -> pd.Series:
    """Log return from t to t+days, at t."""
    return np.log(close.shift(-days) / close)


def _up(close: pd.Series, days: int) -> pd.Series:
    """Is the log return over the next ``days`` positive?"""
    move = _forward_return(close, days)
    return (move > 0).astype(float).where(move.notna())


def _down_move(close: pd.Series, days: int) -> pd.Series:
    """Is the log return over the next ``days`` below minus one trailing-year sigma?"""
    move, sigma = _forward_return(close, days), _trailing_sigma(close, days)
    return (move < -sigma).astype(float).where(move.notna() & sigma.notna())


def _drawdown(close: pd.Series, days: int) -> pd.Series:
    """Does the close fall below minus one trailing-year sigma of its level at t at any
    time in the next ``days``?"""
    lowest = close[::-1].rolling(days).min()[::-1].shift(-1)  # min of t+1 .. t+days
    dip = np.log(lowest / close)
    sigma = _trailing_sigma(close, days)
    return (dip < -sigma).astype(float).where(dip.notna() & sigma.notna())


def _vol_ratio(close: pd.Series, days: int) -> pd.Series:
    """Log of the next ``days``' realised volatility over the last ``days``'."""
    r = np.log(close).diff()
    ahead = future_vol(r, days)
    past = r.rolling(days).std() * math.sqrt(TRADING_DAYS)
    return np.log((ahead + 1e-3) / (past + 1e-3))


def _big_move(close: pd.Series, days: int) -> pd.Series:
    """Is |log return over the next ``days``| above 1.5 trailing-year sigmas?"""
    r = np.log(close).diff()
    move = np.log(close.shift(-days) / close)
    sigma = r.rolling(250).std() * math.sqrt(days)
    return (move.abs() > BIG_MOVE_SIGMAS * sigma).astype(float).where(move.notna() & sigma.notna())


# target -> (function of the close, task, metric, days ahead)
TARGETS = {
    "log_vol_next5": (lambda c: _log_future_vol(c, 5), "regression", "r2", 5),
    "log_vol_next20": (lambda c: _log_future_vol(c, 20), "regression", "r2", 20),
    "vol_up_next20": (lambda c: _vol_up(c, 20), "classification", "balanced_accuracy", 20),
    "big_move_next5": (lambda c: _big_move(c, 5), "classification", "roc_auc", 5),
    "big_move_next20": (lambda c: _big_move(c, 20), "classification", "roc_auc", 20),
    "big_move_next10": (lambda c: _big_move(c, 10), "classification", "roc_auc", 10),
    "up_next5": (lambda c: _up(c, 5), "classification", "roc_auc", 5),
    "drawdown_next20": (lambda c: _drawdown(c, 20), "classification", "roc_auc", 20),
    "down_move_next10": (lambda c: _down_move(c, 10), "classification", "roc_auc", 10),
    "log_vol_next10": (lambda c: _log_future_vol(c, 10), "regression", "r2", 10),
    "vol_ratio_next20": (lambda c: _vol_ratio(c, 20), "regression", "r2", 20),
    "return_next20": (lambda c: _forward_return(c, 20), "regression", "r2", 20),
}

# What kind of question each target asks: the unit of leave-one-type-out validation
# (the 5- and 20-day versions of a question are one type, so holding a type out holds
# out every horizon of it).
TARGET_TYPES = {
    "log_vol_next5": "volatility level",
    "log_vol_next10": "volatility level",
    "log_vol_next20": "volatility level",
    "vol_up_next20": "volatility change",
    "vol_ratio_next20": "volatility change",
    "big_move_next5": "large move",
    "big_move_next10": "large move",
    "big_move_next20": "large move",
    "up_next5": "direction",
    "return_next20": "direction",
    "drawdown_next20": "drawdown",
    "down_move_next10": "down move",
}


def meta_task(symbol: str, target: str) -> MetaTask:
    _, task, metric, days = TARGETS[target]
    return MetaTask(symbol, target, task, metric, days)


def task_table(
    task: MetaTask, frame: pd.DataFrame | None = None, max_rows: int | None = None
) -> pd.DataFrame:
    """Every STRIDE-th trading day with complete features and a known target, with the
    date as a column (the time column of a walk-forward); the latest ``max_rows`` of
    them when given (small meta-tasks keep the portfolio's rebuild affordable)."""
    if frame is None:
        from engine.data.bundled import series

        frame = series(task.symbol)
    table = past_features(frame)
    table[task.target] = TARGETS[task.target][0](frame["close"])
    table = table.dropna().iloc[::STRIDE]
    if max_rows is not None:
        table = table.iloc[-max_rows:]
    if task.task == "classification":
        table[task.target] = table[task.target].astype(int)
    return table.rename_axis("date").reset_index()


N_SPLITS = 4


def register_table(table: pd.DataFrame, file_name: str, name: str) -> int:
    """The table as an upload in the current database (as the Data page stores one)."""
    import io

    from engine.data.upload import import_upload

    buffer = io.StringIO()
    table.to_csv(buffer, index=False, date_format="%Y-%m-%d", float_format="%.10g")
    return import_upload(buffer.getvalue().encode(), file_name, name=name).dataset_id


def evaluate(
    task: MetaTask,
    dataset_id: int,
    model_id: str,
    model_params: dict,
    seed: int,
    goal_id: int | None = None,
) -> float | None:
    """The walk-forward metric of one configuration through the ``train_model`` action
    (4 expanding folds, purge and embargo of the label's reach, final 20 % hold-out kept
    apart); None when the trial fails. The parameters come from the goal loop's own
    :func:`engine.ml.validation_plan.trial_params`: the date column is detected as it is
    for a goal on an uploaded table."""
    from engine.actions import ActionContext, UserRef, get_action
    from engine.ml.params import TrainParams
    from engine.ml.validation_plan import trial_params

    params = TrainParams(
        **trial_params(
            data={"dataset_id": dataset_id, "target_column": task.target},
            task=task.task,
            metric=task.metric,
            model_id=model_id,
            model_params=model_params,
            seed=seed,
            horizon=task.horizon,
            n_splits=N_SPLITS,
        )
    )
    context = ActionContext(user=UserRef.system(), goal_id=goal_id)
    try:
        result = get_action("train_model").run(params, context)
    except Exception:  # noqa: BLE001 - as in the executor, a failed trial scores nothing
        return None
    value = result.values.get("metric_value")
    return value if value is not None and math.isfinite(value) else None
