"""Trials and saved models: the Trial row and its ModelResult rows, the skops round trip
(identical predictions), the allow-list that refuses foreign types, failed trials."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.actions import ActionError
from engine.ml import persistence
from engine.ml.dataset import prepare
from engine.ml.params import TrainParams
from storage.access import OwnerScope
from storage.repositories import trials
from tests.ml.test_pipeline import PRICE, context, run


@pytest.fixture(scope="module")
def forest():
    return run(
        "train_model",
        **PRICE,
        model_id="random forest",
        model_params={"n_estimators": 15, "max_depth": 4},
        seed=11,
    )


def test_trial_row_holds_what_a_rerun_needs(forest):
    values = forest.values
    trial = trials.get_trial(values["trial_id"])
    assert trial.status == "succeeded" and trial.action == "train_model"
    assert trial.model_id == "sklearn.RandomForestClassifier" and trial.family == "ensemble"
    assert trial.task == "classification" and trial.seed == 11
    assert trial.params["model_id"] == "sklearn.RandomForestClassifier"  # resolved, not fuzzy
    assert TrainParams.model_validate(trial.params).model_params == {
        "n_estimators": 15,
        "max_depth": 4,
    }
    assert trial.metric_name == "balanced_accuracy"
    assert trial.metric_value == values["metric_value"]
    assert trial.metrics["balanced_accuracy"] == {
        "mean": values["balanced_accuracy"],
        "std": values["balanced_accuracy_std"],
    }
    assert trial.metrics["sharpe"]["mean"] == values["sharpe"]
    assert trial.metrics["strategy"]["strategy_n_obs"] == values["strategy_n_obs"]
    assert trial.holdout_metrics["balanced_accuracy"] == values["holdout_balanced_accuracy"]
    assert trial.feature_set[:3] == ["ret_1", "ret_5", "ret_10"]
    assert len(trial.feature_set) == values["n_features"]
    assert trial.importances["kind"] == "native"
    assert set(trial.importances["values"]) == set(trial.feature_set)
    repro = trial.reproducibility
    from storage.repositories import datasets

    dataset = datasets.get_dataset(trial.dataset_id)
    assert repro["fingerprint"] == dataset.fingerprint == values["fingerprint"]
    assert repro["dataset_id"] == trial.dataset_id
    assert {"python", "sklearn", "numpy", "pandas", "xgboost", "lightgbm"} <= set(repro["versions"])
    assert all(repro["versions"][name] for name in ("sklearn", "numpy", "pandas"))
    assert repro["seed"] == 11 and repro["data"]["horizon"] == 5
    assert trial.duration_s > 0 and Path(trial.artifact_path).exists()
    assert Path(trial.artifact_path).parent == persistence.models_dir()
    results = trials.model_results(trial.id)
    assert [r.split for r in results] == ["fold_0", "fold_1", "fold_2", "holdout"]
    assert all(r.n_train > 0 and r.n_test > 0 and r.fit_seconds > 0 for r in results)
    assert results[-1].metrics["balanced_accuracy"] == values["holdout_balanced_accuracy"]


def test_goal_job_and_user_are_recorded(fresh_db, make_user):
    from storage.repositories import goals

    user = make_user("gina", "analyst")
    goal = goals.create_goal(user.id, "weekly AAPL", {"name": "weekly AAPL"}, None)
    ctx = context(user, goal_id=goal.id)
    result = run("train_model", ctx, **PRICE, model_id="ridge", task="regression")
    trial = trials.get_trial(result.values["trial_id"])
    assert trial.user_id == user.id and trial.goal_id == goal.id and trial.job_id is None
    assert [t.id for t in trials.trials_for_goal(goal.id)] == [trial.id]


def test_skops_round_trip_predicts_identically(forest):
    trial = trials.get_trial(forest.values["trial_id"])
    data = prepare(TrainParams.model_validate(trial.params), "classification")
    loaded = persistence.load_model(trial.artifact_path)
    holdout = forest.tables["holdout_predictions"]
    rows = data.X.loc[holdout["index"]]
    np.testing.assert_array_equal(loaded.predict(rows), holdout["predicted"].to_numpy())
    np.testing.assert_array_equal(loaded.predict_proba(rows)[:, 1], holdout["probability"])
    # and the predict action, which loads the same file, agrees on the hold-out dates
    predicted = run("predict", trial_id=trial.id, start="2018-01-02", end="2018-12-21")
    table = predicted.tables["predictions"].set_index("date")
    common = table.index.intersection(rows.index)
    assert len(common) > 150
    np.testing.assert_allclose(
        table.loc[common, "p_up"], loaded.predict_proba(data.X.loc[common])[:, 1], atol=1e-6
    )


def test_loading_refuses_types_outside_the_allow_list(tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "foreign.skops"
    persistence.save_model(Pipeline([("f", FunctionTransformer(os.getcwd))]), path)
    assert any(not persistence.is_allowed(t) for t in persistence.untrusted_types(path))
    with pytest.raises(ActionError, match="outside the allow-list"):
        persistence.load_model(path)
    assert persistence.is_allowed("sklearn.tree._tree.Tree")
    assert persistence.is_allowed("xgboost.core.Booster")
    assert persistence.is_allowed("lightgbm.basic.Booster")
    assert not persistence.is_allowed("builtins.eval")
    with pytest.raises(ActionError, match="missing"):
        persistence.load_model(tmp_path / "absent.skops")


@pytest.mark.parametrize("model_id", ["xgboost.XGBClassifier", "lightgbm.LGBMClassifier"])
def test_boosting_libraries_round_trip(model_id):
    result = run(
        "train_model",
        **{**PRICE, "n_splits": 2},
        model_id=model_id,
        model_params={"n_estimators": 20},
    )
    trial = trials.get_trial(result.values["trial_id"])
    loaded = persistence.load_model(trial.artifact_path)
    data = prepare(TrainParams.model_validate(trial.params), "classification")
    holdout = result.tables["holdout_predictions"]
    np.testing.assert_array_equal(
        loaded.predict(data.X.loc[holdout["index"]]), holdout["predicted"].to_numpy()
    )
    assert trial.importances["kind"] == "native"


def test_failed_training_records_a_failed_trial():
    with pytest.raises(ActionError) as raised:
        run("train_model", **PRICE, model_id="ridge", metric="roc_auc", task="regression")
    failed, _ = trials.search_trials(
        trials.TrialFilter(status="failed"), OwnerScope.all_rows(), limit=1
    )
    trial = failed[0]
    assert trial.error == str(raised.value) and "roc_auc" in trial.error
    assert trial.model_id == "sklearn.Ridge" and trial.task == "regression"
    assert trial.artifact_path is None and trial.metric_value is None
    assert trial.params["metric"] == "roc_auc" and trial.reproducibility["versions"]


def test_a_failed_save_leaves_no_file_behind(monkeypatch):
    before = set(persistence.models_dir().iterdir())

    def broken(**fields):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(trials, "create_trial", broken)
    with pytest.raises(RuntimeError, match="database is gone"):
        run("train_model", **PRICE, model_id="ridge", task="regression")
    assert set(persistence.models_dir().iterdir()) == before
