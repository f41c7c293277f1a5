"""The data directory is private: 0700 folders and 0600 files for everything mlTrainer
writes there (SQLite database with its -wal and -shm, logs, cookie key, models,
uploaded datasets, metrics), in a fresh process started with the usual umask 022."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: a fresh umask and fresh settings, like `streamlit run app.py`.
_WRITE_EVERYTHING = r"""
import json, logging, os, stat, sys
from pathlib import Path

import pandas as pd

from engine.config import get_settings
from engine.observability.logging import configure_logging
from storage.db import get_engine
from storage.migrate import upgrade
from sqlalchemy import text

settings = get_settings()
upgrade()
configure_logging()
logging.getLogger("mltrainer.test").info("a line for the log file")
for handler in logging.getLogger().handlers:
    handler.flush()

from engine.data.files import atomic_write_parquet, datasets_dir
atomic_write_parquet(datasets_dir() / "upload.parquet", pd.DataFrame({"close": [1.0, 2.0]}))

from sklearn.linear_model import LinearRegression
from engine.ml.persistence import new_model_path, save_model
save_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), new_model_path())

with get_engine().connect() as connection:  # the -wal and -shm exist while it is open
    connection.execute(text("SELECT count(*) FROM users")).scalar()
    modes = {
        str(path.relative_to(settings.data_dir)): stat.S_IMODE(path.stat().st_mode)
        for path in [settings.data_dir, *settings.data_dir.rglob("*")]
        if not path.is_symlink()
    }
print(json.dumps(modes))
"""


def _run(data_dir: Path) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MLTRAINER_COOKIE_KEY")}
    env.update(
        {
            "MLTRAINER_DATA_DIR": str(data_dir),
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics"),
            "PYTHONPATH": str(ROOT),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_EVERYTHING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),  # the usual default, not the test run's
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_private(modes: dict[str, int], data_dir: Path) -> None:
    for name in ("mltrainer.db", "mltrainer.db-wal", "mltrainer.db-shm", "cookie_key"):
        assert name in modes, sorted(modes)
    assert any(name.startswith("logs/mltrainer") for name in modes)
    assert any(name.startswith("models/") and name.endswith(".skops") for name in modes)
    assert "datasets/upload.parquet" in modes
    for name in ("mltrainer.db", "mltrainer.db-wal", "mltrainer.db-shm", "cookie_key"):
        assert modes[name] == 0o600, (name, oct(modes[name]))
    # nothing at all for group or others (a library's lock file may be 0700: still private)
    loose = {name: oct(mode) for name, mode in modes.items() if mode & 0o077}
    assert not loose, loose
    folders = {name: oct(mode) for name, mode in modes.items() if (data_dir / name).is_dir()}
    assert set(folders.values()) == {"0o700"}, folders


def test_a_new_data_directory_is_private(tmp_path):
    data_dir = tmp_path / "data"
    _assert_private(_run(data_dir), data_dir)


def test_an_existing_world_readable_installation_is_tightened(tmp_path):
    """An installation from before the fix: data/ 0755 and the database 0644."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    database = data_dir / "mltrainer.db"
    database.touch()
    os.chmod(database, 0o644)
    (data_dir / "logs").mkdir(mode=0o755)
    os.chmod(data_dir / "logs", 0o755)
    modes = _run(data_dir)
    assert modes["."] == 0o700 and modes["mltrainer.db"] == 0o600
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
