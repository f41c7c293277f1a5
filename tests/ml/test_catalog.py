"""Every catalogue model really fits and predicts; search spaces are valid; lookups."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.utils import all_estimators

from engine.ml import catalog as cat
from engine.ml.catalog import (
    counts,
    excluded,
    find_model,
    find_models,
    get_model,
    list_models,
    resolve_model,
)
from engine.ml.search_spaces import corner_params, decode_params, suggest

SPECS = list_models()
IDS = [spec.id for spec in SPECS]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _data(task: str, n: int = 120, seed: int = 0):
    if task == "classification":
        X, y = make_classification(
            n_samples=n, n_features=6, n_informative=4, n_redundant=1, random_state=seed
        )
    else:
        X, y = make_regression(n_samples=n, n_features=6, noise=5.0, random_state=seed)
    return X, y


DATA = {task: _data(task) for task in ("classification", "regression")}
TINY = {task: _data(task, n=80, seed=1) for task in ("classification", "regression")}


# A smoke fit proves that a model fits and predicts, not that 400 trees beat 8: ensembles
# (n_estimators, and HistGradientBoosting's boosting rounds, max_iter) are capped at
# SMOKE_MEMBERS for the fit. The configured values are still checked: the catalogue's
# defaults by the build tests, every search-space range end by the corners test, and the
# value each fit would have used is validated by sklearn before the cap (_smoke).
SMOKE_MEMBERS = 8


def _smoke(model):
    """``model`` with its ensembles capped at SMOKE_MEMBERS members (in place)."""
    params = model.get_params(deep=True)
    capped = {}
    for name, value in params.items():
        owner_name, _, field = name.rpartition("__")
        owner = params[owner_name] if owner_name else model
        is_ensemble_size = field == "n_estimators" or (
            field == "max_iter" and type(owner).__name__.startswith("HistGradientBoosting")
        )
        if is_ensemble_size and isinstance(value, int) and value > SMOKE_MEMBERS:
            capped[name] = SMOKE_MEMBERS
    for part in [model, *(v for v in params.values() if hasattr(v, "fit"))]:
        if hasattr(part, "_parameter_constraints"):
            part._validate_params()  # the configured sizes are valid before the cap
    return model.set_params(**capped)


def test_smoke_cap_shrinks_every_ensemble_and_nothing_else():
    stacking = _smoke(get_model("sklearn.StackingClassifier.boosted").build_pipeline(seed=0))
    params = stacking.get_params(deep=True)
    assert params["model__et__n_estimators"] == params["model__hgb__max_iter"] == SMOKE_MEMBERS
    assert params["model__lr__max_iter"] == 1000  # a solver's iterations are not members
    assert _smoke(get_model("sklearn.BaggingClassifier").build(seed=0)).n_estimators <= 8
    with pytest.raises(ValueError, match="n_estimators"):
        _smoke(get_model("sklearn.RandomForestClassifier").build({"n_estimators": 0}))


def _fit_predict(model, X, y, n_train):
    _smoke(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on 90 rows
        model.fit(X[:n_train], y[:n_train])
        return model.predict(X[n_train:]), model


def test_count_at_least_140():
    numbers = counts()
    print(f"\ncatalogue: {numbers}; excluded: {len(excluded())}")
    assert numbers["total"] >= 140
    assert numbers["classification"] + numbers["regression"] == numbers["total"]
    assert len(set(IDS)) == len(IDS)


def test_every_discovered_estimator_is_included_or_excluded_with_a_reason():
    covered = {spec.estimator for spec in SPECS if spec.library == "sklearn"}
    reasons = excluded()
    for kind in ("classifier", "regressor"):
        for name, _ in all_estimators(type_filter=kind):
            assert name in covered or f"sklearn.{name}" in reasons, name
    assert all(len(reason) > 20 for reason in reasons.values())
    assert set(reasons) == set(cat.EXCLUDED)


@pytest.mark.parametrize("model_id", IDS)
def test_fits_and_predicts(model_id):
    spec = get_model(model_id)
    X, y = DATA[spec.task]
    model = spec.build_pipeline(seed=3)
    predictions, model = _fit_predict(model, X, y, 90)
    assert predictions.shape == (30,)
    assert np.isfinite(np.asarray(predictions, dtype=float)).all()
    if spec.task == "classification":
        assert set(np.unique(predictions)) <= set(np.unique(y))
    if spec.predicts_proba:
        proba = model.predict_proba(X[90:])
        assert proba.shape == (30, 2)
        assert np.allclose(proba.sum(axis=1), 1.0) and np.isfinite(proba).all()
    else:
        assert spec.task == "regression" or not hasattr(model, "predict_proba")


@pytest.mark.parametrize("model_id", [s.id for s in SPECS if s.handles_missing])
def test_models_that_claim_nan_support_fit_with_missing_values(model_id):
    spec = get_model(model_id)
    X, y = DATA[spec.task]
    X = X.copy()
    X[::7, 0] = np.nan
    X[::11, 3] = np.nan
    predictions, _ = _fit_predict(spec.build(seed=0), X, y, 90)
    assert np.isfinite(np.asarray(predictions, dtype=float)).all()


def test_build_is_fresh_seeded_and_single_threaded():
    spec = get_model("sklearn.StackingClassifier")
    a, b = spec.build(seed=5), spec.build(seed=5)
    assert a is not b
    params = a.get_params(deep=True)
    seeds = {k: v for k, v in params.items() if k.endswith("random_state")}
    assert seeds and set(seeds.values()) == {5}
    assert params["n_jobs"] == params["rf__n_jobs"] == params["knn__n_jobs"] == 1
    assert params["lr__n_jobs"] is None  # deprecated no-op for LogisticRegression: left alone
    assert params["cv"] == 3  # recorded catalogue default
    explicit = spec.build({"rf__random_state": 99, "final_estimator__C": 0.5}, seed=1)
    assert explicit.get_params()["rf__random_state"] == 99
    assert explicit.get_params()["final_estimator__C"] == 0.5
    xgb = get_model("xgboost.XGBClassifier").build(seed=7)
    assert xgb.get_params()["random_state"] == 7 and xgb.get_params()["n_jobs"] == 1


def test_same_seed_same_predictions():
    spec = get_model("sklearn.RandomForestClassifier")
    X, y = DATA["classification"]
    p1, _ = _fit_predict(spec.build(seed=11), X, y, 90)
    p2, _ = _fit_predict(spec.build(seed=11), X, y, 90)
    np.testing.assert_array_equal(p1, p2)


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown parameter.*n_trees"):
        get_model("sklearn.RandomForestClassifier").build({"n_trees": 10})


@pytest.mark.parametrize("model_id", IDS)
def test_search_space_trial_builds_and_fits(model_id):
    spec = get_model(model_id)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=len(model_id)))
    trial = study.ask()
    params = suggest(trial, spec)
    assert set(params) == set(spec.search_space)
    X, y = TINY[spec.task]
    predictions, _ = _fit_predict(spec.build_pipeline(params, seed=0), X, y, 60)
    assert np.isfinite(np.asarray(predictions, dtype=float)).all()
    # what Optuna stores (repr strings for tuple choices) decodes back to real values
    assert decode_params(spec, trial.params) == params


@pytest.mark.parametrize("model_id", IDS)
def test_search_space_corners_pass_parameter_validation(model_id):
    spec = get_model(model_id)
    for params in corner_params(spec.search_space):
        estimator = spec.build(params)
        for name, value in params.items():
            assert estimator.get_params(deep=True)[name] == value
        for part in [estimator] + [
            v for v in estimator.get_params(deep=True).values() if hasattr(v, "fit")
        ]:
            if hasattr(part, "_parameter_constraints"):
                part._validate_params()


def test_flags_are_introspected():
    assert get_model("sklearn.HistGradientBoostingClassifier").handles_missing
    assert not get_model("sklearn.SVC").predicts_proba  # probability=True is deprecated
    assert get_model("sklearn.CalibratedClassifierCV.svc").predicts_proba
    assert get_model("sklearn.SVC").needs_scaling
    assert not get_model("sklearn.RandomForestClassifier").needs_scaling
    assert get_model("sklearn.BaggingClassifier.knn").needs_scaling
    assert get_model("sklearn.RandomForestRegressor").supports_sample_weight
    assert not get_model("sklearn.KNeighborsRegressor").supports_sample_weight
    assert get_model("sklearn.SVR").needs_target_scaling
    assert get_model("sklearn.GaussianProcessRegressor").cost == "slow"
    assert get_model("sklearn.LogisticRegression").cost == "fast"
    assert not get_model("sklearn.VotingClassifier.hard").predicts_proba


def test_spec_is_frozen_and_serialisable():
    import json

    spec = get_model("sklearn.MLPClassifier")
    with pytest.raises(AttributeError):
        spec.family = "tree"
    with pytest.raises(TypeError):
        spec.defaults["max_iter"] = 5
    payload = json.loads(json.dumps(spec.to_dict()))
    assert payload["defaults"]["max_iter"] == 300
    assert payload["search_space"]["hidden_layer_sizes"]["type"] == "categorical"


def test_list_models_filters():
    regressors = list_models(task="regression")
    assert regressors and all(s.task == "regression" for s in regressors)
    trees = list_models(family="tree")
    assert {s.task for s in trees} == {"classification", "regression"}
    boosting = list_models(task="classification", text="lightgbm")
    assert {s.id for s in boosting} >= {"lightgbm.LGBMClassifier", "lightgbm.LGBMClassifier.dart"}
    with pytest.raises(ValueError, match="task must be"):
        list_models(task="clustering")
    with pytest.raises(ValueError, match="family must be"):
        list_models(family="quantum")


def test_get_model_unknown_id_suggests_close_matches():
    with pytest.raises(KeyError, match="did you mean sklearn.RandomForestClassifier"):
        get_model("sklearn.RandomForestClasifier")
    assert get_model("SKLEARN.svc").id == "sklearn.SVC"


@pytest.mark.parametrize(
    "text, task, expected",
    [
        ("random forest", "classification", "sklearn.RandomForestClassifier"),
        ("Random Forest", "regression", "sklearn.RandomForestRegressor"),
        ("HistGradientBoosting", "classification", "sklearn.HistGradientBoostingClassifier"),
        ("hist gradient boosting", "regression", "sklearn.HistGradientBoostingRegressor"),
        ("xgboost", "regression", "xgboost.XGBRegressor"),
        ("XGBoost", None, "xgboost.XGBClassifier"),
        ("lightgbm", "classification", "lightgbm.LGBMClassifier"),
        ("svm", "regression", "sklearn.SVR"),
        ("svm", "classification", "sklearn.SVC"),
        ("knn", "classification", "sklearn.KNeighborsClassifier"),
        ("logistic regression", None, "sklearn.LogisticRegression"),
        ("linear regression", "regression", "sklearn.LinearRegression"),
        ("neural network", "regression", "sklearn.MLPRegressor"),
        ("naive bayes", "classification", "sklearn.GaussianNB"),
        ("SVC (polynomial kernel)", None, "sklearn.SVC.poly"),
        ("randm forrest", "classification", "sklearn.RandomForestClassifier"),
        ("principal component regression", None, "sklearn.LinearRegression.pca"),
        ("sklearn.ExtraTreesRegressor", None, "sklearn.ExtraTreesRegressor"),
    ],
)
def test_find_model(text, task, expected):
    assert find_model(text, task=task).id == expected


def test_find_model_misses_and_ranking():
    with pytest.raises(KeyError, match="no classification model matches"):
        find_model("qwertyuiop", task="classification")
    both = [s.id for s in find_models("random forest", limit=2)]
    assert both == ["sklearn.RandomForestClassifier", "sklearn.RandomForestRegressor"]
    assert resolve_model("sklearn.Ridge", task="regression").id == "sklearn.Ridge"
    assert resolve_model("gradient boosting", "regression").id == (
        "sklearn.GradientBoostingRegressor"
    )
    with pytest.raises(KeyError, match="is a regression model"):
        resolve_model("sklearn.Ridge", task="classification")


def test_binary_tasks_leave_out_wrappers_equal_to_their_base(fresh_db):
    from engine.actions import ActionError
    from engine.autonomy.proposer import eligible_models
    from engine.goals.spec import GoalSpec
    from tests.ml.test_pipeline import PRICE, run

    wrappers = {"sklearn.OneVsRestClassifier", "sklearn.OneVsOneClassifier"}
    every = {s.id for s in cat.list_models(task="classification")}
    binary = {s.id for s in cat.list_models(task="classification", two_classes=True)}
    assert wrappers <= every and not wrappers & binary and every - binary == wrappers
    listed = run("list_models", task="classification", two_classes=True).values["count"]
    assert listed == len(binary)
    # the goal loop's search on a price direction (two classes) never proposes them
    goal = GoalSpec(name="g", symbols=["SPX"], families=["meta"], threshold=0.5)
    assert not wrappers & set(eligible_models(goal).get("meta", []))
    with pytest.raises(ActionError, match="same model as its base"):
        run("train_model", **PRICE, model_id="sklearn.OneVsRestClassifier")
    compared = run(
        "compare_models",
        **PRICE,
        model_ids=["sklearn.OneVsRestClassifier", "ridge classifier", "logistic regression"],
    )
    assert compared.values["n_models"] == 2 and "Left out One-vs-Rest" in compared.summary
