"""ML actions: browse the model catalogue, train, compare, tune, ensemble and predict.

Every model evaluation is honest by construction (see docs/ml.md): price targets and
time-ordered tables are validated walk-forward with a purge of ``horizon`` rows and an
embargo, never with shuffled folds; a final hold-out period is scored once, apart from
the folds; preprocessing is fitted on training rows only. Each evaluated configuration
is recorded as a trial with what is needed to reproduce it exactly.
"""

from __future__ import annotations

from engine.actions import ActionContext, ActionError, ActionResult, register
from engine.actions.base import json_safe
from engine.lazy import pandas as pd
from engine.ml import estimates as _estimates  # noqa: F401 - registers the ML estimators
from engine.ml.catalogue_view import catalogue_row
from engine.ml.params import (
    CompareParams,
    EnsembleParams,
    ListModelsParams,
    PredictParams,
    TrainParams,
    TuneParams,
)

HONESTY = (
    "Price data (symbols) is modelled one symbol at a time: features from past prices only, "
    "target = the next-horizon-day return (task='regression') or its direction "
    "(task='classification'). Time series are validated walk-forward with a purge of "
    "`horizon` rows and an `embargo`, never shuffled; a final hold-out period "
    "(`holdout_fraction`) is scored once. Uploaded tables use dataset_id + target_column "
    "(feature_columns default to every other column). A table whose rows carry dates is a "
    "time series: its date column (time_column, detected when not given) orders it and it is "
    "validated walk-forward, purged and embargoed by dates; shuffled k-fold on it needs "
    "allow_shuffled_dates=true (recorded, with a warning). The result's `validation` says "
    "which validation ran. Metrics are "
    "mean ± std over the folds: balanced_accuracy (default), accuracy, f1, roc_auc, "
    "log_loss for classification; rmse (default), mae, r2 for regression; for prices also "
    "ic (Spearman) and sharpe (annualised, of trading the predictions long/flat with "
    "cost_bps costs). Models accept catalogue ids or names ('random forest', 'XGBoost')."
)


@register(
    "list_models",
    description="""List the model catalogue (scikit-learn, XGBoost and LightGBM: about 150
    classifiers and regressors), filtered by task (classification or regression), family
    (linear, tree, ensemble, boosting, svm, kernel, neighbors, naive_bayes, neural,
    gaussian_process, discriminant, semi_supervised, meta, dummy) and free text (every
    word must appear in the id, name or aliases). Returns a table of ids, names, families,
    rough training cost, the number of tunable parameters and the flags needs_scaling,
    predicts_proba, handles_missing and supports_sample_weight. Use the ids (or names)
    with train_model, compare_models and tune_model.""",
    params=ListModelsParams,
    min_role="viewer",
    cpu_bound=False,
    category="ml",
)
def list_models(params: ListModelsParams, ctx: ActionContext) -> ActionResult:
    from engine.ml import catalog

    family = params.family.strip().lower() if params.family else None
    try:
        specs = catalog.list_models(
            task=params.task, family=family, text=params.text, two_classes=params.two_classes
        )
    except ValueError as error:
        raise ActionError(str(error)) from None
    shown = specs[: params.limit]
    table = pd.DataFrame([catalogue_row(spec) for spec in shown])
    filters = [
        f"{name}={value!r}"
        for name, value in (("task", params.task), ("family", family), ("text", params.text))
        if value
    ]
    where = f" matching {', '.join(filters)}" if filters else ""
    summary = f"{len(specs)} model(s){where} in the catalogue"
    if len(shown) < len(specs):
        summary += f" (showing the first {len(shown)})"
    if not specs:
        summary += ". Try fewer words, or list_models without filters."
    else:
        summary += ": " + ", ".join(spec.name for spec in shown[:12])
        summary += " …" if len(shown) > 12 else ""
    by_task = {task: sum(1 for s in specs if s.task == task) for task in catalog.TASKS}
    return ActionResult(
        summary=summary,
        values=json_safe({"count": len(specs), "shown": len(shown), **by_task}),
        tables={"models": table},
    )


@register(
    "train_model",
    description=f"""Train and validate one model and record it as a trial. {HONESTY}
    Returns trial_id, metric_name/metric_value (the primary metric's cross-validated
    mean), every metric's mean and `<metric>_std`, `holdout_<metric>`, the out-of-sample
    strategy statistics (sharpe, strategy_sharpe_daily, strategy_n_obs, strategy_skew,
    strategy_kurtosis), per-fold metrics, feature importances, hold-out predictions, a
    confusion matrix or residual plot and the hold-out equity curve. The fitted model is
    saved for predict. model_params are the estimator's own parameter names.""",
    params=TrainParams,
    long=True,
    cpu_bound=True,
    category="ml",
)
def train_model(params: TrainParams, ctx: ActionContext) -> ActionResult:
    # the training code loads when an action runs, not with the catalogue (start-up)
    from engine.ml import workflows

    return workflows.train(params, ctx)


@register(
    "compare_models",
    description=f"""Compare several models (catalogue defaults) on exactly the same data
    and the same validation splits, each recorded as a trial; returns a leaderboard
    sorted by the primary metric (with std across folds, the hold-out score and the
    trading Sharpe for prices), and `overfitting`: the probability of backtest
    overfitting (PBO, CSCV) of picking the best, and the deflated Sharpe ratio, counting
    every trial tried on the same data. {HONESTY}""",
    params=CompareParams,
    long=True,
    cpu_bound=True,
    category="ml",
)
def compare_models(params: CompareParams, ctx: ActionContext) -> ActionResult:
    from engine.ml import workflows

    return workflows.compare(params, ctx)


@register(
    "tune_model",
    description=f"""Tune one model's hyperparameters with an Optuna study (TPE, seeded) over
    the catalogue's search space: n_trials configurations, each evaluated on the same
    splits and recorded as a trial. model_params are held fixed (not tuned). Returns the
    best parameters, the best trial id, its cross-validated and hold-out scores and the
    optimisation history. The best of many cross-validated scores is optimistic; the
    hold-out score is the honest check, and `overfitting` gives the probability of
    backtest overfitting (PBO, CSCV) and the deflated Sharpe ratio over every trial tried
    on the same data. {HONESTY}""",
    params=TuneParams,
    long=True,
    cpu_bound=True,
    category="ml",
)
def tune_model(params: TuneParams, ctx: ActionContext) -> ActionResult:
    from engine.ml import workflows

    return workflows.tune(params, ctx)


@register(
    "build_ensemble",
    description="""Combine recorded trials (same data, task and splits) into a voting
    (soft: average probabilities, or hard: majority label; regression: average) or
    stacking ensemble (a meta-model, logistic regression or ridge by default, learns from
    the members' out-of-fold predictions). Each member keeps its trial's model and
    parameters. The ensemble is evaluated on the same splits as its members, recorded as
    a trial and saved for predict; the result compares it with its members.""",
    params=EnsembleParams,
    long=True,
    cpu_bound=True,
    category="ml",
)
def build_ensemble(params: EnsembleParams, ctx: ActionContext) -> ActionResult:
    from engine.ml import workflows

    return workflows.build_ensemble(params, ctx)


@register(
    "predict",
    description="""Predict with a trained trial's saved model on new data: for a price model
    give dates (start/end; default the last 250 trading days) and optionally another
    symbol; for a table model a dataset_id with the same feature columns. Returns a table
    of predictions (with P(up) or class probabilities, the actual outcome where it is
    already known, and whether the date was inside the model's training data) and the
    latest signal (long/flat) for prices.""",
    params=PredictParams,
    cpu_bound=True,
    category="ml",
)
def predict(params: PredictParams, ctx: ActionContext) -> ActionResult:
    from engine.ml import predict as prediction

    return prediction.predict(params, ctx)
