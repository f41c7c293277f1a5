"""What a goal's trials say: trend, families, failures, significance, what to try next."""

from __future__ import annotations

import math
from collections import Counter
from statistics import median
from typing import Any

from engine.feedback.deflated_sharpe import deflated_sharpe_from_moments
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


def significance(trials: list[Trial]) -> dict[str, Any] | None:
    """Deflated Sharpe of the best strategy given every trial's Sharpe (price goals):
    each trial's pooled out-of-sample trading statistics (``metrics.strategy``)."""
    traded = []  # (the trial's strategy statistics, its daily Sharpe)
    for trial in trials:
        strategy = trial.strategy
        if strategy is not None and strategy.strategy_sharpe_daily is not None:
            traded.append((strategy, strategy.strategy_sharpe_daily))
    if not traded:
        return None
    best, best_sharpe = max(traded, key=lambda pair: pair[1])
    return deflated_sharpe_from_moments(
        best_sharpe,
        best.strategy_n_obs,
        best.strategy_skew if best.strategy_skew is not None else 0.0,
        best.strategy_kurtosis if best.strategy_kurtosis is not None else 3.0,
        [sharpe for _, sharpe in traded],
    )


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
) -> list[dict]:
    advice = []
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


def goal_insights(goal_id: int, spec: GoalSpec, rows) -> dict[str, Any]:
    """The report on a goal's trial rows (read as typed trial records)."""
    trials = parse_all(rows)
    values = [t.metric_value for t in trials if t.status == "succeeded"]
    trend = detect_trend(values, higher_is_better=spec.direction == ">=")
    families = family_table(spec, trials)
    best_trial, best_value, best_index, stagnant = None, None, None, 0
    for index, trial in enumerate(trials):
        if trial.status == "succeeded" and spec.better(trial.metric_value, best_value):
            best_trial, best_value, best_index = trial, trial.metric_value, index
    stagnant = len(trials) - 1 - best_index if best_index is not None else len(trials)
    report = significance(trials)
    importances = parameter_importances(goal_id, families[0]["family"]) if families else {}
    return {
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
        "parameter_importances": importances,
        "recommendations": recommendations(spec, families, trend, stagnant, report, best_trial),
    }
