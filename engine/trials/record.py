"""The typed trial record: what the ML pipeline writes and every reader parses.

The database keeps the trial's JSON columns (``metrics``, ``holdout_metrics``,
``importances``, ``reproducibility``, ``feature_set``) and the per-split
``model_results`` rows; these pydantic models are their one schema. The pipeline
(:mod:`engine.ml.recording`) builds them and stores ``model_dump(mode="json")``;
readers call :func:`parse` (or :meth:`Trial.from_row`) and never pick keys out of
the raw dicts.

Shapes (NaN and infinities are stored as null):

- ``metrics``: ``{metric: {"mean", "std"}}`` over the folds, and for price targets
  ``sharpe`` pooled over every out-of-sample day (``pooled: true``, ``fold_mean`` the
  mean of the per-fold ratios) and ``strategy`` (the pooled trading statistics).
- ``holdout_metrics``: ``{metric: value}`` of the final model on the hold-out.
- ``importances``: ``{"kind": "native" | "permutation", "values": {feature: value}}``.
- ``reproducibility``: dataset id and fingerprint, the data spec prediction rebuilds
  features from, seed, model and parameters, split plan and its fingerprint, primary
  metric, cost, library versions; and provenance added by the action (comparison,
  study, ensemble members) or later (the autonomous loop's proposal).
- per split (``model_results.metrics``): the split's metrics and ``split``, the row
  ranges and dates of its training and test rows; the hold-out of a price target also
  ``equity`` (growth of 1, strategy and buy and hold). It lives with the split, not in
  the trial row, so listings and exports do not read hundreds of points per trial.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

Number = float | None


def _finite(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class MetricStats(_Record):
    """One metric over the cross-validation folds."""

    mean: Number = None
    std: Number = None
    # sharpe of price targets: ``mean`` is pooled over every out-of-sample day,
    # ``fold_mean`` the mean of the per-fold ratios.
    fold_mean: Number = None
    pooled: bool = False

    _finite_values = field_validator("mean", "std", "fold_mean", mode="before")(_finite)

    @model_serializer(mode="wrap")
    def _stored(self, handler: Any) -> dict[str, Any]:
        """``{"mean", "std"}``; the pooled Sharpe ratio adds ``fold_mean`` and ``pooled``."""
        out = handler(self)
        if not self.pooled:
            out.pop("pooled", None)
            if self.fold_mean is None:
                out.pop("fold_mean", None)
        return out


class StrategyStats(_Record):
    """Trading the out-of-sample predictions long/flat, all folds' days pooled."""

    sharpe: Number
    strategy_sharpe_daily: Number
    strategy_n_obs: int
    strategy_skew: Number
    strategy_kurtosis: Number
    benchmark_sharpe_fold_mean: Number = None

    _finite_values = field_validator(
        "sharpe",
        "strategy_sharpe_daily",
        "strategy_skew",
        "strategy_kurtosis",
        "benchmark_sharpe_fold_mean",
        mode="before",
    )(_finite)


class EquityCurve(_Record):
    """Growth of 1 on the hold-out: the long/flat strategy and buy and hold, net of
    ``cost_bps`` per unit of turnover."""

    dates: list[str]
    strategy: list[Number]
    buy_and_hold: list[Number]
    cost_bps: float

    @field_validator("strategy", "buy_and_hold", mode="before")
    @classmethod
    def _finite_list(cls, values: Any) -> Any:
        return [_finite(v) for v in values] if isinstance(values, list) else values


class TrialMetrics(BaseModel):
    """The ``metrics`` column: :class:`MetricStats` by metric name, and for price
    targets the pooled trading statistics."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)
    __pydantic_extra__: dict[str, MetricStats] = Field(init=False)

    strategy: StrategyStats | None = None
    # The primary metric on equal, time-ordered blocks of the out-of-sample rows: the
    # columns of the probability of backtest overfitting (engine.feedback.overfitting).
    oos_blocks: list[Number] | None = None

    _finite_blocks = field_validator("oos_blocks", mode="before")(
        lambda v: [_finite(x) for x in v] if isinstance(v, list) else v
    )

    @model_serializer(mode="wrap")
    def _stored(self, handler: Any) -> dict[str, Any]:
        """Only price targets store ``strategy``; trials before PBO have no blocks."""
        out = handler(self)
        for name in ("strategy", "oos_blocks"):
            if out.get(name) is None:
                out.pop(name, None)
        return out

    @property
    def cv(self) -> dict[str, MetricStats]:
        """Every metric's mean and standard deviation over the folds."""
        return dict(self.__pydantic_extra__ or {})

    def stats(self, name: str | None) -> MetricStats | None:
        return self.cv.get(name) if name else None


class Importances(_Record):
    kind: Literal["native", "permutation"]
    values: dict[str, Number]

    _finite_values = field_validator("values", mode="before")(
        lambda v: {k: _finite(x) for k, x in v.items()} if isinstance(v, dict) else v
    )

    def ranked(self) -> list[tuple[str, float]]:
        """(feature, value) largest magnitude first, features without a value left out."""
        known = [(k, v) for k, v in self.values.items() if v is not None]
        return sorted(known, key=lambda kv: abs(kv[1]), reverse=True)


class SplitInfo(_Record):
    """Which rows one split trained and tested on (row numbers of the prepared data)."""

    split: str
    n_train: int
    n_test: int
    train_first_row: int
    train_last_row: int
    test_first_row: int
    test_last_row: int
    test_hash: str
    train_last_date: str | None = None
    test_first_date: str | None = None
    test_last_date: str | None = None


class DataSpec(_Record):
    """What prediction needs to rebuild the features the same way."""

    kind: Literal["prices", "table"]
    task: Literal["classification", "regression"]
    temporal: bool
    symbol: str | None = None
    source: str | None = None
    horizon: int | None = None
    dataset_id: int | None = None
    fingerprint: str | None = None
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    classes: list[Any] | None = None
    target_column: str | None = None
    time_column: str | None = None
    first_index: Any = None
    last_index: Any = None


class ModelDescription(_Record):
    id: str
    name: str
    params: dict[str, Any]
    members: list[Any] | None = None


class Proposal(_Record):
    """Who proposed the configuration (the autonomous loop) and why."""

    by: str
    reason: str | None = None
    claude_model: str | None = None


class Reproducibility(_Record):
    """What re-running the trial needs to get the same numbers. A failed trial records
    only the seed, the library versions and the action's provenance."""

    seed: int
    versions: dict[str, str | None]
    dataset_id: int | None = None
    fingerprint: str | None = None
    data: DataSpec | None = None
    model: ModelDescription | None = None
    evaluation: Literal["walk_forward", "kfold"] | None = None
    validation: str | None = None  # which validation ran, in words (the result says it too)
    splitter: str | None = None
    split_fingerprint: str | None = None
    splits: list[SplitInfo] = Field(default_factory=list)
    primary_metric: str | None = None
    cost_bps: float | None = None
    # provenance written by the action that ran the trial
    requested_model: str | None = None
    comparison: dict[str, Any] | None = None
    study: dict[str, Any] | None = None
    members: list[Any] | None = None
    train_params: dict[str, Any] | None = None
    # written later by the autonomous loop
    proposal: Proposal | None = None
    holdout_check_of: int | None = None  # this run scored the hold-out of that trial

    def split(self, name: str) -> SplitInfo | None:
        return next((s for s in self.splits if s.split == name), None)


class SplitResult(_Record):
    """One fold's (or the hold-out's) measurements: a ``model_results`` row."""

    model_id: str
    split: str
    metrics: dict[str, Number]
    info: SplitInfo | None = None
    equity: EquityCurve | None = None  # the hold-out of a price target
    fit_seconds: Number = None
    predict_seconds: Number = None
    n_train: int | None = None
    n_test: int | None = None

    @property
    def is_fold(self) -> bool:
        return self.split.startswith("fold_")

    @property
    def order(self) -> int:
        """Folds in number order, the hold-out last."""
        try:
            return int(self.split.rsplit("_", 1)[1]) if self.is_fold else 10**6
        except ValueError:
            return 10**6

    @classmethod
    def from_row(cls, row: Any) -> SplitResult:
        """A ``storage.repositories.trials.ModelResultRecord``; its metrics JSON holds the
        split's metrics and, under ``split``, its :class:`SplitInfo`."""
        metrics = dict(row.metrics or {})
        info = metrics.pop("split", None)
        equity = metrics.pop("equity", None)
        return cls(
            model_id=row.model_id,
            split=row.split,
            metrics={k: _finite(v) for k, v in metrics.items()},
            info=info or None,
            equity=equity,
            fit_seconds=row.fit_seconds,
            predict_seconds=row.predict_seconds,
            n_train=row.n_train,
            n_test=row.n_test,
        )

    def stored_metrics(self) -> dict[str, Any]:
        """The ``model_results.metrics`` JSON of this split."""
        out: dict[str, Any] = dict(self.metrics)
        if self.info is not None:
            out["split"] = self.info.model_dump(mode="json", exclude_none=True)
        if self.equity is not None:
            out["equity"] = self.equity.model_dump(mode="json")
        return out


TrialStatus = Literal["succeeded", "failed"]  # a cancelled training records no trial


class Trial(_Record):
    """One evaluated configuration, typed. Built from a trial row with :func:`parse`."""

    id: int
    job_id: int | None = None
    goal_id: int | None = None
    user_id: int | None = None
    dataset_id: int | None = None
    action: str
    model_id: str | None = None
    family: str | None = None
    task: Literal["classification", "regression"] | None = None
    status: TrialStatus
    metric_name: str | None = None
    metric_value: Number = None
    params: dict[str, Any]
    metrics: TrialMetrics | None = None
    holdout: dict[str, Number] | None = None
    feature_set: list[str] | None = None
    importances: Importances | None = None
    reproducibility: Reproducibility
    seed: int
    artifact_path: str | None = None
    error: str | None = None
    duration_s: Number = None
    created_at: datetime

    _finite_values = field_validator("metric_value", "duration_s", mode="before")(_finite)

    @classmethod
    def from_row(cls, row: Any) -> Trial:
        """A ``storage.repositories.trials.TrialRecord`` (the row's raw JSON) validated."""
        return cls(
            id=row.id,
            job_id=row.job_id,
            goal_id=row.goal_id,
            user_id=row.user_id,
            dataset_id=row.dataset_id,
            action=row.action,
            model_id=row.model_id,
            family=row.family,
            task=row.task,
            status=row.status,
            metric_name=row.metric_name,
            metric_value=row.metric_value,
            params=row.params or {},
            metrics=row.metrics or None,
            holdout=row.holdout_metrics,
            feature_set=row.feature_set,
            importances=row.importances or None,
            reproducibility=row.reproducibility,
            seed=row.seed,
            artifact_path=row.artifact_path,
            error=row.error,
            duration_s=row.duration_s,
            created_at=row.created_at,
        )

    # --- the primary metric ---------------------------------------------------------

    @property
    def primary(self) -> MetricStats | None:
        """The primary metric over the folds."""
        return self.metrics.stats(self.metric_name) if self.metrics is not None else None

    @property
    def primary_std(self) -> float | None:
        return self.primary.std if self.primary is not None else None

    @property
    def primary_holdout(self) -> float | None:
        if self.holdout is None or not self.metric_name:
            return None
        return self.holdout.get(self.metric_name)

    @property
    def strategy(self) -> StrategyStats | None:
        return self.metrics.strategy if self.metrics is not None else None

    def cv_mean(self, name: str) -> float | None:
        """``name``'s mean over the folds (the pooled value for the Sharpe ratio)."""
        stats = self.metrics.stats(name) if self.metrics is not None else None
        return stats.mean if stats is not None else None

    def flat_metrics(self) -> dict[str, float]:
        """Every metric as one number: the primary value, each metric's fold mean and
        each hold-out value (``holdout <name>``): what a re-run must reproduce."""
        out: dict[str, float] = {}
        if self.metric_name and self.metric_value is not None:
            out[self.metric_name] = self.metric_value
        for name, stats in (self.metrics.cv if self.metrics is not None else {}).items():
            if stats.mean is not None:
                out.setdefault(name, stats.mean)
        for name, value in (self.holdout or {}).items():
            if value is not None:
                out[f"holdout {name}"] = value
        return out


def parse(row: Any) -> Trial:
    """The typed record of a trial row (raises ``pydantic.ValidationError`` on a row
    that does not follow the schema); a record already typed is returned as it is."""
    return row if isinstance(row, Trial) else Trial.from_row(row)


def parse_all(rows: list[Any]) -> list[Trial]:
    return [parse(row) for row in rows]
