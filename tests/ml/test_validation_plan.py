"""Dated uploaded tables are time series: train_model detects the date column and
validates walk-forward (purge and embargo by dates when rows share a date); shuffled
folds need an explicit, recorded override. On a pure random walk with an overlapping
20-day forward-return target, shuffled folds "find" skill; walk-forward does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionError
from engine.ml.splits import PurgedKFold, date_starts, rows_of_units
from engine.ml.validation_plan import detect_time_column
from tests.ml.test_pipeline import run

FOREST = {"model_id": "sklearn.RandomForestRegressor", "model_params": {"n_estimators": 30}}


def random_walk_table(rows: int = 900, seed: int = 7, horizon: int = 20) -> pd.DataFrame:
    """A Gaussian random walk: its level and past returns as features, the overlapping
    ``horizon``-day forward return as the target. Nothing in it is predictable."""
    rng = np.random.default_rng(seed)
    level = 100 + np.cumsum(rng.normal(size=rows + horizon))
    frame = pd.DataFrame(
        {"date": pd.bdate_range("2015-01-01", periods=rows + horizon), "level": level}
    )
    frame["past_5"] = frame["level"].diff(5)
    frame["past_20"] = frame["level"].diff(20)
    frame["forward_20"] = frame["level"].shift(-horizon) - frame["level"]
    return frame.dropna().reset_index(drop=True)


def upload(frame: pd.DataFrame, name: str) -> int:
    from engine.data.upload import import_upload

    csv = frame.to_csv(index=False, date_format="%Y-%m-%d").encode()
    return import_upload(csv, name).dataset_id


@pytest.fixture
def walk_id(fresh_db):
    return upload(random_walk_table(), "walk.csv")


def test_a_dated_table_without_time_column_is_validated_walk_forward(walk_id):
    result = run(
        "train_model",
        dataset_id=walk_id,
        target_column="forward_20",
        task="regression",
        metric="r2",
        horizon=20,
        embargo=20,
        n_splits=4,
        **FOREST,
    )
    values = result.values
    assert values["evaluation"] == "walk_forward"
    assert values["time_column"] == "date" and values["time_column_detected"] is True
    assert values["purge"] == 20 and values["step"] == "rows"
    assert "walk-forward along date column 'date' (detected)" in result.summary
    assert values["validation"] in result.summary
    assert values["r2"] < 0.02  # a random walk: no skill out of sample
    from storage.repositories.trials import get_trial

    stored = get_trial(values["trial_id"]).reproducibility
    assert stored["evaluation"] == "walk_forward" and stored["data"]["time_column"] == "date"


def test_shuffled_folds_on_dates_need_an_override_that_is_recorded(walk_id):
    table = {"dataset_id": walk_id, "target_column": "forward_20", "task": "regression"}
    with pytest.raises(ActionError, match="allow_shuffled_dates"):
        run("train_model", **table, validation="kfold", metric="r2", **FOREST)
    result = run(
        "train_model",
        **table,
        validation="kfold",
        allow_shuffled_dates=True,
        metric="r2",
        **FOREST,
    )
    values = result.values
    assert values["evaluation"] == "kfold" and values["validation_override"] is True
    assert "WARNING" in result.summary and "OVERRIDE" in values["validation"]
    # The leak the walk-forward prevents: overlapping targets of neighbouring days.
    assert values["r2"] > 0.02
    from storage.repositories.trials import get_trial

    assert get_trial(values["trial_id"]).params["allow_shuffled_dates"] is True


def test_rows_sharing_a_date_are_purged_and_embargoed_by_dates(fresh_db):
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2018-01-01", periods=160)
    panel = pd.DataFrame(
        {
            "date": np.repeat(days, 3),
            "symbol": np.tile(["A", "B", "C"], len(days)),
            "x": rng.normal(size=3 * len(days)),
        }
    )
    panel["y"] = panel["x"] + rng.normal(scale=0.5, size=len(panel))
    dataset_id = upload(panel.sample(frac=1, random_state=1), "panel.csv")
    result = run(
        "train_model",
        dataset_id=dataset_id,
        target_column="y",
        task="regression",
        model_id="ridge",
        horizon=3,
        embargo=2,
        n_splits=3,
    )
    assert result.values["step"] == "dates" and "purge 3 dates" in result.values["validation"]
    from storage.repositories.trials import get_trial

    splits = get_trial(result.values["trial_id"]).reproducibility["splits"]
    for split in splits:
        last_train = pd.Timestamp(split["train_last_date"])
        first_test = pd.Timestamp(split["test_first_date"])
        # three distinct dates purged between them, none shared
        assert len(days[(days > last_train) & (days < first_test)]) == 3
        assert split["n_train"] % 3 == 0 and split["n_test"] % 3 == 0


def test_detection_prefers_a_conventional_name_and_ignores_the_target():
    frame = pd.DataFrame(
        {
            "settled": pd.to_datetime(["2020-01-02", "2020-01-03"]),
            "Date": pd.to_datetime(["2020-01-01", "2020-01-02"]),
            "x": [1.0, 2.0],
        }
    )
    assert detect_time_column(frame) == "Date"
    assert detect_time_column(frame[["settled", "x"]]) == "settled"
    assert detect_time_column(frame[["x"]]) is None
    assert detect_time_column(frame[["settled", "x"]], exclude=("settled",)) is None


def test_date_steps_map_back_to_whole_days():
    index = pd.DatetimeIndex(["2020-01-01"] * 2 + ["2020-01-02"] * 3 + ["2020-01-03"])
    starts = date_starts(index)
    assert starts.tolist() == [0, 2, 5]
    assert rows_of_units(np.array([1, 2]), starts, 6).tolist() == [2, 3, 4, 5]
    assert rows_of_units(np.array([0, 2]), starts, 6).tolist() == [0, 1, 5]
    assert date_starts(pd.date_range("2020-01-01", periods=4)) is None


def test_purged_kfold_partitions_and_keeps_labels_apart():
    X = pd.DataFrame(
        {"x": range(12)},
        index=pd.DatetimeIndex(np.repeat(pd.date_range("2020-01-01", periods=6), 2)),
    )
    tested = []
    for train, test in PurgedKFold(n_splits=3, horizon=1, embargo=1).split(X):
        tested.extend(test.tolist())
        train_days = set(X.index[train])
        test_days = sorted(set(X.index[test]))
        gap = pd.Timedelta(days=1)
        assert test_days[0] - gap not in train_days  # purge before
        assert test_days[-1] + gap not in train_days and test_days[-1] + 2 * gap not in train_days
    assert sorted(tested) == list(range(12))


def test_the_loop_and_the_benchmark_share_the_validation_path(fresh_db, monkeypatch):
    from engine.autonomy import meta_tasks
    from engine.autonomy.loop import train_params
    from engine.autonomy.proposer import Proposal
    from engine.goals.spec import GoalSpec
    from engine.ml import validation_plan

    calls = []
    real = validation_plan.trial_params

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(validation_plan, "trial_params", spy)
    task = meta_tasks.meta_task("SPX", "vol_up_next20")
    meta_tasks.evaluate(task, 10**6, "sklearn.Ridge", {}, seed=1)  # no such table: None
    assert calls and calls[0]["horizon"] == task.horizon
    spec = GoalSpec(
        name="g", dataset_id=3, target_column="y", task="regression", metric="r2", horizon=4
    )
    import engine.autonomy.loop as loop

    monkeypatch.setattr(loop, "trial_params", spy)
    params = train_params(spec, Proposal("sklearn.Ridge", "linear", {}, "test"), seed=2)
    assert len(calls) == 2
    assert params["validation"] == "walk_forward" and params["embargo"] == 4
    assert params["horizon"] == 4 and params["score_holdout"] is False
