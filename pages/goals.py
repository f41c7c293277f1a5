"""Goals: set them through a form, watch the autonomous loop work toward them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine.goals import live as live_trials
from engine.goals import service as goals
from ui.forms import action_form, estimate_text
from ui.presenters.registry import label
from ui.reproduce import bundle_button, notebook_button
from ui.results import render_result
from ui.run import run_action
from ui.session import has_role, require_user
from ui.text import md_escape

user = require_user()
can_write = has_role(user, "analyst")
st.title("Goals")

DEFAULTS = {
    "name": "SPX 5-day direction",
    "symbols": ["SPX"],
    "task": "classification",
    "horizon": 5,
    "metric": "balanced_accuracy",
    "threshold": 0.55,
    "max_trials": 30,
}

if can_write:
    with st.expander("New goal", expanded=not goals.listing(user), icon=":material/add:"):
        entered = action_form(
            "create_goal", defaults=DEFAULTS, key="goal_form", submit_label="Create goal"
        )
        if entered is not None:
            # Submitting the form is the user's confirmation of this goal.
            outcome = run_action("create_goal", entered, confirmed=True)
            if outcome is not None:
                st.success(md_escape(outcome.result.summary))


def progress_figure(goal, trials) -> go.Figure:
    """Every trial's metric, the best so far, and the threshold line."""
    values = [t.metric_value for t in trials if t.metric_value is not None]
    higher = goal.spec.get("direction", ">=") == ">="
    best, running = [], None
    for value in values:
        running = value if running is None else (max if higher else min)(running, value)
        best.append(running)
    figure = go.Figure()
    figure.add_scatter(y=values, mode="markers", name="trial", marker=dict(size=6, opacity=0.6))
    figure.add_scatter(y=best, mode="lines", name="best so far", line=dict(width=3))
    figure.add_hline(
        y=goal.spec["threshold"],
        line_dash="dash",
        annotation_text=label(f"threshold {goal.spec['threshold']}"),
    )
    figure.update_layout(
        height=300,
        margin=dict(l=10, r=10, t=10, b=10),
        xaxis_title="trial",
        yaxis_title=label(goal.spec.get("metric") or "metric"),  # figure text: escaped
    )
    return figure


def trials_table(trials) -> pd.DataFrame:
    """The goal's trials; the runs that scored a best model's hold-out (once, after the
    search chose it on walk-forward scores) are marked and carry that hold-out."""
    proposals = {t.id: t.reproducibility.proposal for t in trials}
    return pd.DataFrame(
        [
            {
                "trial": t.id,
                "model": t.model_id,
                "family": t.family,
                "status": t.status,
                t.metric_name or "metric": t.metric_value,
                "hold-out": t.primary_holdout,
                "role": "search"
                if t.reproducibility.holdout_check_of is None
                else f"hold-out check of trial {t.reproducibility.holdout_check_of}",
                "seconds": t.duration_s,
                "proposed by": proposals[t.id].by if proposals[t.id] else None,
                "why": proposals[t.id].reason if proposals[t.id] else None,
                "created": t.created_at,
            }
            for t in trials
        ]
    )


def holdout_caption(goal, trials) -> str | None:
    """The reported best model's walk-forward score against its hold-out, once scored."""
    from pydantic import ValidationError

    from engine.feedback.insights import holdout_gap

    checks = [t for t in trials if t.reproducibility.holdout_check_of is not None]
    if not checks:
        return None
    try:
        spec = goals.spec_of(goal)
    except ValidationError:  # a stored spec the form would no longer accept
        return None
    gap = holdout_gap(spec, trials, checks)
    if gap is None:
        return None
    return (
        f"Best model (trial {gap['trial_id']}): walk-forward {gap['walk_forward']:.4f}, "
        f"hold-out {gap['holdout']:.4f} (gap {gap['gap']:+.4f})"
        + (" — likely overfit." if gap["likely_overfit"] else ".")
    )


def draw_goal(goal_id: int) -> None:
    goal = goals.get(user, goal_id)
    # Only the trials written since the last refresh are read (engine.goals.live).
    every = live_trials.goal_trials(user, goal.id)
    trials = [t for t in every if t.reproducibility.holdout_check_of is None]
    spec = goal.spec
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("status", goal.status)
    c2.metric(
        f"best {md_escape(spec['metric'])}",
        "—" if goal.best_value is None else f"{goal.best_value:.4f}",
    )
    c3.metric("threshold", md_escape(f"{spec['direction']} {spec['threshold']}"))
    c4.metric("trials", f"{goal.trials_run} / {spec['max_trials']}")
    if goal.stop_reason:
        st.caption(f"Stopped because: {md_escape(goal.stop_reason)}")
    checked = holdout_caption(goal, every)
    if checked:  # numbers and words of our own, no user text
        st.caption(checked)
    if trials:
        st.plotly_chart(progress_figure(goal, trials), key=f"goal-{goal.id}-chart", width="stretch")
        st.dataframe(
            trials_table(every), hide_index=True, width="stretch", key=f"goal-{goal.id}-trials"
        )
        if st.button("Insights and recommendations", key=f"goal-{goal.id}-insights-button"):
            st.session_state[f"insights-{goal.id}"] = run_action(
                "goal_insights", {"goal_id": goal.id}
            )
        shown = st.session_state.get(f"insights-{goal.id}")
        if shown is not None:
            render_result(shown.result, key=f"goal-{goal.id}-insights")
        bundle_col, notebook_col = st.columns(2)
        bundle_button(user, "goal", goal.id, key=f"goal-{goal.id}-bundle", where=bundle_col)
        notebook_button(user, "goal", goal.id, key=f"goal-{goal.id}-notebook", where=notebook_col)


for goal in goals.listing(user):
    with st.container(border=True):
        st.subheader(md_escape(goal.name))
        live = goal.status == "active" and goal.loop_job_id is not None
        if live:
            st.fragment(run_every=2.0)(draw_goal)(goal.id)
        else:
            draw_goal(goal.id)
        if can_write:
            commands = {
                "active": ["pause", "stop"],
                "paused": ["resume", "stop"],
                "budget_exhausted": ["resume", "stop"],
            }.get(goal.status, [])
            if goal.status == "active" and goal.loop_job_id is None:
                commands = ["start", *commands]
            columns = st.columns(max(len(commands), 1) + 1)
            for column, command in zip(columns, commands, strict=False):
                if column.button(command.capitalize(), key=f"goal-{goal.id}-{command}"):
                    if run_action(
                        "control_goal", {"goal_id": goal.id, "command": command}, confirmed=True
                    ):
                        st.rerun()
            if {"start", "resume"} & set(commands) and columns[-1].button(
                "Estimate", key=f"goal-{goal.id}-estimate", help="What the loop may cost"
            ):
                st.caption(md_escape(estimate_text("run_goal_loop", {"goal_id": goal.id})))
