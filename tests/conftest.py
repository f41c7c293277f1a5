"""Shared fixtures: an isolated data directory and database for the whole run,
fresh databases on demand (SQLite and the real PostgreSQL), and the real Redis.

A test that needs PostgreSQL or Redis skips when the service is unreachable,
unless MLTRAINER_REQUIRE_SERVICES=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path

_RUN_DIR = Path(tempfile.mkdtemp(prefix="mltrainer-tests-"))
os.environ["MLTRAINER_DATA_DIR"] = str(_RUN_DIR / "data")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_RUN_DIR / "metrics")
os.environ["DATABASE_URL"] = f"sqlite:///{_RUN_DIR / 'data' / 'session.db'}"
os.environ.pop("REDIS_URL", None)
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ.setdefault("MLTRAINER_METRICS_PORT", "0")
os.environ["MLTRAINER_BCRYPT_ROUNDS"] = "4"

import pytest  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def redis_test_url(worker: str | None = None) -> str:
    """The Redis database the ``redis_url`` fixture flushes: db 15 in a plain run; under
    pytest-xdist, worker gwN takes db 15 - N, so parallel workers never flush each
    other's keys (db 0, the application's default, is never used)."""
    base = os.environ.get("MLTRAINER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "") if worker is None else worker
    if not worker.startswith("gw"):
        return base
    prefix, _, number = base.rpartition("/")
    database = int(number or 0) - int(worker[2:])
    if database < 1:
        raise RuntimeError(
            f"pytest-xdist worker {worker} has no Redis database of its own below {base} "
            "(run fewer workers or point MLTRAINER_TEST_REDIS_URL at a higher db)"
        )
    return f"{prefix}/{database}"


REDIS_TEST_URL = redis_test_url()


def services_required() -> bool:
    return os.environ.get("MLTRAINER_REQUIRE_SERVICES") == "1"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    if _port_open(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if services_required():
        pytest.fail(message + " and MLTRAINER_REQUIRE_SERVICES=1")
    pytest.skip(message)


def use_database(url: str) -> None:
    """Point the whole process (settings, engines, cache) at ``url`` and migrate it."""
    from engine.config import reset_settings
    from storage.cache import reset_cache
    from storage.db import dispose_all
    from storage.migrate import upgrade

    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    reset_cache()
    upgrade(url)


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest leaves ``sys.modules["__main__"]`` pointing at its temporary
    script; a process spawned later in the same worker (a Dask nanny's worker, a pool
    child) would re-run that script and die. Each test gets the real ``__main__`` back."""
    import sys

    original = sys.modules.get("__main__")
    yield
    if original is not None:
        sys.modules["__main__"] = original


@pytest.fixture(scope="session", autouse=True)
def session_database():
    from engine.runtime import install

    install()  # the entry point's duty: the compliance policy and the job runner
    use_database(os.environ["DATABASE_URL"])
    yield os.environ["DATABASE_URL"]


def _new_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite'}"


def _new_postgres_schema() -> tuple[str, str]:
    need_service("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"


def _drop_postgres_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import dispose_all

    dispose_all()
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        # the schema storage.optuna_store creates beside it for Optuna's studies
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_optuna" CASCADE'))
    admin.dispose()


@pytest.fixture
def fresh_db(tmp_path, session_database):
    """A new, migrated SQLite database for one test."""
    url = _new_sqlite_url(tmp_path)
    use_database(url)
    yield url
    use_database(session_database)


@pytest.fixture
def postgres_db(session_database):
    """A new, migrated schema on the real PostgreSQL server for one test."""
    schema, url = _new_postgres_schema()
    use_database(url)
    yield url
    _drop_postgres_schema(schema)
    use_database(session_database)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db(request, tmp_path, session_database):
    """Runs the test once on SQLite and once on the real PostgreSQL server."""
    if request.param == "sqlite":
        url = _new_sqlite_url(tmp_path)
        use_database(url)
        yield url
    else:
        schema, url = _new_postgres_schema()
        use_database(url)
        yield url
        _drop_postgres_schema(schema)
    use_database(session_database)


@pytest.fixture
def redis_url():
    need_service("Redis", "127.0.0.1", 6379)
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def make_user(session_database):
    """Create users with a valid password; returns a factory giving UserRefs."""
    from engine.actions import UserRef
    from engine.auth.service import create_user

    def factory(username: str = "alice", role: str = "analyst", password: str = "Correct-h0rse-1"):
        record = create_user(username, username.title(), password, role)
        return UserRef(record.id, record.username, record.role)

    return factory
