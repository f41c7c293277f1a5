"""Build the configuration portfolio the autonomous loop tries first.

    .venv/bin/python tools/build_portfolio.py evaluate --task-type regression \
        --out engine/autonomy/portfolio_scores_regression.json
    .venv/bin/python tools/build_portfolio.py evaluate --task-type classification \
        --out engine/autonomy/portfolio_scores_classification.json
    .venv/bin/python tools/build_portfolio.py select \
        engine/autonomy/portfolio_scores_*.json --out engine/autonomy/portfolio.json

``evaluate`` trains every candidate configuration — the catalogue defaults of every
model the loop may propose for the task type, and one random configuration of each
(Optuna's RandomSampler over the model's search space) — on every meta-task of
:data:`META_TASKS` (bundled stocks; never SPX or JPM, the symbols of
``bench/bench_autonomy.py``), through the ``train_model`` action on a throwaway
database, and writes the raw scores. ``select`` turns the scores into the ordered
portfolio (:func:`engine.autonomy.portfolio.select_portfolio`). The two can run in two
processes side by side (about 30 minutes each on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Meta-task symbols: a spread of sectors; the benchmark's symbols (SPX, JPM) are not here.
REGRESSION_SYMBOLS = ("AAPL", "XOM", "KO", "PFE")
CLASSIFICATION_SYMBOLS = ("AAPL", "XOM", "KO")
SEED = 0


def meta_tasks(task_type: str):
    from engine.autonomy.meta_tasks import TARGETS, meta_task

    symbols = REGRESSION_SYMBOLS if task_type == "regression" else CLASSIFICATION_SYMBOLS
    targets = [t for t, (_, kind, _, _) in TARGETS.items() if kind == task_type]
    return [meta_task(symbol, target) for target in targets for symbol in symbols]


def candidates(task_type: str) -> list[dict]:
    """Defaults and one random configuration of every model the loop may propose."""
    import optuna

    from engine.autonomy.proposer import catalogue_defaults, eligible_models
    from engine.goals.spec import GoalSpec
    from engine.ml import catalog
    from engine.ml.search_spaces import suggest_space

    spec = GoalSpec(
        name="portfolio",
        dataset_id=1,
        target_column="y",
        task=task_type,
        metric="r2" if task_type == "regression" else "roc_auc",
        threshold=0.0,
    )
    out = []
    for family, model_ids in eligible_models(spec).items():
        for model_id in model_ids:
            out.append(
                {
                    "model_id": model_id,
                    "family": family,
                    "kind": "defaults",
                    "params": catalogue_defaults(model_id),
                }
            )
            space = catalog.get_model(model_id).search_space
            if not space:
                continue
            seed = random.Random(f"{SEED}:{model_id}").randrange(2**31)
            trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
            suggest_space(trial, space)
            out.append(
                {
                    "model_id": model_id,
                    "family": family,
                    "kind": "random",
                    "params": dict(trial.params),
                }
            )
    return out


def model_params(candidate: dict) -> dict:
    """What ``train_model`` gets: nothing for defaults (every parameter, also those a
    search space cannot express, stays the catalogue's), else the decoded values."""
    from engine.ml import catalog
    from engine.ml.search_spaces import decode_params

    if candidate["kind"] == "defaults":
        return {}
    return decode_params(catalog.get_model(candidate["model_id"]), candidate["params"])


def evaluate(task_type: str, out: Path) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="portfolio-"))
    os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'app.db'}"
    os.environ["MLTRAINER_METRICS_PORT"] = "0"
    from engine.autonomy.meta_tasks import evaluate as evaluate_config
    from engine.autonomy.meta_tasks import register_table, task_table
    from storage.migrate import upgrade

    upgrade(os.environ["DATABASE_URL"])
    tasks = meta_tasks(task_type)
    configs = candidates(task_type)
    scores: list[list[float | None]] = [[] for _ in configs]
    result = {
        "task_type": task_type,
        "seed": SEED,
        "tasks": [],
        "candidates": configs,
        "scores": scores,
        "seconds": 0.0,
    }
    started = time.perf_counter()
    for task in tasks:
        table = task_table(task)
        dataset_id = register_table(table, f"{task.key}.csv", task.key)
        task_started = time.perf_counter()
        for row, config in zip(scores, configs, strict=True):
            row.append(
                evaluate_config(
                    task, dataset_id, config["model_id"], model_params(config), seed=SEED
                )
            )
        result["tasks"].append(
            {
                "key": task.key,
                "symbol": task.symbol,
                "target": task.target,
                "metric": task.metric,
                "rows": len(table),
            }
        )
        result["seconds"] = round(time.perf_counter() - started, 1)
        out.write_text(json.dumps(result, indent=1))
        done = [r[-1] for r in scores if r[-1] is not None]
        print(
            f"{task.key}: {len(table)} rows, {len(done)}/{len(configs)} succeeded, best "
            f"{max(done):.4f}, {time.perf_counter() - task_started:.0f} s",
            flush=True,
        )


def select(score_files: list[Path], out: Path) -> None:
    from engine.autonomy.portfolio import portfolio_document

    document = portfolio_document([json.loads(p.read_text()) for p in score_files])
    out.write_text(json.dumps(document, indent=1) + "\n")
    for task_type, entries in document["portfolios"].items():
        print(task_type, [(e["model_id"], e["kind"], e["hits"]) for e in entries])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("evaluate")
    run.add_argument("--task-type", choices=("classification", "regression"), required=True)
    run.add_argument("--out", type=Path, required=True)
    choose = commands.add_parser("select")
    choose.add_argument("scores", type=Path, nargs="+")
    choose.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "evaluate":
        evaluate(args.task_type, args.out)
    else:
        select(args.scores, args.out)


if __name__ == "__main__":
    main()
