"""How much of a search's best result is selection luck: the probability of backtest
overfitting (PBO) and the deflated Sharpe ratio over the trials actually tried.

PBO by combinatorially symmetric cross-validation (CSCV; Bailey, Borwein, López de
Prado & Zhu, "The probability of backtest overfitting", J. Computational Finance
2017; working paper 2015). Take a T x N matrix of the N trials' out-of-sample
performance in T time-ordered blocks; split the blocks into S equal groups (S even);
for each of the C(S, S/2) ways of choosing half the groups as "in sample" (IS) and
the rest as "out of sample" (OOS):

1. pick the trial n* with the best IS performance;
2. find the relative rank w of n*'s OOS performance among the N trials
   (w = rank / (N + 1), rank 1 = worst);
3. its logit lambda = ln(w / (1 - w)).

PBO = the share of combinations with lambda <= 0: how often the IS winner is at or
below the OOS median. About 0.5 when every trial is noise (the winner is a random
draw); near 0 when one trial really is better.

The number of trials behind a deflated Sharpe ratio is the number *tried on the same
data* (a goal's trials and the user's other trials on that dataset), not only those
that are shown: each one is a chance to find a lucky Sharpe.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

# CSCV groups: 10 gives C(10, 5) = 252 combinations (the paper's examples use 16).
DEFAULT_GROUPS = 10


def cscv_pbo(
    performance: np.ndarray,
    *,
    n_groups: int = DEFAULT_GROUPS,
    greater_is_better: bool = True,
    statistic: str = "mean",
) -> dict[str, Any]:
    """PBO of choosing the best column of ``performance`` (T x N: rows in time order,
    one column per trial). ``statistic``: how a trial's rows are scored — "mean" (e.g.
    per-block metric values) or "sharpe" (mean / std, e.g. daily returns). Rows are cut
    into ``n_groups`` contiguous groups (made even, at most T). Returns the PBO, the
    number of combinations, the logits and the median OOS rank of the IS winner."""
    matrix = np.asarray(performance, dtype=float)
    if matrix.ndim != 2:
        raise ValueError("performance must be a T x N matrix")
    rows, n = matrix.shape
    if n < 2:
        raise ValueError("PBO needs at least two trials")
    groups = min(int(n_groups), rows)
    groups -= groups % 2
    if groups < 2:
        raise ValueError(f"{rows} rows are too few to split into in- and out-of-sample halves")
    if not greater_is_better:
        matrix = -matrix
    parts = np.array_split(np.arange(rows), groups)
    sums = np.stack([matrix[p].sum(axis=0) for p in parts])  # groups x N
    squares = np.stack([(matrix[p] ** 2).sum(axis=0) for p in parts])
    counts = np.array([len(p) for p in parts], dtype=float)
    chosen = np.array(
        [
            [1.0 if g in combo else 0.0 for g in range(groups)]
            for combo in itertools.combinations(range(groups), groups // 2)
        ]
    )  # C x groups: 1 = in sample

    def scores(mask: np.ndarray) -> np.ndarray:
        total = mask @ counts  # C
        mean = (mask @ sums) / total[:, None]
        if statistic == "mean":
            return mean
        variance = (mask @ squares) / total[:, None] - mean**2
        variance *= total[:, None] / np.maximum(total[:, None] - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(variance > 0, mean / np.sqrt(variance), 0.0)

    inside, outside = scores(chosen), scores(1.0 - chosen)
    winner = np.argmax(inside, axis=1)
    oos_winner = outside[np.arange(len(winner)), winner][:, None]
    # the average rank on ties, 1 = worst
    rank = (outside < oos_winner).sum(axis=1) + ((outside == oos_winner).sum(axis=1) + 1) / 2
    relative = rank / (n + 1)
    logits = np.log(relative / (1 - relative))
    return {
        "pbo": float(np.mean(logits <= 0)),
        "n_combinations": int(len(logits)),
        "n_groups": groups,
        "n_trials": n,
        "median_oos_rank": float(np.median(relative)),
        "logits": logits.tolist(),
    }


def pbo_of_trials(trials: list[Any], greater_is_better: bool) -> dict[str, Any] | None:
    """PBO over trials that recorded per-block out-of-sample values of one metric on one
    split plan (the largest such group); None with fewer than two."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for trial in trials:
        metrics = getattr(trial, "metrics", None)
        blocks = getattr(metrics, "oos_blocks", None) if metrics is not None else None
        if trial.status != "succeeded" or not blocks:
            continue
        key = (trial.reproducibility.split_fingerprint, trial.metric_name, len(blocks))
        groups.setdefault(key, []).append(trial)
    if not groups:
        return None
    (_, metric, _), members = max(groups.items(), key=lambda item: len(item[1]))
    if len(members) < 2:
        return None
    matrix = np.array(
        [[math.nan if v is None else v for v in t.metrics.oos_blocks] for t in members]
    ).T
    keep = np.all(np.isfinite(matrix), axis=0)
    if keep.sum() < 2:
        return None
    report = cscv_pbo(matrix[:, keep], greater_is_better=greater_is_better)
    report.pop("logits")
    report["metric"] = metric
    report["trial_ids"] = [t.id for t, k in zip(members, keep, strict=True) if k]
    return report


def deflated_sharpe_of_trials(trials: list[Any], n_tried: int) -> dict[str, Any] | None:
    """Deflated Sharpe ratio of the best pooled out-of-sample strategy among ``trials``
    (price targets), deflated for ``n_tried`` trials on the same data (at least as many
    as carry a Sharpe ratio here)."""
    from engine.feedback.deflated_sharpe import deflated_sharpe_from_moments

    traded = [
        (t.strategy, t.strategy.strategy_sharpe_daily)
        for t in trials
        if t.strategy is not None and t.strategy.strategy_sharpe_daily is not None
    ]
    if not traded:
        return None
    best, sharpe = max(traded, key=lambda pair: pair[1])
    return deflated_sharpe_from_moments(
        sharpe,
        best.strategy_n_obs,
        best.strategy_skew if best.strategy_skew is not None else 0.0,
        best.strategy_kurtosis if best.strategy_kurtosis is not None else 3.0,
        [s for _, s in traded],
        n_trials=n_tried,
    )


def overfitting_report(
    trials: list[Any], *, n_tried: int, greater_is_better: bool
) -> dict[str, Any]:
    """PBO and deflated Sharpe of a search's trials, with how many were tried on the
    same data; what results return to Claude and the pages show."""
    report: dict[str, Any] = {
        "n_trials_tried": int(max(n_tried, len(trials))),
        "pbo": pbo_of_trials(trials, greater_is_better),
        "deflated_sharpe": deflated_sharpe_of_trials(trials, n_tried),
    }
    report["verdict"] = verdict(report)
    return report


def verdict(report: dict[str, Any]) -> str:
    """One sentence on the numbers (the insight pages and summaries show)."""
    parts = [f"{report['n_trials_tried']} trial(s) tried on this data"]
    pbo = report.get("pbo")
    if pbo is not None:
        parts.append(
            f"probability of backtest overfitting {pbo['pbo']:.2f} (CSCV over "
            f"{pbo['n_trials']} trials, {pbo['n_combinations']} splits)"
        )
    dsr = report.get("deflated_sharpe")
    if dsr is not None and dsr.get("deflated_sharpe") is not None:
        value = dsr["deflated_sharpe"]
        if isinstance(value, float) and math.isfinite(value):
            parts.append(f"deflated Sharpe probability {value:.2f}")
    text = "; ".join(parts) + "."
    if pbo is not None and pbo["pbo"] >= 0.5:
        text += " The best trial is likely overfit: its rank out of sample is a coin toss."
    elif dsr is not None and isinstance(dsr.get("deflated_sharpe"), float):
        if math.isfinite(dsr["deflated_sharpe"]) and dsr["deflated_sharpe"] < 0.95:
            text += " The best Sharpe ratio is not significant after this many trials."
    return text


def tried_on_same_data(owner_id: int | None, dataset_id: int | None, task: str | None) -> int:
    """How many trials the owner ran on this dataset and task (every goal and action)."""
    if dataset_id is None:
        return 0
    from engine.auth.permissions import history_of
    from storage.repositories.trials import trials_on_dataset

    return trials_on_dataset(int(dataset_id), history_of(owner_id), task=task)


def overfitting_table(report: dict[str, Any], gap: dict[str, Any] | None = None):
    """The report as rows (statistic, value, what it means) for the result's table."""
    import pandas as pd

    rows: list[dict[str, Any]] = [
        {
            "statistic": "trials tried on this data",
            "value": report["n_trials_tried"],
            "meaning": "every configuration tried on the same dataset (goals and actions)",
        }
    ]
    pbo = report.get("pbo")
    if pbo is not None:
        rows.append(
            {
                "statistic": "probability of backtest overfitting (CSCV)",
                "value": pbo["pbo"],
                "meaning": f"share of {pbo['n_combinations']} in/out-of-sample splits where "
                f"the in-sample best of {pbo['n_trials']} trials ranks at or below the "
                "out-of-sample median (0.5 = luck)",
            }
        )
    dsr = report.get("deflated_sharpe")
    if dsr is not None:
        rows.append(
            {
                "statistic": "deflated Sharpe ratio (probability)",
                "value": dsr.get("deflated_sharpe"),
                "meaning": f"P(true Sharpe > 0) for the best strategy after {dsr['n_trials']} "
                "trials, non-normal returns accounted for",
            }
        )
    if gap is not None:
        rows.append(
            {
                "statistic": "walk-forward minus hold-out",
                "value": gap["gap"],
                "meaning": f"trial {gap['trial_id']}: positive = the hold-out did worse"
                + ("; likely overfit" if gap["likely_overfit"] else ""),
            }
        )
    return pd.DataFrame(rows)


def report_for_trial(trial: Any) -> dict[str, Any] | None:
    """The overfitting statistics of the search a trial belongs to: every trial its
    owner ran on the same dataset and task (the Trials page shows them with the trial)."""
    from engine.auth.permissions import history_of
    from engine.ml.evaluation import greater_is_better
    from engine.trials.record import parse
    from storage.repositories.trials import succeeded_on_dataset

    if trial.dataset_id is None or not trial.metric_name:
        return None
    rows = succeeded_on_dataset(trial.dataset_id, history_of(trial.user_id), task=trial.task)
    same = [
        t
        for t in (parse(row) for row in rows)
        if t.reproducibility.holdout_check_of is None and t.metric_name == trial.metric_name
    ]
    n_tried = tried_on_same_data(trial.user_id, trial.dataset_id, trial.task)
    return overfitting_report(
        same, n_tried=n_tried, greater_is_better=greater_is_better(trial.metric_name)
    )


def report_for_trials(trials: list[Any]) -> dict[str, Any] | None:
    """The statistics of a set of compared trials (same metric), counting every trial
    tried on their data when they share one dataset."""
    from engine.ml.evaluation import greater_is_better

    metrics = {t.metric_name for t in trials if t.metric_name}
    if len(metrics) != 1 or len(trials) < 2:
        return None
    datasets = {(t.dataset_id, t.user_id, t.task) for t in trials}
    n_tried = len(trials)
    if len(datasets) == 1:
        dataset_id, owner, task = next(iter(datasets))
        n_tried = max(n_tried, tried_on_same_data(owner, dataset_id, task))
    return overfitting_report(
        trials, n_tried=n_tried, greater_is_better=greater_is_better(metrics.pop())
    )
