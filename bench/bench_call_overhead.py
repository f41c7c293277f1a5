"""The fixed CPU cost of running an action through call() and the executor, per call.

    .venv/bin/python bench/bench_call_overhead.py --base /work/wt/perf-base [--runs 2]
        [--repeats 15]

bench_ml.py compares a whole fit through ``call()`` with a bare ``cross_validate``; on a
shared machine the fit's own CPU varies by several per cent between repeats, more than
the ~10-25 ms that ``call()`` adds to a 0.27 s logistic regression. This measures that
addition directly: in one process, repeat by repeat, ``action.run`` of ``train_model``
(logistic regression, SPX 2003-2018, as bench_ml) and the same through ``call(...,
wait=)`` with the local executor (one pool process; both pinned to one core). CPU is
the caller process (every thread: the scheduler's included) plus the pool process, from
``/proc/<pid>/task/*/schedstat`` (nanoseconds). The figure is the median over repeats of
call CPU minus the ``action.run`` CPU of the same repeat; ``action.run`` itself is the
same code on both sides of a comparison.

``--base DIR`` runs this script (this checkout's copy) against another checkout too,
alternately, ``--runs`` times each, the order reversed every other time. Without it,
one measurement of this checkout is printed as JSON (what the alternating driver reads).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _cpu(pid: int) -> float:
    """CPU seconds of every thread of ``pid`` so far (schedstat: nanoseconds on CPU)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def measure(tree: Path, repeats: int) -> dict[str, float]:
    """One measurement of ``tree`` in this process (run with the tree first on sys.path)."""
    work = Path(tempfile.mkdtemp(prefix="bench-call-"))
    os.environ.update(
        MLTRAINER_DATA_DIR=str(work / "data"),
        DATABASE_URL=f"sqlite:///{work / 'data' / 'bench.db'}",
        PROMETHEUS_MULTIPROC_DIR=str(work / "metrics"),
        MLTRAINER_METRICS_PORT="0",
        MLTRAINER_EXECUTOR="local",
        MLTRAINER_PROCESS_WORKERS="1",
    )
    os.environ.pop("REDIS_URL", None)
    (work / "metrics").mkdir(parents=True)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.path.insert(0, str(tree))
    import warnings

    warnings.simplefilter("ignore")
    from engine import executor
    from engine.actions import ActionContext, UserRef, call, get_action
    from engine.ml.params import TrainParams
    from engine.runtime import install
    from storage.migrate import upgrade

    install()
    upgrade()
    action = get_action("train_model")
    ctx = ActionContext(user=UserRef.system())
    params = TrainParams(
        symbols=["SPX"],
        start="2003-01-01",
        end="2018-12-31",
        horizon=5,
        model_id="sklearn.LogisticRegression",
        model_params={},
        n_splits=5,
        embargo=5,
        holdout_fraction=0.2,
        seed=0,
    )
    service = executor.ensure_started()
    assert service.warm_up(300), "the executor's pool process did not start"
    pids = [os.getpid(), *service.worker_pids()]

    def cpu() -> float:
        return sum(_cpu(pid) for pid in pids)

    def through_call() -> None:
        outcome = call("train_model", params.model_dump(mode="json"), ctx.user, wait=3600)
        assert outcome.status == "succeeded", outcome.error

    action.run(params, ctx)  # warm-up: imports, caches, the pool process
    through_call()
    runs, calls = [], []
    for _ in range(repeats):
        started = cpu()
        action.run(params, ctx)
        middle = cpu()
        through_call()
        runs.append(middle - started)
        calls.append(cpu() - middle)
    fixed = [c - r for c, r in zip(calls, runs, strict=True)]
    return {
        "run_cpu": statistics.median(runs),
        "call_cpu": statistics.median(calls),
        "fixed_ms": statistics.median(fixed) * 1000,
        "fixed_ratio": statistics.median(c / r - 1 for c, r in zip(calls, runs, strict=True)),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)  # one measurement
    args = parser.parse_args()
    if args.base is None:
        print(json.dumps(measure((args.tree or ROOT).resolve(), args.repeats)))
        return
    trees = {"before": args.base.resolve(), "after": ROOT}
    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    load_before = os.getloadavg()[0]
    for index in range(args.runs):
        for label in ("before", "after") if index % 2 == 0 else ("after", "before"):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--tree",
                    str(trees[label]),
                    "--repeats",
                    str(args.repeats),
                ],
                cwd=trees[label],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{label} failed:\n{done.stderr[-3000:]}")
            one = json.loads(done.stdout.strip().splitlines()[-1])
            results[label].append(one)
            print(
                f"{label} {index + 1}: fixed {one['fixed_ms']:.1f} ms "
                f"({one['fixed_ratio']:+.1%} of action.run {one['run_cpu']:.3f} s), "
                f"load {one['load']:.1f}",
                file=sys.stderr,
            )
    print(
        f"{args.runs} runs per checkout of {args.repeats} repeats, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{load_before:.1f} → {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores\n"
    )
    print(
        "| checkout | action.run CPU s (medians) | call() CPU s | fixed CPU per call, ms "
        "(median of paired differences) | as % of action.run |"
    )
    print("|---|---|---|---|---|")
    for label in ("before", "after"):
        for one in results[label]:
            print(
                f"| {label} | {one['run_cpu']:.3f} | {one['call_cpu']:.3f} "
                f"| {one['fixed_ms']:.1f} | {one['fixed_ratio']:+.1%} |"
            )
    before = statistics.median(one["fixed_ms"] for one in results["before"])
    after = statistics.median(one["fixed_ms"] for one in results["after"])
    print(f"\nfixed CPU per call: before {before:.1f} ms, after {after:.1f} ms")


if __name__ == "__main__":
    main()
