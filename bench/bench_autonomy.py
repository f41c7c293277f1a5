"""Trials the offline loop needs to reach a goal, against random search over the same
catalogue and budget (median over seeds), on three tasks built from bundled data.

    .venv/bin/python bench/bench_autonomy.py [--seeds 5] [--budget 15]

Each task's threshold is the 75th percentile of a pilot of random configurations run
with other seeds in the same process, so it is reachable but not trivial. Both methods
train through the same `train_model` action function (walk-forward, recorded trials);
the loop's proposer is the production one (UCB over families + Optuna TPE per family),
random search draws a model uniformly from the same eligible models and its parameters
uniformly from the same search spaces. A run that never reaches the threshold counts as
budget + 1 trials.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-autonomy-"))
os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
os.environ["MLTRAINER_METRICS_PORT"] = "0"

import numpy as np  # noqa: E402
import optuna  # noqa: E402

TASKS = {
    "SPX 5-day direction (balanced accuracy)": dict(symbols=["SPX"], start="2008-01-01",
                                                    end="2016-12-31", horizon=5),
    "MSFT 10-day direction (balanced accuracy)": dict(symbols=["MSFT"], start="2005-01-01",
                                                      end="2014-12-31", horizon=10),
    "XOM 1-day direction (balanced accuracy)": dict(symbols=["XOM"], start="2010-01-01",
                                                    end="2019-12-31", horizon=1),
}


def evaluate(data: dict, model_id: str, model_params: dict, seed: int) -> float | None:
    from engine.actions import ActionContext, ActionError, UserRef, get_action
    from engine.ml.params import TrainParams

    params = TrainParams(**data, model_id=model_id, model_params=model_params, seed=seed,
                         n_splits=4, metric="balanced_accuracy")
    try:
        result = get_action("train_model").run(params, ActionContext(user=UserRef.system()))
    except (ActionError, ValueError):
        return None
    return result.values.get("metric_value")


def random_proposal(spec, rng: random.Random):
    from engine.autonomy.proposer import eligible_models
    from engine.ml import catalog
    from engine.ml.search_spaces import suggest_space

    models = [m for ids in eligible_models(spec).values() for m in ids]
    model_id = rng.choice(models)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rng.randrange(10**9)))
    trial = study.ask()
    return model_id, suggest_space(trial, catalog.get_model(model_id).search_space)


def run_random(spec, data, threshold, budget, seed) -> int:
    rng = random.Random(seed)
    for n in range(1, budget + 1):
        model_id, params = random_proposal(spec, rng)
        value = evaluate(data, model_id, params, seed=n)
        if value is not None and value >= threshold:
            return n
    return budget + 1


def run_loop(spec, data, threshold, budget, seed) -> int:
    from engine.autonomy.proposer import BanditProposer

    proposer = BanditProposer(10_000 + seed, spec, [], seed=seed,
                              storage=optuna.storages.InMemoryStorage())
    for n in range(1, budget + 1):
        proposal = proposer.propose()
        value = evaluate(data, proposal.model_id, proposal.model_params, seed=n)
        proposer.observe(proposal, value)
        if value is not None and value >= threshold:
            return n
    return budget + 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=15)
    parser.add_argument("--pilot", type=int, default=12)
    args = parser.parse_args()
    from engine.goals.spec import GoalSpec
    from storage.migrate import upgrade

    upgrade()
    rows = []
    for name, data in TASKS.items():
        spec = GoalSpec(name=name, threshold=0.5, **data)
        started = time.perf_counter()
        pilot_rng = random.Random(999)
        pilot = [evaluate(data, *random_proposal(spec, pilot_rng), seed=0)
                 for _ in range(args.pilot)]
        pilot = [v for v in pilot if v is not None]
        threshold = float(np.percentile(pilot, 75))
        loop = [run_loop(spec, data, threshold, args.budget, seed) for seed in range(args.seeds)]
        rand = [run_random(spec, data, threshold, args.budget, seed)
                for seed in range(args.seeds)]
        rows.append((name, threshold, statistics.median(loop), statistics.median(rand), loop,
                     rand, time.perf_counter() - started))
        print(f"{name}: threshold {threshold:.4f} loop {loop} random {rand}", flush=True)
    print()
    print("| task | threshold | loop median trials | random median trials | ratio | target |")
    print("|---|---|---|---|---|---|")
    for name, threshold, loop_median, random_median, loop, rand, _seconds in rows:
        print(f"| {name} | {threshold:.4f} | {loop_median} {loop} | {random_median} {rand} | "
              f"{loop_median / random_median:.2f} | ≤ 0.5 |")


if __name__ == "__main__":
    main()
