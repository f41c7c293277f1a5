"""Overhead of the train_model action over scikit-learn's cross_validate; prints markdown.

    .venv/bin/python bench/bench_ml.py              # full run (5 repeats per case)
    .venv/bin/python bench/bench_ml.py --quick      # 2 repeats, smaller data

Both sides get the same work, measured in the same run, alternating, on one pinned
core with BLAS/OpenMP threads set to 1:

- baseline: load the bundled prices, build the same features
  (``engine.ml.features.build_price_features``), build the same scikit-learn pipeline
  (``engine.ml.pipeline.spec_pipeline``), then ``cross_validate`` it with the same 5
  scorers on the same walk-forward folds plus the hold-out split (6 fits, 6 scorings);
- train_model: the registered action's ``run`` with a real ``ActionContext``: data
  recording, the same fits, metrics with std, hold-out, the trading backtests, IC,
  importances, the figures and tables, the skops model file, the predictions file, and
  the Trial and ModelResult rows (SQLite in a temporary directory).

- train_model through ``engine.actions.call`` and the executor (``--real-path``, the
  default): what a user gets — the call validates and queues the job, a pool process of
  the local executor (pinned to the same core) claims it, runs the action, stores its
  result in the job row, and the caller reads the outcome back from the database. Its
  CPU time counts the caller and the pool process.

Each figure is the median of the repeats (min–max in brackets), in CPU seconds of
the process (``time.process_time``: the machine is shared, and CPU time does not count
other people's jobs) and in wall seconds (which also count disk writes and waiting for
the CPU); the overhead is median(train_model) / median(baseline) - 1, and "paired" is
the median over repeats of train_model / baseline - 1 within the same repeat.

    .venv/bin/python bench/bench_ml.py --models XGB --repeats 15   # one case, more repeats
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_TMP = Path(tempfile.mkdtemp(prefix="bench-ml-"))
os.environ["MLTRAINER_DATA_DIR"] = str(_TMP / "data")
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'data' / 'bench.db'}"
os.environ.pop("REDIS_URL", None)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_TMP / "metrics")
os.environ["MLTRAINER_METRICS_PORT"] = "0"
os.environ["MLTRAINER_EXECUTOR"] = "local"
os.environ["MLTRAINER_PROCESS_WORKERS"] = "1"
(_TMP / "metrics").mkdir(parents=True, exist_ok=True)


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


CASES = [
    # (label, model id, model params)
    (
        "Random forest, 200 trees, min_samples_leaf=20",
        "sklearn.RandomForestClassifier",
        {"n_estimators": 200, "min_samples_leaf": 20},
    ),
    ("XGBoost (catalogue defaults)", "xgboost.XGBClassifier", {}),
    ("HistGradientBoosting (catalogue defaults)", "sklearn.HistGradientBoostingClassifier", {}),
    ("Logistic regression (a fast model: fixed costs dominate)", "sklearn.LogisticRegression", {}),
]
SCORING = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "log_loss": "neg_log_loss",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--models", default="", help="only cases whose model id contains this")
    parser.add_argument(
        "--no-real-path", action="store_true", help="skip train_model through call()"
    )
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    start = "2012-01-01" if args.quick else "2003-01-01"
    end = "2018-12-31"
    pinned = pin_one_core()

    import warnings

    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import cross_validate

    from engine.actions import ActionContext, UserRef, get_action
    from engine.ml import features
    from engine.ml.catalog import get_model
    from engine.ml.dataset import load_symbol_frame
    from engine.ml.params import TrainParams
    from engine.ml.pipeline import PERMUTATION_MAX_ROWS, PERMUTATION_REPEATS, spec_pipeline
    from engine.ml.splits import WalkForwardSplit
    from engine.runtime import install
    from storage.migrate import upgrade

    warnings.simplefilter("ignore", FutureWarning)
    install()
    upgrade()
    action = get_action("train_model")
    ctx = ActionContext(user=UserRef.system())
    real_path = not args.no_real_path
    worker_pids: list[int] = []
    if real_path:
        from engine import executor

        service = executor.ensure_started()  # its pool process inherits the pinned core
        assert service.warm_up(300), "the executor's pool process did not start"
        worker_pids = service.worker_pids()

    def params_for(model_id, model_params) -> TrainParams:
        return TrainParams(
            symbols=["SPX"],
            start=start,
            end=end,
            horizon=5,
            model_id=model_id,
            model_params=model_params,
            n_splits=5,
            embargo=5,
            holdout_fraction=0.2,
            seed=0,
        )

    def baseline(params: TrainParams, permutation: bool = False) -> dict:
        frame, _ = load_symbol_frame("SPX", "bundled", params.start, params.end)
        X, y = features.build_price_features(frame, horizon=params.horizon, task=params.task)
        splitter = WalkForwardSplit(
            params.n_splits,
            params.horizon,
            params.embargo,
            holdout_fraction=params.holdout_fraction,
        )
        splits = list(splitter.split(X)) + [splitter.holdout_split(X)]
        spec = get_model(params.model_id)
        pipe = spec_pipeline(spec, params.model_params, params.seed, list(X.columns), [])
        scores = cross_validate(
            pipe,
            X,
            y,
            cv=splits,
            scoring=SCORING,
            error_score="raise",
            return_estimator=permutation,
        )
        if permutation:  # what train_model adds for models without native importances
            rows = splits[-1][1][-PERMUTATION_MAX_ROWS:]  # the same hold-out rows
            permutation_importance(
                scores["estimator"][-1],
                X.iloc[rows],
                y.iloc[rows],
                scoring="balanced_accuracy",
                n_repeats=PERMUTATION_REPEATS,
                random_state=params.seed,
                n_jobs=1,
            )
        return scores

    def ours(params: TrainParams):
        return action.run(params, ctx)

    def through_call(params: TrainParams):
        from engine.actions import call

        outcome = call("train_model", params.model_dump(mode="json"), ctx.user, wait=3600)
        assert outcome.status == "succeeded", outcome.error
        return outcome.result

    def cpu_seconds() -> float:
        """CPU seconds so far of this process and the executor's pool process."""
        total = time.process_time()
        for pid in worker_pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def timed(fn, *args) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process and the executor's pool process)."""
        wall, cpu = time.perf_counter(), cpu_seconds()
        fn(*args)
        return time.perf_counter() - wall, cpu_seconds() - cpu

    rows = []
    for label, model_id, model_params in CASES:
        if args.models not in model_id:
            continue
        params = params_for(model_id, model_params)
        reference = baseline(params)  # warm-up (imports, caches) and a correctness check
        result = ours(params)
        if real_path:
            called = through_call(params)  # warms the pool process
            assert called.values["balanced_accuracy"] == result.values["balanced_accuracy"]
        cv_mean = float(reference["test_balanced_accuracy"][:-1].mean())
        same = abs(cv_mean - result.values["balanced_accuracy"]) < 1e-12
        permutation = result.values["importance_kind"] == "permutation"
        times: dict[str, list[tuple[float, float]]] = {
            "base": [],
            "ours": [],
            "perm": [],
            "call": [],
        }
        for _ in range(repeats):
            times["base"].append(timed(baseline, params))
            times["ours"].append(timed(ours, params))
            if real_path:
                times["call"].append(timed(through_call, params))
            if permutation:
                times["perm"].append(timed(baseline, params, True))
        kind = result.values["importance_kind"]
        rows.append((label, result.values["n_samples"], times, same, kind))

    import numpy
    import pandas
    import sklearn

    def median(pairs: list[tuple[float, float]], which: int) -> float:
        return statistics.median(pair[which] for pair in pairs)

    def paired(ours: list[tuple[float, float]], base: list[tuple[float, float]]) -> float:
        """Median of the per-repeat ratios: each repeat runs both sides back to back, so a
        ratio shares the machine's state of that moment (steadier than a ratio of medians)."""
        return statistics.median(o[1] / b[1] - 1 for o, b in zip(ours, base, strict=True))

    def cell(pairs: list[tuple[float, float]], which: int) -> str:
        values = [pair[which] for pair in pairs]
        return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"

    print(
        f"SPX {start}..{end}, horizon 5, 5 walk-forward folds + 20% hold-out; "
        f"{repeats} repeats; {pinned}; load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}, "
        f"numpy {numpy.__version__}, pandas {pandas.__version__}\n"
    )
    print(
        "| Model | Rows | Importances | cross_validate CPU | train_model CPU | Overhead (CPU) "
        "| Overhead (CPU, paired) | cross_validate wall | train_model wall | Overhead (wall) "
        "| Same CV score |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, n, times, same, kind in rows:
        overhead = [median(times["ours"], i) / median(times["base"], i) - 1 for i in (1, 0)]
        print(
            f"| {label} | {n:,} | {kind} | {cell(times['base'], 1)} | {cell(times['ours'], 1)} "
            f"| {overhead[0]:+.1%} | {paired(times['ours'], times['base']):+.1%} "
            f"| {cell(times['base'], 0)} | {cell(times['ours'], 0)} "
            f"| {overhead[1]:+.1%} | {'yes' if same else 'NO'} |"
        )
        if times["call"]:
            overhead = [median(times["call"], i) / median(times["base"], i) - 1 for i in (1, 0)]
            print(
                f"|   same, train_model through call() and the executor (pool process "
                f"included) | {n:,} | {kind} | {cell(times['base'], 1)} | "
                f"{cell(times['call'], 1)} | **{overhead[0]:+.1%}** | "
                f"{paired(times['call'], times['base']):+.1%} | {cell(times['base'], 0)} | "
                f"{cell(times['call'], 0)} | {overhead[1]:+.1%} |  |"
            )
        if times["perm"]:
            overhead = [median(times["ours"], i) / median(times["perm"], i) - 1 for i in (1, 0)]
            print(
                "|   same; baseline also runs sklearn permutation_importance "
                f"({PERMUTATION_REPEATS} repeats, the same {PERMUTATION_MAX_ROWS:,} most recent "
                f"hold-out rows at most) | {n:,} | permutation | {cell(times['perm'], 1)} | "
                f"{cell(times['ours'], 1)} | {overhead[0]:+.1%} | "
                f"{paired(times['ours'], times['perm']):+.1%} | {cell(times['perm'], 0)} | "
                f"{cell(times['ours'], 0)} | {overhead[1]:+.1%} |  |"
            )


if __name__ == "__main__":
    main()
