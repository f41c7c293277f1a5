"""The training pipeline: one evaluated model configuration = one recorded trial.

::

    data = dataset.prepare(params, task)                # features from the past only
    plan = evaluation.plan_splits(data, ...)            # walk-forward or k-fold + hold-out
    run = evaluate(config, data, plan, ...)             # fit per fold, metrics, hold-out
    trial = recording.record_run(run, ctx, ...)         # Trial + ModelResult rows + model

Preprocessing lives inside the model's scikit-learn :class:`~sklearn.pipeline.Pipeline`
(a :class:`~sklearn.compose.ColumnTransformer`: median imputation when the model cannot
take missing values, standardisation when it needs it, one-hot encoding of
categorical columns), so it is fitted on each training fold only and travels with the
saved model. One seed drives the model's ``random_state``, the k-fold shuffle, the
random hold-out and the permutation importances, so re-running a trial's parameters
reproduces its metrics exactly.

The final model is fitted on every row before the hold-out (purged of the rows whose
labels reach into it), scored once on the hold-out, and saved; without a hold-out it
is fitted on every row.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.actions.base import ActionError, Series
from engine.actions.context import ActionContext
from engine.lazy import pandas as pd
from engine.ml import evaluation as ev
from engine.ml.catalog_spec import ModelSpec
from engine.ml.dataset import PreparedData
from engine.ml.evaluation import SplitPlan

# Permutation importances (models without native ones): 3 seeded shuffles of each
# feature on at most the 1,000 most recent hold-out rows. Predicting the shuffled copies
# is the whole cost (31 features x 3 x 1,000 rows = 93,000 predictions).
PERMUTATION_REPEATS = 3
PERMUTATION_MAX_ROWS = 1000
THREADS_ENV = "MLTRAINER_ML_THREADS"
PERMUTATION_BATCH_BYTES = 64 * 1024 * 1024

Factory = Callable[[list[str], list[str]], Any]


# --- models ------------------------------------------------------------------------------


def resolve_spec(text: str, task: str | None) -> ModelSpec:
    """A catalogue model from an id, display name or fuzzy text ("random forest")."""
    from engine.ml import catalog

    try:
        return catalog.resolve_model(str(text), task=task)
    except (KeyError, ValueError) as error:
        message = str(error.args[0] if error.args else error)
        raise ActionError(f"{message[:1].upper()}{message[1:]}.") from None


def preprocessor(numeric: list[str], categorical: list[str], *, impute: bool, scale: bool):
    """Column-wise preprocessing; fitted with the model, on training rows only."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if numeric:
        steps = []
        if impute:
            steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("num", Pipeline(steps) if steps else "passthrough", numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("cat", encoder, categorical))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def spec_pipeline(
    spec: ModelSpec,
    model_params: dict[str, Any],
    seed: int,
    numeric: list[str],
    categorical: list[str],
):
    """``prep`` (ColumnTransformer) + ``model``; scale-sensitive regressors also get a
    standardised target (predictions come back in target units)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    try:
        model = spec.build(model_params, seed)
    except (ValueError, TypeError) as error:
        raise ActionError(f"Invalid model_params for {error}") from None
    prep = preprocessor(
        numeric, categorical, impute=not spec.handles_missing, scale=spec.needs_scaling
    )
    pipeline = Pipeline([("prep", prep), ("model", model)])
    if spec.task == "regression" and spec.needs_target_scaling:
        return TransformedTargetRegressor(regressor=pipeline, transformer=StandardScaler())
    return pipeline


@dataclass
class ModelConfig:
    """One model configuration: what to build, and how to name and record it."""

    model_id: str
    name: str
    family: str
    task: str
    model_params: dict[str, Any]
    seed: int
    factory: Factory = field(repr=False)
    members: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)

    def make(self, data: PreparedData):
        return self.factory(data.numeric, data.categorical)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.model_id,
            "name": self.name,
            "params": dict(self.model_params),
        }
        if self.members is not None:
            out["members"] = self.members
        return out


def config_for(spec: ModelSpec, model_params: dict[str, Any], seed: int) -> ModelConfig:
    params = dict(model_params or {})
    spec_pipeline(spec, params, seed, ["x"], [])  # reject unknown parameters before any work

    def factory(numeric: list[str], categorical: list[str]):
        return spec_pipeline(spec, params, seed, numeric, categorical)

    return ModelConfig(spec.id, spec.name, spec.family, spec.task, params, seed, factory)


# --- fitting -----------------------------------------------------------------------------


@dataclass
class FittedSplit:
    estimator: Any
    predicted: np.ndarray
    scores: np.ndarray | None
    is_proba: bool
    fit_seconds: float
    predict_seconds: float
    test_matrix: Any = None  # the test rows as the model itself sees them (after ``prep``)


def split_pipeline(estimator: Any) -> tuple[Any, Any] | None:
    """``(prep, model)`` of a fitted two-step spec pipeline whose ``predict`` is exactly
    ``model.predict(prep.transform(X))``; None for anything else (a target-transformed
    regressor, an ensemble)."""
    if hasattr(estimator, "regressor_"):
        return None
    steps = getattr(estimator, "steps", None)
    if not steps or [name for name, _ in steps] != ["prep", "model"]:
        return None
    return steps[0][1], steps[1][1]


def predicts_by_argmax(model: Any) -> bool:
    """Whether ``model.predict`` is, by its own definition, the class of highest
    ``predict_proba`` (scikit-learn's forests and bagging): the labels then come from
    the probabilities already computed, without a second pass over every tree."""
    from sklearn.ensemble import BaggingClassifier
    from sklearn.ensemble._forest import ForestClassifier

    method = getattr(type(model), "predict", None)
    if method is ForestClassifier.predict:
        return getattr(model, "n_outputs_", None) == 1
    return method is BaggingClassifier.predict


def fit_split(
    config: ModelConfig,
    data: PreparedData,
    train: np.ndarray,
    test: np.ndarray | None,
    label: str,
    notes: list[str],
) -> FittedSplit:
    """Fit a fresh estimator on ``train`` rows and predict ``test`` rows."""
    from sklearn.exceptions import ConvergenceWarning

    from engine.ml.metrics import positive_scores

    y_train = data.y.iloc[train]
    if data.task == "classification" and y_train.nunique() < 2:
        raise ActionError(
            f"The training rows of {label} hold a single class; use fewer splits, a smaller "
            "hold-out or a longer period."
        )
    estimator = config.make(data)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            estimator.fit(data.X.iloc[train], y_train)
        except ActionError:
            raise
        except Exception as error:  # a model that cannot fit these rows: the user's to fix
            raise ActionError(
                f"{config.name} could not be trained on {label}: {type(error).__name__}: {error}"
            ) from None
    fit_seconds = time.perf_counter() - started
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append(f"{config.name} did not fully converge on {label}.")
    if test is None:
        return FittedSplit(estimator, np.array([]), None, False, fit_seconds, 0.0)
    started = time.perf_counter()
    # A Pipeline re-applies its preprocessing on every predict/predict_proba call; the
    # rows are transformed once here and the model predicts from that matrix (the same
    # numbers: Pipeline.predict is model.predict(prep.transform(X))).
    parts = split_pipeline(estimator)
    if parts is None:
        predictor, X_test, matrix = estimator, data.X.iloc[test], None
    else:
        predictor, matrix = parts[1], parts[0].transform(data.X.iloc[test])
        X_test = matrix
    scores, is_proba = (None, False)
    if data.task == "classification":
        scores, is_proba = positive_scores(predictor, X_test)
    if is_proba and scores is not None and predicts_by_argmax(predictor):
        predicted = predictor.classes_.take(np.argmax(scores, axis=1), axis=0)
    else:
        predicted = np.asarray(predictor.predict(X_test))
    predict_seconds = time.perf_counter() - started
    return FittedSplit(estimator, predicted, scores, is_proba, fit_seconds, predict_seconds, matrix)


# --- importances -------------------------------------------------------------------------


def _unwrap(estimator: Any) -> tuple[Any, Any]:
    """(preprocessor, model) of a fitted spec pipeline, else (None, estimator)."""
    inner = getattr(estimator, "regressor_", estimator)
    steps = getattr(inner, "named_steps", None)
    if steps and "prep" in steps and "model" in steps:
        return steps["prep"], steps["model"]
    return None, inner


def native_importances(estimator: Any) -> dict[str, float] | None:
    """Impurity/gain importances or |coefficients| over the transformed features."""
    prep, model = _unwrap(estimator)
    if prep is None:
        return None
    try:
        names = [str(n) for n in prep.get_feature_names_out()]
        if hasattr(model, "feature_importances_"):
            values = np.asarray(model.feature_importances_, dtype=float)
        elif hasattr(model, "coef_"):
            values = np.abs(np.atleast_2d(np.asarray(model.coef_, dtype=float))).mean(axis=0)
        else:
            return None
    except Exception:  # noqa: BLE001 - estimators whose attributes raise when unsupported
        return None
    if values.shape != (len(names),) or not np.all(np.isfinite(values)):
        return None
    return dict(zip(names, values.tolist(), strict=True))


def _score(task: str, y_true: np.ndarray, predicted: np.ndarray) -> float:
    """Balanced accuracy (classification) or minus RMSE (regression), without the input
    validation of scikit-learn's scorers (they run thousands of times here)."""
    if task == "classification":
        recalls = [np.mean(predicted[y_true == c] == c) for c in np.unique(y_true)]
        return float(np.mean(recalls))
    return -float(np.sqrt(np.mean((np.asarray(predicted, dtype=float) - y_true) ** 2)))


def _column_groups(prep: Any, numeric: list[str], categorical: list[str]) -> dict[str, list[int]]:
    """Raw feature -> its columns in the fitted ColumnTransformer's output."""
    groups: dict[str, list[int]] = {}
    slices = prep.output_indices_
    if numeric:
        start = slices["num"].start
        for offset, name in enumerate(numeric):
            groups[name] = [start + offset]
    if categorical:
        start = slices["cat"].start
        encoder = prep.named_transformers_["cat"]
        for name, categories in zip(categorical, encoder.categories_, strict=True):
            groups[name] = list(range(start, start + len(categories)))
            start += len(categories)
    return groups


def permutation_importances(
    estimator: Any,
    data: PreparedData,
    rows: np.ndarray,
    seed: int,
    *,
    transformed: Any = None,
    predicted: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean drop of the score (balanced accuracy, or minus RMSE) over
    ``PERMUTATION_REPEATS`` seeded shuffles of each raw feature on the last
    ``PERMUTATION_MAX_ROWS`` of ``rows``.

    For a spec pipeline the preprocessing is applied once (or ``transformed``, the rows
    as the model sees them, is reused) and the model's block of columns for a feature
    (one column, or its one-hot columns) is shuffled; column-wise transforms commute
    with shuffling rows, so this equals shuffling the raw feature, at a fraction of the
    cost. ``predicted`` (the model's predictions on ``rows``) saves the unshuffled
    prediction."""
    keep = slice(-PERMUTATION_MAX_ROWS, None)
    rows = np.asarray(rows)[keep]
    y_true = data.y.to_numpy()[rows]
    parts = split_pipeline(estimator)
    if parts is not None:
        prep, model = parts
        source = transformed[keep] if transformed is not None else prep.transform(data.X.iloc[rows])
        matrix = np.array(source, dtype=float)
        groups = _column_groups(prep, data.numeric, data.categorical)
        predict = model.predict
    else:
        matrix = data.X.iloc[rows].copy()
        groups = {name: [position] for position, name in enumerate(matrix.columns)}
        predict = estimator.predict
    rng = np.random.RandomState(seed)
    unshuffled = np.asarray(predicted)[keep] if predicted is not None else predict(matrix)
    baseline = _score(data.task, y_true, np.asarray(unshuffled))
    drops: dict[str, list[float]] = {name: [] for name in groups}
    n = len(rows)
    if isinstance(matrix, pd.DataFrame):
        for _ in range(PERMUTATION_REPEATS):
            for name, columns in groups.items():
                order = rng.permutation(n)
                saved = matrix.iloc[:, columns].copy()
                matrix.iloc[:, columns] = saved.iloc[order].to_numpy()
                shuffled = np.asarray(predict(matrix))
                matrix.iloc[:, columns] = saved.to_numpy()
                drops[name].append(baseline - _score(data.task, y_true, shuffled))
        return {name: float(np.mean(values)) for name, values in drops.items()}
    # Shuffled copies are stacked and predicted in batches: one call per batch instead
    # of one per feature and repeat (most models have a sizeable cost per call). The
    # batch buffer is filled in place rather than copied and stacked.
    per_batch = max(1, max(n, PERMUTATION_BATCH_BYTES // (8 * max(matrix.shape[1], 1))) // n)
    buffer = np.empty((min(per_batch, PERMUTATION_REPEATS * len(groups)) * n, matrix.shape[1]))
    pending: list[str] = []

    def flush() -> None:
        shuffled = np.asarray(predict(buffer[: len(pending) * n]))
        for position, name in enumerate(pending):
            part = shuffled[position * n : (position + 1) * n]
            drops[name].append(baseline - _score(data.task, y_true, part))
        pending.clear()

    for _ in range(PERMUTATION_REPEATS):
        for name, columns in groups.items():
            order = rng.permutation(n)
            block = buffer[len(pending) * n : (len(pending) + 1) * n]
            block[:] = matrix
            block[:, columns] = matrix[np.ix_(order, np.asarray(columns, dtype=np.intp))]
            pending.append(name)
            if len(pending) == per_batch:
                flush()
    if pending:
        flush()
    return {name: float(np.mean(values)) for name, values in drops.items()}


# --- one evaluated configuration -----------------------------------------------------------


@dataclass
class TrainingRun:
    """Everything measured about one configuration on one split plan."""

    config: ModelConfig
    data: PreparedData
    plan: SplitPlan
    primary: str
    cost_bps: float
    folds: list[dict[str, Any]]  # per fold: metrics, timings, sizes
    cv: dict[str, dict[str, float]]  # metric -> mean/std over folds
    holdout: dict[str, float] | None
    strategy: dict[str, float] | None  # pooled out-of-sample trading statistics
    predictions: pd.DataFrame
    equity: pd.DataFrame | None
    estimator: Any
    importances: dict[str, float]
    importance_kind: str
    fit_seconds: float
    seconds: float
    notes: list[str] = field(default_factory=list)
    oos_blocks: list[float] | None = None  # the primary metric per out-of-sample block

    @property
    def metric_value(self) -> float:
        if self.primary == "sharpe" and self.strategy is not None:
            return self.strategy["sharpe"]
        return self.cv.get(self.primary, {}).get("mean", math.nan)


OOS_BLOCKS = 10  # time-ordered blocks of the out-of-sample rows, for PBO (CSCV)
MIN_BLOCK_ROWS = 5


def oos_blocks(
    primary: str, task: str, scored: list[ev.SplitScore], n_blocks: int = OOS_BLOCKS
) -> list[float] | None:
    """The primary metric on ``n_blocks`` equal, time-ordered blocks of the pooled
    out-of-sample rows of the folds (never the hold-out): the per-trial column of the
    probability of backtest overfitting. None when there are too few rows."""
    from engine.ml import metrics as mlm

    if primary == "sharpe":
        parts = [s.strategy_returns for s in scored if s.strategy_returns is not None]
        if not parts:
            return None
        returns = pd.concat(parts).sort_index(kind="stable").to_numpy(dtype=float)
        if len(returns) < n_blocks * MIN_BLOCK_ROWS:
            return None
        return [ev.annualised_sharpe(part) for part in np.array_split(returns, n_blocks)]
    frame = pd.concat([s.predictions for s in scored]).sort_index(kind="stable")
    if len(frame) < n_blocks * MIN_BLOCK_ROWS:
        return None
    binary = task == "classification" and frame["actual"].nunique() <= 2
    out = []
    for part in np.array_split(np.arange(len(frame)), n_blocks):
        rows = frame.iloc[part]
        actual, predicted = rows["actual"].to_numpy(), rows["predicted"].to_numpy()
        proba = rows["probability"].to_numpy() if binary and "probability" in rows else None
        if primary == "ic":
            bullish = proba if proba is not None else predicted
            value = mlm.information_coefficient(bullish, rows["forward_return"].to_numpy())
        else:
            value = getattr(mlm, primary)(actual, predicted, proba)
        out.append(float(value))
    return out


def ml_threads() -> int:
    """BLAS/OpenMP threads per training (MLTRAINER_ML_THREADS, default 1): jobs run side
    by side in the executor, and OpenMP models on small data slow down when they fight
    over cores; one thread also keeps results bit-for-bit reproducible."""
    import os

    try:
        return max(1, int(os.environ.get(THREADS_ENV, "1")))
    except ValueError:
        return 1


def _progress(ctx: ActionContext, fraction: float, **metrics: float) -> None:
    finite = {k: v for k, v in metrics.items() if v is not None and np.isfinite(v)}
    ctx.progress(fraction, **finite)


def evaluate(
    config: ModelConfig,
    data: PreparedData,
    plan: SplitPlan,
    *,
    primary: str,
    cost_bps: float,
    ctx: ActionContext,
    span: tuple[float, float] = (0.0, 1.0),
    score_holdout: bool = True,
) -> TrainingRun:
    """Fit and score ``config`` on every fold, then fit the final model and score the
    hold-out (unless ``score_holdout`` is False: the final model is then fitted on the
    rows before the hold-out and the hold-out stays unseen). Reports progress per fold
    and stops between folds when cancelled."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=ml_threads()):
        return _evaluate(
            config,
            data,
            plan,
            primary=primary,
            cost_bps=cost_bps,
            ctx=ctx,
            span=span,
            score_holdout=score_holdout,
        )


def _evaluate(
    config: ModelConfig,
    data: PreparedData,
    plan: SplitPlan,
    *,
    primary: str,
    cost_bps: float,
    ctx: ActionContext,
    span: tuple[float, float],
    score_holdout: bool = True,
) -> TrainingRun:
    started = time.perf_counter()
    low, high = span
    steps = plan.n_folds + 1
    notes: list[str] = list(config.notes)
    folds: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    scored_folds: list[ev.SplitScore] = []
    to_trade: list[tuple[np.ndarray, ev.SplitScore]] = []
    # The splits are backtested together after the last fit (a few calls instead of two
    # per split), unless the Sharpe ratio is the metric each fold's progress reports.
    trade_each_fold = data.financial and primary == "sharpe"
    fit_total = 0.0
    last_fold: tuple[FittedSplit, np.ndarray] | None = None

    def score(fitted: FittedSplit, train: np.ndarray, test: np.ndarray, name: str):
        scored = ev.score_split(data, test, fitted.predicted, fitted.scores, fitted.is_proba)
        if data.financial:
            if trade_each_fold:
                ev.trade_splits(data, [(test, scored)], cost_bps)
            else:
                to_trade.append((test, scored))
        parts.append(scored.predictions.assign(split=name))
        folds.append(
            {
                "split": name,
                "metrics": scored.metrics,  # the trading metrics are filled in place
                "fit_seconds": fitted.fit_seconds,
                "predict_seconds": fitted.predict_seconds,
                "n_train": int(len(train)),
                "n_test": int(len(test)),
            }
        )
        return scored

    for number, (train, test) in enumerate(plan.folds):
        ctx.raise_if_cancelled()
        fitted = fit_split(config, data, train, test, f"fold {number}", notes)
        fit_total += fitted.fit_seconds
        scored = score(fitted, train, test, f"fold_{number}")
        scored_folds.append(scored)
        last_fold = (fitted, test)
        _progress(
            ctx,
            low + (high - low) * (number + 1) / steps,
            fold=number,
            **{primary: scored.metrics.get(primary, math.nan)},
        )

    ctx.raise_if_cancelled()
    holdout = None
    if plan.holdout is not None and score_holdout:
        train, test = plan.holdout
        final = fit_split(config, data, train, test, "the rows before the hold-out", notes)
        holdout = score(final, train, test, "holdout")
    else:
        final = fit_split(config, data, plan.final_train, None, "all rows", notes)
    fit_total += final.fit_seconds
    if to_trade:
        ev.trade_splits(data, to_trade, cost_bps)

    importances = native_importances(final.estimator)
    kind = "native"
    if importances is None:
        kind = "permutation"
        if holdout is not None and plan.holdout is not None:
            source, rows = final, plan.holdout[1]
        elif last_fold is not None:
            source, rows = last_fold
        else:
            raise ValueError("no split to measure permutation importances on")
        importances = permutation_importances(
            source.estimator,
            data,
            rows,
            config.seed,
            transformed=source.test_matrix,
            predicted=source.predicted,
        )

    holdout_metrics = holdout.metrics if holdout is not None else None
    equity = ev.equity_curve(holdout) if holdout is not None else None
    strategy_parts = [s.strategy_returns for s in scored_folds if s.strategy_returns is not None]
    cv_rows = [row["metrics"] for row in folds if row["split"] != "holdout"]
    cv = ev.aggregate(cv_rows)
    strategy = None
    if data.financial and strategy_parts:
        strategy = ev.strategy_statistics(pd.concat(strategy_parts))
        bench = cv.get("benchmark_sharpe", {})
        strategy["benchmark_sharpe_fold_mean"] = bench.get("mean", math.nan)
    try:
        blocks = oos_blocks(primary, data.task, scored_folds) if scored_folds else None
    except (ValueError, KeyError):  # a metric undefined on a block: no PBO column
        blocks = None
    predictions = pd.concat(parts) if parts else pd.DataFrame()
    if len(predictions):
        predictions = predictions.rename_axis("index").reset_index()
    _progress(ctx, high, **{primary: cv.get(primary, {}).get("mean", math.nan)})
    return TrainingRun(
        config=config,
        data=data,
        plan=plan,
        primary=primary,
        cost_bps=cost_bps,
        folds=folds,
        cv=cv,
        holdout=holdout_metrics,
        strategy=strategy,
        predictions=predictions,
        equity=equity,
        estimator=final.estimator,
        importances=importances,
        importance_kind=kind,
        fit_seconds=fit_total,
        seconds=time.perf_counter() - started,
        notes=list(dict.fromkeys(notes)),
        oos_blocks=blocks,
    )


# --- results -------------------------------------------------------------------------------


def run_values(run: TrainingRun, trial_id: int | None) -> dict[str, Any]:
    """The values contract of a training action (see docs/ml.md)."""
    data, primary = run.data, run.primary
    names = ev.metric_names(data.task, data.financial)
    values: dict[str, Any] = {
        "metric_name": primary,
        "metric_value": run.metric_value,
    }
    if run.holdout is not None:
        values[f"holdout_{primary}"] = run.holdout.get(primary)
    if run.strategy is not None:
        values["sharpe"] = run.strategy["sharpe"]
        values["benchmark_sharpe"] = run.cv.get("benchmark_sharpe", {}).get("mean")
    values.update(
        {
            "trial_id": trial_id,
            "n_samples": data.n_rows,
            "n_features": len(data.feature_names),
            "fit_seconds": run.fit_seconds,
            "model_id": run.config.model_id,
            "model_name": run.config.name,
            "family": run.config.family,
            "task": data.task,
            "evaluation": run.plan.evaluation,
            "validation": run.plan.description(),
            "time_column": run.plan.time_column,
            "time_column_detected": run.plan.time_column_detected,
            "validation_override": run.plan.shuffled_dates is not None,
            "purge": run.plan.purge,
            "embargo": run.plan.embargo,
            "step": run.plan.step,
            "greater_is_better": ev.greater_is_better(primary),
            "n_folds": run.plan.n_folds,
            "n_holdout": int(len(run.plan.holdout[1])) if run.plan.holdout is not None else 0,
            "holdout_scored": run.holdout is not None,
        }
    )
    for name in names:
        stats = run.cv.get(name, {})
        if name == "sharpe" and run.strategy is not None:
            values["sharpe"] = run.strategy["sharpe"]
        else:
            values[name] = stats.get("mean")
        values[f"{name}_std"] = stats.get("std")
    if run.holdout is not None:
        for name in names:
            values[f"holdout_{name}"] = run.holdout.get(name)
        if data.financial:
            values["holdout_benchmark_sharpe"] = run.holdout.get("benchmark_sharpe")
    if run.strategy is not None:
        for key in ("strategy_sharpe_daily", "strategy_n_obs", "strategy_skew"):
            values[key] = run.strategy[key]
        values["strategy_kurtosis"] = run.strategy["strategy_kurtosis"]
        values["exposure"] = run.cv.get("exposure", {}).get("mean")
        values["cost_bps"] = run.cost_bps
        values["symbol"] = data.symbol
        values["horizon"] = data.horizon
    values.update(
        {
            "dataset_id": data.dataset_id,
            "fingerprint": data.fingerprint,
            "seed": run.config.seed,
            "split_fingerprint": run.plan.fingerprint(),
            "importance_kind": run.importance_kind,
        }
    )
    return values


def fold_table(run: TrainingRun) -> pd.DataFrame:
    described = {row["split"]: row for row in run.plan.describe(run.data.X.index)}
    rows = []
    for fold in run.folds:
        info = described.get(fold["split"], {})
        row = {"split": fold["split"], "n_train": fold["n_train"], "n_test": fold["n_test"]}
        for key in ("test_first_date", "test_last_date"):
            if key in info:
                row[key] = info[key]
        row.update(fold["metrics"])
        row["fit_seconds"] = fold["fit_seconds"]
        rows.append(row)
    return pd.DataFrame(rows)


def importance_table(run: TrainingRun) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"feature": list(run.importances), "importance": list(run.importances.values())}
    )
    frame["kind"] = run.importance_kind
    return frame.sort_values("importance", ascending=False, key=abs).reset_index(drop=True)


def holdout_predictions(run: TrainingRun) -> pd.DataFrame:
    frame = run.predictions
    if frame.empty:
        return frame
    part = frame[frame["split"] == "holdout"] if run.holdout is not None else frame
    part = part.drop(columns=["split"]).reset_index(drop=True)
    if run.data.classes is not None and run.data.kind == "table":
        labels = run.data.classes
        for column in ("actual", "predicted"):
            part[column] = [labels[int(code)] for code in part[column]]
    return part


MAX_RESIDUAL_POINTS = 2000


def confusion_counts(
    actual: np.ndarray, predicted: np.ndarray, classes: list[Any] | None, *, direction: bool
) -> pd.DataFrame:
    """Counts of (actual, predicted) label pairs: one row per actual label, one column per
    predicted label (the classes' names when the codes index them)."""
    codes = sorted(set(np.asarray(actual).tolist()) | set(np.asarray(predicted).tolist()))
    if classes is not None and all(isinstance(c, int) and 0 <= c < len(classes) for c in codes):
        codes = list(range(len(classes)))
        labels = [str(c) for c in classes]
    else:
        labels = [str(c) for c in codes]
    if direction and classes == [0, 1]:
        labels = ["down (0)", "up (1)"]
    keys = np.asarray(codes)
    counts = np.zeros((len(codes), len(codes)), dtype=int)
    rows = np.searchsorted(keys, np.asarray(actual))
    columns = np.searchsorted(keys, np.asarray(predicted))
    np.add.at(counts, (rows, columns), 1)
    frame = pd.DataFrame(counts, index=pd.Index(labels, name="actual"), columns=labels)
    return frame


def run_charts_data(run: TrainingRun) -> tuple[dict[str, pd.DataFrame], dict[str, Series]]:
    """The data the result's charts are drawn from (the UI's presenters draw them): a
    confusion-count table of the out-of-sample folds (classification) or the residuals
    out of sample (regression, thinned), and the hold-out equity curves."""
    data = run.data
    tables: dict[str, pd.DataFrame] = {}
    series: dict[str, Series] = {}
    oos = run.predictions
    title_what = data.describe()
    if not oos.empty:
        if data.task == "classification":
            folds_only = oos[oos["split"] != "holdout"]
            tables["confusion_matrix"] = confusion_counts(
                folds_only["actual"].to_numpy(),
                folds_only["predicted"].to_numpy(),
                data.classes,
                direction="direction" in title_what.lower(),
            )
        else:
            residuals = pd.DataFrame(
                {
                    "predicted": oos["predicted"].to_numpy(),
                    "residual": (oos["actual"] - oos["predicted"]).to_numpy(),
                    "split": oos["split"].astype(str).to_numpy(),
                }
            )
            series["residuals"] = Series.from_frame(
                residuals,
                x="predicted",
                labels="split",
                title=f"Residuals out of sample ({title_what})",
                max_points=MAX_RESIDUAL_POINTS,
            )
    if run.equity is not None:
        series["holdout_equity"] = Series.from_frame(
            run.equity.rename_axis("date"),
            units={column: "equity (start = 1)" for column in run.equity.columns},
            title=f"Hold-out equity, long/flat vs buy and hold ({run.cost_bps:g} bps)",
        )
    return tables, series


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"


def run_summary(run: TrainingRun, trial_id: int | None) -> str:
    data, primary = run.data, run.primary
    stats = run.cv.get(primary, {})
    how = run.plan.description()
    text = (
        f"{run.config.name} on {data.describe()}: {primary} "
        f"{_fmt(run.metric_value)} ± {_fmt(stats.get('std'))} ({how})"
    )
    if run.holdout is not None:
        text += f"; hold-out {_fmt(run.holdout.get(primary))}"
    elif run.plan.holdout is not None:
        text += "; hold-out kept unseen (not scored)"
    text += "."
    if run.strategy is not None:
        text += (
            f" Trading the predictions long/flat out of sample ({run.cost_bps:g} bps): Sharpe "
            f"{_fmt(run.strategy['sharpe'])} vs buy and hold "
            f"{_fmt(run.cv.get('benchmark_sharpe', {}).get('mean'))}"
        )
        if run.holdout is not None:
            text += f"; hold-out Sharpe {_fmt(run.holdout.get('sharpe'))}"
        text += "."
    if trial_id is not None:
        text += f" Recorded as trial {trial_id}."
    for note in data.notes + run.notes:
        text += f" {note}"
    return text
