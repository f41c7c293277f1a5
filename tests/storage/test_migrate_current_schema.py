"""upgrade() on a database already at head leaves Alembic unimported; behind head it
still migrates; the heads it reads from the migration files are Alembic's heads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _alembic_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    return set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def test_the_heads_read_from_the_files_are_alembics():
    from storage.migrate import script_heads

    assert set(script_heads()) == _alembic_heads()


def test_a_merge_revision_revises_both_parents(tmp_path, monkeypatch):
    import storage.migrate as migrate

    versions = tmp_path / "versions"
    versions.mkdir()
    for name, text in {
        "a.py": "revision = 'a'\ndown_revision = None\n",
        "b.py": "revision: str = 'b'\ndown_revision = 'a'\n",
        "c.py": "revision = 'c'\ndown_revision = 'a'\n",
        "m.py": "revision = 'm'\ndown_revision = ('b', 'c')\n",
        "d.py": "revision = 'd'\ndown_revision = 'a'\n",
    }.items():
        (versions / name).write_text(text)
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    assert migrate.script_heads() == {"m", "d"}


def test_a_database_behind_head_is_migrated(tmp_path):
    from storage.migrate import current_revision, upgrade

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    upgrade(url)
    head = current_revision(url)
    from alembic import command

    from storage.migrate import alembic_config

    command.downgrade(alembic_config(url), "-1")
    assert current_revision(url) != head
    upgrade(url)
    assert current_revision(url) == head


def test_a_current_schema_is_checked_without_importing_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'current.db'}"
    env = dict(os.environ, DATABASE_URL=url, MLTRAINER_DATA_DIR=str(tmp_path))
    check = (
        "import sys\n"
        "from storage.migrate import upgrade\n"
        "upgrade()\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    assert run() != "[]"  # a new database: Alembic creates the schema
    assert run() == "[]"  # now current: one query, no Alembic
