"""Re-running a trial's recorded parameters reproduces its numbers exactly: the metrics,
the hold-out, every fold, the importances and the splits. One seed drives the model,
the k-fold shuffle, the random hold-out and the permutation importances."""

from __future__ import annotations

from engine.ml.params import EnsembleParams, TrainParams
from storage.repositories import trials
from tests.ml.test_pipeline import PRICE, run, upload_table


def numbers(trial_id: int) -> dict:
    """Everything numeric a trial recorded (durations and timings aside)."""
    trial = trials.get_trial(trial_id)
    return {
        "metric_value": trial.metric_value,
        "metrics": trial.metrics,
        "holdout": trial.holdout_metrics,
        "importances": trial.importances,
        "features": trial.feature_set,
        "fingerprint": trial.reproducibility["fingerprint"],
        "splits": trial.reproducibility["splits"],
        "folds": [
            (r.split, r.metrics, r.n_train, r.n_test) for r in trials.model_results(trial_id)
        ],
    }


def rerun(trial_id: int) -> int:
    trial = trials.get_trial(trial_id)
    result = run("train_model", **TrainParams.model_validate(trial.params).model_dump())
    return result.values["trial_id"]


def test_rerunning_a_random_forest_reproduces_every_number():
    first = run(
        "train_model",
        **PRICE,
        model_id="random forest",
        model_params={"n_estimators": 10, "max_features": 0.5},
        seed=7,
    )
    again = rerun(first.values["trial_id"])
    assert again != first.values["trial_id"]
    assert numbers(again) == numbers(first.values["trial_id"])


def test_kfold_table_reruns_exactly_and_the_seed_drives_the_shuffle():
    dataset_id = upload_table(seed=8)
    params = {
        "dataset_id": dataset_id,
        "target_column": "label",
        "feature_columns": ["x1", "x2", "symbol"],
        "model_id": "sklearn.KNeighborsClassifier",  # permutation importances (seeded)
        "validation": "kfold",
        "allow_shuffled_dates": True,  # the upload's rows carry dates
        "n_splits": 3,
    }
    first = run("train_model", **params, seed=1)
    assert first.values["importance_kind"] == "permutation"
    assert numbers(rerun(first.values["trial_id"])) == numbers(first.values["trial_id"])
    other = run("train_model", **params, seed=2)
    assert other.values["split_fingerprint"] != first.values["split_fingerprint"]
    assert (
        numbers(other.values["trial_id"])["importances"]
        != numbers(first.values["trial_id"])["importances"]
    )


def test_a_compared_model_reruns_through_train_model():
    comparison = run("compare_models", **PRICE, model_ids=["ridge", "lasso"], task="regression")
    for trial_id in comparison.values["trial_ids"]:
        recorded = numbers(trial_id)
        assert numbers(rerun(trial_id)) == recorded


def test_an_ensemble_reruns_exactly():
    members = [
        run("train_model", **PRICE, model_id="logistic regression").values["trial_id"],
        run("train_model", **PRICE, model_id="decision tree", model_params={"max_depth": 3}).values[
            "trial_id"
        ],
    ]
    first = run("build_ensemble", trial_ids=members)
    stored = trials.get_trial(first.values["trial_id"])
    again = run("build_ensemble", **EnsembleParams.model_validate(stored.params).model_dump())
    assert numbers(again.values["trial_id"]) == numbers(first.values["trial_id"])
