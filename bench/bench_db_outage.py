"""Jobs running through a long PostgreSQL outage, with the production timings.

    .venv/bin/python bench/bench_db_outage.py [--outage 45]

Every connection of this process and of its pool processes goes through a TCP proxy
(tests/db_proxy.py) in front of PostgreSQL 127.0.0.1:5432. Three jobs report progress
and poll for cancellation: two in pool processes (idempotent), one in a thread (not safe
to run twice). The proxy then drops every connection and turns new ones away for
``--outage`` seconds (longer than MLTRAINER_JOB_STALE_SECONDS, 30). One job is released
during the outage, so its last progress and its outcome wait for the database; the
others are released after it. Default heartbeat (2 s), stale period (30 s) and retry
backoff (0.1 s doubling to 5 s). Prints, per job: final status, attempts, progress
points reported and stored, and seconds from the end of the outage to its outcome.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _wait_files(*paths: Path, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=45.0, help="seconds without database")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mltrainer-outage-"))
    os.environ["MLTRAINER_DATA_DIR"] = str(work / "data")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    os.environ["MLTRAINER_EXTRA_ACTION_MODULES"] = "tests.executor.sample_actions"
    os.environ.setdefault("MLTRAINER_METRICS_PORT", "0")
    os.environ["MLTRAINER_EXECUTOR"] = "local"
    os.environ["MLTRAINER_PROCESS_WORKERS"] = "2"
    os.environ["MLTRAINER_SHUTDOWN_GRACE_SECONDS"] = "0"
    (work / "metrics").mkdir(parents=True)

    from sqlalchemy import create_engine, text

    from engine.runtime import install

    install()
    import tests.executor.sample_actions  # noqa: F401  (registers the test actions here)
    from engine import executor
    from engine.actions import UserRef
    from engine.config import reset_settings
    from storage.db import dispose_all
    from storage.migrate import upgrade
    from storage.repositories import jobs
    from tests.db_proxy import DatabaseProxy

    admin = create_engine(POSTGRES_ADMIN_URL)
    schema = f"outage_{os.getpid()}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    proxy = DatabaseProxy("127.0.0.1", 5432)
    url = proxy.url(query=f"options=-csearch_path%3D{schema}")
    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    upgrade(url)
    service = executor.ensure_started()
    service.warm_up(180)
    user = UserRef.system()
    rows = []
    try:
        plan = {
            "released during the outage (pool)": "test_until_released",
            "released after (pool)": "test_until_released",
            "released after (thread, not idempotent)": "test_until_released_once",
        }
        folders, submitted = {}, {}
        for name, action in plan.items():
            folder = work / f"job{len(folders)}"
            folder.mkdir()
            folders[name] = folder
            submitted[name] = executor.submit(action, {"folder": str(folder)}, user)
        if not _wait_files(*(folder / "running" for folder in folders.values())):
            raise SystemExit("the jobs did not start")
        time.sleep(1.0)  # a second of progress stored before the cut
        proxy.cut()
        cut_at = time.monotonic()
        first = next(iter(plan))
        time.sleep(args.outage / 2)
        (folders[first] / "release").touch()
        if not _wait_files(folders[first] / "returning", timeout=args.outage / 2):
            print("the job released during the outage did not return", file=sys.stderr)
        time.sleep(max(0.0, args.outage - (time.monotonic() - cut_at)))
        proxy.restore()
        back_at = time.monotonic()
        outage = back_at - cut_at
        for name in plan:
            (folders[name] / "release").touch()
        for name, job_id in submitted.items():
            job = executor.wait(job_id, 300)
            done_after = time.monotonic() - back_at
            steps = (job.result or {}).get("values", {}).get("steps")
            rows.append(
                (name, job.status, job.attempts, steps, jobs.count_events(job_id), done_after)
            )
    finally:
        executor.shutdown(grace=0)
        proxy.close()
        dispose_all()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    print(f"\nPostgreSQL unreachable for {outage:.1f} s (stale period 30 s, heartbeat 2 s)\n")
    print("| job | status | attempts | points reported | points stored | done after outage (s) |")
    print("|---|---|---|---|---|---|")
    for name, status, attempts, steps, stored, after in rows:
        print(f"| {name} | {status} | {attempts} | {steps} | {stored} | {after:.1f} |")
    ok = all(status == "succeeded" and attempts == 1 for _, status, attempts, *_ in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
