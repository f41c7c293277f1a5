"""Build the configuration portfolio the autonomous loop tries first.

    .venv/bin/python tools/build_portfolio.py evaluate --task-type regression \
        --out engine/autonomy/portfolio_scores_regression.json
    .venv/bin/python tools/build_portfolio.py evaluate --task-type classification \
        --out engine/autonomy/portfolio_scores_classification.json
    .venv/bin/python tools/build_portfolio.py select \
        engine/autonomy/portfolio_scores_*.json --out engine/autonomy/portfolio.json

The second round of meta-tasks (``--round 2``) was scored on two cores side by side,
each share on a copy of the round-1 file, then merged:

    E="tools/build_portfolio.py evaluate --round 2 --max-minutes 60"
    cp engine/autonomy/portfolio_scores_classification.json /tmp/cls_a.json  # and cls_b
    .venv/bin/python $E --task-type classification --out /tmp/cls_a.json --share 0/2 &
    .venv/bin/python $E --task-type classification --out /tmp/cls_b.json --share 1/2
    .venv/bin/python tools/build_portfolio.py merge \
        engine/autonomy/portfolio_scores_classification.json /tmp/cls_a.json /tmp/cls_b.json \
        --out engine/autonomy/portfolio_scores_classification.json  # the same for regression

``select`` chooses each task type's rule by leaving one stock and one type of target
out (:mod:`engine.autonomy.portfolio_choice`) and writes the portfolio.

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
# The targets of the first round, in the order they were added. The others of
# engine.autonomy.meta_tasks.TARGETS (a 10-day down move, 10-day large move and 10-day
# volatility) were kept for held-out benchmark tasks until the second round.
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


# The second round of meta-tasks (2026-12-05, issue 17): every target of the task type,
# the 10-day ones included, on bundled stocks that are neither first-round meta-task
# stocks, nor a fixed task's (JPM), nor a stock of held-out set 6 (AMD BBY GE HD PG,
# drawn before this round was defined), in a seeded order so that any prefix spreads
# over stocks and targets. They were scored on two cores, half each (``--share``).
SECOND_SYMBOLS = ("BAC", "CVX", "JNJ", "LLY", "MRK", "MSFT", "PEP", "RRC", "UNH", "WMT")
SECOND_SEED = "round 2"


def meta_tasks(task_type: str, round_: int = 1):
    from engine.autonomy.meta_tasks import TARGETS, meta_task

    if round_ == 2:
        pairs = [
            (symbol, target)
            for symbol in SECOND_SYMBOLS
            for target in sorted(TARGETS)
            if TARGETS[target][1] == task_type
        ]
        random.Random(f"{SECOND_SEED}:{task_type}").shuffle(pairs)
        return [meta_task(symbol, target) for symbol, target in pairs]
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
    task_type: str,
    out: Path,
    max_rows: int,
    max_minutes: float,
    slow_seconds: float,
    round_: int = 1,
    share: tuple[int, int] = (0, 1),
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
    part, parts = share
    for task in meta_tasks(task_type, round_)[part::parts]:
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


def merge(score_files: list[Path], out: Path) -> None:
    """One score file from several ``evaluate`` outputs of the same candidates: the
    first file is the start every share of a round was copied from (the shares run
    side by side), then every other file's tasks not already in, in file order."""
    documents = [json.loads(p.read_text()) for p in score_files]
    merged = documents[0]
    start_seconds = float(merged["seconds"])
    keys = {t["key"] for t in merged["tasks"]}
    for document in documents[1:]:
        if document["candidates"] != merged["candidates"]:
            raise SystemExit("the score files hold different candidates")
        for column, task in enumerate(document["tasks"]):
            if task["key"] in keys:
                continue
            keys.add(task["key"])
            merged["tasks"].append(task)
            for row, other in zip(merged["scores"], document["scores"], strict=True):
                row.append(other[column])
        merged["seconds"] = round(merged["seconds"] + document["seconds"] - start_seconds, 1)
        slow = set(merged.get("too_slow", [])) | set(document.get("too_slow", []))
        merged["too_slow"] = sorted(slow)
    out.write_text(json.dumps(merged, indent=1))
    print(f"{len(merged['tasks'])} tasks in {out}")


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
    run.add_argument("--max-rows", type=int, default=500)
    run.add_argument("--max-minutes", type=float, default=30.0)
    run.add_argument("--slow-seconds", type=float, default=20.0)
    run.add_argument("--round", type=int, choices=(1, 2), default=1, dest="round_")
    run.add_argument(
        "--share",
        default="0/1",
        help="I/N: the I-th of every N tasks of the round (N processes side by side)",
    )
    choose = commands.add_parser("select")
    choose.add_argument("scores", type=Path, nargs="+")
    choose.add_argument("--out", type=Path, required=True)
    join = commands.add_parser("merge")
    join.add_argument("scores", type=Path, nargs="+")
    join.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "evaluate":
        part, parts = (int(n) for n in args.share.split("/"))
        evaluate(
            args.task_type,
            args.out,
            args.max_rows,
            args.max_minutes,
            args.slow_seconds,
            args.round_,
            (part, parts),
        )
    elif args.command == "merge":
        merge(args.scores, args.out)
    else:
        select(args.scores, args.out)


if __name__ == "__main__":
    main()
