"""CSV export of the Trials table at scale, against plain SQL to CSV in the same run.

    .venv/bin/python bench/bench_export.py [--trials 100000] [--rounds 5]
        [--sqlite PATH] [--no-postgres] [--keep]

Seeds ``--trials`` trials (bench/bench_seed.py; an existing SQLite file given with
``--sqlite`` that already holds enough trials is reused), then alternates, round by
round:

- the export as the Trials page runs it: ``engine.trials.export.export_csv`` for an
  admin (every row, the default order), all of it in memory as the download button
  needs it;
- the baseline: the same columns read with one plain ``SELECT`` (JSON columns as their
  stored text) written by ``csv.writer`` — no permissions, names or JSON handling.

Reports the medians of wall and CPU time (this process) and their ratio, on SQLite and
PostgreSQL. The script only calls ``export_csv``, so it runs unchanged against an older
checkout (copy it there) for the "before" figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402

_TMP = isolate("export")

POSTGRES_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
COLUMNS = (
    "id, created_at, user_id, goal_id, job_id, action, model_id, family, task, status, "
    "metric_name, metric_value, duration_s, seed, dataset_id, artifact_path, error, "
    "CAST(params AS TEXT), CAST(metrics AS TEXT), CAST(holdout_metrics AS TEXT)"
)


def _use(url: str) -> None:
    from engine.config import reset_settings
    from storage.db import dispose_all
    from storage.migrate import upgrade

    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    upgrade(url)


def _trial_count() -> int:
    from sqlalchemy import func, select

    from storage.db import session_scope
    from storage.models import Trial

    with session_scope() as session:
        return session.scalar(select(func.count(Trial.id))) or 0


def _seed(trials: int) -> None:
    from bench import bench_seed

    have = _trial_count()
    if have >= trials:
        print(f"  reusing {have:,} trials", file=sys.stderr)
        return
    started = time.perf_counter()
    bench_seed.seed(trials=trials - have, jobs=10, events_per_job=1, goals=20, model_results=False)
    bench_seed.analyze()
    print(
        f"  seeded {trials - have:,} trials in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )


def plain_sql_csv() -> bytes:
    """The baseline: one SELECT of the exported columns, straight into csv.writer."""
    from storage.db import get_engine

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with get_engine().connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(f"SELECT {COLUMNS} FROM trials ORDER BY created_at DESC, id DESC")
        while batch := cursor.fetchmany(2000):
            writer.writerows(batch)
        cursor.close()
    return buffer.getvalue().encode("utf-8")


def _timed(fn) -> tuple[float, float, bytes]:
    cpu, wall = time.process_time(), time.perf_counter()
    data = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, data


def measure(label: str, rounds: int) -> list[tuple[str, str, str]]:
    from engine.actions import UserRef
    from engine.trials import export
    from engine.trials.query import TrialQuery

    admin = UserRef(None, "bench-admin", "admin")
    ours, base = [], []
    size = lines = 0
    for _ in range(rounds):
        wall, cpu, data = _timed(lambda: export.export_csv(admin, TrialQuery()))
        ours.append((wall, cpu))
        size, lines = len(data), data.count(b"\n") - 1
        del data
        wall, cpu, data = _timed(plain_sql_csv)
        base.append((wall, cpu))
        del data
    med = statistics.median
    o_wall, o_cpu = med(w for w, _ in ours), med(c for _, c in ours)
    b_wall, b_cpu = med(w for w, _ in base), med(c for _, c in base)
    return [
        (
            f"CSV export of {lines:,} trials, {label} ({size / 1e6:.1f} MB; median of {rounds})",
            f"**{o_wall:.2f} s wall**, {o_cpu:.2f} s CPU",
            f"{b_wall:.2f} s wall, {b_cpu:.2f} s CPU "
            f"(export / plain: {o_wall / b_wall:.2f}x wall, {o_cpu / b_cpu:.2f}x CPU)",
        )
    ]


def main() -> int:
    from engine.runtime import install

    install()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sqlite", help="SQLite file to seed or reuse")
    parser.add_argument("--postgres-schema", help="PostgreSQL schema to seed or reuse")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows: list[tuple[str, str, str]] = []

    sqlite_path = Path(args.sqlite) if args.sqlite else _TMP / "export.sqlite"
    _use(f"sqlite:///{sqlite_path}")
    _seed(args.trials)
    rows += measure("SQLite", args.rounds)

    if not args.no_postgres:
        from bench import bench_seed

        schema = args.postgres_schema or f"bench_export_{uuid.uuid4().hex[:8]}"
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRES_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
        try:
            _use(url)
            _seed(args.trials)
            rows += measure("PostgreSQL", args.rounds)
        finally:
            from storage.db import dispose_all

            dispose_all()
            if not (args.keep or args.postgres_schema):
                bench_seed.drop_schema(POSTGRES_URL, schema)

    print(
        f"\nTrials CSV export — {os.cpu_count()} cores, load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end, checkout {ROOT}\n"
    )
    print("| measure | export (what the page runs) | plain SQL to CSV, same run |")
    print("|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
