"""Accuracy of the run-time estimator (engine/usage/estimate.py) on real recorded runs.

    .venv/bin/python bench/bench_estimates.py                  # 25 runs per family
    .venv/bin/python bench/bench_estimates.py --per-family 30  # more

Real trainings (``train_model``'s registered ``run`` with a real ``ActionContext``, one
BLAS thread, pinned to one core) on bundled prices of several symbols, date ranges
(rows) and fold counts, the families interleaved round-robin so they share the
machine's load. Each evaluation records its CPU seconds (the worker thread's clock) and
its size in ``cost_records``, exactly as in production.

Then each family's runs are replayed in the order they were recorded: run k is
predicted from runs 0..k-1 only (what the estimator would have said before it started),
by

- **fitted**: the estimator itself (the log-linear cost model around its stated prior),
- **baseline**: a constant per family: the median CPU seconds of its earlier runs (the
  prior's figure for the first run),

and the absolute percentage error |predicted - measured| / measured is summarised as its
median (MdAPE), separately for runs predicted from fewer than 20 records (the prior
phase) and from 20 or more (the target: MdAPE <= 30 %).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_TMP = Path(tempfile.mkdtemp(prefix="bench-estimates-"))
os.environ["MLTRAINER_DATA_DIR"] = str(_TMP / "data")
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'data' / 'bench.db'}"
os.environ.pop("REDIS_URL", None)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_TMP / "metrics")
os.environ["MLTRAINER_METRICS_PORT"] = "0"
(_TMP / "metrics").mkdir(parents=True, exist_ok=True)

FAMILIES = {
    # family: (model id, model params); the cost class is the catalogue's
    "linear": ("sklearn.LogisticRegression", {}),
    "tree": ("sklearn.DecisionTreeClassifier", {"max_depth": 6}),
    "naive_bayes": ("sklearn.GaussianNB", {}),
    "ensemble": (
        "sklearn.RandomForestClassifier",
        {"n_estimators": 40, "min_samples_leaf": 20},
    ),
}
SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM", "SPX"]
START_YEARS = [1995, 2000, 2004, 2008, 2011, 2014, 2016, 2018]
SPLITS = [2, 3, 4, 5, 6, 8]


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned"


def run_trainings(per_family: int, seed: int) -> list[tuple[str, float, float]]:
    """(family, cpu seconds, wall seconds) of every training, in the order run."""
    import random

    from threadpoolctl import threadpool_limits

    from engine.actions import ActionContext, UserRef, get_action
    from engine.runtime import install
    from storage.migrate import upgrade

    install()
    upgrade()
    rng = random.Random(seed)
    action = get_action("train_model")
    ctx = ActionContext(user=UserRef.system())
    done = []
    with threadpool_limits(limits=1):
        for index in range(per_family):
            for family, (model_id, model_params) in FAMILIES.items():
                params = action.params_model(
                    symbols=[rng.choice(SYMBOLS)],
                    start=f"{rng.choice(START_YEARS)}-01-01",
                    end="2022-12-31",
                    n_splits=rng.choice(SPLITS),
                    model_id=model_id,
                    model_params=model_params,
                    seed=index,
                )
                cpu, wall = time.process_time(), time.perf_counter()
                action.run(params, ctx)
                done.append((family, time.process_time() - cpu, time.perf_counter() - wall))
    return done


def replay(family: str) -> dict[str, list[float]]:
    """Absolute percentage errors of run k predicted from runs 0..k-1 (both estimators),
    split by how many records the prediction had."""
    from engine.ml.catalog import get_model
    from engine.usage.estimate import PRIOR_CLASS_SECONDS, PRIOR_RECORDS, CostModel
    from storage.repositories.usage import cost_history

    history = list(reversed(cost_history(family, limit=10_000)))  # oldest first
    cost_class = get_model(FAMILIES[family][0]).cost
    prior = PRIOR_CLASS_SECONDS[cost_class]
    errors: dict[str, list[float]] = {
        "fitted_prior": [],
        "fitted_20": [],
        "baseline_prior": [],
        "baseline_20": [],
    }
    for k, row in enumerate(history):
        model = CostModel.fit(family, history[:k], prior)
        fitted = model.predict(row.rows, row.cols, row.folds)[0]
        baseline = statistics.median(h.cpu_seconds for h in history[:k]) if k else prior
        phase = "20" if k >= PRIOR_RECORDS else "prior"
        errors[f"fitted_{phase}"].append(abs(fitted - row.cpu_seconds) / row.cpu_seconds)
        errors[f"baseline_{phase}"].append(abs(baseline - row.cpu_seconds) / row.cpu_seconds)
    return errors


def pct(values: list[float]) -> str:
    return f"{100 * statistics.median(values):.0f} %" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--families",
        default="linear,tree,naive_bayes",
        help=f"comma-separated, of {', '.join(FAMILIES)}",
    )
    args = parser.parse_args()
    for name in [f for f in FAMILIES if f not in args.families.split(",")]:
        FAMILIES.pop(name)
    pinned = pin_one_core()
    load = os.getloadavg()
    started = time.perf_counter()
    done = run_trainings(args.per_family, args.seed)
    from storage.repositories.usage import cost_history

    print(
        f"# Estimator accuracy: {args.per_family} real trainings per family "
        f"({pinned}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end; {time.perf_counter() - started:.0f} s)\n"
    )
    print(
        "| family | runs | CPU s per run (median, min–max) | wall/CPU | MdAPE fitted, "
        "< 20 records | MdAPE baseline, < 20 | MdAPE fitted, >= 20 records | "
        "MdAPE baseline, >= 20 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for family in FAMILIES:
        rows = cost_history(family, limit=10_000)
        cpus = [r.cpu_seconds for r in rows]
        ratio = statistics.median(r.wall_seconds / r.cpu_seconds for r in rows)
        errors = replay(family)
        print(
            f"| {family} | {len(rows)} | {statistics.median(cpus):.2f} "
            f"({min(cpus):.2f}–{max(cpus):.2f}) | {ratio:.2f} | {pct(errors['fitted_prior'])} "
            f"| {pct(errors['baseline_prior'])} | {pct(errors['fitted_20'])} "
            f"| {pct(errors['baseline_20'])} |"
        )
    action_cpu = statistics.median(c for _, c, _ in done)
    print(
        f"\nWhole train_model runs (data preparation, recording included): median "
        f"{action_cpu:.2f} CPU-s; the estimator prices the evaluation (folds + final fit)."
    )


if __name__ == "__main__":
    main()
