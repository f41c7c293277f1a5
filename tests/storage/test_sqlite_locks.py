"""Preparing the SQLite file must not drop the locks this process holds on it.

Closing any descriptor of a file releases every POSIX lock the process holds on that
file, SQLite's included. storage.filemodes.prepare_sqlite_file used to open and close the
database file on every engine it prepared, so a second engine for a database already
open in this process (a restarted executor, a test switching databases) let another
process write over a transaction in progress and remove the WAL under it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from storage.filemodes import prepare_sqlite_file

OTHER_WRITER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=0)
try:
    connection.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError as error:
    print(error)
else:
    print("acquired")
"""


def _other_process_writes(path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", OTHER_WRITER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_preparing_an_open_database_keeps_this_process_locks(tmp_path):
    database = tmp_path / "data" / "app.db"
    prepare_sqlite_file(database)  # creates it 0600
    assert database.exists() and database.stat().st_mode & 0o777 == 0o600
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    connection.execute("CREATE TABLE t (x INTEGER)")
    connection.execute("BEGIN IMMEDIATE")  # a write transaction: SQLite's lock on the file
    connection.execute("INSERT INTO t VALUES (1)")
    try:
        assert _other_process_writes(database) == "database is locked"
        prepare_sqlite_file(database)  # what a second engine for the same URL does
        assert _other_process_writes(database) == "database is locked"
    finally:
        connection.execute("ROLLBACK")
        connection.close()
    assert _other_process_writes(database) == "acquired"
