"""The typed trial record on trials the real pipeline recorded: what recording writes is
what every reader parses (no reader looks for keys no producer writes)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.actions import ActionError
from engine.feedback.insights import significance
from engine.trials import detail as trial_detail
from engine.trials import figures, query
from engine.trials.record import SplitResult, Trial, TrialMetrics
from storage.repositories import trials as trial_repo
from tests.ml.test_pipeline import FAST, PRICE, context, run, upload_table


@pytest.fixture
def price_trial(people) -> Trial:
    result = run("train_model", context(people["alice"]), **PRICE, **FAST)
    return Trial.from_row(trial_repo.get_trial(result.values["trial_id"]))


def test_a_price_trial_records_every_part_of_the_record(price_trial, people):
    trial = price_trial
    assert trial.status == "succeeded" and trial.metric_name == "balanced_accuracy"
    assert trial.primary is not None and trial.primary.mean == pytest.approx(trial.metric_value)
    assert trial.primary_holdout is not None
    sharpe = trial.metrics.cv["sharpe"]
    assert sharpe.pooled and sharpe.mean == pytest.approx(trial.strategy.sharpe)
    assert trial.strategy.strategy_n_obs > 100
    assert trial.importances.kind == "native" and trial.importances.ranked()
    fingerprint = trial.reproducibility
    assert fingerprint.fingerprint and fingerprint.seed == trial.seed
    assert fingerprint.versions["sklearn"] and fingerprint.split_fingerprint
    assert fingerprint.data.kind == "prices" and fingerprint.data.features == trial.feature_set
    assert [s.split for s in fingerprint.splits] == ["fold_0", "fold_1", "fold_2", "holdout"]
    splits = [SplitResult.from_row(r) for r in trial_repo.model_results(trial.id)]
    assert [s.split for s in splits] == ["fold_0", "fold_1", "fold_2", "holdout"]
    assert all(s.info is not None and s.info.test_first_date for s in splits)
    assert splits[-1].metrics["balanced_accuracy"] == pytest.approx(trial.primary_holdout)
    # the hold-out's equity curve lives with the hold-out split
    assert [s.equity is not None for s in splits] == [False, False, False, True]
    equity = splits[-1].equity
    assert equity.cost_bps == trial.reproducibility.cost_bps
    assert len(equity.dates) == len(equity.strategy) == len(equity.buy_and_hold)
    # the hold-out's days, and the next price date when the last position is closed
    assert len(equity.dates) in (splits[-1].n_test, splits[-1].n_test + 1)
    assert equity.strategy[0] == pytest.approx(1.0, abs=0.05)
    # the readers: the goal insights' deflated Sharpe reads the pooled statistics
    assert significance([trial])["n_trials"] == 1
    detail = trial_detail.load_detail(people["alice"], trial.id)
    drawn = figures.result_figures(detail)
    assert set(drawn) == {"confusion_matrix", "feature_importances", "holdout_equity"}
    assert drawn["holdout_equity"].layout.title.text.startswith("Hold-out equity")
    summary = trial_detail.metric_summary(detail).set_index("metric")
    assert summary.loc["balanced_accuracy", "holdout"] == pytest.approx(trial.primary_holdout)


def test_a_table_trial_has_no_trading_parts_and_a_failed_one_only_provenance(people):
    alice = people["alice"]
    result = run(
        "train_model",
        context(alice),
        dataset_id=upload_table(),
        target_column="label",
        feature_columns=["x1", "x2", "symbol"],
        model_id="logistic regression",
        validation="kfold",
        allow_shuffled_dates=True,  # the upload's rows carry dates
        n_splits=4,
        seed=3,
    )
    trial = Trial.from_row(trial_repo.get_trial(result.values["trial_id"]))
    assert trial.strategy is None and "sharpe" not in trial.metrics.cv
    assert trial.reproducibility.data.kind == "table"
    assert trial.reproducibility.data.categorical == ["symbol"]
    assert trial.reproducibility.evaluation == "kfold" and trial.importances.kind == "native"
    assert significance([trial]) is None
    detail = trial_detail.load_detail(alice, trial.id)
    assert detail.equity is None
    assert set(figures.result_figures(detail)) == {"confusion_matrix", "feature_importances"}
    with pytest.raises(ActionError, match="roc_auc"):
        run(
            "train_model",
            context(alice),
            **PRICE,
            model_id="ridge",
            task="regression",
            metric="roc_auc",
        )
    failed, _ = trial_repo.search_trials(
        trial_repo.TrialFilter(status="failed"), query.scope(alice), limit=1
    )
    record = Trial.from_row(failed[0])
    assert record.metrics is None and record.importances is None and record.error
    assert record.reproducibility.versions["sklearn"] and record.reproducibility.data is None


def test_the_schema_rejects_shapes_no_producer_writes():
    with pytest.raises(ValidationError):  # a bare number where the folds' stats belong
        TrialMetrics.model_validate({"balanced_accuracy": 0.5})
    with pytest.raises(ValidationError):  # importances without their kind
        Trial.model_validate(
            {
                "id": 1,
                "action": "train_model",
                "status": "succeeded",
                "params": {},
                "importances": {"ret_1": 0.4},
                "reproducibility": {"seed": 0, "versions": {}},
                "seed": 0,
                "created_at": "2026-01-01T00:00:00",
            }
        )
