"""Chat benchmarks: offline planner latency, and the chat page rerun with a 500-message
conversation (server time in AppTest).

    .venv/bin/python bench/bench_chat.py [--base /work/wt/start-base] [--rounds 15]

Targets: planner < 20 ms per request; chat page rerun < 300 ms.

With ``--base DIR`` (a checkout of the code before a change, e.g. ``git worktree add
--detach /work/wt/start-base 6440955``) the page rerun is measured in two long-lived
processes, one per tree, each with its own database seeded alike; the parent asks them
for one rerun at a time, alternating (the order reversed every other round), so a load
change hits both alike. Each rerun reports its wall time, the CPU time of the process
(the script runs in its own thread) and the number of chat messages drawn.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--serve-page" in sys.argv:  # a page worker imports the tree it measures
    ROOT = Path(sys.argv[sys.argv.index("--serve-page") + 1]).resolve()
    os.chdir(ROOT)
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-chat-"))
os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
os.environ["MLTRAINER_METRICS_PORT"] = "0"
os.environ["MLTRAINER_BCRYPT_ROUNDS"] = "4"


def bench_planner() -> tuple[float, float]:
    from engine.llm.planner import plan
    from tests.chat.test_planner_phrasings import PHRASINGS

    requests = [p[0] for p in PHRASINGS]
    plan(requests[0])  # load intents and compile patterns once
    per_request = []
    for _ in range(5):
        started = time.perf_counter()
        for text in requests:
            plan(text)
        per_request.append((time.perf_counter() - started) / len(requests) * 1000)
    worst = max(_time_one(plan, text) for text in requests)
    return statistics.median(per_request), worst


def _time_one(function, argument) -> float:
    started = time.perf_counter()
    function(argument)
    return (time.perf_counter() - started) * 1000


def seed_conversation(user, messages: int = 500) -> int:
    from engine.actions import call
    from engine.chat import conversations
    from storage.repositories import conversations as repo

    conversation = conversations.start(user, "benchmark conversation")
    option = {"spot": 100, "strike": 100, "maturity_years": 1, "rate": 0.05, "volatility": 0.2}
    for index in range(messages // 3):
        repo.add_message(conversation.id, "user", f"price option number {index}")
        repo.add_message(conversation.id, "assistant", f"Offline mode — pricing option {index}.")
        outcome = call("price_option", {**option, "strike": 80 + index % 40}, user)
        repo.add_message(
            conversation.id,
            "tool",
            outcome.result.summary,
            job_id=outcome.job_id,
            payload={
                "action": "price_option",
                "params": option,
                "status": outcome.status,
                "job_id": outcome.job_id,
            },
        )
    while repo.count_messages(conversation.id) < messages:
        repo.add_message(conversation.id, "user", "one more question")
    return conversation.id


def open_chat_page():
    """AppTest on the chat page showing a seeded 500-message conversation."""
    from engine.actions import UserRef
    from engine.auth.service import create_user
    from storage.migrate import upgrade
    from tests.foundation.apptest_helpers import log_in, new_app

    upgrade()
    record = create_user("bench", "Bench", "Correct-h0rse-1", "analyst")
    conversation_id = seed_conversation(UserRef(record.id, "bench", "analyst"))
    at = log_in(new_app(), "bench")
    at.switch_page("pages/chat.py").run()
    at.sidebar.radio(key="conv_radio").set_value(conversation_id).run()
    assert not at.exception, at.exception
    at.run()  # warm: the job results parsed once per process
    return at


def timed_rerun(at) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    at.run()
    figures = {
        "wall_ms": (time.perf_counter() - started) * 1000,
        "cpu_ms": (time.process_time() - cpu) * 1000,
        "messages": len(at.get("chat_message")),
    }
    assert not at.exception, at.exception
    return figures


def bench_chat_page() -> list[float]:
    at = open_chat_page()
    return [timed_rerun(at)["wall_ms"] for _ in range(7)]


def serve_page() -> None:
    """Worker: seed, open the page, then one rerun per "run" line on stdin (JSON out)."""
    from engine.runtime import install

    install()
    at = open_chat_page()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        print(json.dumps(timed_rerun(at)), flush=True)
    from engine import executor

    executor.shutdown()


def compare_page(base: Path, rounds: int) -> None:
    workers = {}
    for label, tree in (("before", base.resolve()), ("after", ROOT)):
        data = Path(tempfile.mkdtemp(prefix=f"bench-chat-{label}-"))
        env = dict(
            os.environ,
            MLTRAINER_DATA_DIR=str(data),
            DATABASE_URL=f"sqlite:///{data / 'bench.db'}",
            PYTHONWARNINGS="ignore",
        )
        env.pop("ANTHROPIC_API_KEY", None)
        workers[label] = subprocess.Popen(
            [sys.executable, __file__, "--serve-page", str(tree)],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    for label, worker in workers.items():
        if worker.stdout is None or worker.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {label} page worker did not start")
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in workers}
    load_before = os.getloadavg()[0]
    for round_index in range(rounds):
        order = list(workers) if round_index % 2 == 0 else list(reversed(workers))
        for label in order:
            worker = workers[label]
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write("run\n")
            worker.stdin.flush()
            runs[label].append(json.loads(worker.stdout.readline()))
    for worker in workers.values():
        assert worker.stdin is not None
        worker.stdin.write("quit\n")
        worker.stdin.close()
        worker.wait(60)
    print(
        f"chat page rerun, 500-message conversation, AppTest, {rounds} rounds interleaved, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load_before:.1f} → {os.getloadavg()[0]:.1f}\n"
    )
    print("| page | chat messages drawn | wall ms, median (min–max) | CPU ms, median (min–max) |")
    print("|---|---|---|---|")
    for label, figures in runs.items():
        wall = [f["wall_ms"] for f in figures]
        cpu = [f["cpu_ms"] for f in figures]
        print(
            f"| {label} | {int(figures[-1]['messages'])} | {statistics.median(wall):.0f} "
            f"({min(wall):.0f}–{max(wall):.0f}) | {statistics.median(cpu):.0f} "
            f"({min(cpu):.0f}–{max(cpu):.0f}) |"
        )
    ratios = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(runs["after"], runs["before"], strict=True)]
    print(f"\nafter / before CPU, median of the per-round ratios: {statistics.median(ratios):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="chat benchmarks")
    parser.add_argument("--base", type=Path, help="compare the chat page with this checkout")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--serve-page", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_page:
        serve_page()
        return
    if args.base:
        compare_page(args.base, args.rounds)
        return
    from engine.runtime import install

    install()  # an entry point: the compliance policy and the job runner
    median_ms, worst_ms = bench_planner()
    page = bench_chat_page()
    from engine import executor

    executor.shutdown()
    print("| benchmark | measured | target |")
    print("|---|---|---|")
    print(
        f"| offline planner, median per request (46 phrasings × 5) | {median_ms:.2f} ms "
        f"(slowest single request {worst_ms:.2f} ms) | < 20 ms |"
    )
    print(
        f"| chat page rerun, 500-message conversation (AppTest, median of 7) | "
        f"{statistics.median(page):.0f} ms (min {min(page):.0f}, max {max(page):.0f}) "
        f"| < 300 ms |"
    )


if __name__ == "__main__":
    main()
