"""Figures re-drawn from a bundle's stored results (the notebook shows them): each
trial's primary metric per split and its hold-out equity curve, and the series an
action returned. Nothing here re-computes a number; it only draws the recorded ones."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go


def _trial_figures(stored: dict[str, Any]) -> list[go.Figure]:
    trial = stored.get("trial") or {}
    splits = stored.get("splits") or []
    metric = trial.get("metric_name")
    out = []
    named = [s for s in splits if metric and s.get("metrics", {}).get(metric) is not None]
    if named:
        figure = go.Figure(
            go.Bar(x=[s["split"] for s in named], y=[s["metrics"][metric] for s in named])
        )
        figure.update_layout(
            title=f"Trial {trial.get('id')}: {metric} per split", yaxis_title=metric
        )
        out.append(figure)
    for split in splits:
        equity = split.get("equity")
        if equity:
            figure = go.Figure()
            figure.add_scatter(x=equity["dates"], y=equity["strategy"], name="strategy")
            figure.add_scatter(x=equity["dates"], y=equity["buy_and_hold"], name="buy and hold")
            figure.update_layout(
                title=f"Trial {trial.get('id')}: hold-out equity (growth of 1)",
                yaxis_title="equity",
            )
            out.append(figure)
    return out


def _series_figures(result: dict[str, Any]) -> list[go.Figure]:
    out = []
    for name, series in (result.get("series") or {}).items():
        figure = go.Figure()
        for column, values in (series.get("y") or {}).items():
            figure.add_scatter(x=series.get("x"), y=values, name=str(column), mode="lines")
        figure.update_layout(title=str(series.get("title") or name))
        out.append(figure)
    return out


def figures(stored: dict[str, Any]) -> list[go.Figure]:
    """The figures of one step's stored result (``results/step_<n>.json``)."""
    if "trial" in stored:
        return _trial_figures(stored)
    out = []
    for trial in stored.get("trials") or []:
        out += _trial_figures(trial)
    return out + _series_figures(stored.get("job") or stored)
