"""The ML actions: catalogue listing, compare on identical splits, Optuna tuning, ensembles,
prediction, progress and cancellation, clear errors, and one train_model through
``engine.actions.call`` on the real executor."""

from __future__ import annotations

import pytest

from engine.actions import ActionError
from engine.actions.base import JobCancelled
from storage.access import OwnerScope
from storage.repositories import trials
from tests.ml.test_pipeline import FAST, PRICE, context, run, upload_table


def _total() -> int:
    return trials.search_trials(trials.TrialFilter(), OwnerScope.all_rows(), limit=1)[1]


@pytest.fixture(scope="module")
def comparison():
    return run(
        "compare_models",
        **PRICE,
        model_ids=["decision tree", "Logistic Regression", "sklearn.GaussianNB"],
    )


# --- list_models ---------------------------------------------------------------------------


def test_list_models_filters_by_task_family_and_text():
    everything = run("list_models")
    assert everything.values["count"] >= 140
    regression = run("list_models", task="regression", family="boosting")
    table = regression.tables["models"]
    assert set(table["task"]) == {"regression"} and set(table["family"]) == {"boosting"}
    assert {"xgboost.XGBRegressor", "lightgbm.LGBMRegressor"} <= set(table["id"])
    forests = run("list_models", text="random forest")
    assert set(forests.tables["models"]["id"]) >= {
        "sklearn.RandomForestClassifier",
        "sklearn.RandomForestRegressor",
    }
    assert {"needs_scaling", "predicts_proba", "handles_missing", "tunable"} <= set(
        forests.tables["models"].columns
    )
    with pytest.raises(ActionError, match="family must be one of"):
        run("list_models", family="quantum")


# --- compare -------------------------------------------------------------------------------


def test_compare_models_uses_identical_splits_and_records_each_model(comparison):
    values = comparison.values
    board = comparison.tables["leaderboard"]
    assert values["evaluation"] == "walk_forward" and values["n_models"] == 3
    assert list(board["rank"]) == [1, 2, 3]
    scores = list(board["balanced_accuracy"])
    assert scores == sorted(scores, reverse=True)
    assert values["best_trial_id"] == int(board["trial_id"].iloc[0])
    assert values["metric_value"] == pytest.approx(scores[0])
    recorded = [trials.get_trial(int(t)) for t in board["trial_id"]]
    assert {t.action for t in recorded} == {"compare_models"}
    assert {t.model_id for t in recorded} == {
        "sklearn.DecisionTreeClassifier",
        "sklearn.LogisticRegression",
        "sklearn.GaussianNB",
    }
    fingerprints = {t.reproducibility["split_fingerprint"] for t in recorded}
    assert fingerprints == {values["split_fingerprint"]}
    per_split = [
        {
            r.split: (r.metrics["split"]["test_hash"], r.n_train, r.n_test)
            for r in trials.model_results(t.id)
        }
        for t in recorded
    ]
    assert per_split[0] == per_split[1] == per_split[2]
    assert list(per_split[0]) == ["fold_0", "fold_1", "fold_2", "holdout"]
    assert "leaderboard" in comparison.tables and not comparison.series
    # the paired per-fold scores the comparison chart is drawn from: each recorded
    # trial's own fold metrics, on the same splits
    scores = comparison.tables["fold_scores"]
    for trial in recorded:
        mine = scores[scores["model_id"] == trial.model_id].set_index("split")
        stored = {
            r.split: r.metrics.get("balanced_accuracy") for r in trials.model_results(trial.id)
        }
        assert list(mine.index) == list(stored)
        for split, value in stored.items():
            assert mine.loc[split, "balanced_accuracy"] == pytest.approx(value)
    assert values["symbol"] == PRICE["symbols"][0]
    assert values["period_start"] < values["period_end"]
    assert comparison.value_units["metric_value"] == "balanced_accuracy"


def test_compare_needs_two_different_models():
    with pytest.raises(ActionError, match="at least two different models"):
        run(
            "compare_models", **PRICE, model_ids=["random forest", "sklearn.RandomForestClassifier"]
        )


# --- tune ----------------------------------------------------------------------------------


def test_tune_model_records_one_trial_per_optuna_trial():
    before = _total()
    result = run("tune_model", **PRICE, model_id="decision tree", n_trials=3, seed=4)
    values = result.values
    assert _total() == before + 3
    history = result.tables["trials"]
    assert list(history["number"]) == [0, 1, 2]
    recorded = [trials.get_trial(int(t)) for t in history["trial_id"]]
    assert all(t.action == "tune_model" and t.status == "succeeded" for t in recorded)
    assert [t.reproducibility["study"]["number"] for t in recorded] == [0, 1, 2]
    assert len({str(t.params["model_params"]) for t in recorded}) == 3
    assert {t.reproducibility["split_fingerprint"] for t in recorded} == {
        values["split_fingerprint"]
    }
    best = trials.get_trial(values["best_trial_id"])
    assert best.metric_value == max(t.metric_value for t in recorded)
    assert values["metric_value"] == best.metric_value
    assert values["best_params"] == best.params["model_params"]
    assert values["n_trials"] == 3 and values["n_failed"] == 0


# --- ensembles -------------------------------------------------------------------------------


def test_voting_ensemble_of_recorded_trials(comparison):
    ids = [int(t) for t in comparison.tables["leaderboard"]["trial_id"]][:2]
    result = run("build_ensemble", trial_ids=ids)
    values = result.values
    assert values["model_id"] == "ensemble.voting" and values["family"] == "ensemble"
    assert values["split_fingerprint"] == comparison.values["split_fingerprint"]
    trial = trials.get_trial(values["trial_id"])
    assert trial.action == "build_ensemble" and trial.status == "succeeded"
    assert [m["trial_id"] for m in trial.reproducibility["members"]] == ids
    members = result.tables["members"]
    assert list(members["trial_id"]) == [values["trial_id"], *ids]
    assert values["importance_kind"] == "permutation"


def test_stacking_on_prices_purges_its_inner_folds_like_the_walk_forward(comparison):
    from engine.ml.persistence import load_model
    from engine.ml.splits import PurgedKFold

    ids = [int(t) for t in comparison.tables["leaderboard"]["trial_id"]][:2]
    result = run("build_ensemble", trial_ids=ids, method="stacking")
    saved = load_model(trials.get_trial(result.values["trial_id"]).artifact_path)
    inner = saved.cv
    assert isinstance(inner, PurgedKFold)
    assert (inner.horizon, inner.embargo) == (PRICE["horizon"], PRICE["embargo"])
    assert run("predict", trial_id=result.values["trial_id"], last_n=5).values["n_predictions"]


def test_ensemble_members_must_share_data_and_splits(comparison):
    other = run("train_model", **{**PRICE, "horizon": 1}, **FAST)
    first = int(comparison.tables["leaderboard"]["trial_id"].iloc[0])
    with pytest.raises(ActionError, match="differs .* in horizon"):
        run("build_ensemble", trial_ids=[first, other.values["trial_id"]])


# --- predict ---------------------------------------------------------------------------------


def test_predict_new_dates_and_flag_in_sample_rows(comparison):
    trial_id = comparison.values["best_trial_id"]
    later = run("predict", trial_id=trial_id, start="2019-01-01", end="2019-03-31")
    table = later.tables["predictions"]
    assert str(table["date"].iloc[0].date()) <= "2019-01-04"  # warm features from day one
    assert not table["in_training"].any()
    assert set(table["prediction"]) <= {0, 1} and table["p_up"].between(0, 1).all()
    assert table["actual"].notna().all()
    assert later.values["latest_signal"] in ("long", "flat")
    earlier = run("predict", trial_id=trial_id, start="2018-01-01", end="2018-02-28")
    assert earlier.tables["predictions"]["in_training"].all()
    assert "in-sample" in earlier.summary
    other = run("predict", trial_id=trial_id, symbols=["MSFT"], last_n=10)
    assert other.values["symbol"] == "MSFT" and other.values["n_predictions"] == 10


def test_predict_a_table_model_returns_labels():
    dataset_id = upload_table(seed=5)
    trained = run(
        "train_model",
        dataset_id=dataset_id,
        target_column="label",
        feature_columns=["x1", "x2", "symbol"],
        model_id="logistic regression",
        validation="kfold",
        allow_shuffled_dates=True,  # the upload's rows carry dates
    )
    result = run("predict", trial_id=trained.values["trial_id"])
    table = result.tables["predictions"]
    assert len(table) == 300 and set(table["prediction"]) <= {0, 1}
    assert (table["prediction"] == table["actual"]).mean() > 0.75


# --- progress, cancellation, errors ---------------------------------------------------------


def test_progress_per_fold_and_cancellation_between_folds():
    events = []
    ctx = context(_progress_sink=lambda fraction, metrics: events.append((fraction, metrics)))
    run("train_model", ctx, **PRICE, **FAST)
    folds = [m["fold"] for _, m in events if "fold" in m]
    assert folds == [0.0, 1.0, 2.0]
    assert all("balanced_accuracy" in m for _, m in events)
    fractions = [f for f, _ in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0

    before = _total()
    cancel = context(
        _progress_sink=lambda fraction, metrics: events.append((fraction, metrics)),
        _cancel_check=lambda: bool(events) and "fold" in events[-1][1],
    )
    events.clear()
    with pytest.raises(JobCancelled):
        run("train_model", cancel, **PRICE, **FAST)
    assert [m.get("fold") for _, m in events] == [0.0]  # stopped right after the first fold
    assert _total() == before  # nothing recorded for a cancelled run


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**PRICE, "model_id": "xyzzy model"}, "No classification model matches"),
        (
            {**PRICE, "model_id": "sklearn.RandomForestRegressor"},
            "is a regression model, not classification",
        ),
        ({**PRICE, "symbols": ["ZZZZ"], "model_id": "ridge"}, "Unknown symbol"),
        (
            {**PRICE, "start": "2018-01-01", "end": "2018-03-31", "model_id": "ridge"},
            "at least 60",
        ),
        ({**PRICE, "validation": "kfold", **FAST}, "walk-forward"),
        ({**PRICE, "metric": "rmse", **FAST}, "does not apply to classification"),
        (
            {**PRICE, "model_id": "random forest", "model_params": {"n_trees": 3}},
            "Invalid model_params",
        ),
        ({**PRICE, "symbols": ["AAPL", "MSFT"], **FAST}, "one symbol at a time"),
    ],
)
def test_bad_inputs_give_clear_errors_and_failed_trials(params, message):
    before = _total()
    with pytest.raises(ActionError, match=message) as raised:
        run("train_model", **params)
    failed, _ = trials.search_trials(
        trials.TrialFilter(status="failed"), OwnerScope.all_rows(), limit=1
    )
    assert _total() == before + 1
    assert failed[0].action == "train_model" and failed[0].error == str(raised.value)


def test_table_errors_name_the_problem():
    dataset_id = upload_table(seed=6)
    with pytest.raises(ActionError, match="Did you mean 'label'"):
        run("train_model", dataset_id=dataset_id, target_column="labl", model_id="ridge")
    with pytest.raises(ActionError, match="distinct values; for a number use task='regression'"):
        run("train_model", dataset_id=dataset_id, target_column="y", model_id="logistic regression")
    constant = upload_table(seed=7, constant=True)
    with pytest.raises(ActionError, match="single value"):
        run("train_model", dataset_id=constant, target_column="label", model_id="ridge")
    with pytest.raises(ActionError, match="Trial 999999 does not exist"):
        run("predict", trial_id=999999)


# --- through the registry and the executor --------------------------------------------------


@pytest.fixture
def running_executor(fresh_db, monkeypatch):
    from engine import executor
    from engine.config import reset_settings

    for name, value in {
        "MLTRAINER_PROCESS_WORKERS": "1",
        "MLTRAINER_THREAD_WORKERS": "2",
        "MLTRAINER_SCHEDULER_POLL_SECONDS": "0.2",
        "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
        "MLTRAINER_EXECUTOR": "local",
    }.items():
        monkeypatch.setenv(name, value)
    executor.shutdown(grace=0)  # one started earlier in this process uses another database
    reset_settings()
    service = executor.ensure_started()
    assert service.warm_up(180)
    yield service
    executor.shutdown(grace=0)
    reset_settings()


def test_train_model_through_call_on_the_executor(running_executor, make_user):
    from engine import executor
    from engine.actions import PermissionDenied, call

    analyst = make_user("ana", "analyst")
    outcome = call("train_model", {**PRICE, **FAST}, analyst, wait=180)
    assert outcome.status == "succeeded", outcome.error
    values = outcome.result.values
    trial = trials.get_trial(values["trial_id"])
    assert trial.job_id == outcome.job_id and trial.user_id == analyst.id
    assert values["evaluation"] == "walk_forward"
    points = executor.events(outcome.job_id)
    assert [p["fold"] for p in points if p.get("fold") is not None] == [0.0, 1.0, 2.0]

    viewer = make_user("vic", "viewer")
    listed = call("list_models", {"family": "svm"}, viewer)
    assert listed.status == "succeeded" and listed.result.values["count"] >= 4
    with pytest.raises(PermissionDenied):
        call("train_model", {**PRICE, **FAST}, viewer)
    with pytest.raises(ActionError, match="walk-forward"):  # the compliance rule, before any job
        call("train_model", {**PRICE, **FAST, "validation": "kfold"}, analyst)


def test_stored_training_result_keeps_what_pages_read(running_executor, make_user):
    """The job row is what the chat, the Jobs page and the CLI read back: its charts'
    data, its tables and values must survive the compact stored form."""
    import json

    import pandas as pd

    from engine.actions import call
    from engine.actions.base import frame_to_records
    from storage.repositories import jobs
    from ui.presenters import figures_for

    analyst = make_user("ana", "analyst")
    outcome = call("train_model", {**PRICE, **FAST}, analyst, wait=180)
    assert outcome.status == "succeeded", outcome.error
    fresh = run("train_model", **PRICE, **FAST)  # the same training, in memory
    back = outcome.result  # read back from the job row
    assert set(figures_for("train_model", back)) == {
        "confusion_matrix",
        "feature_importances",
        "holdout_equity",
    }
    assert (
        set(back.tables)
        == set(fresh.tables)
        >= {
            "fold_metrics",
            "feature_importances",
            "holdout_predictions",
            "confusion_matrix",
        }
    )
    for name, frame in fresh.tables.items():
        stored = back.tables[name]
        expected = frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index()
        assert list(stored.columns) == [str(c) for c in expected.columns], name
        # cell for cell what the row-by-row form holds (dates as ISO text); timings differ
        timed = [c for c in stored.columns if "seconds" in c]
        assert frame_to_records(stored.drop(columns=timed)) == frame_to_records(
            frame.drop(columns=timed)
        ), name
    predictions = back.tables["holdout_predictions"]
    assert {"index", "actual", "predicted", "probability", "position"} <= set(predictions)
    assert back.series["holdout_equity"].y == fresh.series["holdout_equity"].y
    assert back.series["holdout_equity"].x == fresh.series["holdout_equity"].x
    same = {k: v for k, v in fresh.values.items() if k != "trial_id" and "seconds" not in k}
    assert json.dumps({k: back.values[k] for k in same}, sort_keys=True) == json.dumps(
        same, sort_keys=True
    )
    # stored once and column by column: well under the row-by-row form of the same tables
    row = jobs.get_job(outcome.job_id).result
    assert "holdout_equity" not in row["tables"]
    assert row["tables"]["holdout_predictions"]["columns"][0] == "index"
    compact = len(json.dumps(row))
    assert compact < 0.75 * len(json.dumps(fresh.to_json())), compact
