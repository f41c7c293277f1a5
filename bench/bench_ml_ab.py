"""train_model through call() and the executor: this checkout against another, in one run.

    .venv/bin/python bench/bench_ml_ab.py --base /work/wt/perf-base [--pairs 3]
        [--models LogisticRegression] [--repeats 7]

Runs ``bench/bench_ml.py --models <m> --repeats <r>`` (each checkout its own copy of the
script; the figures are only comparable if both copies are the same) alternately in the
base checkout and in this one, ``--pairs`` times, the order reversed every other pair so
a change of load hits both alike. Each run measures, round by round, a bare
``cross_validate`` baseline, ``action.run`` and ``train_model`` through
``engine.actions.call`` and the executor (CPU of the caller and of the pool process), and
reports the overheads against its own in-run baseline; this script collects those
overheads and prints each run's and the median per checkout, with the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"([0-9.]+) s \(")
PERCENT = re.compile(r"([+-][0-9.]+)%")


def parse(output: str) -> dict[str, float]:
    """The first model's rows of bench_ml's table: CPU seconds and overheads in %."""
    figures: dict[str, float] = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) < 10 or not CELL.match(cells[3]):
            continue
        if "through call()" in cells[0]:
            if "call_overhead" in figures:
                continue
            figures["base_cpu"] = float(CELL.match(cells[3]).group(1))  # type: ignore[union-attr]
            figures["call_cpu"] = float(CELL.match(cells[4]).group(1))  # type: ignore[union-attr]
            figures["call_overhead"] = float(PERCENT.search(cells[5]).group(1))  # type: ignore[union-attr]
            figures["call_paired"] = float(PERCENT.search(cells[6]).group(1))  # type: ignore[union-attr]
            figures["call_wall_overhead"] = float(PERCENT.search(cells[9]).group(1))  # type: ignore[union-attr]
        elif "run_overhead" not in figures and not cells[0].startswith("same"):
            figures["run_overhead"] = float(PERCENT.search(cells[5]).group(1))  # type: ignore[union-attr]
    missing = {"call_overhead", "run_overhead"} - set(figures)
    if missing:
        raise RuntimeError(f"bench_ml printed no {sorted(missing)}:\n{output[-3000:]}")
    return figures


def run_one(tree: Path, models: str, repeats: int) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            str(tree / "bench" / "bench_ml.py"),
            "--models",
            models,
            "--repeats",
            str(repeats),
        ],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench_ml failed in {tree}:\n{done.stderr[-3000:]}")
    figures = parse(done.stdout)
    figures["load"] = (load_before + os.getloadavg()[0]) / 2
    figures["seconds"] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--models", default="LogisticRegression")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    trees = {"before": args.base.resolve(), "after": ROOT}
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for pair in range(args.pairs):
        order = ["before", "after"] if pair % 2 == 0 else ["after", "before"]
        for label in order:
            figures = run_one(trees[label], args.models, args.repeats)
            runs[label].append(figures)
            print(
                f"pair {pair + 1}/{args.pairs} {label}: call {figures['call_overhead']:+.1f} % "
                f"(paired {figures['call_paired']:+.1f} %), load {figures['load']:.1f}",
                file=sys.stderr,
            )
    print(
        f"`bench/bench_ml.py --models {args.models} --repeats {args.repeats}`, {args.pairs} "
        f"pairs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores; "
        "overheads in % of each run's own bare cross_validate (CPU: caller + pool process)\n"
    )
    print(
        "| checkout | run | load | cross_validate CPU s | call() CPU s | action.run CPU "
        "| **call() CPU** | call() CPU, paired | call() wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label in ("before", "after"):
        for index, one in enumerate(runs[label], 1):
            print(
                f"| {label} | {index} | {one['load']:.1f} | {one['base_cpu']:.2f} "
                f"| {one['call_cpu']:.2f} | {one['run_overhead']:+.1f} % "
                f"| {one['call_overhead']:+.1f} % | {one['call_paired']:+.1f} % "
                f"| {one['call_wall_overhead']:+.1f} % |"
            )
    print("\n| checkout | median call() CPU overhead | median paired | median action.run |")
    print("|---|---|---|---|")
    for label in ("before", "after"):
        one = runs[label]
        print(
            f"| {label} | **{statistics.median(r['call_overhead'] for r in one):+.1f} %** "
            f"| {statistics.median(r['call_paired'] for r in one):+.1f} % "
            f"| {statistics.median(r['run_overhead'] for r in one):+.1f} % |"
        )


if __name__ == "__main__":
    main()
