"""What a goal's trials say: trend, families, failures, significance, what to try next."""

from __future__ import annotations

import math
from collections import Counter
from statistics import median
from typing import Any

from engine.feedback.overfitting import deflated_sharpe_of_trials, overfitting_report
from engine.feedback.trend import detect_trend
from engine.goals.spec import GoalSpec
from engine.trials.record import Trial, parse_all

MIN_TRIALS_TO_DROP = 3


def _oriented(spec: GoalSpec, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value if spec.direction == ">=" else -value


def family_table(spec: GoalSpec, trials) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for trial in trials:
        row = rows.setdefault(
            trial.family or "unknown",
            {
                "family": trial.family or "unknown",
                "trials": 0,
                "failed": 0,
                "values": [],
                "seconds": [],
            },
        )
        row["trials"] += 1
        if trial.status != "succeeded" or trial.metric_value is None:
            row["failed"] += 1
        else:
            row["values"].append(trial.metric_value)
        if trial.duration_s:
            row["seconds"].append(trial.duration_s)
    table = []
    for row in rows.values():
        values = row.pop("values")
        seconds = row.pop("seconds")
        finite = [(o, v) for v in values if (o := _oriented(spec, v)) is not None]
        best = max(finite, key=lambda pair: pair[0])[1] if finite else None
        table.append(
            {
                **row,
                "failure_rate": row["failed"] / row["trials"],
                "best": best,
                "mean": sum(values) / len(values) if values else None,
                "mean_seconds": sum(seconds) / len(seconds) if seconds else None,
            }
        )
    return sorted(table, key=lambda r: -(_oriented(spec, r["best"]) or -math.inf))


def common_errors(trials, limit: int = 5) -> list[dict[str, Any]]:
    errors = Counter(
        (t.error or "unknown error").splitlines()[0][:160]
        for t in trials
        if t.status != "succeeded"
    )
    return [{"error": text, "count": count} for text, count in errors.most_common(limit)]


def significance(trials: list[Trial], n_tried: int = 0) -> dict[str, Any] | None:
    """Deflated Sharpe of the best strategy given every trial's Sharpe (price goals):
    each trial's pooled out-of-sample trading statistics (``metrics.strategy``),
    deflated for ``n_tried`` trials on the same data when that is more."""
    return deflated_sharpe_of_trials(trials, n_tried)


# A hold-out this much worse than the walk-forward mean, in fold standard deviations,
# is outside the folds' own spread: the walk-forward score was selected, not earned.
GAP_STDS = 2.0


def holdout_gap(spec: GoalSpec, searched: list[Trial], checks: list[Trial]) -> dict | None:
    """The CV-vs-hold-out gap of the reported best model (its hold-out check), oriented
    so that positive = the hold-out did worse, and whether it is large."""
    by_id = {t.id: t for t in searched}
    rows = []
    for check in checks:
        original = by_id.get(check.reproducibility.holdout_check_of or -1)
        holdout = check.primary_holdout
        if original is None or original.metric_value is None or holdout is None:
            continue
        gap = original.metric_value - holdout
        gap = gap if spec.direction == ">=" else -gap
        std = original.primary_std
        large = gap > GAP_STDS * std if std else gap > 0.1 * abs(original.metric_value)
        rows.append(
            {
                "trial_id": original.id,
                "walk_forward": original.metric_value,
                "holdout": holdout,
                "gap": gap,
                "fold_std": std,
                "likely_overfit": bool(large),
            }
        )
    return rows[-1] if rows else None


def parameter_importances(goal_id: int, family: str) -> dict[str, float]:
    import optuna

    from storage.optuna_store import optuna_storage

    try:
        study = optuna.load_study(study_name=f"goal-{goal_id}-{family}", storage=optuna_storage())
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) < 3:
            return {}
        return dict(optuna.importance.get_param_importances(study))
    except (KeyError, ValueError, RuntimeError):
        return {}


def recommendations(
    spec: GoalSpec,
    families: list[dict[str, Any]],
    trend,
    stagnant: int,
    significance_report: dict[str, Any] | None,
    best_trial,
    gap: dict[str, Any] | None = None,
    overfitting: dict[str, Any] | None = None,
) -> list[dict]:
    advice = []
    if gap is not None and gap["likely_overfit"]:
        advice.append(
            {
                "what": f"likely overfit: distrust trial {gap['trial_id']}'s walk-forward score",
                "why": f"its hold-out {spec.metric} {gap['holdout']:.4f} is {gap['gap']:.4f} "
                f"worse than its walk-forward {gap['walk_forward']:.4f}"
                + (
                    f", more than {GAP_STDS:g} fold standard deviations ({gap['fold_std']:.4f})"
                    if gap["fold_std"]
                    else ""
                ),
            }
        )
    pbo = (overfitting or {}).get("pbo")
    if pbo is not None and pbo["pbo"] >= 0.5:
        advice.append(
            {
                "what": "likely overfit: the best trial was selected by luck",
                "why": f"probability of backtest overfitting {pbo['pbo']:.2f} over "
                f"{pbo['n_trials']} trials (CSCV)",
            }
        )
    scored = [f for f in families if _oriented(spec, f["best"]) is not None]
    if scored:
        top = scored[0]
        params = (best_trial.params or {}).get("model_params") if best_trial else None
        advice.append(
            {
                "what": f"continue with family '{top['family']}'"
                + (f" near {best_trial.model_id} {params}" if best_trial else ""),
                "why": f"best {spec.metric} so far ({top['best']:.4f}) over {top['trials']} trials",
            }
        )
        oriented = [o for f in scored if (o := _oriented(spec, f["best"])) is not None]
        cut = median(oriented)
        for family, value in zip(scored[1:], oriented[1:], strict=True):
            if family["trials"] >= MIN_TRIALS_TO_DROP and value < cut:
                advice.append(
                    {
                        "what": f"drop family '{family['family']}'",
                        "why": f"its best ({family['best']:.4f}) is below the median "
                        f"family after {family['trials']} trials",
                    }
                )
    for family in families:
        if family["trials"] >= MIN_TRIALS_TO_DROP and family["failure_rate"] >= 0.5:
            advice.append(
                {
                    "what": f"drop or fix family '{family['family']}'",
                    "why": f"{family['failure_rate']:.0%} of its trials failed",
                }
            )
    if trend.label in ("stable", "declining") and stagnant >= max(3, spec.stagnation_trials // 2):
        advice.append(
            {
                "what": "change the problem, not the model: another horizon, more "
                "history, or other features",
                "why": f"no improvement in {stagnant} trials and the trend is {trend.label}",
            }
        )
    if significance_report and significance_report.get("deflated_sharpe", 1) < 0.95:
        advice.append(
            {
                "what": "treat the best Sharpe ratio as unproven",
                "why": f"deflated Sharpe probability "
                f"{significance_report['deflated_sharpe']:.2f} < 0.95 after "
                f"{significance_report['n_trials']} trials",
            }
        )
    return advice


def goal_insights(
    goal_id: int,
    spec: GoalSpec,
    rows,
    *,
    owner_id: int | None = None,
    with_holdout: bool = True,
) -> dict[str, Any]:
    """The report on a goal's trial rows (read as typed trial records). The deflated
    Sharpe ratio and PBO count every trial ``owner_id`` tried on the goal's data.
    ``with_holdout=False`` leaves the hold-out out (what the loop's proposer reads: it
    chooses on walk-forward scores only)."""
    from engine.feedback.overfitting import tried_on_same_data

    every = parse_all(rows)
    checks = [t for t in every if t.reproducibility.holdout_check_of is not None]
    trials = [t for t in every if t.reproducibility.holdout_check_of is None]
    datasets = Counter(t.dataset_id for t in trials if t.dataset_id is not None)
    dataset_id = datasets.most_common(1)[0][0] if datasets else None
    n_tried = max(len(trials), tried_on_same_data(owner_id, dataset_id, spec.task))
    overfitting = overfitting_report(
        trials, n_tried=n_tried, greater_is_better=spec.direction == ">="
    )
    gap = holdout_gap(spec, trials, checks) if with_holdout else None
    values = [t.metric_value for t in trials if t.status == "succeeded"]
    trend = detect_trend(values, higher_is_better=spec.direction == ">=")
    families = family_table(spec, trials)
    best_trial, best_value, best_index, stagnant = None, None, None, 0
    for index, trial in enumerate(trials):
        if trial.status == "succeeded" and spec.better(trial.metric_value, best_value):
            best_trial, best_value, best_index = trial, trial.metric_value, index
    stagnant = len(trials) - 1 - best_index if best_index is not None else len(trials)
    report = overfitting["deflated_sharpe"]
    importances = parameter_importances(goal_id, families[0]["family"]) if families else {}
    report_out: dict[str, Any] = {
        "trials": len(trials),
        "best_value": best_value,
        "best_trial_id": best_trial.id if best_trial else None,
        "trend": {
            "label": trend.label,
            "p_value": trend.p_value,
            "slope": trend.slope,
            "slope_ci": [trend.slope_low, trend.slope_high],
        },
        "trials_since_improvement": stagnant,
        "families": families,
        "common_errors": common_errors(trials),
        "significance": report,
        "overfitting": overfitting,
        "parameter_importances": importances,
        "recommendations": recommendations(
            spec, families, trend, stagnant, report, best_trial, gap, overfitting
        ),
    }
    if with_holdout:
        report_out["holdout_gap"] = gap
    return report_out
