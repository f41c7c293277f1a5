"""A trial write rides through a database outage (engine.ml.recording retries it).

The fault is real: the trial's INSERT (or its model results' INSERT) is held up by a
table lock taken on another connection and its PostgreSQL backend is terminated in the
middle of the statement (``pg_terminate_backend``); on SQLite a writer holds the lock
beyond the busy timeout. The training must not fail, and the trial and its model results
must be stored exactly once."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select, text

from storage.db import session_scope
from storage.models import ModelResult, Trial
from storage.repositories import trials
from tests.conftest import POSTGRES_ADMIN_URL
from tests.ml.test_pipeline import FAST, PRICE, run


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch):
    monkeypatch.setenv("MLTRAINER_DB_RETRY_FIRST_SECONDS", "0.05")
    monkeypatch.setenv("MLTRAINER_DB_RETRY_MAX_SECONDS", "0.2")
    monkeypatch.setenv("MLTRAINER_DB_OUTAGE_SECONDS", "60")


def _stored_rows() -> tuple[int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(Trial)),
            session.scalar(select(func.count()).select_from(ModelResult)),
        )


def _terminate_the_blocked_insert(admin, locker_pid: int, table: str, killed: list[str]):
    """Terminate the backends waiting for the locker until one was inserting into ``table``."""
    deadline = time.monotonic() + 60
    while not any(query.lstrip().startswith(f"INSERT INTO {table}") for query in killed):
        if time.monotonic() > deadline:
            return
        blocked = admin.execute(
            text(
                "SELECT pid, query FROM pg_stat_activity "
                "WHERE CAST(:locker AS integer) = ANY(pg_blocking_pids(pid))"
            ),
            {"locker": locker_pid},
        ).all()
        for pid, query in blocked:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(str(query))
        time.sleep(0.02)


@contextmanager
def _postgres_backend_terminated_on(table: str, killed: list[str]):
    """While the body runs its first write to ``table``, that statement's backend is
    terminated mid-statement; the statements cut short are appended to ``killed``."""
    direct = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with direct.connect() as admin, direct.connect() as locker:
            # the test's schema is the search_path of the application's connections only
            schema = _application_schema()
            locker.execute(text("BEGIN"))
            locker.execute(text(f'LOCK TABLE "{schema}".{table} IN SHARE ROW EXCLUSIVE MODE'))
            locker_pid = locker.execute(text("SELECT pg_backend_pid()")).scalar_one()
            killer = threading.Thread(
                target=_terminate_the_blocked_insert, args=(admin, locker_pid, table, killed)
            )
            killer.start()
            try:
                yield
            finally:
                killer.join()
                locker.execute(text("ROLLBACK"))
    finally:
        direct.dispose()


def _application_schema() -> str:
    with session_scope() as session:
        return session.execute(text("SELECT current_schema()")).scalar_one()


def _fault_on_first_call(monkeypatch, name: str, fault):
    """Make the first call of ``trials.<name>`` run inside ``fault`` (later calls, the
    retries, run normally); returns the list of calls' outcomes."""
    real = getattr(trials, name)
    outcomes: list[str] = []

    def first_call_faulted(*args, **kwargs):
        if outcomes:
            outcomes.append("retried")
            return real(*args, **kwargs)
        outcomes.append("faulted")
        with fault():
            return real(*args, **kwargs)

    monkeypatch.setattr(trials, name, first_call_faulted)
    return outcomes


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("write", "table"), [("create_trial", "trials"), ("add_model_results", "model_results")]
)
def test_a_trial_write_cut_by_pg_terminate_backend_is_retried_once(
    postgres_db, monkeypatch, write, table
):
    killed: list[str] = []

    @contextmanager
    def terminated():
        with _postgres_backend_terminated_on(table, killed):
            yield

    outcomes = _fault_on_first_call(monkeypatch, write, terminated)
    result = run("train_model", **PRICE, **FAST)

    assert any(query.lstrip().startswith(f"INSERT INTO {table}") for query in killed), killed
    assert outcomes == ["faulted", "retried"]
    trial_id = result.values["trial_id"]
    assert _stored_rows() == (1, len(trials.model_results(trial_id)))
    assert trials.get_trial(trial_id).status == "succeeded"
    assert {r.split for r in trials.model_results(trial_id)} >= {"holdout"}


def test_a_trial_write_refused_by_an_sqlite_lock_is_retried_once(fresh_db, monkeypatch):
    monkeypatch.setenv("MLTRAINER_SQLITE_BUSY_SECONDS", "0.2")
    from storage.db import dispose_all

    dispose_all()  # new connections take the short busy timeout
    path = fresh_db.removeprefix("sqlite:///")

    @contextmanager
    def locked():
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # every other writer gets "database is locked"
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    outcomes = _fault_on_first_call(monkeypatch, "create_trial", locked)
    result = run("train_model", **PRICE, **FAST)

    assert outcomes == ["faulted", "retried"]
    trial_id = result.values["trial_id"]
    assert _stored_rows() == (1, len(trials.model_results(trial_id)))
    assert trials.get_trial(trial_id).status == "succeeded"
