"""Apply Alembic migrations programmatically (`python -m engine migrate`, app start-up).

Every CLI call and service start migrates first, and the schema is nearly always current
already. Importing Alembic and loading its script directory costs a few tenths of a second
of CPU, so ``upgrade()`` first compares the database's ``alembic_version`` rows with the
heads read from the migration files (their ``revision``/``down_revision`` assignments,
parsed, not imported) and only brings Alembic in when they differ.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_lock = threading.Lock()


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

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
    if revision == "head" and _database_revisions(url) == script_heads():
        return
    from alembic import command

    config = alembic_config(url)
    configured = config.get_main_option("sqlalchemy.url")
    if configured is None:  # alembic_config always sets it
        raise RuntimeError("the migration configuration has no database URL")
    # Alembic re-reads the version under the lock, so a replica that lost the race to a
    # first migration finds the schema current here and changes nothing.
    with _lock, _across_processes(configured.replace("%%", "%")):
        command.upgrade(config, revision)


def script_heads() -> frozenset[str]:
    """The head revisions of storage/migrations/versions: the revisions no other one
    revises. Read from each file's module-level ``revision``/``down_revision`` literals."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        assigned = _literal_assignments(path, ("revision", "down_revision"))
        if "revision" not in assigned:
            continue
        revisions.add(str(assigned["revision"]))
        down = assigned.get("down_revision")
        if isinstance(down, str):
            revised.add(down)
        elif isinstance(down, tuple | list):  # a merge revision
            revised.update(str(parent) for parent in down)
    return frozenset(revisions - revised)


# The module-level ``revision = "0008"`` / ``down_revision = ("a", "b")`` lines Alembic
# writes. Read as text, not with ``ast.parse``: CPython 3.11.7's parser is not safe to run
# while other threads parse (gh-106905: "AST constructor recursion depth mismatch"), and
# this runs in processes full of threads (Streamlit, the executor).
_ASSIGNMENT = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=\n]*)?=\s*(?P<value>[^\n#]*)", re.MULTILINE
)
_QUOTED = re.compile(r"""["']([^"'\n]+)["']""")


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for match in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8")):
        name, value = match["name"], match["value"].strip()
        if name not in names or name in found:
            continue
        quoted = _QUOTED.findall(value)
        if value.startswith(("(", "[")):
            found[name] = tuple(quoted)
        elif quoted:
            found[name] = quoted[0]
        else:
            found[name] = None
    return found


def _database_revisions(url: str | None) -> frozenset[str] | None:
    """The revisions stamped in ``alembic_version``; None when the table cannot be read
    (a new database), which sends the caller through Alembic."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage.db import get_engine

    try:
        with get_engine(url).connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return frozenset(str(row[0]) for row in rows)
    except DBAPIError:
        return None


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
