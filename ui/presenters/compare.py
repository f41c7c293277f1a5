"""Figures of a trial comparison (:mod:`engine.trials.compare`), drawn only when the
Trials page shows them: overlaid curves, parallel coordinates, parameter importance; and
the chat's ``compare_trials`` answer (deltas against the baseline, importance).

Every text that came from a user or a model goes through the presenters' shared
:func:`~ui.presenters.registry.label`: Plotly renders a few tags (``<b>``, ``<a href>``)
in labels.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from engine.actions.base import ActionResult
from engine.trials.compare import Axis, Curve, Importance
from ui.presenters.registry import axis, figure, label, presents, table

IMPORTANCE_BARS = 25


def curves_figure(curves: list[Curve], kind: str) -> go.Figure | None:
    """The ``kind`` curves (progress or equity) on one chart; the baseline's thicker."""
    chosen = [c for c in curves if c.kind == kind]
    if not chosen:
        return None
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": c.x,
            "y": c.y,
            "name": label(f"trial {c.trial_id}" + (" (baseline)" if c.baseline else "")),
            "line": {"width": 3 if c.baseline else 1.2},
        }
        for c in chosen
    ]
    names = sorted({c.name for c in chosen})
    if kind == "progress":
        title = "Learning curves: " + label(", ".join(names))
        return figure(
            traces, title, height=360, xaxis=axis("seconds"), yaxis=axis(label(", ".join(names)))
        )
    return figure(
        traces,
        "Hold-out equity (growth of 1)",
        height=360,
        xaxis=axis("date"),
        yaxis=axis("growth of 1"),
    )


def parallel_figure(axes: list[Axis], metric: Axis) -> go.Figure:
    """Parallel coordinates: the parameters (categories as ranks) then the metric; the
    lines coloured by the metric."""
    dimensions: list[dict[str, Any]] = []
    for one in [*axes, metric]:
        values = [math.nan if v is None else v for v in one.values]
        dimension: dict[str, Any] = {"label": label(one.name), "values": values}
        if one.categories is not None:
            dimension["tickvals"] = list(range(len(one.categories)))
            dimension["ticktext"] = [label(c) for c in one.categories]
        dimensions.append(dimension)
    known = [v for v in metric.values if v is not None]
    line: dict[str, Any] = {"color": [math.nan if v is None else v for v in metric.values]}
    if known:
        line.update(colorscale="Viridis", showscale=True, cmin=min(known), cmax=max(known))
    return figure(
        [{"type": "parcoords", "dimensions": dimensions, "line": line}],
        "Parameters against " + label(metric.name),
        height=420,
    )


def importance_figure(result: Importance, top: int = IMPORTANCE_BARS) -> go.Figure | None:
    """fANOVA and random-forest impurity shares side by side, most important on top."""
    table = result.table.head(top).iloc[::-1]
    if table.empty:
        return None
    names = [label(p) for p in table["parameter"]]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "x": table["fanova"].tolist(),
            "y": names,
            "name": "fANOVA",
        },
        {
            "type": "bar",
            "orientation": "h",
            "x": table["rf_impurity"].tolist(),
            "y": names,
            "name": "random forest (impurity)",
        },
    ]
    return figure(
        traces,
        f"Parameter importance for {label(result.metric)} ({result.n_trials} trials)",
        height=max(260, 28 * len(table) + 120),
        barmode="group",
        xaxis=axis("share of the metric's variance explained"),
        legend={"orientation": "h"},
    )


@presents("compare_trials")
def draw_compare_result(result: ActionResult) -> dict[str, go.Figure]:
    """The chat's compare_trials answer: the metric of each trial against the baseline, and
    the parameter importance when it was computed."""
    figures: dict[str, go.Figure] = {}
    overview = table(result, "overview")
    if overview is not None and len(overview) and "Δ vs baseline" in overview:
        known = overview[overview["Δ vs baseline"].notna()]
        if len(known):
            figures["deltas"] = figure(
                [
                    {
                        "type": "bar",
                        "x": [f"trial {int(t)}" for t in known["trial"]],
                        "y": known["Δ vs baseline"].tolist(),
                        "name": "Δ vs baseline",
                    }
                ],
                f"{label(result.values.get('metric') or 'metric')} against baseline trial "
                f"{result.values.get('baseline')}",
                yaxis=axis("Δ vs baseline"),
            )
    ranked = table(result, "importance")
    if ranked is not None and len(ranked):
        drawn = importance_figure(
            Importance(
                result.values.get("metric"),
                int(len(overview)) if overview is not None else 0,
                ranked,
            )
        )
        if drawn is not None:
            figures["importance"] = drawn
    return figures
