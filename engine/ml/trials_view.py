"""Read-only views for the Models page: the catalogue as tables, and one trial in detail
(fold metrics, importances, out-of-sample figures). Pages call these, never SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.ml import charts, persistence


def catalogue_frame(
    task: str | None = None, family: str | None = None, text: str | None = None
) -> pd.DataFrame:
    """One row per catalogue model matching the filters."""
    from engine.ml import catalog

    rows = []
    for spec in catalog.list_models(task=task, family=family, text=text or None):
        rows.append(
            {
                "id": spec.id,
                "name": spec.name,
                "family": spec.family,
                "task": spec.task,
                "library": spec.library,
                "cost": spec.cost,
                "tunable": len(spec.search_space),
                "scaling": spec.needs_scaling,
                "probabilities": spec.predicts_proba,
                "missing values": spec.handles_missing,
                "sample weights": spec.supports_sample_weight,
            }
        )
    return pd.DataFrame(rows)


def families() -> list[str]:
    from engine.ml.catalog import FAMILIES

    return list(FAMILIES)


def model_details(model_id: str) -> dict[str, Any]:
    """Description, flags, catalogue defaults and the search space of one model."""
    from engine.ml.catalog import get_model

    info = get_model(model_id).to_dict()
    space = info.pop("search_space")
    rows = []
    for name, dist in space.items():
        if dist["type"] == "categorical":
            rows.append(
                {"parameter": name, "type": "choice", "range": ", ".join(map(str, dist["choices"]))}
            )
        else:
            scale = " (log scale)" if dist.get("log") else ""
            rows.append(
                {
                    "parameter": name,
                    "type": dist["type"],
                    "range": f"{dist['low']} – {dist['high']}{scale}",
                }
            )
    info["search_space"] = pd.DataFrame(rows, columns=["parameter", "type", "range"])
    return info


def recent_trials(limit: int = 100, user_id: int | None = None) -> pd.DataFrame:
    """Recent trials, newest first, as a small table for choosing one."""
    from storage.repositories.trials import TrialFilter, search_trials

    records, _ = search_trials(TrialFilter(user_id=user_id), limit=limit)
    return pd.DataFrame(
        [
            {
                "trial_id": t.id,
                "created": t.created_at,
                "action": t.action,
                "model_id": t.model_id,
                "task": t.task,
                "status": t.status,
                "metric": t.metric_name,
                "value": t.metric_value,
            }
            for t in records
        ],
        columns=["trial_id", "created", "action", "model_id", "task", "status", "metric", "value"],
    )


@dataclass
class TrialDetail:
    trial: Any
    headline: dict[str, Any]
    folds: pd.DataFrame
    importances: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def trial_detail(trial_id: int) -> TrialDetail | None:
    from storage.repositories import trials

    trial = trials.get_trial(int(trial_id))
    if trial is None:
        return None
    results = trials.model_results(trial.id)
    fold_rows = []
    for result in results:
        metrics = dict(result.metrics or {})
        split_info = metrics.pop("split", {}) or {}
        row = {"split": result.split, "n_train": result.n_train, "n_test": result.n_test}
        for key in ("test_first_date", "test_last_date"):
            if key in split_info:
                row[key] = split_info[key]
        row.update(metrics)
        row["fit_seconds"] = result.fit_seconds
        fold_rows.append(row)
    folds = pd.DataFrame(fold_rows)
    stored = trial.importances or {}
    values = stored.get("values", {}) if isinstance(stored, dict) else {}
    kind = stored.get("kind", "native") if isinstance(stored, dict) else "native"
    importances = pd.DataFrame({"feature": list(values), "importance": list(values.values())})
    if not importances.empty:
        importances = importances.sort_values("importance", ascending=False, key=abs)
    headline: dict[str, Any] = {
        "trial": trial.id,
        "model": trial.model_id,
        "status": trial.status,
        "metric": trial.metric_name,
        "value": trial.metric_value,
    }
    if trial.holdout_metrics and trial.metric_name:
        headline["hold-out"] = trial.holdout_metrics.get(trial.metric_name)
    strategy = (trial.metrics or {}).get("strategy") or {}
    if strategy:
        headline["Sharpe (out of sample)"] = strategy.get("sharpe")
        if trial.holdout_metrics:
            headline["hold-out Sharpe"] = trial.holdout_metrics.get("sharpe")
    detail = TrialDetail(trial, headline, folds, importances)
    if trial.status != "succeeded":
        detail.notes.append(trial.error or f"The trial {trial.status}.")
        return detail
    data_spec = (trial.reproducibility or {}).get("data") or {}
    tables = persistence.load_side_tables(trial.artifact_path)
    predictions = tables["predictions"]
    if predictions is not None and not predictions.empty:
        if trial.task == "classification":
            oos = predictions[predictions["split"] != "holdout"]
            label = "direction" if data_spec.get("kind") == "prices" else "classes"
            detail.figures["confusion_matrix"] = charts.confusion_figure(
                oos["actual"].to_numpy(),
                oos["predicted"].to_numpy(),
                data_spec.get("classes"),
                f"Confusion matrix, out-of-sample folds ({label})",
            )
        else:
            detail.figures["residuals"] = charts.residual_figure(
                predictions, "Residuals out of sample"
            )
    else:
        detail.notes.append("The out-of-sample predictions of this trial were not saved.")
    if values:
        detail.figures["feature_importances"] = charts.importance_figure(
            values, kind, f"Feature importances ({kind})"
        )
    equity = tables["equity"]
    if equity is not None and not equity.empty:
        cost = (trial.reproducibility or {}).get("cost_bps")
        detail.figures["holdout_equity"] = charts.equity_figure(
            equity,
            f"Hold-out equity, long/flat vs buy and hold ({cost:g} bps)"
            if cost is not None
            else "Hold-out equity, long/flat vs buy and hold",
        )
    return detail
