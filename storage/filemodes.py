"""Owner-only files for the data directory.

The data directory holds the SQLite database (password hashes, sessions, chats), the
cookie key, logs, trained models and uploaded datasets: nobody but the account that
runs mlTrainer may read it. The directory is created (or tightened) to 0700, and the
process's umask gains 077, so every file and folder the app, the CLI and their worker
processes create afterwards (logs, models, uploads, caches, SQLite's -wal and -shm) is
0600 / 0700 whichever library writes it.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

log = logging.getLogger("mltrainer.storage")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_umask_lock = threading.Lock()


def restrict_umask() -> None:
    """Add 077 to the process's umask (idempotent; keeps any stricter bits)."""
    with _umask_lock:
        current = os.umask(0o077)  # reading the umask means setting it
        os.umask(current | 0o077)


def tighten(path: Path, mode: int) -> None:
    """Remove group and other access from an existing path we own."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if stat.S_IMODE(info.st_mode) & 0o077 == 0:
        return
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        log.warning("%s is readable by others and not ours to tighten", path)
        return
    try:
        os.chmod(path, mode)
    except OSError as error:  # a read-only mount, say: say so, do not fail start-up
        log.warning("could not restrict %s: %s", path, error)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only, or tighten it when it exists."""
    restrict_umask()
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR)
    return path


def prepare_sqlite_file(database: Path) -> None:
    """Create the SQLite file 0600 before SQLite opens it (SQLite gives its -wal, -shm
    and -journal files the database file's mode), and tighten files an older version
    left readable."""
    restrict_umask()
    database.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    # Only a missing file is opened: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, so opening an existing database that another engine
    # of this process has open would release SQLite's locks (another process could then
    # checkpoint and remove the WAL under it: "disk I/O error", or worse).
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    except OSError as error:
        log.warning("could not create %s: %s", database, error)
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(database.with_name(database.name + suffix), PRIVATE_FILE)
