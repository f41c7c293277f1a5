"""The model catalogue as the Models page shows it: tables of models and one model's
defaults and search space."""

from __future__ import annotations

from typing import Any

import pandas as pd


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
