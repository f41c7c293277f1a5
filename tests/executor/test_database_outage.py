"""Jobs ride through database outages, injected for real: a TCP proxy in front of
PostgreSQL that drops every connection and turns new ones away, ``pg_terminate_backend``
of the worker's backends in the middle of a statement, and an SQLite write lock held
beyond the busy timeout. An outage is long in the jobs' terms (longer than the stale
period, dozens of progress writes and cancel polls) but short in the test's, because the
retry backoff is made small through its settings (tests.executor.isolated)."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import create_engine, text

from engine import executor
from storage.repositories import jobs
from tests.conftest import POSTGRES_ADMIN_URL, need_service
from tests.db_proxy import DatabaseProxy
from tests.executor.conftest import STALE_SECONDS, wait_for
from tests.executor.isolated import files_appear, own_executor, postgres_schema


@pytest.fixture(scope="module")
def proxied_postgres():
    """An executor whose every connection (this process and its workers) goes through a
    proxy to PostgreSQL; yields (proxy, schema)."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    proxy = DatabaseProxy("127.0.0.1", 5432)
    try:
        with postgres_schema() as schema:
            url = proxy.url(query=f"options=-csearch_path%3D{schema}")
            with own_executor(url):
                yield proxy, schema
    finally:
        proxy.close()


def _job_folder(tmp_path, name: str):
    folder = tmp_path / name
    folder.mkdir()
    return folder


def _steps_stored(job_id: int) -> list[int]:
    return [int(metrics["step"]) for _, _, metrics in jobs.read_events(job_id)]


def test_jobs_run_through_a_database_outage(proxied_postgres, tmp_path, system_user):
    proxy, _ = proxied_postgres
    folders = {name: _job_folder(tmp_path, name) for name in ("pool", "unsafe", "cancelled")}
    submitted = {
        "pool": executor.submit(
            "test_until_released", {"folder": str(folders["pool"])}, system_user
        ),
        "unsafe": executor.submit(
            "test_until_released_once", {"folder": str(folders["unsafe"])}, system_user
        ),
        "cancelled": executor.submit(
            "test_until_released", {"folder": str(folders["cancelled"])}, system_user
        ),
    }
    files_appear(*(folder / "running" for folder in folders.values()))
    for job_id in submitted.values():
        wait_for(lambda job_id=job_id: jobs.count_events(job_id), 30, what="first progress")

    refused = proxy.refused
    proxy.cut()
    try:
        cut_at = time.monotonic()
        # Longer than the stale period, with the workers' writes and polls turned away.
        wait_for(
            lambda: (
                time.monotonic() - cut_at > 1.5 * STALE_SECONDS and proxy.refused > refused + 20
            ),
            60,
            what="a long outage",
        )
        # One job ends while the database is still away: its last progress and its outcome
        # must wait for the database.
        (folders["pool"] / "release").touch()
        files_appear(folders["pool"] / "returning")
        returned_at, refused = time.monotonic(), proxy.refused
        wait_for(
            lambda: time.monotonic() - returned_at > 1.0 and proxy.refused > refused + 5,
            60,
            what="the final write to be turned away",
        )
    finally:
        proxy.restore()

    pool = executor.wait(submitted["pool"], 60)
    assert pool.status == "succeeded", pool.error
    assert pool.attempts == 1
    # Every progress point reported during the outage was kept and written afterwards.
    assert _steps_stored(pool.id) == list(range(pool.result["values"]["steps"]))

    (folders["unsafe"] / "release").touch()
    unsafe = executor.wait(submitted["unsafe"], 60)
    assert unsafe.status == "succeeded", unsafe.error
    assert unsafe.attempts == 1
    assert _steps_stored(unsafe.id) == list(range(unsafe.result["values"]["steps"]))

    # Cancel checks went on through the outage and still work after it.
    executor.cancel_as_operator(submitted["cancelled"])
    cancelled = executor.wait(submitted["cancelled"], 60)
    assert cancelled.status == "cancelled" and cancelled.attempts == 1, cancelled.error


def _terminate_blocked_until(admin, locker, statement: tuple[str, ...], after=None) -> list[str]:
    """Terminate every backend waiting for ``locker``'s row lock, as they come, until one
    of them was running a statement that starts with one of ``statement`` (once the file
    ``after`` exists, if given); returns the statements cut short."""
    locker_pid = locker.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killed: list[str] = []
    deadline = time.monotonic() + 60
    while not any(query.lstrip().startswith(statement) for query in killed):
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker statement {statement!r} was blocked; saw {killed}")
        # Asked on the autocommit connection: inside the locker's transaction,
        # pg_stat_activity would be the snapshot taken at its first read.
        blocked = admin.execute(
            text(
                "SELECT pid, query FROM pg_stat_activity "
                "WHERE CAST(:locker AS integer) = ANY(pg_blocking_pids(pid))"
            ),
            {"locker": locker_pid},
        ).all()
        counts = after is None or after.exists()
        for pid, query in blocked:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            if counts:
                killed.append(str(query))
        time.sleep(0.02)
    return killed


def _still_reporting(job_id: int, stored: int) -> bool:
    job = jobs.get_job(job_id)
    assert job.status == "running", (job.status, job.error)
    return jobs.count_events(job_id) > stored


def test_terminated_backends_do_not_fail_the_job(proxied_postgres, tmp_path, system_user):
    _, schema = proxied_postgres
    folder = _job_folder(tmp_path, "terminated")
    job_id = executor.submit("test_until_released", {"folder": str(folder)}, system_user)
    files_appear(folder / "running")
    wait_for(lambda: jobs.count_events(job_id), 30, what="first progress")

    # The row lock a progress write's UPDATE waits for (its COPY is not held up): the
    # worker's backend is then in the middle of a statement when it is terminated.
    lock = f'SELECT id FROM "{schema}".jobs WHERE id = :id FOR NO KEY UPDATE'
    # (pg_stat_activity shows the transaction's UPDATE, or its COMMIT.)
    progress_write = ("UPDATE jobs SET progress", "COMMIT")
    final_write = (*progress_write, "UPDATE jobs SET status")
    direct = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with direct.connect() as admin, direct.connect() as locker:
            # 1. A progress write while the action runs.
            locker.execute(text("BEGIN"))
            locker.execute(text(lock), {"id": job_id})
            _terminate_blocked_until(admin, locker, progress_write)
            locker.execute(text("ROLLBACK"))
            stored = jobs.count_events(job_id)
            wait_for(lambda: _still_reporting(job_id, stored), 30, what="progress after it")
            # 2. The final write (last progress points, then the outcome), after the
            # action returned.
            locker.execute(text("BEGIN"))
            locker.execute(text(lock), {"id": job_id})
            (folder / "release").touch()
            _terminate_blocked_until(admin, locker, final_write, folder / "returning")
            locker.execute(text("ROLLBACK"))
    finally:
        direct.dispose()
    job = executor.wait(job_id, 60)
    assert job.status == "succeeded", job.error
    assert job.attempts == 1
    assert _steps_stored(job_id) == list(range(job.result["values"]["steps"]))


@pytest.fixture
def sqlite_executor(tmp_path):
    url = f"sqlite:///{tmp_path / 'locked.sqlite'}"
    with own_executor(url, {"MLTRAINER_SQLITE_BUSY_SECONDS": "0.2"}):
        yield tmp_path / "locked.sqlite"


def test_an_sqlite_lock_beyond_the_busy_timeout_does_not_fail_the_job(
    sqlite_executor, tmp_path, system_user
):
    folder = _job_folder(tmp_path, "locked")
    job_id = executor.submit("test_until_released", {"folder": str(folder)}, system_user)
    files_appear(folder / "running")
    wait_for(lambda: jobs.count_events(job_id), 30, what="first progress")
    before = jobs.count_events(job_id)
    holder = sqlite3.connect(sqlite_executor, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # every other writer now gets "database is locked"
        # Several progress writes (one per 0.5 s) fail on the lock meanwhile.
        locked_at = time.monotonic()
        # (Shorter than the stale period: the heartbeats are held up by the lock too.)
        wait_for(lambda: time.monotonic() - locked_at > 1.2, 10, what="a held lock")
        (folder / "release").touch()
        files_appear(folder / "returning")
        returned_at = time.monotonic()
        wait_for(lambda: time.monotonic() - returned_at > 0.4, 10, what="the final write")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    job = executor.wait(job_id, 60)
    assert job.status == "succeeded", job.error
    assert job.attempts == 1
    assert jobs.count_events(job_id) > before
    assert _steps_stored(job_id) == list(range(job.result["values"]["steps"]))
