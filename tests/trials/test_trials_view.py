"""Pure helpers of engine.trials_view (no Streamlit)."""

from __future__ import annotations

import pytest

from engine import trials_view
from engine.actions import ActionError
from engine.trials_view import TrialQuery
from tests.trials.conftest import add_job, add_trial


def test_flatten_params_keeps_names_short_unless_they_clash():
    flat = trials_view.flatten_params(
        {"model_id": "RF", "seed": 1, "model_params": {"max_depth": 3, "seed": 9}}
    )
    assert flat == {"model_id": "RF", "seed": 1, "max_depth": 3, "model_params.seed": 9}


def test_parse_ids_and_markdown_escaping():
    assert trials_view.parse_ids("12, 15 #18,12") == [12, 15, 18]
    with pytest.raises(ActionError):
        trials_view.parse_ids("12, x")
    assert trials_view.md_escape("![x](http://e/)") == "\\!\\[x\\]\\(http://e/\\)"


def test_analyst_filter_is_pinned_to_themselves(people):
    alice, bob, root = people["alice"], people["bob"], people["root"]
    assert trials_view.to_filter(alice, TrialQuery()).user_id == alice.id
    assert trials_view.to_filter(alice, TrialQuery(user_id=bob.id)).user_id == -1
    assert trials_view.to_filter(root, TrialQuery(user_id=bob.id)).user_id == bob.id
    assert trials_view.to_filter(root, TrialQuery()).user_id is None


def test_fold_table_mean_and_std_and_importance_shapes(people):
    trial = add_trial(
        people["alice"], importances={"kind": "permutation", "values": {"a": 0.2, "b": -0.5}}
    )
    detail = trials_view.load_detail(people["alice"], trial.id)
    folds = trials_view.fold_table(detail)
    assert folds.loc["std (folds)", "balanced_accuracy"] == pytest.approx(0.0223607, rel=1e-5)
    figure = trials_view.importance_figure(trial.importances)
    assert list(figure.data[0].y) == ["a", "b"]  # ranked by magnitude, largest at the top


def test_progress_points_are_downsampled_for_charts(people):
    job_id = add_job(people["alice"], events=5000)
    trial = add_trial(people["alice"], job_id=job_id)
    detail = trials_view.load_detail(people["alice"], trial.id, max_points=1000)
    assert 500 < len(detail.points) <= 1000
    assert detail.points[-1]["fraction"] == 1.0  # the last point is always kept


def test_rerun_uses_train_model_for_a_trial_of_a_comparison(people):
    pytest.importorskip("engine.ml.actions")
    params = {"symbols": ["SPX"], "model_id": "LogisticRegression", "seed": 3}
    trial = add_trial(people["alice"], action="compare_models", params=params)
    detail = trials_view.load_detail(people["alice"], trial.id)
    assert trials_view.rerun_call(detail) == ("train_model", params)
