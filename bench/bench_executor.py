"""Executor benchmarks; prints a markdown table (figures go to bench/RESULTS_executor.md).

    .venv/bin/python bench/bench_executor.py [--jobs 500] [--events 200000] [--no-postgres]
                                             [--dask]

1. Per-job overhead of the local backend against a bare concurrent.futures
   ProcessPoolExecutor (spawn, same number of processes) running the same trivial
   function: (wall time of N jobs through the executor - wall time of N bare tasks) / N.
   Executor jobs go the whole way: validated submit, committed row, scheduler, claim in a
   pool process, run, result committed, wait() in the caller.
2. Progress events written per second through ``ctx.progress`` inside a real job (the
   runner's EventBuffer batches the inserts), on SQLite and on PostgreSQL.
3. Parallel efficiency: two CPU-bound jobs at once on two pool processes, as a multiple
   of one job's throughput (2.0 is perfect), next to the same measure for the bare pool
   (what the machine gives at that moment; it is shared).
"""

from __future__ import annotations

import argparse
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


def bare_pool_seconds(jobs: int, workers: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all processes) for ``jobs`` trivial tasks."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(trivial, range(workers * 4)))  # processes up and warm
        pids = list(pool._processes)
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        futures = [pool.submit(trivial, i) for i in range(jobs)]
        for future in futures:
            future.result()
        return time.perf_counter() - started, cpu_seconds(pids) - cpu


def _efficiency(run_one, run_two, repeats: int) -> tuple[float, float, float]:
    """Medians of ``repeats`` alternating timings of one spin and of two spins at once:
    (one, two, 2 * one / two). One pair of timings is too noisy on a shared machine."""
    ones, twos = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        run_one()
        ones.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_two()
        twos.append(time.perf_counter() - started)
    one, two = statistics.median(ones), statistics.median(twos)
    return one, two, 2 * one / two


def bare_spin_efficiency(workers: int, repeats: int) -> tuple[float, float, float]:
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(trivial, range(workers)))

        def run_one():
            pool.submit(spin, SPIN_ITERATIONS).result()

        def run_two():
            for future in [pool.submit(spin, SPIN_ITERATIONS) for _ in range(2)]:
                future.result()

        return _efficiency(run_one, run_two, repeats)


def executor_seconds(jobs: int, user) -> float:
    from engine import executor

    started = time.perf_counter()
    ids = [executor.submit("test_noop", {"value": i}, user) for i in range(jobs)]
    for job_id in ids:
        job = executor.wait(job_id, 600)
        assert job.status == "succeeded", (job_id, job.status, job.error)
    return time.perf_counter() - started


def latency_ms(samples: int, user) -> float:
    from engine import executor

    values = []
    for i in range(samples):
        started = time.perf_counter()
        executor.wait(executor.submit("test_noop", {"value": i}, user), 60)
        values.append((time.perf_counter() - started) * 1000)
    return statistics.median(values)


def events_per_second(points: int, user) -> tuple[float, int]:
    from engine import executor
    from storage.repositories import jobs

    job_id = executor.submit("test_progress", {"points": points}, user)
    job = executor.wait(job_id, 600)
    assert job.status == "succeeded", job.error
    stored = jobs.count_events(job_id)
    seconds = (job.finished_at - job.started_at).total_seconds()
    return stored / seconds, stored


def spin_efficiency(user, repeats: int) -> tuple[float, float, float]:
    from engine import executor

    def run_one():
        job = executor.wait(
            executor.submit("test_spin", {"iterations": SPIN_ITERATIONS}, user), 600
        )
        assert job.status == "succeeded", job.error

    def run_two():
        pair = [
            executor.submit("test_spin", {"iterations": SPIN_ITERATIONS}, user) for _ in range(2)
        ]
        for job_id in pair:
            assert executor.wait(job_id, 600).status == "succeeded"

    return _efficiency(run_one, run_two, repeats)


def run_service(url: str, body):
    from engine import executor

    _use_database(url)
    service = executor.ensure_started()
    assert service.warm_up(300), "pool processes did not start"
    try:
        return body()
    finally:
        executor.shutdown(grace=5)


def main() -> int:
    from engine.runtime import install

    install()  # an entry point: the compliance policy and the job runner
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--dask", action="store_true", help="also time the Dask backend")
    parser.add_argument("--spin-repeats", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mltrainer-bench-executor-"))
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

    bare, bare_cpu = bare_pool_seconds(args.jobs, workers)
    sqlite_url = f"sqlite:///{work / 'bench.sqlite'}"

    def local_overhead():
        from engine import executor

        executor_seconds(20, user)  # warm the caches and the pool processes
        pids = executor.current().worker_pids()
        cpu = cpu_seconds(pids)
        ours = executor_seconds(args.jobs, user)
        cpu = cpu_seconds(pids) - cpu
        return ours, cpu, latency_ms(50, user), spin_efficiency(user, args.spin_repeats)

    ours, ours_cpu, latency, (one, two, efficiency) = run_service(sqlite_url, local_overhead)
    overhead = (ours - bare) / args.jobs * 1000
    rows.append(
        (
            f"per-job overhead, local backend vs bare ProcessPoolExecutor ({args.jobs} trivial "
            f"jobs, {workers} processes, SQLite)",
            f"{overhead:.2f} ms/job (executor {ours / args.jobs * 1000:.2f} ms/job, "
            f"bare {bare / args.jobs * 1000:.3f} ms/job)",
            "<= 2 ms",
        )
    )
    rows.append(
        (
            "CPU time per job, all processes (parent + pool), same runs",
            f"executor {ours_cpu / args.jobs * 1000:.2f} ms, bare "
            f"{bare_cpu / args.jobs * 1000:.3f} ms: "
            f"+{(ours_cpu - bare_cpu) / args.jobs * 1000:.2f} ms/job",
            "-",
        )
    )
    rows.append(
        (
            "latency of one job, submit -> wait returns (median of 50, SQLite)",
            f"{latency:.1f} ms",
            "-",
        )
    )
    bare_one, bare_two, bare_efficiency = bare_spin_efficiency(workers, args.spin_repeats)
    rows.append(
        (
            f"parallel efficiency, 2 CPU-bound jobs on 2 processes (x one job's throughput; "
            f"medians of {args.spin_repeats})",
            f"{efficiency:.2f}x (1 job {one:.2f}s, 2 jobs {two:.2f}s); bare pool "
            f"{bare_efficiency:.2f}x ({bare_one:.2f}s / {bare_two:.2f}s)",
            ">= 1.8x",
        )
    )

    rate, stored = run_service(sqlite_url, lambda: events_per_second(args.events, user))
    rows.append(
        (
            f"progress events written per second, SQLite ({stored:,} via ctx.progress)",
            f"{rate:,.0f}/s",
            ">= 5,000/s",
        )
    )
    if not args.no_postgres:
        created = _new_postgres_schema()
        if created is None:
            rows.append(("progress events written per second, PostgreSQL", "skipped", "-"))
        else:
            schema, pg_url = created
            try:
                rate, stored = run_service(pg_url, lambda: events_per_second(args.events, user))
                rows.append(
                    (
                        f"progress events written per second, PostgreSQL ({stored:,})",
                        f"{rate:,.0f}/s",
                        ">= 5,000/s",
                    )
                )
                pg_ours = run_service(
                    pg_url,
                    lambda: (executor_seconds(20, user), executor_seconds(args.jobs, user))[1],
                )
                rows.append(
                    (
                        f"per-job overhead, local backend on PostgreSQL ({args.jobs} jobs)",
                        f"{(pg_ours - bare) / args.jobs * 1000:.2f} ms/job",
                        "-",
                    )
                )
            finally:
                _drop_postgres_schema(schema)
    if args.dask:
        from distributed import LocalCluster

        _use_database(sqlite_url)
        with LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=0,
        ) as cluster:
            os.environ["MLTRAINER_EXECUTOR"] = "dask"
            os.environ["MLTRAINER_DASK_ADDRESS"] = cluster.scheduler_address
            dask_ours = run_service(
                sqlite_url,
                lambda: (executor_seconds(20, user), executor_seconds(args.jobs, user))[1],
            )
            os.environ["MLTRAINER_EXECUTOR"] = "local"
        rows.append(
            (
                f"per-job overhead, Dask LocalCluster backend ({args.jobs} jobs, SQLite)",
                f"{(dask_ours - bare) / args.jobs * 1000:.2f} ms/job",
                "-",
            )
        )

    print(
        f"\nExecutor benchmarks — {os.cpu_count()} cores, load average {load:.2f} at start, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| measure | result | target |")
    print("|---|---|---|")
    for measure, result, target in rows:
        print(f"| {measure} | {result} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
