"""Apply Alembic migrations programmatically (`python -m engine migrate`, app start-up)."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_lock = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    from storage.db import normalise_url
    from storage.settings import get_storage_settings

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' must be escaped for configparser interpolation (URL-encoded options contain it).
    resolved = normalise_url(url or get_storage_settings().database_url)
    config.set_main_option("sqlalchemy.url", resolved.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate to ``revision``. Safe when several replicas start at once: they take turns
    (an advisory lock on PostgreSQL, a file lock next to a SQLite file), and the later
    ones find the schema current and change nothing."""
    config = alembic_config(url)
    configured = config.get_main_option("sqlalchemy.url")
    if configured is None:  # alembic_config always sets it
        raise RuntimeError("the migration configuration has no database URL")
    with _lock, _across_processes(configured.replace("%%", "%")):
        command.upgrade(config, revision)


# One fixed key for "a migration is running" (pg_advisory_lock takes a 64-bit integer).
_ADVISORY_KEY = zlib.crc32(b"mltrainer.migrate")


@contextmanager
def _across_processes(url: str) -> Iterator[None]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Its own short-lived engine: the lock belongs to this connection's session.
        locker = create_engine(url, poolclass=NullPool)
        try:
            with locker.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY}
                    )
                    connection.commit()
        finally:
            locker.dispose()
    elif parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        import fcntl

        lock_path = Path(f"{parsed.database}.migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from storage.db import get_engine

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
