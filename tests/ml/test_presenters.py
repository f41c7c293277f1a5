"""The ML presenters (ui/presenters/ml.py) draw the charts of train, compare and tune
results from the results' tables and series, fresh or read back from storage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.actions import ActionResult
from tests.ml.test_pipeline import FAST, PRICE, run
from ui.presenters import figures_for


def stored(result: ActionResult) -> ActionResult:
    """Through JSON as the executor stores results (tables column by column)."""
    return ActionResult.from_json(json.loads(json.dumps(result.to_json(columnar=True))))


@pytest.fixture(scope="module")
def tree():
    return run("train_model", **PRICE, **FAST)


@pytest.fixture(scope="module")
def ridge():
    return run("train_model", **PRICE, model_id="ridge", task="regression")


def test_classifier_charts_come_from_its_confusion_counts_importances_and_equity(tree):
    for result in (tree, stored(tree)):
        figures = figures_for("train_model", result)
        assert set(figures) == {"confusion_matrix", "feature_importances", "holdout_equity"}
        heatmap = figures["confusion_matrix"].data[0]
        counts = tree.tables["confusion_matrix"].to_numpy()
        np.testing.assert_allclose(
            np.asarray(heatmap.z), counts / counts.sum(axis=1, keepdims=True)
        )
        assert list(heatmap.x) == ["down (0)", "up (1)"] == list(heatmap.y)
        folds = tree.tables["fold_metrics"]
        shown = sum(int(cell.split("<br>")[0]) for row in heatmap.text for cell in row)
        assert shown == folds[folds["split"] != "holdout"]["n_test"].sum()
        bars = figures["feature_importances"].data[0]
        table = tree.tables["feature_importances"]
        assert list(bars.y)[::-1] == table["feature"].head(25).tolist()
        lines = {trace.name: trace for trace in figures["holdout_equity"].data}
        equity = tree.series["holdout_equity"]
        assert list(lines["strategy (long/flat)"].y) == pytest.approx(equity.y["strategy"])
        assert list(lines["buy and hold"].y) == pytest.approx(equity.y["buy_and_hold"])


def test_regression_residuals_are_actual_minus_predicted_per_split(ridge):
    figures = figures_for("train_model", stored(ridge))
    assert "residuals" in figures and "confusion_matrix" not in figures
    by_split = {trace.name: trace for trace in figures["residuals"].data}
    assert "holdout" in by_split and "fold_0" in by_split
    holdout = ridge.tables["holdout_predictions"]
    expected = dict(
        zip(holdout["predicted"], holdout["actual"] - holdout["predicted"], strict=True)
    )
    trace = by_split["holdout"]
    for x, y in list(zip(trace.x, trace.y, strict=True))[:50]:
        assert y == pytest.approx(expected[x])


def test_leaderboard_and_tuning_history_charts():
    comparison = run("compare_models", **PRICE, model_ids=["decision tree", "sklearn.GaussianNB"])
    chart = figures_for("compare_models", stored(comparison))["leaderboard"]
    board = comparison.tables["leaderboard"]
    metric = comparison.values["metric_name"]
    best, other = board["model"].tolist()
    # each model's per-fold difference to the best (paired: identical folds); the mean
    # difference is the difference of the cross-validated means
    means = next(t for t in chart.data if t.name.startswith("mean difference"))
    assert list(means.y) == [other]
    expected = board[metric].iloc[1] - board[metric].iloc[0]
    assert means.x[0] == pytest.approx(expected)
    folds = next(t for t in chart.data if t.name == "one fold")
    assert len(folds.x) == comparison.values["n_folds"]
    assert best in chart.layout.title.text and "AAPL" in chart.layout.title.text
    tuned = run("tune_model", **PRICE, model_id="decision tree", n_trials=3, seed=4)
    lines = {t.name: t for t in figures_for("tune_model", stored(tuned))["history"].data}
    best = np.asarray(lines["best so far"].y, dtype=float)
    assert len(lines["trial"].y) == 3 and np.all(np.diff(best) >= 0)  # greater is better
    assert best[-1] == pytest.approx(tuned.values["metric_value"])


def test_out_of_sample_charts_say_which_validation_ran(tree, ridge):
    confusion = figures_for("train_model", stored(tree))["confusion_matrix"]
    assert confusion.layout.title.text.endswith("(walk-forward)")
    residuals = figures_for("train_model", stored(ridge))["residuals"]
    assert residuals.layout.title.text.endswith("(walk-forward)")
    shuffled = stored(tree)
    shuffled.values.update(evaluation="kfold", validation_override=True)
    title = figures_for("train_model", shuffled)["confusion_matrix"].layout.title.text
    assert title.endswith("(shuffled k-fold on dated rows (override))")
