"""Trials the offline loop needs to reach a goal, against random search over the same
catalogue and budget (median over seeds), on three fixed tasks built from bundled data.

    .venv/bin/python bench/bench_autonomy.py [--seeds 9] [--budget 40] [--pilot 30]
    .venv/bin/python bench/bench_autonomy.py --pool 150 --seeds 9 --random-seeds 5 \
        [--task-file bench/heldout_tasks_3.json] [--max-rows 500] --no-warm

The tasks
---------
Each task is a table derived from bundled daily prices by
:mod:`engine.autonomy.meta_tasks` (features and targets are described there),
registered through the same upload function the Data page uses and trained through the
``train_model`` action with ``time_column="date"``, i.e. walk-forward (4 folds,
expanding window, final 20 % hold-out kept apart). Rows are every 5th trading day, so
5-day targets do not overlap. Features at date t use prices up to t only; targets use
prices after t only. A label reaching h rows ahead (h = ceil(target days / 5)) is purged
with ``horizon=h`` and embargoed with ``embargo=h`` rows. SPX also has high, low and
volume features.

(a) ``spx_vol5``: SPX (S&P 500 index, 1999-2018), regression of the log annualised
    realised volatility of the next 5 trading days; metric r2 (walk-forward mean);
    h = 1 row. Volatility clusters, so it is predictable; how well depends on the model.
(b) ``spx_volup20``: SPX, classification: is the realised volatility of the next 20
    trading days above that of the last 20? Metric balanced accuracy; h = 4 rows.
    Volatility mean-reverts, so a low current volatility relative to its long-run
    level predicts a rise.
(c) ``jpm_bigmove5``: JPMorgan Chase (1990-2022, close only), classification: is the
    absolute log return over the next 5 trading days larger than 1.5 x the trailing
    250-day daily volatility x sqrt(5)? (about 12 % of weeks). Metric ROC AUC (the event
    is rare, so balanced accuracy at a 0.5 cut-off says little); h = 1 row.

Thresholds (declared rule, fixed before the comparison)
-------------------------------------------------------
For each task, a pilot of ``--pilot`` random configurations (the random-search
distribution below, drawn with pilot seeds 1000+, never used for evaluation) is trained;
the threshold is the 90th percentile of the pilot's metric values (linear interpolation;
a failed configuration counts as the pilot's worst value). A method reaches the goal at
the first trial whose metric is at or above the threshold. For reference the table also
gives the median trials of random search implied by the pilot (the first success of
independent draws at the pilot's hit rate: 7 at a 10 % hit rate), which is less noisy
than the median of a few random-search runs.

Pool baseline (``--pool N``; the rule since 2026-12-05 12:55 UTC, replacing the above)
------------------------------------------------------------------------------------
The pilot threshold and a few random-search runs are too noisy to measure a 2x
speed-up. The 90th percentile of a 20- or 30-configuration pilot has a true hit rate
between 0.055 and 0.24 (20) or 0.058 and 0.20 (30) (10th-90th percentiles, continuous
values; ``random_baseline.pilot_rate_quantiles``), i.e. a true random-search median
between 3 and 13 trials while the pilot implies 7; and the median of 5 random-search
runs at a 10 % hit rate lies between 3 and 14 (10th-90th percentiles,
``random_baseline.median_of_runs_quantile``; the runs measured 2-11 on tasks with the
same implied 7). So, with ``--pool N`` (N = 150 in the reported runs):

- per task, N configurations are drawn and trained exactly as random search draws them
  (``random_proposal``, sampler seed POOL_SEED = 2000, model seeds 2000+i: none is a
  loop, random-search or pilot seed);
- the threshold is the 90th percentile of the pool (linear interpolation, a failure
  at the pool's worst value), "random search's top decile" (its hit rate spread at
  N = 150: 0.075-0.14, i.e. a median of 5-9);
- random search's median trials are computed from the pool, not run: i.i.d. draws at
  the pool's hit rate p (random search samples with replacement), the geometric median
  (smallest n with 1 - (1 - p)^n >= 1/2; 7 at p = 0.1); as checks, the exact median
  first hit drawing the pool without replacement and the median first hit over 10,000
  random permutations of the pool;
- real random-search runs (``--random-seeds``, a few) are kept as a cross-check column;
- the loop runs ``--seeds`` (>= 9) seeds, its median counted as before;
- ratio = loop median / the pool's geometric median; the target is <= 0.5.

Methods (same evaluation function, same catalogue, same budget)
---------------------------------------------------------------
- random search: a model uniformly from the proposer's eligible models (every fast and
  medium model of the task, no baselines), its parameters uniformly from its search
  space (Optuna RandomSampler);
- loop, cold start: the production ``BanditProposer`` (the shipped configuration
  portfolio first, then the family prior shipped with it (each family's mean rank on
  the meta-tasks), catalogue defaults first in each family, and alternately the family
  of the best trial still improving and UCB1-Tuned over families, TPE inside a family
  with one study per (goal, family)).
  The portfolio was chosen offline by ``tools/build_portfolio.py`` from meta-tasks on
  other bundled stocks (AAPL, XOM, KO, PFE); SPX and JPM, the symbols of these tasks,
  are not among them. Each seed runs on a **fresh database** (app tables and Optuna
  storage) holding only this task's table and goal, so nothing of this task's other
  runs or of the pilot reaches its prior;
- loop, warm start from the other tasks: the same, but the fresh database also holds
  the pilot trials of the *other* tasks of the same task type (b <-> c; (a) is the only
  regression task, so it has none), recorded as trials of their own goals, which the
  proposer reads through ``storage.repositories.trials`` to learn its family prior.
  Never this task's own trials.

Trial n of every run uses seed n for the model's randomness. A run that never reaches
the threshold within the budget counts as budget + 1 trials.

Held-out tasks (``--task-file bench/heldout_tasks.json``)
--------------------------------------------------------
Tasks the portfolio was not built from, drawn before the run and committed with the
seed that drew them (``--draw-heldout SEED`` writes the file; see
:func:`draw_heldout`): a 10-day large *down* move (a question no meta-task asks) on a
drawn stock, and further (stock, target) pairs drawn from every target of
:mod:`engine.autonomy.meta_tasks` on the bundled stocks that no meta-task and no fixed
task uses. With ``--compare-portfolio FILE`` the loop also runs with an older
``portfolio.json`` (e.g. the one shipped before), on the same tasks and thresholds;
with ``--compare-previous`` as well, that loop also searches as the proposer did
before (hand-set family prior, UCB alone after the portfolio): the previous loop.
A second held-out set, ``bench/heldout_tasks_2.json`` (``--draw-heldout 18
--exclude-heldout bench/heldout_tasks.json``: the first set's stocks left out), was
drawn and committed before any run on it. A third, ``bench/heldout_tasks_3.json``
(``--draw-heldout 19`` excluding the stocks of both), was drawn and committed alone
after the pool rule above was committed and before any run on it.
A fourth, ``bench/heldout_tasks_4.json`` (``--draw-heldout 20``, the same pool as the
third), was drawn and committed alone after the third ran, before any run on it.
A fifth, ``bench/heldout_tasks_5.json`` (``--draw-heldout 21 --fresh-pairs`` excluding
sets 1-4: :func:`draw_fresh_pairs`, (stock, target) pairs no run has used, 4
classification and 2 regression), was drawn and committed alone after the
classification portfolio was changed, before any run of the changed loop on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
workdir = Path(tempfile.mkdtemp(prefix="bench-autonomy-"))
os.environ["MLTRAINER_DATA_DIR"] = str(workdir)
os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'pilot.db'}"
os.environ["MLTRAINER_METRICS_PORT"] = "0"

import optuna  # noqa: E402
import pandas as pd  # noqa: E402

from engine.autonomy.meta_tasks import (  # noqa: E402
    MetaTask,
    evaluate,
    meta_task,
    register_table,
    task_table,
)

QUANTILE = 90
PILOT_SEED = 1000
POOL_SEED = 2000  # the pool's sampler and model seeds (2000+i): no loop, random or pilot seed
PERMUTATIONS = 10_000


@dataclass(frozen=True)
class Task:
    key: str
    name: str
    meta: MetaTask

    def __getattr__(self, name: str):  # symbol, target, task, metric, horizon
        return getattr(self.meta, name)


TASKS = (
    Task(
        "spx_vol5", "(a) SPX next-5-day realised volatility (r2)", meta_task("SPX", "log_vol_next5")
    ),
    Task(
        "spx_volup20",
        "(b) SPX next-20-day volatility above the last 20 days' (balanced accuracy)",
        meta_task("SPX", "vol_up_next20"),
    ),
    Task(
        "jpm_bigmove5",
        "(c) JPM large 5-day move, above 1.5 sigma (ROC AUC)",
        meta_task("JPM", "big_move_next5"),
    ),
)


HELDOUT_FIXED_TARGET = "down_move_next10"
HELDOUT_DRAWN = 3


def draw_heldout(seed: int, exclude: tuple[Path, ...] = ()) -> dict:
    """The held-out tasks: the fixed target on a drawn stock, then HELDOUT_DRAWN
    (stock, target) pairs of other stocks and targets, all by ``random.Random(seed)``
    over sorted pools, so the file can be re-derived from the seed. ``exclude``: earlier
    held-out files whose stocks are left out of the pools (a new set must be new)."""
    from engine.autonomy.meta_tasks import TARGETS
    from engine.data.bundled import STOCK_NAMES
    from tools.build_portfolio import META_SYMBOLS

    fixed_symbols = {t.symbol for t in TASKS}
    seen = {t["symbol"] for path in exclude for t in json.loads(path.read_text())["tasks"]}
    symbols = sorted(set(STOCK_NAMES) - set(META_SYMBOLS) - fixed_symbols - seen)
    rng = random.Random(seed)
    first = rng.choice(symbols)
    chosen = [(first, HELDOUT_FIXED_TARGET)]
    targets = sorted(set(TARGETS) - {HELDOUT_FIXED_TARGET})
    others = rng.sample([s for s in symbols if s != first], HELDOUT_DRAWN)
    chosen += [
        (symbol, t) for symbol, t in zip(others, rng.sample(targets, HELDOUT_DRAWN), strict=True)
    ]
    excluded = "".join(f" --exclude-heldout {path}" for path in exclude)
    return {
        "seed": seed,
        "drawn_by": f"bench/bench_autonomy.py --draw-heldout {seed}{excluded}",
        **({"excluded_symbols": sorted(seen)} if exclude else {}),
        "symbol_pool": symbols,
        "target_pool": targets,
        "tasks": [{"symbol": symbol, "target": target} for symbol, target in chosen],
    }


FRESH_PAIRS = {"classification": 4, "regression": 2}


def used_pairs(exclude: tuple[Path, ...], rounds: tuple[int, ...]) -> set[tuple[str, str]]:
    """The (stock, target) pairs a fixed task, a meta-task of ``rounds`` or a held-out
    file of ``exclude`` has used."""
    from tools.build_portfolio import meta_tasks

    used = {(t.symbol, t.target) for t in TASKS}
    used |= {
        (m.symbol, m.target) for kind in FRESH_PAIRS for r in rounds for m in meta_tasks(kind, r)
    }
    used |= {
        (t["symbol"], t["target"])
        for path in exclude
        for t in json.loads(path.read_text())["tasks"]
    }
    return used


def draw_fresh_pairs(seed: int, exclude: tuple[Path, ...]) -> dict:
    """Set 5's rule (fixed 2026-12-05 14:07 UTC, before drawing): (stock, target) pairs
    no meta-task, no fixed task and no earlier held-out file (``exclude``) has used, on
    the bundled stocks other than the meta-task stocks (a stock may recur with a target
    not yet run on it; LLY is the only stock no run has used); FRESH_PAIRS of each task
    type, drawn by ``random.Random(seed)`` from the sorted eligible pairs of that type."""
    from engine.autonomy.meta_tasks import TARGETS
    from engine.data.bundled import STOCK_NAMES
    from tools.build_portfolio import META_SYMBOLS

    used = used_pairs(exclude, rounds=(1,))  # the second round came after sets 5 and 6
    symbols = sorted(set(STOCK_NAMES) - set(META_SYMBOLS))
    rng = random.Random(seed)
    chosen = []
    for kind, count in FRESH_PAIRS.items():
        eligible = [
            (s, t)
            for s in symbols
            for t in sorted(TARGETS)
            if TARGETS[t][1] == kind and (s, t) not in used
        ]
        chosen += rng.sample(eligible, count)
    excluded = "".join(f" --exclude-heldout {path}" for path in exclude)
    return {
        "seed": seed,
        "drawn_by": f"bench/bench_autonomy.py --draw-heldout {seed} --fresh-pairs{excluded}",
        "used_pairs": sorted(f"{s} {t}" for s, t in used),
        "symbol_pool": symbols,
        "tasks": [{"symbol": symbol, "target": target} for symbol, target in chosen],
    }


def remaining_pairs(stocks: list[str], exclude: tuple[Path, ...], listed_by: str) -> dict:
    """Sets 7 and 8's rule (fixed 2026-12-05 16:10 UTC for set 7, before listing): every
    (stock, target) pair of every target on ``stocks`` that no meta-task of either
    round, fixed task or held-out file (``exclude``) has used, in sorted order; nothing
    is drawn, so nothing is chosen. Set 7: the stocks of set 6 (no meta-task uses them);
    set 8 (17:02 UTC): JPM and SPX, the fixed tasks' symbols, which no meta-task uses."""
    from engine.autonomy.meta_tasks import TARGETS

    used = used_pairs(exclude, rounds=(1, 2))
    pairs = [(s, t) for s in sorted(stocks) for t in sorted(TARGETS) if (s, t) not in used]
    excluded = "".join(f" --exclude-heldout {path}" for path in exclude)
    return {
        "drawn_by": f"bench/bench_autonomy.py {listed_by}{excluded}",
        "stocks": sorted(stocks),
        "tasks": [{"symbol": symbol, "target": target} for symbol, target in pairs],
    }


def heldout_tasks(path: Path) -> tuple[Task, ...]:
    from engine.autonomy.meta_tasks import TARGET_TYPES

    document = json.loads(path.read_text())
    return tuple(
        Task(
            f"{t['symbol'].lower()}_{t['target']}",
            f"(held out) {t['symbol']} {t['target']} ({TARGET_TYPES[t['target']]})",
            meta_task(t["symbol"], t["target"]),
        )
        for t in document["tasks"]
    )


def register(task: Task, table: pd.DataFrame) -> int:
    return register_table(table, f"{task.key}.csv", task.name)


# --- evaluation ------------------------------------------------------------------------


def use_database(url: str) -> None:
    from engine.config import reset_settings
    from storage.cache import reset_cache
    from storage.db import dispose_all
    from storage.migrate import upgrade

    os.environ["DATABASE_URL"] = url
    reset_settings()
    dispose_all()
    reset_cache()
    upgrade(url)


def goal_spec(task: Task, dataset_id: int, threshold: float):
    from engine.goals.spec import GoalSpec

    return GoalSpec(
        name=task.name,
        dataset_id=dataset_id,
        target_column=task.target,
        task=task.task,
        metric=task.metric,
        threshold=threshold,
        horizon=task.horizon,
    )


def random_proposal(spec, rng: random.Random) -> tuple[str, dict]:
    from engine.autonomy.proposer import eligible_models
    from engine.ml import catalog
    from engine.ml.search_spaces import suggest_space

    models = [m for ids in eligible_models(spec).values() for m in ids]
    model_id = rng.choice(models)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rng.randrange(10**9)))
    return model_id, suggest_space(study.ask(), catalog.get_model(model_id).search_space)


@dataclass
class Pilot:
    threshold: float
    values: list[float | None]
    outcomes: list[tuple[str, str, float | None]]  # (family, model id, value)


def run_pilot(task: Task, dataset_id: int, n: int, seed: int = PILOT_SEED) -> Pilot:
    """``n`` random-search configurations (the pilot, or with ``seed=POOL_SEED`` the
    pool) and the 90th percentile of their values."""
    from engine.autonomy.random_baseline import pool_threshold
    from engine.ml import catalog

    spec = goal_spec(task, dataset_id, 0.0)
    rng = random.Random(seed)
    values, outcomes = [], []
    for i in range(n):
        model_id, params = random_proposal(spec, rng)
        value = evaluate(task.meta, dataset_id, model_id, params, seed=seed + i)
        values.append(value)
        outcomes.append((catalog.get_model(model_id).family, model_id, value))
    return Pilot(pool_threshold(values, QUANTILE), values, outcomes)


def pool_baseline(pool: Pilot) -> dict:
    """Random search's median trials to the pool's threshold, computed from the pool:
    with replacement (i.i.d. draws at the pool's hit rate, the geometric median: the
    figure the ratio uses), without replacement (exact), and the median first hit over
    PERMUTATIONS random orders of the pool (a check)."""
    from engine.autonomy import random_baseline as rb

    flags = rb.hits(pool.values, pool.threshold)
    count = sum(flags)
    return {
        "size": len(flags),
        "hits": count,
        "hit_rate": count / len(flags),
        "geometric": rb.geometric_median(count / len(flags)),
        "without_replacement": rb.without_replacement_median(len(flags), count),
        "permutation": rb.permutation_median(flags, PERMUTATIONS, seed=0) if count else math.inf,
    }


def expected_random(pilot: Pilot) -> float:
    """Median trials of random search implied by the pilot: the first success of
    independent draws that each reach the threshold with the pilot's hit rate."""
    hits = sum(v is not None and v >= pilot.threshold for v in pilot.values)
    rate = hits / len(pilot.values)
    return math.ceil(math.log(0.5) / math.log(1 - rate)) if 0 < rate < 1 else 1.0


def run_random(
    task: Task, dataset_id: int, threshold: float, budget: int, seed: int
) -> tuple[int, list]:
    """Trials random search needs; and the (model, value) of each trial."""
    spec = goal_spec(task, dataset_id, threshold)
    rng = random.Random(seed)
    tried = []
    for n in range(1, budget + 1):
        model_id, params = random_proposal(spec, rng)
        value = evaluate(task.meta, dataset_id, model_id, params, seed=n)
        tried.append((model_id, value))
        if value is not None and value >= threshold:
            return n, tried
    return budget + 1, tried


def seed_history(others: list[tuple[Task, Pilot]]) -> None:
    """The other tasks' pilot trials as trials of their own goals in this database."""
    from engine.ml.recording import library_versions
    from storage.repositories import goals as goal_repo
    from storage.repositories import trials as trial_repo

    for other, pilot in others:
        goal = goal_repo.create_goal(None, other.name, {"task": other.task}, "bench history")
        for family, model_id, value in pilot.outcomes:
            trial_repo.create_trial(
                goal_id=goal.id,
                action="train_model",
                model_id=model_id,
                family=family,
                task=other.task,
                status="succeeded" if value is not None else "failed",
                metric_name=other.metric,
                metric_value=value,
                params={},
                reproducibility={"seed": 0, "versions": library_versions()},
            )


def run_loop(
    task: Task,
    table: pd.DataFrame,
    threshold: float,
    budget: int,
    seed: int,
    mode: str,
    others: list[tuple[Task, Pilot]],
    portfolio: bool = True,
    portfolios: dict | None = None,
    previous_policy: bool = False,
) -> tuple[int, list]:
    """Trials the loop needs on a fresh database; and the (model, value) of each trial."""
    from engine.autonomy.portfolio import portfolio_for
    from engine.autonomy.proposer import DEFAULT_PRIOR, BanditProposer, Prior, eligible_models
    from storage.repositories import goals as goal_repo

    run_dir = workdir / f"loop-{task.key}-{mode}-{seed}"
    run_dir.mkdir()
    use_database(f"sqlite:///{run_dir / 'app.db'}")
    dataset_id = register(task, table)
    if mode == "warm":
        seed_history(others)
    spec = goal_spec(task, dataset_id, threshold)
    goal = goal_repo.create_goal(None, task.name, spec.model_dump(mode="json"), None)
    storage = optuna.storages.RDBStorage(f"sqlite:///{run_dir / 'optuna.db'}")
    if not portfolio:
        entries: list | None = []
    elif portfolios is not None:
        entries = portfolio_for(spec.task, eligible_models(spec), portfolios)
    else:
        entries = None  # the shipped one
    if previous_policy:
        # The proposer as it was before the family policy of issue 17's last part: the
        # hand-set family prior and UCB alone after the portfolio.
        proposer = BanditProposer(
            goal.id,
            spec,
            [],
            seed=seed,
            storage=storage,
            portfolio=entries,
            prior=Prior(dict(DEFAULT_PRIOR)),
        )
        proposer.policy.exploit_every = 0
    else:
        proposer = BanditProposer(goal.id, spec, [], seed=seed, storage=storage, portfolio=entries)
    tried = []
    for n in range(1, budget + 1):
        proposal = proposer.propose()
        value = evaluate(
            task.meta, dataset_id, proposal.model_id, proposal.model_params, seed=n, goal_id=goal.id
        )
        proposer.observe(proposal, value)
        tried.append((proposal.model_id, value))
        if value is not None and value >= threshold:
            return n, tried
    return budget + 1, tried


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=9)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--pilot", type=int, default=30)
    parser.add_argument(
        "--pool",
        type=int,
        default=None,
        help="replace the pilot by a pool of this many random-search configurations: the "
        "threshold is its 90th percentile and random search's median is computed from it",
    )
    parser.add_argument(
        "--random-seeds",
        type=int,
        default=None,
        help="real random-search runs (default: --seeds); a cross-check with --pool",
    )
    parser.add_argument("--tasks", default=",".join(t.key for t in TASKS))
    parser.add_argument(
        "--no-portfolio",
        action="store_true",
        help="the loop without its configuration portfolio (an ablation)",
    )
    parser.add_argument("--out", default=None, help="write the raw results as JSON here")
    parser.add_argument("--task-file", type=Path, default=None, help="held-out tasks (JSON)")
    parser.add_argument("--draw-heldout", type=int, default=None, metavar="SEED")
    parser.add_argument(
        "--exclude-heldout",
        type=Path,
        action="append",
        default=[],
        help="with --draw-heldout: an earlier held-out file whose stocks are not drawn",
    )
    parser.add_argument("--compare-portfolio", type=Path, default=None)
    parser.add_argument(
        "--compare-previous",
        action="store_true",
        help="with --compare-portfolio: the compared loop also runs the previous family "
        "policy (hand-set prior, UCB only after the portfolio), i.e. the previous loop",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="pilot and random-search results: read from this JSON when it exists (same "
        "tasks, seeds, budget and pilot), else computed and written there",
    )
    parser.add_argument(
        "--baseline-only", action="store_true", help="stop after the pilot and random search"
    )
    parser.add_argument(
        "--max-rows", type=int, default=None, help="each task's latest rows only (a smaller run)"
    )
    parser.add_argument(
        "--no-warm", action="store_true", help="skip the loop warm-started from other tasks"
    )
    parser.add_argument(
        "--fresh-pairs",
        action="store_true",
        help="with --draw-heldout: set 5's rule, never-used (stock, target) pairs",
    )
    parser.add_argument(
        "--remaining-pairs-of",
        type=Path,
        default=None,
        help="list set 7's tasks: every unused pair on this held-out file's stocks",
    )
    parser.add_argument(
        "--remaining-pairs-on",
        default="",
        help="list set 8's tasks: every unused pair on these symbols (comma-separated)",
    )
    parser.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        default=None,
        metavar="RESULT",
        help="print the aggregate of --pool --out result files and stop",
    )
    args = parser.parse_args()
    if args.summarize:
        summarize(args.summarize)
        return
    if args.remaining_pairs_of is not None or args.remaining_pairs_on:
        if args.remaining_pairs_of is not None:
            held = json.loads(args.remaining_pairs_of.read_text())["tasks"]
            stocks = sorted({t["symbol"] for t in held})
            listed_by = f"--remaining-pairs-of {args.remaining_pairs_of}"
        else:
            stocks = args.remaining_pairs_on.split(",")
            listed_by = f"--remaining-pairs-on {args.remaining_pairs_on}"
        document = remaining_pairs(stocks, tuple(args.exclude_heldout), listed_by)
        print(json.dumps(document, indent=1))
        return
    if args.draw_heldout is not None and args.fresh_pairs:
        print(
            json.dumps(draw_fresh_pairs(args.draw_heldout, tuple(args.exclude_heldout)), indent=1)
        )
        return
    if args.draw_heldout is not None:
        print(json.dumps(draw_heldout(args.draw_heldout, tuple(args.exclude_heldout)), indent=1))
        return
    started_all = time.perf_counter()
    if args.task_file:
        chosen = list(heldout_tasks(args.task_file))
        if args.tasks != parser.get_default("tasks"):
            chosen = [t for t in chosen if t.key in args.tasks.split(",")]
    else:
        chosen = [t for t in TASKS if t.key in args.tasks.split(",")]
    compare = None
    if args.compare_portfolio:
        from engine.autonomy.portfolio import load_portfolios

        compare = load_portfolios(args.compare_portfolio)
    use_database(os.environ["DATABASE_URL"])
    tables = {t.key: task_table(t.meta, max_rows=args.max_rows) for t in chosen}
    pilots: dict[str, Pilot] = {}
    dataset_ids: dict[str, int] = {}
    random_seeds = args.seeds if args.random_seeds is None else args.random_seeds
    settings = {
        "seeds": args.seeds,
        "budget": args.budget,
        "pilot": args.pilot,
        "max_rows": args.max_rows,
    }
    if args.pool:  # (older baseline files, without these keys, still match pilot runs)
        settings |= {"pool": args.pool, "random_seeds": random_seeds}
    baseline: dict = {"settings": settings, "tasks": {}}
    if args.baseline and args.baseline.exists():
        baseline = json.loads(args.baseline.read_text())
        if baseline["settings"] != settings:
            raise SystemExit(f"{args.baseline} was run with {baseline['settings']}")
    stored = baseline["tasks"]
    for task in chosen:
        dataset_ids[task.key] = register(task, tables[task.key])
        started = time.perf_counter()
        if task.key in stored:
            pilots[task.key] = Pilot(
                stored[task.key]["threshold"],
                stored[task.key]["pilot"],
                [tuple(o) for o in stored[task.key]["pilot_outcomes"]],
            )
        elif args.pool:
            pilots[task.key] = run_pilot(task, dataset_ids[task.key], args.pool, POOL_SEED)
        else:
            pilots[task.key] = run_pilot(task, dataset_ids[task.key], args.pilot)
        pilot = pilots[task.key]
        failed = sum(v is None for v in pilot.values)
        print(
            f"{task.key}: {len(tables[task.key])} rows, "
            f"{'pool' if args.pool else 'pilot'} threshold "
            f"{pilot.threshold:.4f} (best {max(v for v in pilot.values if v is not None):.4f},"
            f" {failed} failed, {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    results = []
    for task in chosen:
        pilot = pilots[task.key]
        started = time.perf_counter()
        use_database(f"sqlite:///{workdir / 'pilot.db'}")
        if task.key in stored and "random" in stored[task.key]:
            random_runs = list(
                zip(stored[task.key]["random"], stored[task.key]["random_trials"], strict=True)
            )
        else:
            random_runs = [
                run_random(task, dataset_ids[task.key], pilot.threshold, args.budget, seed)
                for seed in range(random_seeds)
            ]
            if args.baseline:
                stored[task.key] = {
                    "threshold": pilot.threshold,
                    "pilot": pilot.values,
                    "pilot_outcomes": pilot.outcomes,
                    "random": [count for count, _ in random_runs],
                    "random_trials": [tried for _, tried in random_runs],
                }
                args.baseline.write_text(json.dumps(baseline, indent=1, default=str))
        rand = [count for count, _ in random_runs]
        print(f"{task.key}: random {rand}", flush=True)
        if args.baseline_only:
            continue
        others = [(t, pilots[t.key]) for t in chosen if t.key != task.key and t.task == task.task]
        row = {
            "task": task.key,
            "name": task.name,
            "rows": len(tables[task.key]),
            "threshold": pilot.threshold,
            "random": rand,
            "pilot": pilot.values,
            "expected_random": expected_random(pilot),
            **({"pool": pool_baseline(pilot)} if args.pool else {}),
            "pilot_outcomes": pilot.outcomes,
            "random_trials": [tried for _, tried in random_runs],
        }
        modes = ["cold", "warm"] if others and not args.no_warm else ["cold"]
        if compare is not None:
            modes.append("compared")
        for mode in modes:
            counts, paths = [], []
            for seed in range(args.seeds):
                count, tried = run_loop(
                    task,
                    tables[task.key],
                    pilot.threshold,
                    args.budget,
                    seed,
                    mode,
                    others,
                    portfolio=not args.no_portfolio,
                    portfolios=compare if mode == "compared" else None,
                    previous_policy=mode == "compared" and args.compare_previous,
                )
                counts.append(count)
                paths.append(tried)
            row[mode] = counts
            row[f"{mode}_trials"] = paths
            print(
                f"{task.key}: loop ({mode}) {counts} first models {[m for m, _ in paths[0][:4]]}",
                flush=True,
            )
        row["seconds"] = time.perf_counter() - started
        results.append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    print()
    if args.pool:
        print_pool_table(results, args)
        return
    print(
        f"budget {args.budget}, pilot {args.pilot}, seeds {args.seeds}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{(time.perf_counter() - started_all) / 60:.0f} min"
    )
    compared = " loop cold, compared portfolio: median [per seed] | ratio |" if compare else ""
    print(
        "| task | threshold | random: median [per seed] | random: median implied by the "
        "pilot | loop cold: median [per seed] | ratio | loop warm (other tasks): median "
        f"[per seed] | ratio |{compared} target |"
    )
    print("|---" * (9 + (2 if compare else 0)) + "|")
    for row in results:
        random_median = statistics.median(row["random"])
        cold = statistics.median(row["cold"])
        warm = (
            f"{statistics.median(row['warm'])} {row['warm']} | "
            f"{statistics.median(row['warm']) / random_median:.2f}"
            if "warm" in row
            else "n/a (no other task of its type, or --no-warm) | n/a"
        )
        other = ""
        if "compared" in row:
            median = statistics.median(row["compared"])
            other = f" {median} {row['compared']} | {median / random_median:.2f} |"
        print(
            f"| {row['name']} | {row['threshold']:.4f} | {random_median} {row['random']} | "
            f"{row['expected_random']} | {cold} {row['cold']} | {cold / random_median:.2f} | "
            f"{warm} |{other} ≤ 0.5 |"
        )


def summarize(paths: list[Path]) -> None:
    """The aggregate of several ``--pool --out`` result files (the halves of a held-out
    set run side by side): median of the per-task ratios overall and per task type,
    a bootstrap 95 % interval of the overall median (10,000 resamples of the tasks),
    and, with ``--compare-portfolio`` results, the paired comparison (sign test)."""
    from scipy.stats import binomtest

    from engine.autonomy.meta_tasks import TARGETS

    rows = [row for path in paths for row in json.loads(path.read_text())]

    def ratio(row: dict, mode: str) -> float:
        return statistics.median(row[mode]) / row["pool"]["geometric"]

    def kind(row: dict) -> str:
        target = next(t for t in TARGETS if row["task"].endswith(t))
        return TARGETS[target][1]

    modes = [m for m in ("cold", "compared") if all(m in row for row in rows)]
    for label, chosen in (
        ("all", rows),
        ("classification", [r for r in rows if kind(r) == "classification"]),
        ("regression", [r for r in rows if kind(r) == "regression"]),
    ):
        for mode in modes:
            values = [ratio(r, mode) for r in chosen]
            if values:
                print(
                    f"{label} ({len(values)} tasks), loop {mode}: median ratio "
                    f"{statistics.median(values):.2f}, {sum(v <= 0.5 for v in values)} at or "
                    f"below 0.5, {sum(v <= 1 for v in values)} at or below 1.0"
                )
    values = [ratio(r, "cold") for r in rows]
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(10_000))
    print(f"bootstrap 95 % interval of the median: {medians[250]:.2f}-{medians[9_750]:.2f}")
    if "compared" in modes:
        better = sum(ratio(r, "cold") < ratio(r, "compared") for r in rows)
        worse = sum(ratio(r, "cold") > ratio(r, "compared") for r in rows)
        p_value = binomtest(better, better + worse).pvalue if better + worse else 1.0
        print(
            f"paired with the compared portfolio: fewer trials on {better} tasks, more on "
            f"{worse}, equal on {len(rows) - better - worse} (sign test p = {p_value:.3f})"
        )


def print_pool_table(results: list[dict], args: argparse.Namespace) -> None:
    """The table of a --pool run: the ratio is the loop's median over random search's
    median computed from the pool (with replacement)."""
    print(
        f"budget {args.budget}, pool {args.pool}, loop seeds {args.seeds}, random-search runs "
        f"{args.seeds if args.random_seeds is None else args.random_seeds}, max rows "
        f"{args.max_rows}, load {os.getloadavg()[0]:.1f}"
    )
    modes = [m for m in ("cold", "warm", "compared") if any(m in row for row in results)]
    print(
        "| task | threshold | pool hits | random median: pool (i.i.d.) | without replacement "
        "(exact / permutations) | real runs: median [per seed] | "
        + " | ".join(f"loop {m}: median [per seed] | ratio" for m in modes)
        + " |"
    )
    print("|---" * (6 + 2 * len(modes)) + "|")
    ratios: dict[str, list[float]] = {m: [] for m in modes}
    for row in results:
        pool = row["pool"]
        cells = [
            row["name"],
            f"{row['threshold']:.4f}",
            f"{pool['hits']}/{pool['size']} ({pool['hit_rate']:.3f})",
            str(pool["geometric"]),
            f"{pool['without_replacement']} / {pool['permutation']:g}",
            f"{statistics.median(row['random'])} {row['random']}",
        ]
        for mode in modes:
            if mode not in row:
                cells += ["n/a", "n/a"]
                continue
            median = statistics.median(row[mode])
            ratio = median / pool["geometric"]
            ratios[mode].append(ratio)
            cells += [f"{median} {row[mode]}", f"{ratio:.2f}"]
        print("| " + " | ".join(cells) + " |")
    for mode, values in ratios.items():
        if values:
            print(
                f"loop {mode}: median ratio {statistics.median(values):.2f} over {len(values)} "
                f"tasks, {sum(v <= 0.5 for v in values)} at or below 0.5, "
                f"{sum(v <= 1 for v in values)} at or below 1.0"
            )


if __name__ == "__main__":
    main()
