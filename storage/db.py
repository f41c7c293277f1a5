"""Database engine and sessions. Only `storage/` talks SQL.

SQLite is tuned for several processes (WAL, busy timeout, foreign keys on);
PostgreSQL is reached through psycopg 3 with a pooled engine.

Outages: a connection that died while pooled is replaced on checkout (pre-ping); a
connection attempt gives up after MLTRAINER_DB_CONNECT_TIMEOUT seconds (10), so an
unreachable server is an error the caller can retry (storage.outage), not a hang; SQLite
waits MLTRAINER_SQLITE_BUSY_SECONDS (30) for another writer's lock before "database is
locked".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_engines: dict[tuple[str, bool], Engine] = {}  # (url, autocommit) -> engine
_sessionmakers: dict[Engine, sessionmaker[Session]] = {}
_lock = threading.Lock()


def normalise_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class EncodedJSON(str):
    """A JSON value already encoded (e.g. a job's result, encoded once to measure it):
    bound to a JSON column as it is, not encoded a second time."""


def _encode_json(value: Any) -> str:
    # the engines' JSON serializer: SQLAlchemy's default (json.dumps), but encoded text
    # passes through (psycopg wraps it in Json(value, dumps=this), SQLite binds the text)
    return value if type(value) is EncodedJSON else json.dumps(value)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive")
    return value


def sqlite_busy_seconds() -> float:
    return _seconds("MLTRAINER_SQLITE_BUSY_SECONDS", 30.0)


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_seconds() * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _instrument(engine: Engine) -> None:
    from storage.metrics import DB_QUERY_SECONDS

    @event.listens_for(engine, "before_cursor_execute")
    def _start(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _stop(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["query_start"].pop()
        DB_QUERY_SECONDS.observe(time.perf_counter() - started)


def get_engine(url: str | None = None) -> Engine:
    """The pooled engine for ``url`` (default: the configured database)."""
    return _cached_engine(url, autocommit=False)


def get_autocommit_engine(url: str | None = None) -> Engine:
    """An engine whose connections stay in autocommit mode, for one-statement work on the
    executor's hot path. A separate pool, rather than ``execution_options(isolation_level=
    ...)`` on the shared one: that switches the level on every checkout and back on every
    checkin, two extra statements per use."""
    return _cached_engine(url, autocommit=True)


def _cached_engine(url: str | None, *, autocommit: bool) -> Engine:
    if url is None:
        from storage.settings import get_storage_settings

        url = get_storage_settings().database_url
    url = normalise_url(url)
    key = (url, autocommit)
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        # Autocommit connections hold no transaction to roll back when they return to the
        # pool: skip that reset.
        options = (
            {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
        )
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                from pathlib import Path

                from storage.filemodes import prepare_sqlite_file

                prepare_sqlite_file(Path(database))  # 0600, and so its -wal and -shm
            engine = create_engine(
                url,
                connect_args={"timeout": sqlite_busy_seconds(), "check_same_thread": False},
                json_serializer=_encode_json,
                **options,
            )
            event.listen(engine, "connect", _configure_sqlite)
        else:
            connect_args = {}
            if "connect_timeout" not in parsed.query:
                timeout = _seconds("MLTRAINER_DB_CONNECT_TIMEOUT", 10.0)
                connect_args["connect_timeout"] = max(1, round(timeout))
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=20,
                connect_args=connect_args,
                json_serializer=_encode_json,
                **options,
            )
        _instrument(engine)
        _engines[key] = engine
        if not autocommit:
            _sessionmakers[engine] = sessionmaker(engine, expire_on_commit=False)
        return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commits on success, rolls back on any exception."""
    engine = get_engine(url)
    maker = _sessionmakers[engine]
    session = maker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` matched (typed as
    a plain ``Result``; for those statements it is a ``CursorResult``)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {type(result).__name__}")
    return result.rowcount


def dispose_all() -> None:
    """Close every pool (after fork, and between test databases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _sessionmakers.clear()
