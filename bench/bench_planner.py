"""Offline planner cost per request, before and after a change, on the phrasing corpus
(tests/chat/phrasings/*.json, requests only).

    git archive main | (mkdir -p /tmp/planner-base && tar -x -C /tmp/planner-base)
    .venv/bin/python bench/bench_planner.py --base /tmp/planner-base [--rounds 9]

One long-lived worker process per tree (each imports its own planner and answers one
request first, so intents are loaded and patterns compiled); the parent asks them for
one round at a time, alternating and reversing the order every other round, so a load
change hits both alike. A round plans every request once; each worker reports the
round's wall time and its own CPU time (``time.process_time``). Prints medians per
request and the after/before ratio. The target is < 20 ms per request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def serve(tree: Path, requests: list[str]) -> None:
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    from engine.llm.planner import plan

    plan(requests[0])
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            break
        # every message is new text: no round may reuse the previous round's caches
        from engine.llm import extract

        for cached in ("_find_symbols", "_repair_word"):
            getattr(extract, cached, None) and getattr(extract, cached).cache_clear()
        wall, cpu = time.perf_counter(), time.process_time()
        for text in requests:
            plan(text)
        print(
            json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}),
            flush=True,
        )


def requests() -> list[str]:
    folder = ROOT / "tests" / "chat" / "phrasings"
    return [
        case["text"]
        for name in ("tuning", "heldout")
        for case in json.loads((folder / f"{name}.json").read_text())["cases"]
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, help="a checkout of the code before the change")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    texts = requests()
    trees = {"after": ROOT}
    if args.base:
        trees = {"before": args.base.resolve(), "after": ROOT}
    env = {**os.environ, "MLTRAINER_METRICS_PORT": "0"}
    workers = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--serve", str(tree)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for name, tree in trees.items()
    }
    for worker in workers.values():
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    results: dict[str, list[dict[str, float]]] = {name: [] for name in workers}
    for round_number in range(args.rounds):
        order = list(workers) if round_number % 2 == 0 else list(reversed(workers))
        for name in order:
            worker = workers[name]
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write("round\n")
            worker.stdin.flush()
            results[name].append(json.loads(worker.stdout.readline()))
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.write("stop\n")
        worker.stdin.flush()
        worker.wait(timeout=60)
    print(f"{len(texts)} requests x {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    medians = {}
    for name, rounds in results.items():
        wall = statistics.median(r["wall"] for r in rounds) / len(texts) * 1000
        cpu = statistics.median(r["cpu"] for r in rounds) / len(texts) * 1000
        medians[name] = cpu
        print(f"{name:>6}: median per request {wall:.2f} ms wall, {cpu:.2f} ms CPU")
    if "before" in medians:
        print(f"CPU ratio after/before: {medians['after'] / medians['before']:.2f}")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve(Path(sys.argv[sys.argv.index("--serve") + 1]), requests())
    else:
        main()
