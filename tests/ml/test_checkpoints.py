"""Checkpoints: a tune whose worker dies mid-trial is retried and carries on from the
trials it recorded (the same Optuna study, in Optuna's database), so the job ends with
exactly the trials asked for, each recorded once; and a retried job that re-records a
trial leaves its lost attempt's copy out of every count."""

from __future__ import annotations

import json

import optuna
import pytest
from sqlalchemy import select

from engine.actions import UserRef
from storage.access import OwnerScope
from storage.db import session_scope
from storage.models import Trial
from storage.optuna_store import optuna_storage
from storage.repositories import jobs, trials
from tests.ml import interrupted_actions
from tests.ml.test_pipeline import FAST, PRICE, context, run

N_TRIALS = 5
DIE_AFTER = 2


@pytest.fixture
def executor_with_dying_tune(fresh_db, monkeypatch):
    from engine import executor
    from engine.config import reset_settings

    for name, value in {
        "MLTRAINER_PROCESS_WORKERS": "1",
        "MLTRAINER_THREAD_WORKERS": "2",
        "MLTRAINER_SCHEDULER_POLL_SECONDS": "0.2",
        "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
        "MLTRAINER_EXECUTOR": "local",
        "MLTRAINER_EXTRA_ACTION_MODULES": "tests.ml.interrupted_actions",
    }.items():
        monkeypatch.setenv(name, value)
    interrupted_actions.register_all()
    executor.shutdown(grace=0)  # one started earlier in this process uses another database
    reset_settings()
    service = executor.ensure_started()
    assert service.warm_up(180)
    yield service
    executor.shutdown(grace=0)
    reset_settings()
    interrupted_actions.unregister_all()


def _all_rows_of(job_id: int) -> list[Trial]:
    with session_scope() as session:
        return list(session.scalars(select(Trial).where(Trial.job_id == job_id)))


def test_a_tune_killed_mid_trial_resumes_its_study_and_records_each_trial_once(
    executor_with_dying_tune,
):
    from engine import executor

    params = {**PRICE, "model_id": "decision tree", "n_trials": N_TRIALS, "seed": 4}
    job_id = executor.submit(
        "test_tune_dies_once", {**params, "die_after": DIE_AFTER}, UserRef.system()
    )
    job = executor.wait(job_id, 900)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2  # the worker died once, the retry finished
    lost = jobs.attempt_history(job_id)
    assert [(a.attempt, a.counted) for a in lost] == [(1, True)]
    assert "the worker running this job died" in lost[0].error

    recorded = trials.trials_for_job(job_id)
    assert [t.reproducibility["study"]["number"] for t in recorded] == list(range(N_TRIALS))
    assert len(_all_rows_of(job_id)) == N_TRIALS  # nothing recorded twice
    values = job.result["values"]
    assert values["n_trials"] == N_TRIALS and values["n_completed"] == N_TRIALS
    assert values["best_trial_id"] in {t.id for t in recorded}
    # The first attempt's trials are part of the result, not redone.
    first_attempt = [t for t in recorded if t.created_at < job.started_at]
    assert len(first_attempt) == DIE_AFTER

    # The same Optuna study carried on: the first attempt's completed trials, the one it
    # was evaluating when it died (closed as failed), then the retry's.
    storage = optuna_storage()
    names = [n for n in optuna.get_all_study_names(storage) if n.startswith(f"job-{job_id}-")]
    assert len(names) == 1
    study = optuna.load_study(study_name=names[0], storage=storage)
    states = [t.state for t in study.trials]
    complete = optuna.trial.TrialState.COMPLETE
    assert states[DIE_AFTER] == optuna.trial.TrialState.FAIL
    assert states.count(complete) == N_TRIALS and len(states) == N_TRIALS + 1
    done = [t for t in study.trials if t.state == complete]
    assert [t.value for t in done] == pytest.approx([t.metric_value for t in recorded])
    # The resumed sampler does not draw the first trials' configurations again.
    configurations = {json.dumps(t.params["model_params"], sort_keys=True) for t in recorded}
    assert len(configurations) == N_TRIALS


def test_a_retried_jobs_earlier_copy_of_a_trial_is_not_counted(fresh_db):
    """A training whose worker was lost after it recorded its trial re-records it on the
    retry: listings, counts and the job's trials hold the retry's copy only."""
    job_id = jobs.create_job("train_model", {}, None, status="running")

    def total() -> int:
        return trials.search_trials(trials.TrialFilter(), OwnerScope.all_rows(), limit=1)[1]

    lost = run("train_model", context(job_id=job_id), **PRICE, **FAST).values["trial_id"]
    assert total() == 1
    retry = run("train_model", context(job_id=job_id), **PRICE, **FAST).values["trial_id"]
    assert retry != lost
    assert total() == 1
    assert [t.id for t in trials.trials_for_job(job_id)] == [retry]
    assert trials.trial_for_job(job_id).id == retry
    assert trials.get_trial(lost) is not None  # kept for the record
    assert len(_all_rows_of(job_id)) == 2
