"""engine.trials.query and its helpers (no Streamlit): the access filter inside the
repository's SQL, single reads, the table, comparisons."""

from __future__ import annotations

import pytest

from engine.actions import ActionError
from engine.trials import compare, figures, query
from engine.trials import detail as trial_detail
from engine.trials.query import TrialQuery
from storage.access import OwnerScope
from storage.repositories import trials as trial_repo
from tests.trials.conftest import add_job, add_trial, importances


def test_flatten_params_keeps_names_short_unless_they_clash():
    flat = trial_detail.flatten_params(
        {"model_id": "RF", "seed": 1, "model_params": {"max_depth": 3, "seed": 9}}
    )
    assert flat == {"model_id": "RF", "seed": 1, "max_depth": 3, "model_params.seed": 9}


def test_parse_ids():
    assert query.parse_ids("12, 15 #18,12") == [12, 15, 18]
    with pytest.raises(ActionError):
        query.parse_ids("12, x")


def test_analyst_lists_only_their_own_and_the_systems_trials(people):
    alice, bob, root, vic = people["alice"], people["bob"], people["root"], people["vic"]
    mine = add_trial(alice)
    bobs = add_trial(bob)
    system = add_trial(None)
    page = query.search(alice, TrialQuery())
    assert {t.id for t in page.records} == {mine.id, system.id} and page.total == 2
    # asking for someone else's trials gives an empty page, not theirs and not one's own
    assert query.search(alice, TrialQuery(user_id=bob.id)).total == 0
    for everyone in (root, vic):
        assert {t.id for t in query.search(everyone, TrialQuery()).records} == {
            mine.id,
            bobs.id,
            system.id,
        }
        assert [t.id for t in query.search(everyone, TrialQuery(user_id=bob.id)).records] == [
            bobs.id
        ]
    assert {t.id for t in query.recent(alice)} == {mine.id, system.id}
    assert set(query.recent_frame(bob)["trial_id"]) == {bobs.id, system.id}


def test_the_scope_is_part_of_the_sql(people):
    """The owner condition is in the statement itself, not applied after loading."""
    alice = people["alice"]
    count, rows = trial_repo.search_statements(query.to_filter(TrialQuery()), query.scope(alice))
    # the total is summed from the rollups, the page read from the trials
    for statement, table in ((count, "trial_rollups"), (rows, "trials")):
        compiled = str(statement.compile(compile_kwargs={"literal_binds": True}))
        assert f"{table}.user_id = {alice.id}" in compiled
        assert f"{table}.user_id IS NULL" in compiled
    with pytest.raises(TypeError):
        trial_repo.search_trials(query.to_filter(TrialQuery()))  # no scope, no listing


def test_single_reads_answer_the_same_for_missing_and_foreign_trials(people):
    alice, bob, vic = people["alice"], people["bob"], people["vic"]
    bobs = add_trial(bob)
    with pytest.raises(ActionError, match="does not exist or is not visible to you") as foreign:
        query.get_trial(alice, bobs.id)
    with pytest.raises(ActionError, match="does not exist or is not visible to you") as missing:
        query.get_trial(alice, bobs.id + 1000)
    assert str(foreign.value).replace(str(bobs.id), "#") == str(missing.value).replace(
        str(bobs.id + 1000), "#"
    )
    assert query.get_trial(vic, bobs.id).id == bobs.id
    with pytest.raises(ActionError):
        trial_detail.load_detail(alice, bobs.id)
    with pytest.raises(ActionError, match=f"trial {bobs.id}"):
        compare.load_trials(alice, [add_trial(alice).id, bobs.id])
    job = add_job(bob)
    add_trial(bob, job_id=job)
    assert query.trial_for_job(alice, job) is None
    assert query.trial_for_job(bob, job) is not None


def test_filter_options_only_name_what_the_reader_may_see(people):
    query.clear_filter_options()
    add_trial(people["alice"], family="linear")
    add_trial(people["bob"], family="boosting")
    mine = query.filter_options(people["alice"])
    assert mine.families == ["linear"] and mine.users == {}
    everyone = query.filter_options(people["root"])
    assert everyone.families == ["boosting", "linear"]
    assert set(everyone.users.values()) == {"alice", "bob"}
    query.clear_filter_options()


def test_fold_table_mean_and_std_and_importances(people):
    trial = add_trial(
        people["alice"], importances=importances({"a": 0.2, "b": -0.5}, "permutation")
    )
    detail = trial_detail.load_detail(people["alice"], trial.id)
    folds = trial_detail.fold_table(detail)
    assert folds.loc["std (folds)", "balanced_accuracy"] == pytest.approx(0.0223607, rel=1e-5)
    figure = figures.importance_figure(detail.trial.importances)
    assert list(figure.data[0].y) == ["a", "b"]  # ranked by magnitude, largest at the top
    assert figure.layout.title.text == "Feature importances (permutation)"


def test_progress_points_are_downsampled_for_charts(people):
    job_id = add_job(people["alice"], events=5000)
    trial = add_trial(people["alice"], job_id=job_id)
    detail = trial_detail.load_detail(people["alice"], trial.id, max_points=1000)
    assert 500 < len(detail.points) <= 1000
    assert detail.points[-1]["fraction"] == 1.0  # the last point is always kept


def test_rerun_uses_train_model_for_a_trial_of_a_comparison(people):
    pytest.importorskip("engine.ml.actions")
    params = {"symbols": ["SPX"], "model_id": "LogisticRegression", "seed": 3}
    trial = add_trial(people["alice"], action="compare_models", params=params)
    detail = trial_detail.load_detail(people["alice"], trial.id)
    assert trial_detail.rerun_call(detail) == ("train_model", params)


def test_owner_scope_admits_what_permissions_allow(people):
    assert query.scope(people["root"]) == OwnerScope(everyone=True)
    assert query.scope(people["vic"]) == OwnerScope(everyone=True)
    assert query.scope(people["alice"]) == OwnerScope(
        everyone=False, owner_id=people["alice"].id, include_shared=True
    )


def test_a_trials_job_is_shown_only_to_who_may_read_the_job(people):
    """A viewer reads every trial but not other users' jobs (their parameters, errors and
    progress): the detail and the comparison leave the job out for them."""
    alice, vic, root = people["alice"], people["vic"], people["root"]
    trials = [add_trial(alice, job_id=add_job(alice, events=20)) for _ in range(2)]
    for reader in (alice, root):
        detail = trial_detail.load_detail(reader, trials[0].id)
        assert detail.job is not None and len(detail.points) == 20
        shown = compare.curves(reader, compare.build(reader, [trials[0].id, trials[1].id]))
        assert [c.trial_id for c in shown] == [trials[0].id, trials[1].id]
    detail = trial_detail.load_detail(vic, trials[0].id)
    assert detail.job is None and detail.points == [] and trial_detail.event_log(detail).empty
    assert compare.curves(vic, compare.build(vic, [t.id for t in trials])) == []
