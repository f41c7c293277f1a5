"""CPU of each step of a train_model call that is not the fit, in one process.

    .venv/bin/python bench/bench_call_steps.py [CHECKOUT]   # default: this one

What ``call()`` and the executor add to a fit (bench/bench_call_overhead.py measures
the sum, which a loaded machine blurs), step by step, on one logistic-regression result
(SPX 2003-2018, as bench_ml): serialising the result, measuring and storing it, reading
it back, and the compliance decisions before and after the run. Each figure is the
median CPU (``time.process_time``) of 20 repetitions. Run it on two checkouts one after
the other to compare (steps a checkout lacks are skipped).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1]).resolve()
sys.path.insert(0, str(TREE))
_TMP = Path(tempfile.mkdtemp(prefix="bench-steps-"))
os.environ["MLTRAINER_DATA_DIR"] = str(_TMP / "data")
os.environ["DATABASE_URL"] = f"sqlite:///{_TMP / 'data' / 'bench.db'}"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_TMP / "metrics")
os.environ["MLTRAINER_METRICS_PORT"] = "0"
os.environ.pop("REDIS_URL", None)
(_TMP / "metrics").mkdir(parents=True, exist_ok=True)


def timed(label: str, fn, repeats: int = 20) -> None:
    spent = []
    for _ in range(repeats):
        started = time.process_time()
        fn()
        spent.append(time.process_time() - started)
    print(f"| {label} | {statistics.median(spent) * 1000:.2f} |")


def main() -> None:
    warnings.simplefilter("ignore")
    import engine.executor.result_limits as limits
    from engine.actions import ActionContext, UserRef, get_action
    from engine.actions.base import ActionResult, json_safe
    from engine.actions.hooks import run_after, run_before
    from engine.executor.runner import serialise_result
    from engine.ml.params import TrainParams
    from engine.runtime import install
    from storage.migrate import upgrade
    from storage.repositories import jobs

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
    result = action.run(params, ctx)
    stored = json_safe(params.model_dump(mode="json"))
    as_json = serialise_result(result)
    info = {"goal_id": None, "confirmed": False}
    print(f"{TREE}; a stored result of {len(json.dumps(as_json)):,} bytes\n")
    print("| step | CPU ms, median of 20 |")
    print("|---|---|")
    timed(
        "caller: compliance before the run (3 decisions)",
        lambda: run_before(action, params, ctx.user, info),
    )
    timed("worker: serialise the result", lambda: serialise_result(result))
    timed(
        "worker: create a job row (subtracted below)",
        lambda: jobs.create_job("train_model", stored, None, status="running"),
    )
    if hasattr(limits, "encode_result"):
        encoded = limits.encode_result("train_model", as_json)
        timed("worker: encode once, measure", lambda: limits.encode_result("train_model", as_json))

        def store_encoded() -> None:
            job_id = jobs.create_job("train_model", stored, None, status="running")
            jobs.finish(job_id, "succeeded", result=encoded)

        timed("worker: create + store the encoded result", store_encoded)
    else:
        timed(
            "worker: measure (json.dumps)", lambda: limits.check_result_size("train_model", as_json)
        )

        def store() -> None:
            job_id = jobs.create_job("train_model", stored, None, status="running")
            jobs.finish(job_id, "succeeded", result=as_json)

        timed("worker: create + store the result (encoded again)", store)
    timed(
        "worker: compliance after the run (2 decisions)",
        lambda: run_after(action, params, ctx.user, result, info),
    )
    job_id = jobs.create_job("train_model", stored, None, status="running")
    jobs.finish(job_id, "succeeded", result=as_json)
    timed("caller: read the job row back", lambda: jobs.get_job(job_id))
    row = jobs.get_job(job_id)
    assert row is not None and row.result is not None
    timed("caller: ActionResult.from_json", lambda: ActionResult.from_json(row.result))


if __name__ == "__main__":
    main()
