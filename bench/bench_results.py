"""Results are data: what one `price_option` costs through ``engine.actions.call`` and
how much its stored job result weighs, against the bare pricing call in the same run.

    .venv/bin/python bench/bench_results.py [--repeats 300]

Measured, interleaved round by round (so load changes hit every case alike; the order
reverses every other round), medians:

- bare: ``engine.finance.options.price_options`` for one option (what the action prices);
- action body: the registered function run directly (no job, no storage);
- call(noop): ``engine.actions.call`` of a trivial inline action registered here (returns
  a one-line result): the fixed cost of a call (validation, compliance policy, job row
  insert, run, result serialised and committed). It takes a ``steps`` parameter, as
  price_option does, so the compliance policy records the same two decisions (role
  allowed, resource caps) for both;
- call(price_option): the same path for one European call.

Target: call(price_option) - call(noop) (median of the per-round differences) within
bare + 5 ms; CPU time is printed beside wall time (the database writes of a call wait on
the disk, which a loaded machine makes noisy). Also the time the page's presenter takes
to draw the option's profile from the stored result, outside the call. Also the JSON size of the
stored job result (``jobs.get_job(id).result``, compact separators and as stored) for one
option, 100 options, and the other finance actions with the data their charts need.
Runs on a fresh SQLite database in a temporary directory (the embedded default).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-results-"))
os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
os.environ["MLTRAINER_METRICS_PORT"] = "0"

OPTION = {"spot": 100.0, "strike": 105.0, "maturity_years": 0.5, "rate": 0.03, "volatility": 0.2}
SIZE_CASES = [
    ("price_option (1 option)", "price_option", OPTION),
    (
        "price_option (100 options)",
        "price_option",
        {**OPTION, "strike": [80.0 + 0.4 * i for i in range(100)]},
    ),
    (
        "efficient_frontier (5 symbols)",
        "efficient_frontier",
        {"symbols": ["AAPL", "JNJ", "KO", "MSFT", "XOM"]},
    ),
    ("risk_report (AAPL vs SPX)", "risk_report", {"symbols": ["AAPL"], "benchmark": "SPX"}),
    ("backtest_strategy (2 symbols, 8,300 days)", "backtest_strategy", {"symbols": ["AAPL", "KO"]}),
]


def setup():
    from pydantic import BaseModel

    from engine.actions import ActionResult, UserRef, register
    from storage.migrate import upgrade

    upgrade()
    try:
        from engine.runtime import install
    except ImportError:  # trees from before the runtime entry point
        install = None
    if install is not None:
        install()

    class NoopParams(BaseModel):
        steps: int = 1  # like price_option's: the policy checks it against its cap

    @register("bench_noop", description="Does nothing (benchmark).", params=NoopParams)
    def bench_noop(params, ctx):
        return ActionResult("nothing")

    return UserRef.system()


def stored_size(job_id: int) -> tuple[int, int]:
    from storage.repositories import jobs

    result = jobs.get_job(job_id).result
    return len(json.dumps(result, separators=(",", ":")).encode()), len(json.dumps(result).encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    user = setup()
    from engine.actions import ActionContext, call, get_action
    from engine.finance.options import price_options

    action = get_action("price_option")
    params = action.params_model(**OPTION)
    ctx = ActionContext(user=user)

    def bare():
        price_options(100.0, 105.0, 0.5, 0.03, 0.2, 0.0, "call")

    def body():
        action.run(params, ctx)

    def noop():
        assert call("bench_noop", {}, user).status == "succeeded"

    def priced():
        assert call("price_option", OPTION, user).status == "succeeded"

    def result_work():  # what a result adds inside call(): run, serialise, encode
        json.dumps(action.run(params, ctx).to_json(max_table_rows=20_000))

    cases = {
        "bare": bare,
        "action body": body,
        "action body + to_json + json.dumps": result_work,
        "call(noop)": noop,
        "call(price_option)": priced,
    }
    for function in cases.values():  # imports, caches, first rows
        for _ in range(5):
            function()
    timings: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for round_number in range(args.repeats):
        order = list(cases.items())
        if round_number % 2:  # alternate the order: no case always follows another
            order.reverse()
        for name, function in order:
            started, started_cpu = time.perf_counter(), time.process_time()
            function()
            timings[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    # paired: each round's price_option call minus the noop call of the same round
    extra = statistics.median(
        p - n for p, n in zip(timings["call(price_option)"], timings["call(noop)"], strict=True)
    )
    extra_cpu = statistics.median(
        p - n for p, n in zip(cpu["call(price_option)"], cpu["call(noop)"], strict=True)
    )
    allowed = medians["bare"] + 5.0
    print(f"repeats {args.repeats}; load average {os.getloadavg()[0]:.1f}\n")
    print("| measure | median ms | p10–p90 ms | × bare | CPU median ms |")
    print("|---|---|---|---|---|")
    for name, values in timings.items():
        deciles = statistics.quantiles(values, n=10)
        print(
            f"| {name} | {medians[name]:.3f} | {deciles[0]:.3f}–{deciles[-1]:.3f} | "
            f"{medians[name] / medians['bare']:.1f} | {statistics.median(cpu[name]):.3f} |"
        )
    print(
        f"\ncall(price_option) - call(noop), median of the rounds' differences = {extra:.3f} ms; "
        f"target ≤ bare + 5 ms = "
        f"{allowed:.3f} ms: {'met' if extra <= allowed else 'NOT met'} "
        f"(CPU time: {extra_cpu:.3f} ms)\n"
    )
    try:
        from ui.presenters import figures_for
    except ImportError:  # trees from before results were data
        figures_for = None
    if figures_for is not None:
        shown = action.run(params, ctx)
        drawn = []
        for _ in range(30):
            started = time.perf_counter()
            figures_for("price_option", shown)
            drawn.append((time.perf_counter() - started) * 1000)
        print(
            f"The page's presenter draws the option's profile (121 spots) in "
            f"{statistics.median(drawn):.1f} ms (median of 30), only when a page shows it.\n"
        )
    print("| stored job result | bytes (compact JSON) | bytes (as json.dumps) |")
    print("|---|---|---|")
    for label, name, case in SIZE_CASES:
        outcome = call(name, case, user)
        assert outcome.status == "succeeded", outcome.error
        compact, plain = stored_size(outcome.job_id)
        print(f"| {label} | {compact:,} | {plain:,} |")


if __name__ == "__main__":
    main()
