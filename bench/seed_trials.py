"""Seed a database with trials, jobs and progress events for the trials benchmarks.

    .venv/bin/python bench/seed_trials.py --database-url sqlite:////tmp/trials.db
    .venv/bin/python bench/seed_trials.py --database-url postgresql://postgres@127.0.0.1:5432/test

Defaults: 10,000 trials (60,000 fold/hold-out results), 1,000 finished training jobs with
1,000 progress events each (1,000,000 events), 5 users, 20 goals. The database is
migrated first; rows are added to whatever is already there. Rows go in through
``bench/bench_seed.py`` (multi-row INSERT on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--events-per-job", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--goals", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    os.environ["DATABASE_URL"] = args.database_url
    from bench import bench_seed
    from engine.config import reset_settings
    from storage.migrate import upgrade

    reset_settings()
    upgrade(args.database_url)
    started = time.perf_counter()
    counts = bench_seed.seed(
        trials=args.trials,
        jobs=args.jobs,
        events_per_job=args.events_per_job,
        users=args.users,
        goals=args.goals,
        random_seed=args.seed,
        report=lambda message: print(f"  {time.perf_counter() - started:6.1f}s  {message}"),
    )
    bench_seed.analyze()
    print(
        f"seeded {counts.trials:,} trials, {counts.jobs:,} jobs, {counts.events:,} events "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
