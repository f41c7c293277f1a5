"""Executor benchmarks, each against its baseline in the same run; prints a markdown table.

    .venv/bin/python bench/bench_executor.py [--rounds 7] [--jobs 300] [--events 100000]
                                             [--no-postgres] [--dask]

A bare ``concurrent.futures.ProcessPoolExecutor`` (spawn, as many processes as the
executor's pool) and the executor service stay up side by side for the whole run; every
measure alternates subject and baseline round by round, and the table reports medians of
the rounds, so a machine shared with other work slows both sides alike.

1. Per-job overhead: N trivial jobs through the executor (validated submit, committed
   row, scheduler, claim in a pool process, run, result committed, ``wait()`` in the
   caller) against N bare tasks: (executor wall - bare wall) / N, and the CPU time of
   every process involved (caller and pool processes) per job, both sides.
2. Latency of one job, submit -> ``wait()`` returns, against one bare submit -> result.
3. Progress events written per second through ``ctx.progress`` inside a real job (the
   runner's EventBuffer batches the inserts) against a raw insert of the same rows into
   the same table from the caller (one multi-row INSERT per 2,000 rows on SQLite, COPY
   on PostgreSQL), as a percentage of the raw rate.
4. Parallel efficiency: two CPU-bound jobs at once on two pool processes, as a multiple
   of one job's throughput (2.0 is perfect), next to the same measure for the bare pool.

The same file runs against an older checkout (copy it there) to give the "before"
figures: it only uses the executor's public functions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SPIN_ITERATIONS = 12_000_000  # about 1 s of CPU
RAW_BATCH = 2_000


def trivial(value: int) -> int:
    return value


def spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def _use_database(url: str) -> None:
    from engine.config import reset_settings
    from storage.db import dispose_all
    from storage.migrate import upgrade

    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    upgrade(url)


def _new_postgres_schema() -> tuple[str, str] | None:
    try:
        from sqlalchemy import create_engine, text

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_ADMIN_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        return schema, f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    except Exception as error:  # noqa: BLE001 - reported in the table
        print(f"PostgreSQL unavailable: {error}", file=sys.stderr)
        return None


def _drop_postgres_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    from storage.db import dispose_all

    dispose_all()
    admin = create_engine(POSTGRES_ADMIN_URL)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by this process and the given ones (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = sum(os.times()[:2])
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _timed(body, pids: list[int]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and ``pids``) of ``body()``."""
    cpu = cpu_seconds(pids)
    started = time.perf_counter()
    body()
    return time.perf_counter() - started, cpu_seconds(pids) - cpu


class BarePool:
    def __init__(self, workers: int):
        self.pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        list(self.pool.map(trivial, range(workers * 4)))  # processes up and warm
        self.pids = list(self.pool._processes)

    def batch(self, jobs: int) -> tuple[float, float]:
        def body():
            for future in [self.pool.submit(trivial, i) for i in range(jobs)]:
                future.result()

        return _timed(body, self.pids)

    def one_ms(self) -> float:
        started = time.perf_counter()
        self.pool.submit(trivial, 1).result()
        return (time.perf_counter() - started) * 1000

    def spin_pair(self) -> tuple[float, float]:
        started = time.perf_counter()
        self.pool.submit(spin, SPIN_ITERATIONS).result()
        one = time.perf_counter() - started
        started = time.perf_counter()
        for future in [self.pool.submit(spin, SPIN_ITERATIONS) for _ in range(2)]:
            future.result()
        return one, time.perf_counter() - started

    def close(self) -> None:
        self.pool.shutdown()


class Executor:
    """The executor service of this process on one database."""

    def __init__(self, url: str, user):
        from engine import executor

        _use_database(url)
        self.executor = executor
        self.user = user
        service = executor.ensure_started()
        assert service.warm_up(300), "pool processes did not start"
        self.pids = service.worker_pids()
        self.batch(20)  # caches and pool processes warm

    def _submit_and_wait(self, action: str, params_list: list[dict]) -> list:
        ids = [self.executor.submit(action, params, self.user) for params in params_list]
        done = [self.executor.wait(job_id, 600) for job_id in ids]
        for job in done:
            assert job.status == "succeeded", (job.id, job.status, job.error)
        return done

    def batch(self, jobs: int) -> tuple[float, float]:
        return _timed(
            lambda: self._submit_and_wait("test_noop", [{"value": i} for i in range(jobs)]),
            self.pids,
        )

    def one_ms(self) -> float:
        started = time.perf_counter()
        job = self.executor.wait(self.executor.submit("test_noop", {"value": 1}, self.user), 60)
        elapsed = (time.perf_counter() - started) * 1000
        assert job.status == "succeeded", job.error
        return elapsed

    def events(self, points: int) -> tuple[float, int]:
        """(events per second, events stored) of one job reporting ``points`` points."""
        from storage.repositories import jobs

        (job,) = self._submit_and_wait("test_progress", [{"points": points}])
        stored = jobs.count_events(job.id)
        return stored / (job.finished_at - job.started_at).total_seconds(), stored

    def spin_pair(self) -> tuple[float, float]:
        started = time.perf_counter()
        self._submit_and_wait("test_spin", [{"iterations": SPIN_ITERATIONS}])
        one = time.perf_counter() - started
        started = time.perf_counter()
        self._submit_and_wait("test_spin", [{"iterations": SPIN_ITERATIONS}] * 2)
        return one, time.perf_counter() - started

    def close(self) -> None:
        self.executor.shutdown(grace=5)


def raw_insert_rate(points: int) -> float:
    """Events per second of the plainest bulk write of the same rows (job_id, elapsed,
    fraction, metrics JSON) into job_events, from this process: the baseline."""
    from sqlalchemy import insert

    from storage.db import get_engine
    from storage.models import Job, JobEvent, utcnow

    engine = get_engine()
    with engine.begin() as connection:
        job_id = connection.execute(
            insert(Job).values(
                action="raw_insert", params={}, status="succeeded", created_at=utcnow()
            )
        ).inserted_primary_key[0]
    started = time.perf_counter()
    rows = [
        (job_id, i * 1e-6, (i + 1) / points, json.dumps({"loss": 1.0 / (1 + i), "step": float(i)}))
        for i in range(points)
    ]
    for first in range(0, points, RAW_BATCH):
        chunk = rows[first : first + RAW_BATCH]
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                raw = connection.connection.driver_connection
                with raw.cursor() as cursor:
                    copy_sql = "COPY job_events (job_id, elapsed_s, fraction, metrics) FROM STDIN"
                    with cursor.copy(copy_sql) as copy:
                        for row in chunk:
                            copy.write_row(row)
            else:
                cursor = connection.connection.driver_connection.cursor()
                cursor.executemany(
                    "INSERT INTO job_events (job_id, elapsed_s, fraction, metrics) "
                    "VALUES (?, ?, ?, ?)",
                    chunk,
                )
    seconds = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(JobEvent.__table__.delete().where(JobEvent.job_id == job_id))
    return points / seconds


def _median(values) -> float:
    return statistics.median(values)


def main() -> int:
    from engine.runtime import install

    install()  # an entry point: the compliance policy and the job runner
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=300, help="jobs per round")
    parser.add_argument("--latency", type=int, default=20, help="single jobs per round")
    parser.add_argument("--events", type=int, default=100_000, help="progress points")
    parser.add_argument("--event-rounds", type=int, default=3)
    parser.add_argument("--spin-repeats", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--dask", action="store_true", help="also time the Dask backend")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mltrainer-bench-executor-"))
    (work / "metrics").mkdir()
    os.environ["MLTRAINER_DATA_DIR"] = str(work)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    os.environ["MLTRAINER_EXTRA_ACTION_MODULES"] = "tests.executor.sample_actions"
    os.environ.setdefault("MLTRAINER_METRICS_PORT", "0")
    os.environ["MLTRAINER_EXECUTOR"] = "local"
    workers = int(os.environ.setdefault("MLTRAINER_PROCESS_WORKERS", "2"))

    import tests.executor.sample_actions  # noqa: F401  (registers the test actions here)
    from engine.actions import UserRef

    user = UserRef.system()
    rows: list[tuple[str, str, str]] = []
    load = os.getloadavg()[0]
    bare = BarePool(workers)

    def overhead_rows(label: str, url: str, spin_repeats: int) -> None:
        subject = Executor(url, user)
        try:
            walls, cpus, bare_walls, bare_cpus, lat, bare_lat = [], [], [], [], [], []
            for _ in range(args.rounds):
                wall, cpu = subject.batch(args.jobs)
                walls.append(wall / args.jobs * 1000)
                cpus.append(cpu / args.jobs * 1000)
                wall, cpu = bare.batch(args.jobs)
                bare_walls.append(wall / args.jobs * 1000)
                bare_cpus.append(cpu / args.jobs * 1000)
                for _ in range(args.latency):
                    lat.append(subject.one_ms())
                    bare_lat.append(bare.one_ms())
            diffs = [a - b for a, b in zip(walls, bare_walls, strict=True)]
            rows.append(
                (
                    f"per-job overhead, {label}: executor - bare pool wall per job "
                    f"({args.jobs} trivial jobs x {args.rounds} rounds, {workers} processes)",
                    f"**{_median(diffs):.2f} ms/job** (range {min(diffs):.2f}–{max(diffs):.2f}; "
                    f"executor {_median(walls):.2f}, bare {_median(bare_walls):.3f} ms/job)",
                    "<= 2 ms",
                )
            )
            rows.append(
                (
                    f"CPU per job, all processes (caller + pool), {label}",
                    f"executor {_median(cpus):.2f} ms, bare {_median(bare_cpus):.3f} ms",
                    "-",
                )
            )
            rows.append(
                (
                    f"latency of one job, submit -> result, {label} (median of {len(lat)})",
                    f"executor {_median(lat):.2f} ms, bare pool {_median(bare_lat):.2f} ms "
                    f"(+{_median(lat) - _median(bare_lat):.2f} ms)",
                    "-",
                )
            )
            rates, raws, stored = [], [], 0
            for _ in range(args.event_rounds):
                rate, stored = subject.events(args.events)
                rates.append(rate)
                raws.append(raw_insert_rate(args.events))
            ratios = [a / b * 100 for a, b in zip(rates, raws, strict=True)]
            rows.append(
                (
                    f"progress events per second through ctx.progress, {label} "
                    f"({stored:,} per job, median of {args.event_rounds})",
                    f"**{_median(ratios):.0f} % of raw insert** ({_median(rates):,.0f}/s vs "
                    f"raw {_median(raws):,.0f}/s)",
                    ">= 50 %",
                )
            )
            if spin_repeats:
                ours = [subject.spin_pair() for _ in range(spin_repeats)]
                theirs = [bare.spin_pair() for _ in range(spin_repeats)]
                one, two = _median([o for o, _ in ours]), _median([t for _, t in ours])
                b_one, b_two = _median([o for o, _ in theirs]), _median([t for _, t in theirs])
                rows.append(
                    (
                        f"parallel efficiency, 2 CPU-bound jobs on 2 processes, {label} "
                        f"(x one job's throughput; medians of {spin_repeats})",
                        f"{2 * one / two:.2f}x (1 job {one:.2f}s, 2 jobs {two:.2f}s); bare pool "
                        f"{2 * b_one / b_two:.2f}x ({b_one:.2f}s / {b_two:.2f}s)",
                        ">= 1.8x",
                    )
                )
        finally:
            subject.close()

    try:
        overhead_rows("SQLite", f"sqlite:///{work / 'bench.sqlite'}", args.spin_repeats)
        if not args.no_postgres:
            created = _new_postgres_schema()
            if created is None:
                rows.append(("PostgreSQL", "skipped", "-"))
            else:
                schema, pg_url = created
                try:
                    overhead_rows("PostgreSQL", pg_url, 0)
                finally:
                    _drop_postgres_schema(schema)
        if args.dask:
            from distributed import LocalCluster

            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                memory_limit=0,
            ) as cluster:
                os.environ["MLTRAINER_EXECUTOR"] = "dask"
                os.environ["MLTRAINER_DASK_ADDRESS"] = cluster.scheduler_address
                subject = Executor(f"sqlite:///{work / 'bench.sqlite'}", user)
                try:
                    pairs = [(subject.batch(args.jobs)[0], bare.batch(args.jobs)[0])]
                    pairs += [(subject.batch(args.jobs)[0], bare.batch(args.jobs)[0])]
                finally:
                    subject.close()
                    os.environ["MLTRAINER_EXECUTOR"] = "local"
            diff = _median([(a - b) / args.jobs * 1000 for a, b in pairs])
            rows.append(
                (
                    f"per-job overhead, Dask LocalCluster backend ({args.jobs} jobs, SQLite)",
                    f"{diff:.2f} ms/job",
                    "-",
                )
            )
    finally:
        bare.close()

    print(
        f"\nExecutor benchmarks — {os.cpu_count()} cores, load average {load:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end, Python {sys.version.split()[0]}, "
        f"checkout {ROOT}\n"
    )
    print("| measure | result | target |")
    print("|---|---|---|")
    for measure, result, target in rows:
        print(f"| {measure} | {result} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
