"""Build the configuration portfolio the autonomous loop tries first.

    .venv/bin/python tools/build_portfolio.py evaluate --task-type regression \
        --out engine/autonomy/portfolio_scores_regression.json
    .venv/bin/python tools/build_portfolio.py evaluate --task-type classification \
        --out engine/autonomy/portfolio_scores_classification.json
    .venv/bin/python tools/build_portfolio.py select \
        engine/autonomy/portfolio_scores_*.json --out engine/autonomy/portfolio.json

    .venv/bin/python tools/build_portfolio.py pools /tmp/heldout3/result_*.json \
        --out engine/autonomy/portfolio_pools.json
    .venv/bin/python tools/build_portfolio.py select engine/autonomy/portfolio_scores_*.json \
        --pools engine/autonomy/portfolio_pools.json --out engine/autonomy/portfolio.json

``pools`` reduces the per-task pools of already-measured benchmark tasks (development
tasks, never the held-out set being measured) to per-model hit counts; ``select
--pools`` then chooses the classification portfolio by greedy coverage over the
meta-tasks and these pools (:func:`engine.autonomy.portfolio.coverage_portfolio`).

``evaluate`` adds to an existing scores file the meta-tasks it does not hold yet (for
the candidates stored there), so new targets cost only their own tasks. Compute is
shared, so it is capped: tables of at most ``--max-rows`` rows (the latest), no new
task started after ``--max-minutes``, and a candidate that took longer than
``--slow-seconds`` on one task is not trained again (it scores as a failure on the
later tasks; the portfolio should not open with a slow model anyway).

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

# Meta-task symbols: a spread of sectors; the benchmark's symbols (SPX, JPM, and the
# held-out draw of bench/heldout_tasks.json, which excludes these) are not here.
REGRESSION_SYMBOLS = ("AAPL", "XOM", "KO", "PFE")
CLASSIFICATION_SYMBOLS = ("AAPL", "XOM", "KO")
META_SYMBOLS = tuple(sorted(set(REGRESSION_SYMBOLS) | set(CLASSIFICATION_SYMBOLS)))
# The targets the portfolio learns from, in the order they were added. The others of
# engine.autonomy.meta_tasks.TARGETS (a 10-day down move, 10-day large move and 10-day
# volatility) are never meta-tasks: they are kept for held-out benchmark tasks.
META_TARGETS = {
    "regression": ("log_vol_next5", "log_vol_next20", "vol_ratio_next20", "return_next20"),
    "classification": (
        "vol_up_next20",
        "big_move_next5",
        "big_move_next20",
        "up_next5",
        "drawdown_next20",
    ),
}
# Symbols of the targets added later (smaller, to keep the rebuild affordable).
LATER_SYMBOLS = ("AAPL", "XOM", "KO")
FIRST_TARGETS = {
    "log_vol_next5",
    "log_vol_next20",
    "vol_up_next20",
    "big_move_next5",
    "big_move_next20",
}
SEED = 0


def meta_tasks(task_type: str):
    from engine.autonomy.meta_tasks import meta_task

    symbols = REGRESSION_SYMBOLS if task_type == "regression" else CLASSIFICATION_SYMBOLS
    return [
        meta_task(symbol, target)
        for target in META_TARGETS[task_type]
        for symbol in (symbols if target in FIRST_TARGETS else LATER_SYMBOLS)
    ]


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


def evaluate(
    task_type: str, out: Path, max_rows: int, max_minutes: float, slow_seconds: float
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="portfolio-"))
    os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'app.db'}"
    os.environ["MLTRAINER_METRICS_PORT"] = "0"
    from engine.autonomy.meta_tasks import evaluate as evaluate_config
    from engine.autonomy.meta_tasks import register_table, task_table
    from storage.migrate import upgrade

    upgrade(os.environ["DATABASE_URL"])
    if out.exists():
        # The stored candidates, so the new tasks' scores line up with the old ones'.
        result = json.loads(out.read_text())
        if result["task_type"] != task_type:
            raise SystemExit(f"{out} holds {result['task_type']} scores")
        configs = result["candidates"]
    else:
        configs = candidates(task_type)
        result = {
            "task_type": task_type,
            "seed": SEED,
            "tasks": [],
            "candidates": configs,
            "scores": [[] for _ in configs],
            "seconds": 0.0,
        }
    scores: list[list[float | None]] = result["scores"]
    slow: set[int] = set(result.get("too_slow", []))
    done_keys = {t["key"] for t in result["tasks"]}
    started = time.perf_counter()
    spent_before = float(result["seconds"])
    for task in meta_tasks(task_type):
        if task.key in done_keys:
            continue
        if time.perf_counter() - started > max_minutes * 60:
            print(f"stopped after {max_minutes} min, before {task.key}", flush=True)
            break
        table = task_table(task, max_rows=max_rows)
        dataset_id = register_table(table, f"{task.key}.csv", task.key)
        task_started = time.perf_counter()
        for index, (row, config) in enumerate(zip(scores, configs, strict=True)):
            if index in slow:
                row.append(None)
                continue
            one = time.perf_counter()
            row.append(
                evaluate_config(
                    task, dataset_id, config["model_id"], model_params(config), seed=SEED
                )
            )
            if time.perf_counter() - one > slow_seconds:
                slow.add(index)
        result["tasks"].append(
            {
                "key": task.key,
                "symbol": task.symbol,
                "target": task.target,
                "metric": task.metric,
                "rows": len(table),
            }
        )
        result["too_slow"] = sorted(slow)
        result["seconds"] = round(spent_before + time.perf_counter() - started, 1)
        out.write_text(json.dumps(result, indent=1))
        done = [r[-1] for r in scores if r[-1] is not None]
        print(
            f"{task.key}: {len(table)} rows, {len(done)}/{len(configs)} succeeded, best "
            f"{max(done):.4f}, {time.perf_counter() - task_started:.0f} s",
            flush=True,
        )


# The fixed tasks of bench/bench_autonomy.py, by their keys there.
FIXED_TASKS = {
    "spx_vol5": ("SPX", "log_vol_next5"),
    "spx_volup20": ("SPX", "vol_up_next20"),
    "jpm_bigmove5": ("JPM", "big_move_next5"),
}


def pools(result_files: list[Path], out: Path) -> None:
    """The development pools: from ``bench/bench_autonomy.py --pool N --out FILE``
    results (tasks already measured, so no longer held out), each task's pool of random
    configurations reduced to, per model, its family, draws and draws at or above the
    pool's threshold (its top decile). A task in several files is kept once (the same
    pool: same table, sampler seed and model seeds)."""
    from engine.autonomy.meta_tasks import TARGETS

    tasks: dict[str, dict] = {}
    for path in result_files:
        for row in json.loads(path.read_text()):
            if row["task"] in tasks or "pool" not in row:
                continue
            symbol, target = FIXED_TASKS.get(row["task"]) or (
                row["task"].split("_", 1)[0].upper(),
                row["task"].split("_", 1)[1],
            )
            models: dict[str, list] = {}
            for family, model_id, value in row["pilot_outcomes"]:
                counts = models.setdefault(model_id, [family, 0, 0])
                counts[1] += 1
                counts[2] += int(value is not None and value >= row["threshold"])
            tasks[row["task"]] = {
                "key": row["task"],
                "symbol": symbol,
                "target": target,
                "task_type": TARGETS[target][1],
                "size": len(row["pilot_outcomes"]),
                "threshold": row["threshold"],
                "models": dict(sorted(models.items())),
            }
    document = {
        "built_by": "tools/build_portfolio.py pools " + " ".join(p.name for p in result_files),
        "tasks": list(tasks.values()),
    }
    out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(tasks)} development pools: {sorted(tasks)}")


def select(score_files: list[Path], out: Path, pool_file: Path | None = None) -> None:
    from engine.autonomy.portfolio import portfolio_document

    document = portfolio_document(
        [json.loads(p.read_text()) for p in score_files],
        json.loads(pool_file.read_text()) if pool_file else None,
    )
    out.write_text(json.dumps(document, indent=1) + "\n")
    for task_type, entries in document["portfolios"].items():
        print(task_type, [(e["model_id"], e["kind"], e["hits"]) for e in entries])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("evaluate")
    run.add_argument("--task-type", choices=("classification", "regression"), required=True)
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--max-rows", type=int, default=500)
    run.add_argument("--max-minutes", type=float, default=30.0)
    run.add_argument("--slow-seconds", type=float, default=20.0)
    choose = commands.add_parser("select")
    choose.add_argument("scores", type=Path, nargs="+")
    choose.add_argument("--out", type=Path, required=True)
    choose.add_argument("--pools", type=Path, default=None, help="development pools (pools)")
    reduce = commands.add_parser("pools")
    reduce.add_argument("results", type=Path, nargs="+")
    reduce.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "evaluate":
        evaluate(args.task_type, args.out, args.max_rows, args.max_minutes, args.slow_seconds)
    elif args.command == "pools":
        pools(args.results, args.out)
    else:
        select(args.scores, args.out, args.pools)


if __name__ == "__main__":
    main()
