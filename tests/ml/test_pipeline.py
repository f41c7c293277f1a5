"""The training pipeline on real bundled data: features from the past only, purged and
embargoed walk-forward splits, preprocessing fitted on training rows, the values
contract, the trading statistics, and tables (i.i.d. k-fold with one-hot columns, or
walk-forward along a time column).

Helpers here (``run``, ``upload_table``, ``PRICE``) are shared by the other ML test
modules. Data is kept small (AAPL 2015-2018, 3 folds) so the suite stays fast."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, UserRef, get_action
from engine.ml import features
from engine.ml.dataset import load_symbol_frame

PRICE = {
    "symbols": ["AAPL"],
    "start": "2015-01-01",
    "end": "2018-12-31",
    "horizon": 5,
    "n_splits": 3,
    "embargo": 5,
    "holdout_fraction": 0.2,
}
FAST = {"model_id": "sklearn.DecisionTreeClassifier", "model_params": {"max_depth": 3}}


def context(user: UserRef | None = None, **kwargs) -> ActionContext:
    return ActionContext(user=user or UserRef.system(), **kwargs)


def run(action: str, ctx: ActionContext | None = None, **params):
    """Run an action directly (no job): ``get_action(name).run(params, ctx)``."""
    registered = get_action(action)
    return registered.run(registered.params_model(**params), ctx or context())


def upload_table(rows: int = 300, seed: int = 1, constant: bool = False) -> int:
    """An uploaded table: numeric features, a text 'symbol' column (categorical), a 0/1
    label depending on x1 and the symbol, and a numeric target y."""
    from engine.data.upload import import_upload

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2020-01-01", periods=rows).strftime("%Y-%m-%d"),
            "x1": rng.normal(size=rows),
            "x2": rng.normal(size=rows),
            "symbol": rng.choice(["A", "B", "C"], rows),
        }
    )
    frame.loc[3, "x2"] = np.nan
    signal = frame["x1"] + (frame["symbol"] == "A") * 1.5 + rng.normal(scale=0.4, size=rows)
    frame["label"] = 1 if constant else (signal > 0.4).astype(int)
    frame["y"] = 2 * frame["x1"] + rng.normal(scale=0.3, size=rows)
    return import_upload(
        frame.to_csv(index=False).encode(), f"table-{seed}-{constant}.csv"
    ).dataset_id


@pytest.fixture(scope="module")
def tree_result():
    return run("train_model", **PRICE, **FAST)


@pytest.fixture(scope="module")
def ridge_result():
    return run("train_model", **PRICE, model_id="ridge", task="regression")


# --- features --------------------------------------------------------------------------


def test_price_features_use_no_future_rows():
    frame, _ = load_symbol_frame("SPX", "bundled", "2016-01-01", "2016-12-31")
    assert {"open", "high", "low", "close", "volume"} <= set(frame.columns)
    features.assert_no_lookahead(
        lambda f: features.build_price_features(f, horizon=5)[0], frame, rows=[100, 180, 240]
    )
    X, y = features.build_price_features(frame, horizon=5)
    forward = frame["close"].shift(-5) / frame["close"] - 1
    assert (y == (forward.reindex(y.index) > 0).astype(int)).all()  # the label is t -> t+5


# --- walk-forward price classification ----------------------------------------------------


def test_values_contract_of_a_price_classifier(tree_result):
    values = tree_result.values
    for key in (
        "trial_id", "model_id", "family", "task", "evaluation", "metric_name", "metric_value",
        "n_samples", "n_features", "fit_seconds", "strategy_sharpe_daily", "strategy_n_obs",
        "strategy_skew", "strategy_kurtosis", "sharpe",
    ):  # fmt: skip
        assert values.get(key) is not None, key
    assert values["evaluation"] == "walk_forward"
    assert values["model_id"] == "sklearn.DecisionTreeClassifier"
    assert values["family"] == "tree" and values["task"] == "classification"
    assert values["metric_name"] == "balanced_accuracy"
    assert values["metric_value"] == values["balanced_accuracy"]
    for name in ("balanced_accuracy", "accuracy", "f1", "roc_auc", "log_loss", "ic"):
        assert f"{name}_std" in values and f"holdout_{name}" in values
    assert "holdout_sharpe" in values and "sharpe_std" in values
    folds = tree_result.tables["fold_metrics"]
    assert list(folds["split"]) == ["fold_0", "fold_1", "fold_2", "holdout"]
    cv = folds[folds["split"] != "holdout"]
    assert values["balanced_accuracy"] == pytest.approx(cv["balanced_accuracy"].mean())
    assert values["balanced_accuracy_std"] == pytest.approx(cv["balanced_accuracy"].std(ddof=1))
    holdout = folds[folds["split"] == "holdout"].iloc[0]
    assert values["holdout_balanced_accuracy"] == pytest.approx(holdout["balanced_accuracy"])
    assert 0.3 < values["balanced_accuracy"] < 0.7  # daily direction is close to a coin flip
    # deflated-Sharpe inputs: per-period Sharpe, its annualised form, non-excess kurtosis
    assert values["sharpe"] == pytest.approx(values["strategy_sharpe_daily"] * math.sqrt(252))
    assert values["strategy_kurtosis"] >= 1.0
    assert values["strategy_n_obs"] > 3 * 100
    assert set(tree_result.series) == {"holdout_equity"}
    counts = tree_result.tables["confusion_matrix"]  # out-of-sample folds, not the hold-out
    assert list(counts.columns) == ["down (0)", "up (1)"] == list(counts.index)
    assert counts.to_numpy().sum() == folds[folds["split"] != "holdout"]["n_test"].sum()
    assert {"fold_metrics", "feature_importances", "holdout_predictions"} <= set(tree_result.tables)
    assert "holdout_equity" not in tree_result.tables  # stored once, as the series
    assert values["n_features"] == len(tree_result.tables["feature_importances"])
    assert "Recorded as trial" in tree_result.summary


def test_walk_forward_splits_are_purged_embargoed_and_never_shuffled(tree_result):
    from storage.repositories.trials import get_trial

    trial = get_trial(tree_result.values["trial_id"])
    splits = trial.reproducibility["splits"]
    horizon, embargo = PRICE["horizon"], PRICE["embargo"]
    folds = [s for s in splits if s["split"] != "holdout"]
    holdout = [s for s in splits if s["split"] == "holdout"][0]
    for split in splits:
        assert split["train_first_row"] == 0  # expanding window, in time order
        assert split["test_first_row"] - split["train_last_row"] - 1 >= horizon  # purge
        assert split["train_last_date"] < split["test_first_date"]
    for earlier, later in zip(folds, folds[1:], strict=False):
        assert later["test_first_row"] - earlier["test_last_row"] - 1 >= embargo
    gap = holdout["test_first_row"] - folds[-1]["test_last_row"] - 1
    assert gap >= embargo + horizon
    assert holdout["n_test"] == int(tree_result.values["n_samples"] * 0.2)
    assert trial.reproducibility["evaluation"] == "walk_forward"


def test_holdout_sharpe_is_the_finance_backtest_of_the_positions(tree_result):
    from engine.finance.backtest import run_positions
    from engine.finance.metrics import sharpe

    predictions = tree_result.tables["holdout_predictions"].set_index("index")
    frame, _ = load_symbol_frame("AAPL", "bundled", PRICE["start"], PRICE["end"])
    close = frame["close"]
    first, last = (close.index.get_loc(predictions.index[i]) for i in (0, -1))
    window = close.iloc[first : last + 2]  # the last position earns the next day's return
    positions = (predictions["predicted"] == 1).astype(float)
    result = run_positions(window.to_frame("AAPL"), positions.to_frame("AAPL"), cost_bps=5.0)
    assert tree_result.values["holdout_sharpe"] == pytest.approx(sharpe(result.returns), rel=1e-9)
    assert (positions == predictions["position"]).all()
    equity = tree_result.series["holdout_equity"]
    assert equity.y["strategy"][-1] == pytest.approx(result.equity.iloc[-1])


def test_preprocessing_is_fitted_on_training_rows_only():
    from engine.ml import dataset, persistence
    from engine.ml.params import TrainParams
    from storage.repositories.trials import get_trial

    result = run("train_model", **PRICE, model_id="logistic regression")
    trial = get_trial(result.values["trial_id"])
    model = persistence.load_model(trial.artifact_path)
    scaler = model.named_steps["prep"].named_transformers_["num"].named_steps["scale"]
    data = dataset.prepare(TrainParams(**trial.params), "classification")
    holdout = [s for s in trial.reproducibility["splits"] if s["split"] == "holdout"][0]
    train_rows = data.X.iloc[: holdout["train_last_row"] + 1]
    np.testing.assert_allclose(scaler.mean_, train_rows.mean().to_numpy(), rtol=1e-10)
    assert not np.allclose(scaler.mean_, data.X.mean().to_numpy(), rtol=1e-6)


def test_regression_target_metrics_and_residual_plot(ridge_result):
    values = ridge_result.values
    assert values["task"] == "regression"
    assert values["metric_name"] == "rmse" and values["metric_value"] == values["rmse"]
    assert values["greater_is_better"] is False
    for name in ("rmse", "mae", "r2", "ic", "sharpe"):
        assert f"{name}_std" in values and f"holdout_{name}" in values
    assert 0 < values["rmse"] < 0.2  # weekly returns
    assert "residuals" in ridge_result.series and "confusion_matrix" not in ridge_result.tables
    predictions = ridge_result.tables["holdout_predictions"]
    assert ((predictions["predicted"] > 0).astype(float) == predictions["position"]).all()


# --- tables ----------------------------------------------------------------------------------


def test_independent_table_uses_shuffled_stratified_kfold_and_one_hot():
    dataset_id = upload_table()
    result = run(
        "train_model",
        dataset_id=dataset_id,
        target_column="label",
        feature_columns=["x1", "x2", "symbol"],
        model_id="logistic regression",
        validation="kfold",
        allow_shuffled_dates=True,  # the upload's rows carry dates
        n_splits=4,
        seed=3,
    )
    values = result.values
    assert values["evaluation"] == "kfold" and values["n_features"] == 3
    assert values["balanced_accuracy"] > 0.75  # the label is learnable from x1 and symbol
    assert "sharpe" not in values and "ic" not in values  # no price target
    importances = set(result.tables["feature_importances"]["feature"])
    assert {"x1", "x2", "symbol_A", "symbol_B", "symbol_C"} == importances
    from storage.repositories.trials import get_trial

    splits = get_trial(values["trial_id"]).reproducibility["splits"]
    tests = [s for s in splits if s["split"] != "holdout"]
    assert len(tests) == 4
    # shuffled: a test fold is spread over the table, not one contiguous block
    assert any(s["test_last_row"] - s["test_first_row"] + 1 > s["n_test"] for s in tests)


def test_table_with_time_column_is_walk_forward():
    dataset_id = upload_table(seed=2)
    result = run(
        "train_model",
        dataset_id=dataset_id,
        target_column="y",
        task="regression",
        time_column="date",
        model_id="ridge",
        n_splits=3,
    )
    assert result.values["evaluation"] == "walk_forward"
    assert result.values["r2"] > 0.8
    assert "date" not in set(result.tables["feature_importances"]["feature"])
