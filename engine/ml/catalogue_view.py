"""The model catalogue as the Models page shows it: tables of models and one model's
defaults and search space."""

from __future__ import annotations

from typing import Any

from engine.lazy import pandas as pd


def catalogue_row(spec: Any) -> dict[str, Any]:
    """One catalogue model as a row: what the ``list_models`` action and the page show."""
    return {
        "id": spec.id,
        "name": spec.name,
        "family": spec.family,
        "task": spec.task,
        "library": spec.library,
        "cost": spec.cost,
        "tunable": len(spec.search_space),
        "needs_scaling": spec.needs_scaling,
        "predicts_proba": spec.predicts_proba,
        "handles_missing": spec.handles_missing,
        "supports_sample_weight": spec.supports_sample_weight,
        "aliases": ", ".join(spec.aliases),
    }


PAGE_COLUMNS = {
    "needs_scaling": "scaling",
    "predicts_proba": "probabilities",
    "handles_missing": "missing values",
    "supports_sample_weight": "sample weights",
}


def catalogue_frame(
    task: str | None = None, family: str | None = None, text: str | None = None
) -> pd.DataFrame:
    """One row per catalogue model matching the filters, with the page's column names."""
    from engine.ml import catalog

    specs = catalog.list_models(task=task, family=family, text=text or None)
    frame = pd.DataFrame([catalogue_row(spec) for spec in specs])
    return frame.drop(columns="aliases", errors="ignore").rename(columns=PAGE_COLUMNS)


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
