"""A running goal's card while the loop writes trials (issue 18, "Live"): what each
refresh of the Goals page costs the server as the goal's history grows.

    .venv/bin/python bench/bench_goal_live.py [--trials 200,2000] [--rounds 9]
        [--database-url URL]   # default: a new SQLite file; PostgreSQL with the URL

For each history size a fresh database holds one analyst's active goal (its loop job
running) with that many trials. Each round the "loop" writes one trial and updates the
goal, then two things are timed: ``engine.goals.live.goal_trials`` (what the card's
fragment reads every 2 s: one cheap question, then only the new trials) against a full
read of the goal's trials, and the whole Goals page rerun in AppTest (a superset of the
fragment: the card's chart and table of every trial). Medians over the rounds, wall
and process CPU. The card refreshes every 2 s, so its server cost is the share of that
interval it takes.
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

_TMP = isolate("goal-live", job_without_worker=True)  # the loop job has no worker
REFRESH_S = 2.0


def clock(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def history(url: str, size: int, rounds: int) -> dict[str, tuple[float, float]]:
    from bench.bench_trials import use
    from engine.actions import UserRef
    from engine.auth.service import create_user
    from engine.goals import live
    from engine.goals import service as goals
    from engine.goals.spec import GoalSpec
    from storage.repositories import goals as goal_repo
    from storage.repositories import trials as trial_repo
    from tests.foundation.apptest_helpers import log_in, new_app
    from tests.trials.conftest import add_job, add_trial

    use(url)
    name = f"live{os.getpid()}{size}"
    record = create_user(name, "Live", "Correct-h0rse-1", "analyst")
    user = UserRef(record.id, record.username, record.role)
    goal = goals.create(user, GoalSpec(name="live goal", symbols=["SPX"]))
    loop_job = add_job(user, action="run_goal_loop", status="running")
    for index in range(size):
        add_trial(user, goal_id=goal.id, metric_value=0.5 + (index % 97) / 1000)
    goal_repo.update_goal(goal.id, trials_run=size, loop_job_id=loop_job)
    live.clear()
    at = log_in(new_app(), name)
    at.switch_page("pages/goals.py").run()
    assert not at.exception, at.exception
    figures: dict[str, list[tuple[float, float]]] = {}
    for index in range(rounds):
        add_trial(user, goal_id=goal.id, metric_value=0.6)
        goal_repo.update_goal(goal.id, trials_run=size + index + 1)
        figures.setdefault("refresh read (new trials only)", []).append(
            clock(lambda: live.goal_trials(user, goal.id))
        )
        figures.setdefault("full read of the goal's trials", []).append(
            clock(lambda: trial_repo.trials_for_goal(goal.id))
        )
        figures.setdefault("Goals page rerun (AppTest)", []).append(clock(at.run))
        assert not at.exception, at.exception
    return {
        step: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for step, values in figures.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default="200,2000")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    sizes = [int(size) for size in args.trials.split(",")]
    results = {}
    for size in sizes:
        url = args.database_url or f"sqlite:///{_TMP / f'live{size}.db'}"
        results[size] = history(url, size, args.rounds)
    load = os.getloadavg()[0]
    print(
        f"Goal card refresh, {args.rounds} rounds, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {load:.1f}, "
        f"{'PostgreSQL' if args.database_url and 'postgres' in args.database_url else 'SQLite'}"
    )
    print("| step (median) | " + " | ".join(f"{s:,} trials: wall / CPU" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for step in results[sizes[0]]:
        cells = [
            f"{results[s][step][0] * 1000:.1f} / {results[s][step][1] * 1000:.1f} ms" for s in sizes
        ]
        print(f"| {step} | " + " | ".join(cells) + " |")
    page = [results[s]["Goals page rerun (AppTest)"][1] for s in sizes]
    print(
        "share of the 2 s refresh interval (page rerun CPU): "
        + ", ".join(f"{s:,} trials {p / REFRESH_S:.0%}" for s, p in zip(sizes, page, strict=True))
    )


if __name__ == "__main__":
    main()
