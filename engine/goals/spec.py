"""A goal's specification, validated once here for the form, chat and the loop."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.actions.bounds import ColumnName, Name, SourceName, SymbolList
from engine.ml.catalog_spec import FAMILIES
from engine.ml.params import (
    CLASSIFICATION_METRICS,
    FINANCIAL_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
)

# budget_exhausted: a daily CPU, token or dollar budget (engine.usage.budgets) ran out;
# the goal can be resumed once it resets.
GOAL_STATES = ("active", "paused", "achieved", "exhausted", "stopped", "budget_exhausted")
Families = Annotated[list[Name], Field(max_length=len(FAMILIES))]


class GoalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=200)
    symbols: SymbolList | None = Field(None, description="Price data: the symbol to model.")
    source: SourceName = Field("bundled", description="bundled | polygon | synthetic | upload:<id>")
    start: date | None = None
    end: date | None = None
    dataset_id: int | None = Field(None, description="An uploaded table instead of prices.")
    target_column: ColumnName | None = None
    time_column: ColumnName | None = Field(
        None,
        description="Uploaded table: the column dating its rows (empty: detected; a table "
        "with dates is validated walk-forward).",
    )
    allow_shuffled_dates: bool = Field(
        False,
        description="Shuffle the folds of a dated table anyway (recorded with each trial, "
        "with a warning: the scores are then optimistic).",
    )
    task: Literal["classification", "regression"] = "classification"
    horizon: int = Field(5, ge=1, le=60, description="Predict the next h days.")
    metric: Name = Field("balanced_accuracy", description="Walk-forward mean of this metric.")
    threshold: float = Field(0.55, description="Goal reached when the metric passes this.")
    direction: Literal[">=", "<="] | None = Field(
        None, description="Default: >= unless lower is better (rmse, mae, log_loss)."
    )
    max_trials: int = Field(30, ge=1, le=2000)
    max_minutes: float = Field(60, gt=0, le=24 * 60)
    families: Families = Field(default_factory=list, description="Empty: every family.")
    data_policy: Literal["real_only", "synthetic_allowed"] = "real_only"
    stagnation_trials: int = Field(
        10, ge=2, le=500, description="Stop after this many trials without improvement."
    )
    notes: str | None = Field(None, max_length=5000)

    @model_validator(mode="after")
    def _consistent(self) -> GoalSpec:
        if not self.symbols and self.dataset_id is None:
            raise ValueError("choose symbols (price data) or an uploaded dataset")
        allowed = (
            CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        ) + FINANCIAL_METRICS
        if self.metric not in allowed:
            raise ValueError(
                f"metric '{self.metric}' does not fit a {self.task} goal; "
                f"choose one of {', '.join(allowed)}"
            )
        if self.source == "synthetic" and self.data_policy == "real_only":
            raise ValueError("synthetic data needs the data policy 'synthetic_allowed'")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown model families {unknown}; choose from {list(FAMILIES)}")
        if self.direction is None:
            self.direction = "<=" if self.metric in LOWER_IS_BETTER else ">="
        return self

    def reached(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.threshold if self.direction == ">=" else value <= self.threshold

    def better(self, value: float | None, than: float | None) -> bool:
        if value is None:
            return False
        if than is None:
            return True
        return value > than if self.direction == ">=" else value < than
