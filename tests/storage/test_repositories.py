"""Storage runs on SQLite and on the real PostgreSQL server (the `any_db` fixture)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from storage.db import EncodedJSON, get_engine
from storage.migrate import current_revision
from storage.models import utcnow
from storage.repositories import jobs
from storage.repositories import users as user_repo

CORE_TABLES = {
    "users",
    "conversations",
    "chat_messages",
    "jobs",
    "job_events",
    "trials",
    "model_results",
    "goals",
    "compliance_events",
    "dynamic_actions",
    "datasets",
    "job_attempts",
}


def test_migrations_create_every_core_table(any_db):
    tables = set(inspect(get_engine(any_db)).get_table_names())
    assert CORE_TABLES <= tables
    assert current_revision(any_db) is not None


def test_users_are_unique_and_round_trip(any_db):
    created = user_repo.create_user("bob", "Bob", "hash", "analyst", "bob@example.com")
    loaded = user_repo.get_user("bob")
    assert loaded == created
    assert loaded.created_at.tzinfo is not None
    with pytest.raises(IntegrityError):
        user_repo.create_user("bob", "Other Bob", "hash", "viewer")
    assert user_repo.count_users() == 1


def test_failed_logins_lock_one_client_after_limit(any_db):
    user_repo.create_user("carol", "Carol", "hash", "analyst")

    def lock_for(failures):
        return timedelta(minutes=5) if failures >= 5 else None

    for count in range(1, 5):
        assert user_repo.record_login_failure("carol", "10.0.0.1", lock_for) == (count, None)
    failures, until = user_repo.record_login_failure("carol", "10.0.0.1", lock_for)
    assert failures == 5 and until > utcnow() + timedelta(minutes=4)
    assert user_repo.throttle_locked_until("carol", "10.0.0.1") == until
    assert user_repo.throttle_locked_until("carol", "10.0.0.2") is None  # another client
    assert user_repo.get_user("carol").locked_until == until  # what the admin page shows
    user_repo.clear_login_failures("carol")
    assert user_repo.throttle_locked_until("carol", "10.0.0.1") is None


def test_sessions_expire_and_revoke(any_db):
    user = user_repo.create_user("dave", "Dave", "hash", "viewer")
    user_repo.create_session(user.id, "k1", "cookie-1", utcnow() + timedelta(hours=1))
    user_repo.create_session(user.id, "k2", None, utcnow() - timedelta(seconds=1))
    assert user_repo.find_live_session("k1")[0].username == "dave"
    assert user_repo.find_live_session("k2") is None  # expired
    key, owner = user_repo.find_live_session_by_cookie("cookie-1")
    assert key == "k1" and owner.username == "dave"
    user_repo.revoke_session("k1")
    assert user_repo.find_live_session("k1") is None
    assert user_repo.find_live_session_by_cookie("cookie-1") is None


def test_job_lifecycle_claim_is_exclusive_and_result_stored(any_db):
    job_id = jobs.create_job("echo", {"x": 1}, None)
    assert jobs.claim(job_id, "w1") is True
    assert jobs.claim(job_id, "w2") is False
    jobs.append_events(job_id, [(0.1, 0.5, {"loss": 1.0}), (0.2, 1.0, {"loss": 0.5})])
    assert jobs.finish(job_id, "succeeded", result={"summary": "done"})
    assert jobs.finish(job_id, "failed", error="late") is False  # terminal states stick
    job = jobs.get_job(job_id)
    assert (job.status, job.result, job.attempts, job.progress) == (
        "succeeded",
        {"summary": "done"},
        1,
        1.0,
    )
    assert [e[2]["loss"] for e in jobs.read_events(job_id)] == [1.0, 0.5]


def test_a_result_encoded_once_is_stored_as_it_is(any_db):
    # the runner encodes a result once (to measure it) and stores that text, not a JSON
    # string of it
    job_id = jobs.create_job("echo", {"x": 1}, None, status="running")
    text = EncodedJSON('{"summary":"done","values":{"x":[1,2.5,null]},"tables":{}}')
    assert jobs.finish(job_id, "succeeded", result=text)
    stored = jobs.get_job(job_id).result
    assert stored == {"summary": "done", "values": {"x": [1, 2.5, None]}, "tables": {}}
    other = jobs.create_job("echo", {"x": 2}, None, status="running")
    assert jobs.finish(other, "succeeded", result={"summary": "a plain str is data"})
    assert jobs.get_job(other).result == {"summary": "a plain str is data"}


def test_each_lost_or_failed_attempt_is_kept_and_a_shutdown_is_not_counted(any_db):
    job_id = jobs.create_job("echo", {}, None)
    assert jobs.claim(job_id, "host:1:1")
    assert jobs.mark_interrupted(job_id, "Interrupted: shut down.", counted=False)
    assert jobs.get_job(job_id).attempts == 0  # given back
    assert jobs.requeue(job_id, "again")
    assert jobs.claim(job_id, "host:2:1")
    assert not jobs.mark_interrupted(job_id, "Interrupted: elsewhere.", worker_prefix="host:1:")
    assert jobs.mark_interrupted(job_id, "Interrupted: died.", worker_prefix="host:2:")
    assert jobs.requeue(job_id, "again")
    assert jobs.claim(job_id, "host:3:1")
    assert not jobs.finish(job_id, "failed", error="not mine", worker="host:2:1")
    assert jobs.finish(job_id, "failed", error="Model exploded.", worker="host:3:1")
    history = [(a.attempt, a.error, a.counted) for a in jobs.attempt_history(job_id)]
    assert history == [
        (1, "Interrupted: shut down.", False),
        (1, "Interrupted: died.", True),
        (2, "Model exploded.", True),
    ]
    assert jobs.get_job(job_id).attempts == 2


def test_cancel_requested_job_cannot_be_claimed(any_db):
    job_id = jobs.create_job("echo", {}, None)
    jobs.request_cancel(job_id)
    assert jobs.claim(job_id, "w1") is False


def test_deleting_a_job_cascades_to_its_events(any_db):
    job_id = jobs.create_job("echo", {}, None)
    jobs.append_events(job_id, [(0.0, 0.1, {})])
    jobs.delete_jobs([job_id])
    assert jobs.count_events(job_id) == 0


def test_dependencies_are_recorded(any_db):
    first = jobs.create_job("a", {}, None)
    second = jobs.create_job("b", {}, None, depends_on=[first])
    assert jobs.dependencies(second) == [first]
    assert jobs.dependents(first) == [second]
