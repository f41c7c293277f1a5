"""The Models page through Streamlit's AppTest: log in through app.py, switch to the page,
search the catalogue, read a trial's details, and submit the train form."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.foundation.apptest_helpers import errors, log_in, new_app
from tests.ml.test_pipeline import PRICE, context, run
from ui.results import format_number

PAGE = "pages/models.py"


def models_page(username: str):
    at = log_in(new_app(), username)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert [title.value for title in at.title] == ["Models"]
    return at


def frame_with(at, column: str):
    """The first dataframe on the page with ``column`` (AppTest does not expose keys)."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        titles.append(spec["layout"].get("title", {}).get("text", ""))
    return titles


@pytest.fixture
def people(fresh_db, make_user):
    return make_user("alice", "analyst"), make_user("vic", "viewer")


def test_catalogue_search_filters_and_parameter_details(people):
    at = models_page("vic")
    assert any("model(s)" in caption.value for caption in at.caption)
    at.text_input(key="models-search").input("random forest").run()
    at.selectbox(key="models-task").set_value("regression").run()
    assert not at.exception, at.exception
    table = frame_with(at, "library")
    assert set(table["task"]) == {"regression"} and "sklearn.RandomForestRegressor" in set(
        table["id"]
    )
    assert any(c.value == f"{len(table)} model(s)" for c in at.caption)
    details = at.selectbox(key="models-detail-id")
    assert details.options == list(table["id"])
    details.set_value("sklearn.RandomForestRegressor").run()
    assert "Random Forest Regressor" in [header.value for header in at.subheader]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["missing values"] == "yes" and metrics["needs scaling"] == "no"
    space = frame_with(at, "parameter")
    assert {"n_estimators", "max_depth", "min_samples_leaf", "max_features"} <= set(
        space["parameter"]
    )
    at.selectbox(key="models-family").set_value("svm").run()
    assert any(c.value == "0 model(s)" for c in at.caption)
    assert "No model matches" in at.info[0].value
    # a viewer browses but cannot train
    assert any("Training needs the 'analyst' role" in info.value for info in at.info)


def test_trial_details_show_folds_confusion_importances_and_equity(people):
    alice, _ = people
    trained = run(
        "train_model",
        context(alice),
        **PRICE,
        model_id="sklearn.DecisionTreeClassifier",
        model_params={"max_depth": 3},
    )
    trial_id = trained.values["trial_id"]
    at = models_page("alice")
    assert at.selectbox(key="models-trial-id").value == trial_id
    folds = frame_with(at, "split")
    assert list(folds["split"]) == ["fold_0", "fold_1", "fold_2", "holdout"]
    assert "balanced_accuracy" in folds.columns
    titles = chart_titles(at)
    assert any(t.startswith("Confusion matrix") for t in titles), titles
    assert any(t.startswith("Feature importances") for t in titles)
    assert any(t.startswith("Hold-out equity") for t in titles)
    tiles = {metric.label: metric.value for metric in at.metric}
    assert tiles["model"] == "sklearn.DecisionTreeClassifier"
    assert "Sharpe (out of sample)" in tiles and "hold-out" in tiles
    at.button(key="models-trial-predict").click().run()
    assert not at.exception and not errors(at), errors(at)
    assert any("predicted 250 rows of AAPL" in text.value for text in at.text)


def test_analysts_see_only_their_own_trials_viewers_and_admins_all(people, make_user):
    """The Models page once listed (and opened) every analyst's trials."""
    from engine.trials import query
    from tests.trials.conftest import add_trial

    alice, _ = people
    bob = make_user("bob", "analyst")
    make_user("root", "admin")
    mine, bobs = add_trial(alice), add_trial(bob, model_id="bob-secret-model")
    at = models_page("alice")
    assert at.selectbox(key="models-trial-id").options == [
        f"#{mine.id} · RandomForest · "
        f"train_model · succeeded · balanced_accuracy {format_number(mine.metric_value)}"
    ]
    assert "bob-secret-model" not in json.dumps([str(f.value) for f in at.dataframe])
    assert {t.id for t in query.recent(alice)} == {mine.id}
    for username in ("vic", "root"):
        at = models_page(username)
        assert len(at.selectbox(key="models-trial-id").options) == 2
        at.selectbox(key="models-trial-id").set_value(bobs.id).run()
        assert not at.exception and not errors(at), errors(at)
        assert {m.label: m.value for m in at.metric}["model"] == "bob-secret-model"


def test_regression_trial_shows_residuals(people):
    alice, _ = people
    run("train_model", context(alice), **PRICE, model_id="ridge", task="regression")
    at = models_page("alice")
    titles = chart_titles(at)
    assert any(t.startswith("Residuals") for t in titles), titles
    assert not any(t.startswith("Confusion") for t in titles)


def test_train_form_submits_a_training_job(people):
    from engine import executor
    from storage.repositories import jobs

    at = models_page("alice")
    picker = at.selectbox(key="models-train-model_id")
    assert picker.value == "sklearn.RandomForestClassifier"
    assert len(picker.options) >= 140  # the whole catalogue, searchable, grouped by family
    families = [option.split(" · ")[0] for option in picker.options]
    assert families == sorted(families)
    picker.set_value("sklearn.DecisionTreeClassifier")
    at.date_input(key="models-train-start").set_value(date(2016, 1, 1))
    at.selectbox(key="models-train-metric").set_value("roc_auc")
    at.button(key="FormSubmitter:models-train-Train").click().run()
    assert not at.exception, at.exception
    assert not errors(at), errors(at)
    job_id = at.session_state["models-train-job"]
    job = jobs.get_job(job_id)
    assert job.action == "train_model"
    assert job.params["model_id"] == "sklearn.DecisionTreeClassifier"
    assert str(job.params["start"]) == "2016-01-01" and job.params["metric"] == "roc_auc"
    assert job.params["symbols"] == ["SPX"] and job.params["horizon"] == 5
    assert any(caption.value == f"Job {job_id}" for caption in at.caption)
    executor.cancel_as_operator(job_id)


def test_compare_and_tune_are_forms(people):
    from engine import executor
    from storage.repositories import jobs

    at = models_page("alice")
    picker = at.multiselect(key="models-compare-model_ids")
    assert picker.value == [
        "sklearn.LogisticRegression",
        "sklearn.RandomForestClassifier",
        "sklearn.HistGradientBoostingClassifier",
    ]
    picker.set_value(["sklearn.DecisionTreeClassifier", "sklearn.GaussianNB"])
    at.date_input(key="models-compare-start").set_value(date(2015, 1, 1))
    at.button(key="FormSubmitter:models-compare-Compare").click().run()
    assert not at.exception and not errors(at), errors(at)
    job = jobs.get_job(at.session_state["models-compare-job"])
    assert job.action == "compare_models"
    assert job.params["model_ids"] == ["sklearn.DecisionTreeClassifier", "sklearn.GaussianNB"]
    executor.cancel_as_operator(job.id)  # its chart: tests/ml/test_presenters.py
    at.selectbox(key="models-tune-model_id").set_value("sklearn.DecisionTreeClassifier")
    at.number_input(key="models-tune-n_trials").set_value(3)
    at.button(key="FormSubmitter:models-tune-Tune").click().run()
    # (the compare job cancelled above may say so in its tab)
    assert not at.exception and all("ancel" in e for e in errors(at)), errors(at)
    job = jobs.get_job(at.session_state["models-tune-job"])
    assert job.action == "tune_model" and job.params["n_trials"] == 3
    assert job.params["model_id"] == "sklearn.DecisionTreeClassifier"
    executor.cancel_as_operator(job.id)
