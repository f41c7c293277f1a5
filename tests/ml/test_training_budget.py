"""compare_models and tune_model check a work budget (models or trials × every fit's
training cells) once the data and splits are known, and refuse before fitting anything."""

from __future__ import annotations

import pytest

from engine.actions import ActionError
from engine.ml import budget, workflows
from engine.ml.params import CompareParams, TuneParams
from tests.ml.test_pipeline import PRICE, context, run

MODELS = ["decision tree", "logistic regression", "gaussian naive bayes"]


def _cells_per_model(**params) -> int:
    data, plan = workflows.setup(CompareParams(**PRICE, model_ids=MODELS, **params), context())
    return budget.cells_per_model(data, plan)


@pytest.fixture
def two_models_of_budget(monkeypatch):
    """A budget that holds two models' training on PRICE's data and splits, not three."""
    cells = _cells_per_model()
    monkeypatch.setattr(budget, "MAX_TRAINING_CELLS", 2 * cells)
    return cells


def test_compare_over_the_budget_is_refused_before_fitting(fresh_db, two_models_of_budget):
    with pytest.raises(ActionError) as refused:
        run("compare_models", **PRICE, model_ids=MODELS)
    message = str(refused.value)
    assert "too much work for one call" in message
    assert "3 models × 4 fits (3 folds and the final model)" in message
    assert "use fewer models, fewer n_splits" in message
    assert f"({3 * two_models_of_budget:,} > {2 * two_models_of_budget:,})" in message
    assert _stored_trials() == 0


def test_tune_over_the_budget_is_refused_before_its_first_trial(fresh_db, two_models_of_budget):
    with pytest.raises(ActionError) as refused:
        run("tune_model", **PRICE, model_id="decision tree", n_trials=3)
    message = str(refused.value)
    assert "3 trials × 4 fits" in message and "use fewer trials" in message
    assert _stored_trials() == 0


def test_the_budget_counts_every_fit_and_is_inclusive(two_models_of_budget):
    data, plan = workflows.setup(TuneParams(**PRICE, model_id="decision tree"), context())
    budget.require_training_budget(2, "trials", data, plan)  # exactly at the limit
    with pytest.raises(ActionError, match="too much work"):
        budget.require_training_budget(3, "trials", data, plan)
    rows = sum(len(train) for train, _ in plan.folds) + len(plan.final_train)
    assert two_models_of_budget == rows * len(data.feature_names)


def test_the_default_budget_admits_the_largest_tune_of_a_bundled_symbol():
    largest = {**PRICE, "start": None, "end": None, "n_splits": 20, "holdout_fraction": 0.5}
    data, plan = workflows.setup(
        TuneParams(**largest, model_id="decision tree", n_trials=200), context()
    )
    budget.require_training_budget(200, "trials", data, plan)


def _stored_trials() -> int:
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Trial

    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Trial))
