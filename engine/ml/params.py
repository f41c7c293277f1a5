"""Parameter models of the ML actions: the contract shared by the training pipeline,
the goals and the autonomous loop, the chat planner and the pages."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions.bounds import (
    MAX_MODEL_PARAMS,
    ColumnList,
    ColumnName,
    Name,
    SourceName,
    SymbolList,
)

ModelParams = Annotated[dict[Name, Any], Field(max_length=MAX_MODEL_PARAMS)]

Task = Literal["classification", "regression"]
Validation = Literal["walk_forward", "kfold"]

CLASSIFICATION_METRICS = ("balanced_accuracy", "accuracy", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
FINANCIAL_METRICS = ("ic", "sharpe")
LOWER_IS_BETTER = {"log_loss", "rmse", "mae"}
ALLOW_SHUFFLED = (
    "With validation='kfold' on a table whose rows carry dates: shuffle anyway (an explicit "
    "override, recorded with the trial and warned about in the result)."
)


class DataSpec(BaseModel):
    """Where the rows come from: a price dataset (symbols) or an uploaded table."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    symbols: SymbolList | None = Field(
        None, description="Price data: one symbol to model (features from its own past)."
    )
    source: SourceName = Field("bundled", description="bundled | polygon | synthetic | upload:<id>")
    start: date | None = None
    end: date | None = None
    dataset_id: int | None = Field(None, description="An uploaded table (Data page) instead.")
    target_column: ColumnName | None = Field(
        None, description="Target column of an uploaded table."
    )
    feature_columns: ColumnList | None = Field(None, description="Default: all other columns.")
    time_column: ColumnName | None = Field(
        None, description="Set when table rows are ordered in time (then walk-forward applies)."
    )
    horizon: int = Field(1, ge=1, le=60, description="Price data: predict h days ahead.")

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if not self.symbols and self.dataset_id is None:
            raise ValueError("give symbols (price data) or dataset_id (an uploaded table)")
        if self.dataset_id is not None and not self.target_column:
            raise ValueError("an uploaded table needs target_column")
        return self

    @property
    def temporal(self) -> bool:
        return bool(self.symbols) or self.time_column is not None


class TrainParams(DataSpec):
    model_id: Name = Field(..., description="Catalogue id or name, e.g. 'HistGradientBoosting'.")
    task: Task = Field(
        "classification",
        description="Price data: classification = next-h-day direction, regression = return.",
    )
    validation: Validation = Field(
        "walk_forward", description="walk_forward (time series) or kfold (i.i.d. tables only)."
    )
    n_splits: int = Field(5, ge=2, le=20)
    embargo: int = Field(5, ge=0, le=250, description="Rows skipped after each test block.")
    holdout_fraction: float = Field(0.2, ge=0.0, le=0.5, description="Final period kept apart.")
    model_params: ModelParams = Field(default_factory=dict)
    seed: int = 0
    cost_bps: float = Field(5.0, ge=0, le=500, description="Trading costs for the Sharpe metric.")
    metric: Name | None = Field(None, description="Primary metric (default by task).")
    allow_shuffled_dates: bool = Field(False, description=ALLOW_SHUFFLED)
    score_holdout: bool = Field(
        True,
        description="False: keep the hold-out rows apart (the folds are unchanged) but "
        "score no model on them; the goal loop scores its best model's hold-out once.",
    )


# --- the other ML actions -----------------------------------------------------------------
# Field order is the form order: data first (DataSpec), then the models, then evaluation.


class _EvaluationOptions(BaseModel):
    """How models are evaluated: the same settings (and names) as TrainParams."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    task: Task = Field(
        "classification",
        description="Price data: classification = next-h-day direction, regression = return.",
    )
    validation: Validation = Field(
        "walk_forward", description="walk_forward (time series) or kfold (i.i.d. tables only)."
    )
    n_splits: int = Field(5, ge=2, le=20)
    embargo: int = Field(5, ge=0, le=250, description="Rows skipped after each test block.")
    holdout_fraction: float = Field(0.2, ge=0.0, le=0.5, description="Final period kept apart.")
    seed: int = 0
    cost_bps: float = Field(5.0, ge=0, le=500, description="Trading costs for the Sharpe metric.")
    metric: Name | None = Field(None, description="Primary metric (default by task).")
    allow_shuffled_dates: bool = Field(False, description=ALLOW_SHUFFLED)


class _CompareModels(BaseModel):
    model_config = ConfigDict(defer_build=True)  # a mixin, never validated alone

    model_ids: list[Name] = Field(
        ...,
        min_length=2,
        max_length=20,
        description="Catalogue ids or names, e.g. ['random forest', 'logistic regression'].",
    )


class CompareParams(_EvaluationOptions, _CompareModels, DataSpec):
    """Several models (catalogue defaults) on identical splits of the same data."""


class _TuneModel(BaseModel):
    model_config = ConfigDict(defer_build=True)  # a mixin, never validated alone

    model_id: Name = Field(..., description="Catalogue id or name, e.g. 'XGBoost'.")
    n_trials: int = Field(20, ge=1, le=200, description="Optuna trials (each a recorded trial).")
    model_params: ModelParams = Field(
        default_factory=dict, description="Fixed parameters, not tuned."
    )


class TuneParams(_EvaluationOptions, _TuneModel, DataSpec):
    """An Optuna study over the catalogue's search space of one model."""


class PredictParams(BaseModel):
    """New data for a trained trial's model: price dates (or other symbols) or a table."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    trial_id: int = Field(..., ge=1, description="A succeeded trial (its saved model).")
    symbols: SymbolList | None = Field(
        None, description="Price data: the symbol (default: the trial's own)."
    )
    source: SourceName | None = Field(None, description="Default: the trial's source.")
    start: date | None = Field(None, description="First date to predict.")
    end: date | None = Field(None, description="Last date to predict.")
    dataset_id: int | None = Field(None, description="Table models: the table to predict.")
    last_n: int = Field(250, ge=1, le=20_000, description="Without start: predict the last n rows.")


class EnsembleParams(BaseModel):
    """Voting or stacking of the configurations of recorded trials."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    trial_ids: list[int] = Field(
        ..., min_length=2, max_length=10, description="Trials on the same data and task."
    )
    method: Literal["voting", "stacking"] = "voting"
    voting: Literal["soft", "hard"] = Field(
        "soft", description="Classification voting: average probabilities (soft) or labels."
    )
    final_model_id: Name | None = Field(
        None,
        description="Stacking: the meta-model (default logistic regression / ridge).",
    )


class ListModelsParams(BaseModel):
    """Filters over the model catalogue."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    task: Task | None = Field(None, description="classification or regression; empty: both.")
    family: Name | None = Field(
        None, description="linear, tree, ensemble, boosting, svm, neighbors, neural, ..."
    )
    text: Name | None = Field(None, description="Words to find in the id, name or aliases.")
    two_classes: bool = Field(
        False,
        description="The target has two classes: leave out one-vs-rest/one-vs-one wrappers "
        "(on two classes they are their base model).",
    )
    limit: int = Field(200, ge=1, le=500)
