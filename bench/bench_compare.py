"""Benchmark of comparing 100 and 500 trials (engine/trials/compare.py, the Trials page).

    .venv/bin/python bench/bench_compare.py                   # SQLite
    .venv/bin/python bench/bench_compare.py --backends sqlite postgresql --repeats 7

Seeds --trials trials (bench/bench_seed.py: realistic parameters and metric summaries, fold
and hold-out rows, the first --jobs with a training job of --events-per-job progress
events), then for 100 and 500 trials, interleaved in each repeat:

- load, before: the full trial rows parsed into typed records (what the compare view did
  before: ``repo.get_trials`` + ``parse``),
- load, now: the lean columns (``compare.load_trials``),
- assembly: load + the comparison and its tables (overview, parameters, metrics),
- importance: fANOVA (Optuna, 32 trees of depth 6) + random forest (impurity and
  permutation), and with Optuna's default fANOVA (64 trees of depth 64) for reference
  (--reference-sizes only: 264 s of CPU for 500 trials),
- curves: the 20 curves (min-max events, LTTB equity) of the comparison,
- the Trials page's compare view rendered by Streamlit's AppTest (first render, which
  computes the importance, and reruns, which reuse it).

Medians of --repeats (max in brackets), process CPU beside wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.isolation import isolate  # noqa: E402

_TMP = isolate("compare")

POSTGRES_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "Correct-h0rse-1"


class Samples:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, fn):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        self.wall.append(time.perf_counter() - start)
        self.cpu.append(time.process_time() - start_cpu)
        return value

    def row(self, label: str) -> tuple[str, str, str, str]:
        return (
            label,
            ms(statistics.median(self.wall)),
            ms(max(self.wall)),
            ms(statistics.median(self.cpu)),
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"


def use(url: str) -> None:
    from engine.config import reset_settings
    from storage.cache import reset_cache
    from storage.db import dispose_all
    from storage.migrate import upgrade

    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    reset_cache()
    upgrade(url)


def bench_size(n: int, ids: list[int], admin, args) -> list[tuple]:
    from streamlit.testing.v1 import AppTest

    from engine.trials import compare
    from engine.trials.query import scope
    from engine.trials.record import parse
    from storage.repositories import trials as trial_repo

    rows: list[tuple] = []
    before, now, build, imp, fan64, curves = (Samples() for _ in range(6))
    comparison = compare.build(admin, ids)
    for _ in range(args.repeats):
        before.run(lambda: [parse(r) for r in trial_repo.get_trials(ids, scope(admin))])
        now.run(lambda: compare.load_trials(admin, ids))
        build.run(
            lambda: (
                c := compare.build(admin, ids),
                c.overview(),
                c.params_table(True),
                c.metrics_table(),
            )
        )
        imp.run(lambda: compare.importance(comparison))
        curves.run(lambda: compare.curves(admin, comparison))
    if n in args.reference_sizes:
        saved = compare.FANOVA_TREES, compare.FANOVA_DEPTH
        compare.FANOVA_TREES, compare.FANOVA_DEPTH = 64, 64
        for _ in range(max(1, args.repeats // 2)):
            fan64.run(lambda: compare.importance(comparison))
        compare.FANOVA_TREES, compare.FANOVA_DEPTH = saved
    result = compare.importance(comparison)
    rows += [
        before.row(f"{n} trials: load, before (full rows parsed)"),
        now.row(f"{n} trials: load, now (lean columns)"),
        build.row(f"{n} trials: assembly (load + overview, parameters, metrics)"),
        imp.row(
            f"{n} trials: importance, fANOVA "
            f"{compare.FANOVA_TREES}x{compare.FANOVA_DEPTH} + forest "
            f"({result.n_trials} trials, {len(result.table)} parameters)"
        ),
        *(
            [fan64.row(f"{n} trials: importance with Optuna's default fANOVA 64x64")]
            if fan64.wall
            else []
        ),
        curves.row(f"{n} trials: 20 curves (min-max events, LTTB equity)"),
    ]

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.text_input(key="login_username").input(admin.username)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    at.switch_page("pages/trials.py").run()
    at.query_params["compare"] = ",".join(map(str, ids))
    cold = Samples()
    cold.run(at.run)
    assert not at.exception, at.exception
    assert any(s.value == f"Comparing {n} trials" for s in at.subheader)
    rerun = Samples()
    for _ in range(args.repeats):
        rerun.run(at.run)
    rows += [
        cold.row(f"{n} trials: compare view in AppTest, first render (importance computed)"),
        rerun.row(f"{n} trials: compare view in AppTest, rerun (importance reused)"),
    ]
    return rows


def bench_backend(url: str, args) -> list[tuple]:

    from bench import bench_seed
    from engine.actions import UserRef
    from engine.auth.service import create_user
    from engine.trials.query import scope
    from storage.repositories import trials as trial_repo

    use(url)
    started = time.perf_counter()
    counts = bench_seed.seed(trials=args.trials, jobs=args.jobs, events_per_job=args.events_per_job)
    bench_seed.analyze()
    rows: list[tuple] = [
        (
            f"seed {counts.trials:,} trials, {counts.jobs:,} jobs x {args.events_per_job:,} events",
            f"{time.perf_counter() - started:.1f} s",
            "",
            "",
        )
    ]
    record = create_user(f"benchcmp{os.getpid()}", "Bench", PASSWORD, "admin")
    admin = UserRef(record.id, record.username, record.role)
    rows_all, _ = trial_repo.search_trials(
        trial_repo.TrialFilter(), scope(admin), sort="id", descending=False, limit=1
    )
    first = rows_all[0].id

    for n in args.sizes:
        rows += bench_size(n, list(range(first, first + n)), admin, args)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite"])
    parser.add_argument("--trials", type=int, default=2_000)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--events-per-job", type=int, default=1_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-sizes", type=int, nargs="*", default=[100])
    args = parser.parse_args(argv)
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for backend in args.backends:
        if backend == "sqlite":
            url = f"sqlite:///{_TMP / 'bench.db'}"
        else:
            from bench import bench_seed

            url = bench_seed.create_schema(POSTGRES_URL, f"bench_compare_{os.getpid()}")
        try:
            rows = bench_backend(url, args)
        finally:
            if backend != "sqlite":
                from bench import bench_seed
                from storage.db import dispose_all

                dispose_all()
                bench_seed.drop_schema(POSTGRES_URL, f"bench_compare_{os.getpid()}")
        print(f"\n{backend}\n", flush=True)
        print("| what | median | max | CPU (median) |")
        print("| --- | --- | --- | --- |")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
