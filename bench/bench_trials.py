"""Benchmarks of the Trials page with 10,000 trials and 1,000,000 progress events.

    .venv/bin/python bench/bench_trials.py                 # SQLite, then PostgreSQL
    .venv/bin/python bench/bench_trials.py --backends sqlite --trials 2000 --jobs 100

For each database: seed (bench/seed_trials.py's function), ANALYZE, then time
- the page's queries (one page of 50 + the total count) for the default view and filters,
- the Trials page rendered by Streamlit's AppTest (table view, a trial's detail view),
- a live chart refresh of a running job with 1,000 events: ``executor.events`` read cold
  (all 1,000 rows, downsampled to 500 points) and warm (only new rows), and the live
  fragment (``ui.jobs.render_job``) rendered in AppTest,
and print the query plans (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL).
Each timing is the median of several repeats (max in brackets). Targets: page < 1 s,
live refresh < 200 ms.
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

_TMP = isolate("trials", job_without_worker=True)  # the seeded running job has no worker

POSTGRES_URL = os.environ.get(
    "MLTRAINER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "Correct-h0rse-1"
PAGE_TARGET_S = 1.0
LIVE_TARGET_S = 0.2


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """(median wall time, max wall time, last value); the median CPU time of the whole
    process (all threads: Streamlit's script thread included) goes to LAST_CPU."""
    global LAST_CPU
    times, cpu, value = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        value = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    LAST_CPU = statistics.median(cpu)
    return statistics.median(times), max(times), value


LAST_CPU = 0.0


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


def live_script() -> None:  # run by AppTest.from_function (its source is re-executed)
    import os

    import streamlit as st

    from ui.jobs import render_job

    render_job(int(os.environ["BENCH_LIVE_JOB"]), key="bench")
    st.caption("rendered")


def bench_backend(name: str, url: str, args) -> tuple[list[tuple], list[tuple[str, list[str]]]]:
    from streamlit.testing.v1 import AppTest

    from bench import bench_seed
    from engine import executor
    from engine.actions import UserRef
    from engine.auth.service import create_user
    from engine.trials import export
    from engine.trials import query as trial_query
    from engine.trials.query import TrialQuery
    from storage.repositories import trials as trial_repo

    rows: list[tuple] = []
    use(url)
    started = time.perf_counter()
    counts = bench_seed.seed(trials=args.trials, jobs=args.jobs, events_per_job=args.events_per_job)
    bench_seed.analyze()
    seed_s = time.perf_counter() - started
    rows.append(
        (
            f"seed {counts.trials:,} trials + {counts.model_results:,} results, "
            f"{counts.jobs:,} jobs, {counts.events:,} events (+ ANALYZE)",
            f"{seed_s:.1f} s",
            "",
        )
    )
    admin_record = create_user(f"benchroot{os.getpid()}", "Bench root", PASSWORD, "admin")
    admin = UserRef(admin_record.id, admin_record.username, admin_record.role)
    goal = counts.goal_ids[0]
    owner = counts.user_ids[1]
    queries = {
        "default (newest first)": TrialQuery(),
        "family = boosting, sort by metric desc": TrialQuery(
            family="boosting", sort="metric_value"
        ),
        "goal, newest first": TrialQuery(goal_id=goal),
        "user, newest first": TrialQuery(user_id=owner),
        "status = failed": TrialQuery(status="failed"),
        "metric 0.55–0.60, sort by metric": TrialQuery(
            metric_min=0.55, metric_max=0.60, sort="metric_value"
        ),
    }
    for label, query in queries.items():
        median, worst, page = timed(lambda q=query: trial_query.search(admin, q, 1, 50), 7)
        rows.append(
            (
                f"query: {label} — page of 50 + count ({page.total:,} rows)",
                ms(median),
                ms(worst),
                ms(LAST_CPU),
            )
        )
    analyst = UserRef(owner, "seeded analyst", "analyst")  # a seeded owner of trials
    median, worst, page = timed(lambda: trial_query.search(analyst, TrialQuery(), 1, 50), 7)
    rows.append(
        (
            f"query: an analyst's default view (own + shared rows, the scope in the SQL) — "
            f"page of 50 + count ({page.total:,} rows)",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )
    median, worst, page = timed(lambda: trial_query.search(admin, TrialQuery(), 100, 50), 5)
    rows.append(
        ("query: default, page 100 (offset 4,950) + count", ms(median), ms(worst), ms(LAST_CPU))
    )
    median, worst, data = timed(lambda: export.export_csv(admin, TrialQuery()), 1)
    rows.append(
        (f"CSV export of all {counts.trials:,} trials ({len(data) / 1e6:.1f} MB)", ms(median), "")
    )

    # plans of the queries behind the page and the live chart
    plans: list[tuple[str, list[str]]] = []
    for label in (
        "default (newest first)",
        "family = boosting, sort by metric desc",
        "goal, newest first",
        "user, newest first",
        "status = failed",
        "metric 0.55–0.60, sort by metric",
    ):
        count, page_query = trial_repo.search_statements(
            trial_query.to_filter(queries[label]),
            trial_query.scope(admin),
            sort=queries[label].sort,
            descending=queries[label].descending,
            limit=50,
        )
        plans.append((f"trials page: {label} — rows", bench_seed.explain(page_query)))
        if label == "default (newest first)":
            plans.append((f"trials page: {label} — count", bench_seed.explain(count)))
    count, page_query = trial_repo.search_statements(
        trial_query.to_filter(TrialQuery()), trial_query.scope(analyst), limit=50
    )
    plans.append(("trials page: an analyst's default view — rows", bench_seed.explain(page_query)))
    plans.append(("trials page: an analyst's default view — count", bench_seed.explain(count)))
    live_job = counts.job_ids[len(counts.job_ids) // 2]
    plans.append(
        (
            "live chart: new events of one job",
            bench_seed.explain(bench_seed.events_statement(live_job)),
        )
    )

    # the page in AppTest (app.py, login gate, navigation, the page)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.text_input(key="login_username").input(admin.username)
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    start, start_cpu = time.perf_counter(), time.process_time()
    at.switch_page("pages/trials.py").run()
    first, first_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    assert not at.exception, at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Showing"))
    median, worst, _ = timed(at.run, args.repeats)
    rows.append(
        (f"Trials page in AppTest, table view ({caption})", ms(median), ms(worst), ms(LAST_CPU))
    )
    rows.append(("  same, first render after switching to the page", ms(first), "", ms(first_cpu)))
    trial_with_job = trial_repo.trial_for_job(live_job)
    at.query_params["trial"] = str(trial_with_job.id)
    median, worst, _ = timed(at.run, args.repeats)
    assert not at.exception, at.exception
    rows.append(
        (
            f"Trials page in AppTest, detail of a trial (job of {args.events_per_job:,} events, "
            "folds, charts, log)",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )
    ids = ",".join(str(t) for t in range(trial_with_job.id, trial_with_job.id + 10))
    at.query_params.clear()
    at.query_params["compare"] = ids
    median, worst, _ = timed(at.run, args.repeats)
    assert not at.exception, at.exception
    rows.append(
        (
            "Trials page in AppTest, compare 10 trials (10 progress curves)",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )

    # a live chart refresh
    bench_seed.set_job_running(live_job)
    from engine.executor import api

    def cold():
        api._series.clear()
        return executor.events(live_job, 500)

    median, worst, points = timed(cold, args.repeats)
    rows.append(
        (
            f"executor.events, cold: read {args.events_per_job:,} events, "
            f"downsample to {len(points)} points",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )
    median, worst, _ = timed(lambda: executor.events(live_job, 500), args.repeats)
    rows.append(("executor.events, warm (only new rows read)", ms(median), ms(worst), ms(LAST_CPU)))
    os.environ["BENCH_LIVE_JOB"] = str(live_job)
    live = AppTest.from_function(live_script, default_timeout=60)
    live.run()
    assert not live.exception, live.exception
    median, worst, _ = timed(live.run, args.repeats)
    rows.append(
        (
            "live fragment (render_job: progress bar + 500-point chart) in AppTest",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )

    def cold_fragment():
        api._series.clear()
        live.run()

    median, worst, _ = timed(cold_fragment, args.repeats)
    rows.append(
        (
            "  same with a cold series cache (reads all 1,000 events)",
            ms(median),
            ms(worst),
            ms(LAST_CPU),
        )
    )
    return rows, plans


# --- queries of the Trials page over an already seeded database (--scale) -------------
#
#   .venv/bin/python bench/bench_trials.py --scale URL [--base-tree DIR --base-url URL]
#
# Each round runs one process per checkout (alternating which goes first) that times the
# page's server-side work for an administrator: one page of 50 with its total for the
# default view, a family filter, a metric sort, a duration sort and the last page; the
# filter choices; and (where the checkout has them) the charts' summary. Medians of the
# rounds' medians; CPU is the process's CPU time over the same calls.

SCALE_SCRIPT = """
import json, os, statistics, sys, time
sys.path.insert(0, os.getcwd())
os.environ["DATABASE_URL"] = sys.argv[1]
repeats = int(sys.argv[2])
from engine.actions import UserRef
from engine.trials import query
from engine.trials.query import TrialQuery
from storage.repositories import users
record = users.get_user("root")
admin = UserRef(record.id, record.username, record.role)
total = query.search(admin, TrialQuery(), 1, 50).total
last = -(-total // 50)
cases = {
    "page 1, newest first": lambda: query.search(admin, TrialQuery(), 1, 50),
    "family filter": lambda: query.search(admin, TrialQuery(family="boosting"), 1, 50),
    "sort by metric value": lambda: query.search(admin, TrialQuery(sort="metric_value"), 1, 50),
    "sort by duration": lambda: query.search(admin, TrialQuery(sort="duration_s"), 1, 50),
    f"last page ({last:,})": lambda: query.search(admin, TrialQuery(), last, 50),
    "filter choices": lambda: query._load_filter_options(admin),
}
try:
    from engine.trials import summary
    def cold(flt):
        summary.clear_cache()  # the 10 s reuse is not what is timed
        return summary.summarise(admin, flt)
    cases["charts' summary (all trials)"] = lambda: cold(TrialQuery())
    cases["charts' summary (family filter)"] = lambda: cold(TrialQuery(family="boosting"))
except ImportError:
    pass
out = {}
for name, fn in cases.items():
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    out[name] = [statistics.median(wall), statistics.median(cpu)]
print(json.dumps({"total": total, "cases": out}))
"""


def scale_queries(args) -> None:
    import json
    import subprocess

    trees = {"after": (ROOT, args.scale)}
    if args.base_tree:
        trees = {"before": (Path(args.base_tree).resolve(), args.base_url), **trees}
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    results: dict[str, dict[str, list[list[float]]]] = {label: {} for label in trees}
    load_before = os.getloadavg()[0]
    total = 0
    for round_index in range(args.rounds):
        order = list(trees) if round_index % 2 == 0 else list(reversed(trees))
        for label in order:
            tree, url = trees[label]
            done = subprocess.run(
                [sys.executable, "-c", SCALE_SCRIPT, url, str(args.repeats)],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            total = figures["total"]
            for name, pair in figures["cases"].items():
                results[label].setdefault(name, []).append(pair)
    load_after = os.getloadavg()[0]
    labels = list(trees)
    print(
        f"Trials page queries, {total:,} trials, {args.rounds} rounds × {args.repeats} "
        f"repeats, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load_before:.1f} → {load_after:.1f}\n"
    )
    header = [f"{label}: wall" for label in labels] + [f"{label}: CPU" for label in labels]
    print("| query (median of round medians) | " + " | ".join(header) + " |")
    print("|---|" + "---|" * len(header))
    names = list(results[labels[-1]])
    for name in names:
        cells = []
        for index in (0, 1):
            for label in labels:
                pairs = results[label].get(name)
                cells.append(ms(statistics.median(p[index] for p in pairs)) if pairs else "(none)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=1_000)
    parser.add_argument("--events-per-job", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--scale", help="time the page's queries over this seeded database")
    parser.add_argument("--base-tree", help="--scale: a checkout to compare with (before)")
    parser.add_argument("--base-url", help="--scale: the base's copy of the database")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.scale:
        scale_queries(args)
        return 0
    import logging
    import platform
    import socket

    logging.disable(logging.WARNING)
    from bench import bench_seed

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# Trials benchmarks — Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f}\n"
    )
    for backend in args.backends.split(","):
        if backend == "sqlite":
            url = f"sqlite:///{_TMP / 'bench.db'}"
            schema = None
        else:
            try:
                socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
            except OSError:
                print("## PostgreSQL: skipped (not reachable at 127.0.0.1:5432)\n")
                continue
            schema = f"bench_trials_{os.getpid()}"
            url = bench_seed.create_schema(POSTGRES_URL, schema)
        try:
            rows, plans = bench_backend(backend, url, args)
        finally:
            if schema and not args.keep:
                from storage.db import dispose_all

                dispose_all()
                bench_seed.drop_schema(POSTGRES_URL, schema)
        title = "SQLite" if backend == "sqlite" else "PostgreSQL"
        print(
            f"## {title}\n\n| What | Median (wall) | Max (wall) | CPU (median) |\n|---|---|---|---|"
        )
        for what, median, worst, *cpu in rows:
            print(f"| {what} | {median} | {worst} | {cpu[0] if cpu else ''} |")
        print("\nQuery plans:\n")
        for label, lines in plans:
            print(f"{label}:\n```")
            print("\n".join(lines))
            print("```")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
