"""Several replicas starting at once all migrate the same new database without error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _drop_postgres_schema, _new_postgres_schema

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = 4
# Each replica imports the migration code, says it is ready (a file), then waits for a
# shared start signal (another file), so their migrations start together.
SCRIPT = """
import os, sys, time
from pathlib import Path
import alembic.command  # before the start signal, so the replicas race on the migration itself
from storage.migrate import upgrade, current_revision
Path(sys.argv[2]).touch()
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
upgrade(os.environ["DATABASE_URL"])
print(current_revision(os.environ["DATABASE_URL"]))
"""


def _start_replicas(url: str, tmp_path: Path) -> list[str]:
    import time

    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(REPLICAS)]
    env = dict(os.environ, DATABASE_URL=url, MLTRAINER_DATA_DIR=str(tmp_path))
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(go), str(flag)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    # Release them together once every replica has imported SQLAlchemy and Alembic.
    deadline = time.monotonic() + 300
    while not all(flag.exists() for flag in ready):
        failed = [r for r in replicas if r.poll() not in (None, 0)]
        assert not failed, failed[0].communicate()[1][-3000:]
        assert time.monotonic() < deadline, "replicas did not start"
        time.sleep(0.01)
    go.touch()
    outputs = []
    for replica in replicas:
        out, err = replica.communicate(timeout=300)
        assert replica.returncode == 0, err[-3000:]
        outputs.append(out.strip())
    return outputs


def _head() -> str:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_replicas_migrate_one_new_sqlite_file_together(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert _start_replicas(url, tmp_path) == [_head()] * REPLICAS


@pytest.mark.postgres
def test_replicas_migrate_one_new_postgres_schema_together(tmp_path):
    schema, url = _new_postgres_schema()
    try:
        assert _start_replicas(url, tmp_path) == [_head()] * REPLICAS
    finally:
        _drop_postgres_schema(schema)
