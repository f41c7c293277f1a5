"""The Trials page through AppTest: table (filters, sorting, pagination), detail,
comparison and re-run, as an analyst, an admin and a viewer see them."""

from __future__ import annotations

import json

import pytest

from tests.foundation.apptest_helpers import errors, log_in, new_app
from tests.trials.conftest import add_job, add_trial, reproducibility, spread

PAGE = "pages/trials.py"


def trials_page(username: str, **query):
    at = log_in(new_app(), username)
    at.switch_page(PAGE).run()
    if query:
        at.query_params.update({k: str(v) for k, v in query.items()})
        at.run()
    assert not at.exception, at.exception
    return at


def table(at):
    return at.dataframe(key="trials_table").value


def frame_with(at, column: str):
    """The first table that has ``column`` (plain dataframes carry no key in AppTest)."""
    for element in at.dataframe:
        frame = element.value
        if column in frame.columns or column in frame.index:
            return frame
    raise KeyError(column)


def points(values) -> int:
    """Length of a trace array (Plotly ships numpy arrays as base64 typed arrays)."""
    if isinstance(values, dict):
        import base64

        import numpy as np

        return len(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]))
    return len(values)


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def chart_titles(at) -> list[str]:
    out = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        out.append(title.get("text") if isinstance(title, dict) else title)
    return out


def test_table_pages_sorts_and_filters(people):
    spread(60, people["alice"])
    at = trials_page("root")
    frame = table(at)
    assert len(frame) == 50
    assert "Showing 1–50 of 60 trials" in captions(at)
    assert list(frame["value"])[:2] == pytest.approx([0.5 + 59 / 100, 0.5 + 58 / 100])  # newest

    at.button(key="trials_next").click().run()
    assert len(table(at)) == 10
    assert "Showing 51–60 of 60 trials" in captions(at)

    at.selectbox(key="tf_sort").set_value("metric_value").run()
    at.toggle(key="tf_desc").set_value(False).run()
    frame = table(at)
    assert "Showing 1–50 of 60 trials" in captions(at)  # a new order starts on page 1
    assert list(frame["value"])[:3] == pytest.approx([0.50, 0.51, 0.52])

    at.selectbox(key="tf_family").set_value("linear").run()
    frame = table(at)
    assert set(frame["family"]) == {"linear"} and len(frame) == 20

    at.number_input(key="tf_min").set_value(0.8).run()
    frame = table(at)
    assert len(frame) == 10 and min(frame["value"]) >= 0.8
    assert not errors(at)


def test_analysts_see_only_their_own_trials(people):
    spread(3, people["alice"])
    spread(2, people["bob"])
    at = trials_page("alice")
    assert set(table(at)["user"]) == {"alice"} and len(table(at)) == 3
    with pytest.raises(KeyError):
        at.selectbox(key="tf_user")  # no user filter: analysts see their own
    viewer = trials_page("vic")
    assert len(table(viewer)) == 5
    viewer.selectbox(key="tf_user").set_value(people["bob"].id).run()
    assert set(table(viewer)["user"]) == {"bob"}
    # a bookmarked detail of someone else's trial does not open for an analyst
    bob_trial = add_trial(people["bob"])
    at = trials_page("alice", trial=bob_trial.id)
    assert "not visible to you" in errors(at)[0]


def test_detail_shows_metrics_folds_charts_log_and_downloads(people, tmp_path):
    from engine.config import get_settings

    alice = people["alice"]
    job_id = add_job(alice, events=300)
    artifact = get_settings().data_dir / "models" / "trial.skops"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_bytes(b"skops-bytes")
    trial = add_trial(
        alice,
        job_id=job_id,
        artifact_path=str(artifact),
    )
    at = trials_page("alice", trial=trial.id)
    assert [s.value for s in at.subheader][0] == f"Trial {trial.id}"
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["balanced_accuracy"] == "0.5500 ± 0.0224"
    assert tiles["hold-out"] == "0.5300"
    summary = frame_with(at, "mean ± std")
    assert summary.iloc[0]["mean ± std"] == "0.5500 ± 0.0224"
    folds = frame_with(at, "balanced_accuracy")
    assert list(folds.index) == [f"fold_{i}" for i in range(5)] + [
        "holdout",
        "mean (folds)",
        "std (folds)",
    ]
    assert folds.loc["mean (folds)", "balanced_accuracy"] == pytest.approx(0.55)
    titles = chart_titles(at)
    assert {"Progress", "Feature importances (native)"} <= set(titles)
    progress = json.loads(at.get("plotly_chart")[titles.index("Progress")].proto.spec)
    assert points(progress["data"][0]["x"]) == 300  # fewer than the budget: all of them
    log = frame_with(at, "event")
    assert log.iloc[0]["event"] == "queued" and len(log) == 303
    params = frame_with(at, "parameter")
    assert dict(zip(params["parameter"], params["value"], strict=True))["max_depth"] == "3"
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == [
        "HTML report",
        "Model (skops)",
        "Reproduction bundle (zip)",
        "Notebook (ipynb)",
    ]


def test_artifact_outside_the_data_directory_is_not_offered(people, tmp_path):
    outside = tmp_path / "elsewhere.skops"
    outside.write_bytes(b"x")
    trial = add_trial(people["alice"], artifact_path=str(outside))
    at = trials_page("alice", trial=trial.id)
    assert "Model (skops)" not in [b.proto.label for b in at.get("download_button")]
    assert "No saved model for this trial." in captions(at)


@pytest.fixture
def fit_action():
    from tests.trials import fit_action

    fit_action.install()
    yield fit_action
    fit_action.uninstall()


@pytest.mark.parametrize("drift", [False, True])
def test_rerun_reproduces_the_trial_and_says_whether_metrics_match(people, fit_action, drift):
    from engine.actions import call
    from storage.repositories.trials import trial_for_job

    outcome = call(fit_action.NAME, {"seed": 7, "drift": drift}, people["alice"])
    original = trial_for_job(outcome.job_id)
    at = trials_page("alice", trial=original.id)
    at.button(key=f"rerun-{original.id}-go").click().run()
    assert not at.exception and not errors(at), errors(at)
    rerun_job = at.session_state[f"rerun_job_{original.id}"]
    again = trial_for_job(rerun_job)
    assert again.id != original.id and again.params == original.params
    comparison = frame_with(at, "re-run")
    if drift:
        assert f"Trial {again.id} does not reproduce trial {original.id}" in at.warning[0].value
        assert not comparison["match"].all()
    else:
        assert at.success[0].value.startswith(f"Reproduced: trial {again.id}")
        assert comparison["match"].all()
    at.button(key=f"rerun-open-{original.id}").click().run()
    assert at.query_params["trial"] == str(again.id)
    assert [s.value for s in at.subheader][0] == f"Trial {again.id}"


def test_viewers_cannot_rerun(people, fit_action):
    from engine.actions import call
    from storage.repositories.trials import trial_for_job

    trial = trial_for_job(call(fit_action.NAME, {"seed": 1}, people["alice"]).job_id)
    at = trials_page("vic", trial=trial.id)
    assert [s.value for s in at.subheader][0] == f"Trial {trial.id}"
    with pytest.raises(KeyError):
        at.button(key=f"rerun-{trial.id}-go")


def _searched_trials(user, n: int, dataset_id: int | None):
    """``n`` trials of one search on the same splits, each with its out-of-sample blocks;
    trial 0 is best in every block (no overfitting)."""
    from engine.trials.record import TrialMetrics

    made = []
    for i in range(n):
        blocks = [0.6 - 0.02 * i + 0.001 * b for b in range(10)]
        metrics = TrialMetrics.model_validate(
            {"balanced_accuracy": {"mean": sum(blocks) / 10, "std": 0.01}, "oos_blocks": blocks}
        ).model_dump(mode="json", exclude_none=True)
        made.append(
            add_trial(
                user,
                metric_value=sum(blocks) / 10,
                metrics=metrics,
                dataset_id=dataset_id,
                reproducibility=reproducibility(split_fingerprint="same-splits"),
            )
        )
    return made


def test_detail_and_compare_show_overfitting_statistics(people):
    from storage.repositories.datasets import record_dataset

    alice = people["alice"]
    dataset_id = record_dataset(
        name="t",
        source="bundled",
        symbols=["SPX"],
        start_date=None,
        end_date=None,
        rows=10,
        fingerprint="overfit-page",
        user_id=alice.id,
    )
    trials = _searched_trials(alice, 4, dataset_id)
    add_trial(alice, dataset_id=dataset_id, status="failed", metric_value=None)
    at = trials_page("alice", trial=trials[0].id)
    verdict = next(c for c in captions(at) if c.startswith("Overfitting:"))
    assert "5 trial(s) tried on this data" in verdict  # the failed try counts too
    assert "probability of backtest overfitting 0.00" in verdict
    table = frame_with(at, "statistic")
    assert table.set_index("statistic").loc[
        "probability of backtest overfitting (CSCV)", "value"
    ] == pytest.approx(0.0)
    at = trials_page("alice", compare=",".join(str(t.id) for t in trials[:3]))
    assert any(c.startswith("Overfitting: 5 trial(s)") for c in captions(at))
