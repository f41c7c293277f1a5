"""The work budget of actions that train many models (compare_models, tune_model).

Their parameter bounds alone allow 20 models or 200 trials, each fitted on up to 20 folds
of an upload of up to 20 million cells: far beyond what one call should start. What a
fit costs grows with the cells it trains on, so the budget counts training cells over
every fit (each fold's training rows and the final model's, times the features) and is
checked once the data and splits are known, before anything is fitted.
"""

from __future__ import annotations

from engine.actions.bounds import require_within
from engine.ml.dataset import PreparedData
from engine.ml.evaluation import SplitPlan

# Cells trained on (rows × features, summed over every fit). A 200-trial tune on 20
# folds of a bundled symbol's ~2,500 days trains on about 0.3 billion; the limit leaves
# room for the largest upload (20 M cells) under a dozen models on five folds.
MAX_TRAINING_CELLS = 2_000_000_000


def cells_per_model(data: PreparedData, plan: SplitPlan) -> int:
    """Training cells of one model: every fold's fit plus the saved model's."""
    rows = sum(len(train) for train, _ in plan.folds) + len(plan.final_train)
    return rows * max(len(data.feature_names), 1)


def require_training_budget(models: int, unit: str, data: PreparedData, plan: SplitPlan) -> None:
    """Refuse ``models`` evaluations (``unit``: "models", "trials") above the budget."""
    fits = plan.n_folds + 1
    require_within(
        f"{models:,} {unit} × {fits} fits ({plan.n_folds} folds and the final model) on "
        f"{data.n_rows:,} rows × {len(data.feature_names):,} features",
        models * cells_per_model(data, plan),
        MAX_TRAINING_CELLS,
        f"use fewer {unit}, fewer n_splits, fewer feature_columns or a shorter date range "
        "(cells trained on are counted)",
    )
