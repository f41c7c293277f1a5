"""Start-up cost: importing the action catalogue, one option through the CLI, a worker
process ready for its first job, each in a fresh interpreter, against baselines measured
in the same run.

    .venv/bin/python bench/bench_startup.py [--rounds 7] [--base /work/wt/start-base]

Cases (each a new ``python`` process; CPU = user + system of the process and its
children, from ``wait4``; wall from just before the start to its exit):

- ``python -c pass``: the interpreter alone;
- the libraries the catalogue needs (numpy, pandas, pydantic, sqlalchemy.orm), imported
  bare: the floor for the catalogue;
- the libraries it no longer imports at start-up (anthropic, scipy.stats, scipy.signal,
  scikit-learn, optuna), imported bare: what the catalogue used to carry;
- catalogue: ``load_catalog()`` (what every CLI call and worker process does);
- CLI: ``python -m engine action price_option`` for one European call, on a migrated
  SQLite database (what a script calling the CLI gets);
- worker ready: a ``spawn`` process that runs ``RUNNER.prepare()`` (install the policy,
  load the catalogue: what a pool process does before its first job), started and
  joined by a driver, against a bare ``spawn`` process in the same driver.
- CLI, bytecode precompiled: the same call on a copy of this tree's engine/ and storage/
  byte-compiled first, as the image does (``compileall`` at build time). Every other case
  runs with ``PYTHONDONTWRITEBYTECODE=1`` (the image's setting), so the project's own
  modules are compiled from source in each process, as they were in the image before.

Each checkout's engine/ and storage/ are copied (without ``__pycache__``) into a
temporary directory and run from there, so bytecode left by a test run in one checkout
cannot favour it.

``--base DIR`` runs the catalogue, CLI and worker cases on a second checkout too (e.g.
``git worktree add --detach /work/wt/start-base 6440955``, the commit before the change),
interleaved with this tree's: each round runs every case once, the order reversed every
other round, so a load change hits both trees alike. Medians; min–max beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTION = {"spot": 100, "strike": 105, "maturity_years": 0.5, "rate": 0.03, "volatility": 0.2}
NEEDED = "import numpy, pandas, pydantic, sqlalchemy.orm"
DEFERRED = "import anthropic, scipy.stats, scipy.signal, sklearn.metrics, optuna"
WORKER = "worker ready: spawn + RUNNER.prepare()"
CATALOGUE = "from engine.actions.registry import load_catalog; load_catalog()"
# The driver prints the wall time of the spawned process (start to joined) and the CPU
# of its children (the spawned process) as JSON.
WORKER_DRIVER = """
import json, multiprocessing, os, resource, sys, time
def main():
    if sys.argv[1] == "bare":
        target = os.getpid
    else:
        from engine.runtime import RUNNER
        target = RUNNER.prepare
    context = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    process = context.Process(target=target)
    process.start()
    process.join()
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                      "exitcode": process.exitcode}))
if __name__ == "__main__":
    main()
"""


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        MLTRAINER_DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'bench.db'}",
        MLTRAINER_METRICS_PORT="0",
        PYTHONDONTWRITEBYTECODE="1",
        PROMETHEUS_MULTIPROC_DIR=str(data_dir / "metrics"),
    )
    for name in ("ANTHROPIC_API_KEY", "MLTRAINER_EXTRA_ACTION_MODULES", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env


def run_process(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and the children it waited for, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = process.communicate()  # reads both pipes, then reaps the process
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{args} failed in {cwd}:\n{err.decode()[-3000:]}")
    return wall, _last_child_cpu(), out.decode()


_cpu_seen = 0.0


def _last_child_cpu() -> float:
    """CPU of the child reaped since the previous call (RUSAGE_CHILDREN grows by it)."""
    global _cpu_seen
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    spent, _cpu_seen = total - _cpu_seen, total
    return spent


def build_cases(trees: dict[str, Path], workdir: Path) -> dict[str, object]:
    python = sys.executable
    cases: dict[str, object] = {
        "python -c pass": ([python, "-c", "pass"], ROOT, _env(workdir / "bare")),
        "import the libraries it needs (numpy, pandas, pydantic, sqlalchemy.orm)": (
            [python, "-c", NEEDED],
            ROOT,
            _env(workdir / "bare"),
        ),
        "import the libraries it defers (anthropic, scipy.stats/.signal, sklearn, optuna)": (
            [python, "-c", DEFERRED],
            ROOT,
            _env(workdir / "bare"),
        ),
        "spawned bare process, started and joined": ("worker", "bare", ROOT, workdir / "bare"),
    }
    for label, checkout in trees.items():
        # A copy of the checkout's engine/ and storage/ without __pycache__: a test run
        # in one checkout must not give it bytecode the other compiles from source.
        tree = workdir / f"{label}-tree"
        for package in ("engine", "storage"):
            shutil.copytree(
                checkout / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
            )
        data = workdir / label
        data.mkdir(parents=True, exist_ok=True)
        env = _env(data)
        cli = [python, "-m", "engine", "action", "price_option", "--params", json.dumps(OPTION)]
        subprocess.run(cli, cwd=tree, env=env, check=True, capture_output=True)  # migrate
        _last_child_cpu()
        cases[f"catalogue import ({label})"] = ([python, "-c", CATALOGUE], tree, env)
        cases[f"CLI: one option ({label})"] = (cli, tree, env)
        cases[f"worker ready: spawn + RUNNER.prepare() ({label})"] = (
            "worker",
            "prepare",
            tree,
            data,
        )
    compiled = workdir / "compiled-tree"
    compiled.mkdir()
    for package in ("engine", "storage"):
        shutil.copytree(
            ROOT / package, compiled / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    subprocess.run(
        [python, "-m", "compileall", "-q", str(compiled)], check=True, capture_output=True
    )
    data = workdir / "compiled-data"
    data.mkdir()
    env = _env(data)
    cli = [python, "-m", "engine", "action", "price_option", "--params", json.dumps(OPTION)]
    subprocess.run(cli, cwd=compiled, env=env, check=True, capture_output=True)  # migrate
    _last_child_cpu()
    cases["CLI: one option (this tree, bytecode precompiled as in the image)"] = (
        cli,
        compiled,
        env,
    )
    return cases


def measure(case: object) -> tuple[float, float]:
    if isinstance(case, tuple) and case[0] == "worker":
        _, mode, tree, data = case
        _, _, out = run_process([sys.executable, "-c", WORKER_DRIVER, mode], tree, _env(data))
        figures = json.loads(out.strip().splitlines()[-1])
        if figures["exitcode"] != 0:
            raise RuntimeError(f"the worker process failed in {tree}")
        return figures["wall"], figures["cpu"]
    args, cwd, env = case  # type: ignore[misc]
    wall, cpu, _ = run_process(args, cwd, env)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", type=Path, help="a checkout of the code before the change")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.base:
        trees = {"before": args.base.resolve(), "after": ROOT}
    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    cases = build_cases(trees, workdir)
    names = list(cases)
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    load_before = os.getloadavg()[0]
    for round_index in range(args.rounds):
        order = names if round_index % 2 == 0 else list(reversed(names))
        for name in order:
            wall, cpu = measure(cases[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    load_after = os.getloadavg()[0]
    print(
        f"{args.rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average {load_before:.1f} → {load_after:.1f}, {os.cpu_count()} cores\n"
    )
    print("| case | wall s, median (min–max) | CPU s, median (min–max) |")
    print("|---|---|---|")
    for name in names:
        w, c = walls[name], cpus[name]
        print(
            f"| {name} | {statistics.median(w):.2f} ({min(w):.2f}–{max(w):.2f}) "
            f"| {statistics.median(c):.2f} ({min(c):.2f}–{max(c):.2f}) |"
        )
    if args.base:
        print("\n| after / before, median of the per-round ratios | wall | CPU |")
        print("|---|---|---|")
        for kind in (
            "catalogue import",
            "CLI: one option",
            "worker ready: spawn + RUNNER.prepare()",
        ):
            before, after = f"{kind} (before)", f"{kind} (after)"
            wall_ratio = statistics.median(
                a / b for a, b in zip(walls[after], walls[before], strict=True)
            )
            cpu_ratio = statistics.median(
                a / b for a, b in zip(cpus[after], cpus[before], strict=True)
            )
            print(f"| {kind} | {wall_ratio:.2f} | {cpu_ratio:.2f} |")


if __name__ == "__main__":
    main()
