"""Which database errors are a blip (real errors from real drivers), and the retry."""

from __future__ import annotations

import socket
import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage.outage import Backoff, RetryPolicy, describe, is_transient, retry_through_outage


def _locked_error(tmp_path) -> OperationalError:
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    except OperationalError as error:
        return error
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        engine.dispose()
    raise AssertionError("the insert was not refused")


def _refused_postgres_error() -> OperationalError:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test")
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError("connected to a closed port")


def test_a_locked_sqlite_database_and_an_unreachable_server_are_transient(tmp_path):
    locked = _locked_error(tmp_path)
    refused = _refused_postgres_error()
    assert is_transient(locked) and is_transient(refused)
    assert "database is locked" in describe(locked)


def test_errors_in_the_work_itself_are_not_transient(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(IntegrityError) as duplicate, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(OperationalError) as missing, engine.begin() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    engine.dispose()
    assert not is_transient(duplicate.value)
    assert not is_transient(missing.value)  # an SQLite OperationalError, but not a lock
    assert not is_transient(ValueError("bad input"))


def test_a_wrapped_database_error_is_still_transient(tmp_path):
    locked = _locked_error(tmp_path)
    try:
        try:
            raise locked
        except OperationalError as error:
            raise RuntimeError("could not load the dataset") from error
    except RuntimeError as wrapped:
        assert is_transient(wrapped)


def test_retry_rides_through_then_gives_up_after_the_budget(tmp_path):
    locked = _locked_error(tmp_path)
    calls, pauses = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise locked
        return "written"

    policy = RetryPolicy(budget_seconds=60, first_delay=0.1, max_delay=0.3)
    assert retry_through_outage(flaky, what="test", policy=policy, sleep=pauses.append) == "written"
    assert pauses == [0.1, 0.2, 0.3]

    def always_down():
        raise locked

    with pytest.raises(OperationalError):
        retry_through_outage(always_down, what="test", policy=RetryPolicy(0.0, 0.1, 0.1))

    def bug():
        calls.append(1)
        raise ValueError("not an outage")

    before = len(calls)
    with pytest.raises(ValueError):
        retry_through_outage(bug, what="test", policy=policy, sleep=pauses.append)
    assert len(calls) == before + 1  # no retry of a real error


def test_backoff_doubles_up_to_its_maximum_and_resets():
    backoff = Backoff(RetryPolicy(budget_seconds=10, first_delay=0.5, max_delay=2.0))
    assert backoff.ready(0.0)
    assert [backoff.failed(0.0) for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    assert not backoff.ready(1.0) and backoff.ready(2.0)
    assert backoff.succeeded() is not None
    assert backoff.ready(0.0) and backoff.succeeded() is None
