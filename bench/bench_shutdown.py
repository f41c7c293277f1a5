"""How long a standalone worker takes to end after SIGTERM, phase by phase.

    .venv/bin/python bench/bench_shutdown.py [--runs 3] [--baseline-tree /path/to/old/checkout]

Each run starts ``python -m engine worker`` (SQLite, two pool processes, grace 0) with two
jobs running: a CPU-bound sleep in a pool process, and an I/O-bound job waiting on a
blocking call in a thread pool (``test_pool_sleep``, ``--pool-seconds`` long, as a
library call would). Then SIGTERM. The phases come from the worker's own log timestamps
and the moment ``wait()`` returned: signal -> ``executor stopped`` (the grace period,
stopping the pool processes, recording the jobs) and ``executor stopped`` -> process
gone. ``--baseline-tree`` runs the same against another checkout (e.g. a ``git archive``
of an older commit, with this tree's ``tests/executor/sample_actions.py`` copied in),
interleaved run by run with this tree, so a loaded machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _migrate_and_submit(tree: Path, url: str) -> list[int]:
    script = """
import sys, json
from storage.migrate import upgrade
upgrade()
from storage.repositories import jobs
print(json.dumps([jobs.create_job("test_sleep", {"seconds": 600, "step": 0.05}, None)]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tree,
        env=_env(tree, url),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _submit_pool_sleep(tree: Path, url: str, pool_seconds: float) -> int:
    script = f"""
from storage.repositories import jobs
print(jobs.create_job("test_pool_sleep", {{"seconds": {pool_seconds}}}, None, cpu_bound=False))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tree,
        env=_env(tree, url),
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip().splitlines()[-1])


def _statuses(tree: Path, url: str, ids: list[int]) -> list[tuple[str, int, int]]:
    script = f"""
import json
from storage.repositories import jobs
rows = [jobs.get_job(i) for i in {ids!r}]
print(json.dumps([[r.status, r.attempts, jobs.count_events(r.id)] for r in rows]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tree,
        env=_env(tree, url),
        check=True,
        capture_output=True,
        text=True,
    )
    return [tuple(row) for row in json.loads(out.stdout.strip().splitlines()[-1])]


def _env(tree: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "DATABASE_URL": url,
        "MLTRAINER_DATA_DIR": str(Path(url.removeprefix("sqlite:///")).parent / "data"),
        "MLTRAINER_EXTRA_ACTION_MODULES": "tests.executor.sample_actions",
        "MLTRAINER_PROCESS_WORKERS": "2",
        "MLTRAINER_THREAD_WORKERS": "2",
        "MLTRAINER_SHUTDOWN_GRACE_SECONDS": "0",
        "MLTRAINER_LOG_STDERR": "1",
    }


def one_run(tree: Path, pool_seconds: float, timeout: float) -> dict[str, float | str]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-shutdown-"))
    url = f"sqlite:///{workdir}/db.sqlite"
    ids = _migrate_and_submit(tree, url)
    log_path = workdir / "worker.jsonl"
    with log_path.open("w") as log_file:
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"],
            cwd=tree,
            env=_env(tree, url),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    deadline = time.monotonic() + 600
    while True:  # the CPU job runs (the pool processes are up); then the I/O job
        states = _statuses(tree, url, ids)
        if len(ids) == 1 and states[0][0] == "running":
            ids.append(_submit_pool_sleep(tree, url, pool_seconds))
        elif len(ids) == 2 and states[1][0] == "running" and states[1][2] > 0:
            break  # its blocking call has started (it reports progress while waiting)
        if time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError(f"jobs did not start: {states}")
        time.sleep(0.2)
    signalled = time.time()
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout)
        gone = time.time()
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)
        gone = float("nan")
    stopped = float("nan")
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("pid") == worker.pid and entry.get("message") == "executor stopped":
            stopped = datetime.fromisoformat(entry["ts"]).timestamp()
    after = _statuses(tree, url, ids)
    return {
        "signal_to_stopped": stopped - signalled,
        "stopped_to_exit": gone - stopped,
        "signal_to_exit": gone - signalled,
        "jobs": ", ".join(f"{s} (attempts {a})" for s, a, _ in after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-tree", type=Path)
    parser.add_argument("--pool-seconds", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    trees = [("this tree", ROOT)]
    if args.baseline_tree is not None:
        trees.insert(0, ("baseline", args.baseline_tree.resolve()))
    results: dict[str, list[dict]] = {name: [] for name, _ in trees}
    for _ in range(args.runs):
        for name, tree in trees:
            results[name].append(one_run(tree, args.pool_seconds, args.timeout))
    load = os.getloadavg()[0]
    print(f"load average {load:.1f}; {args.runs} run(s) each, interleaved\n")
    print(
        "| tree | SIGTERM -> executor stopped | executor stopped -> exit | SIGTERM -> exit "
        "| jobs after (cpu, thread) |"
    )
    print("|---|---|---|---|---|")
    for name, runs in results.items():

        def median(key: str, runs=runs) -> str:
            return f"{statistics.median(r[key] for r in runs):.2f} s"

        print(
            f"| {name} | {median('signal_to_stopped')} | {median('stopped_to_exit')} "
            f"| {median('signal_to_exit')} | {runs[-1]['jobs']} |"
        )


if __name__ == "__main__":
    main()
