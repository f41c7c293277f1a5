"""A job as the analyst sees it: status, live progress and metrics, then the result."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.actions.base import ActionResult
from engine.actions.context import UserRef
from engine.auth import permissions
from ui.results import render_result
from ui.session import current_user
from ui.text import md_escape

LIVE_REFRESH_SECONDS = 1.0
CHART_POINTS = 500


def progress_figure(points: list[dict]) -> go.Figure | None:
    """One line per metric the job reported, against elapsed seconds (numpy arrays: they
    travel to the browser as compact typed arrays)."""
    from engine.trials.figures import progress_figure as draw_progress

    return draw_progress(points, title=None, height=260)


SIGNED_OUT_CANCEL = "Your session has ended: sign in again to cancel this job."


def can_cancel(job) -> bool:
    """Whether to offer the Cancel button (executor.cancel checks again on the server)."""
    return permissions.can_change(current_user(), "job", job.user_id)


def cancel_as(user: UserRef | None, job_id: int) -> str | None:
    """Cancel for the signed-in ``user``; the error to show, or None when it was accepted.
    Without a user (the session ended while the page was open) nothing is cancelled."""
    if user is None:
        return SIGNED_OUT_CANCEL
    try:
        executor.cancel(job_id, by_user=user)
    except ActionError as error:
        return str(error)
    return None


def _cancel(job_id: int, key: str) -> None:
    problem = cancel_as(current_user(), job_id)
    if problem:
        st.session_state[f"{key}-cancel-error"] = problem


def _live_block(job_id: int, key: str) -> None:
    job = executor.status(job_id)
    if job is None or job.terminal:
        st.rerun()  # redraw the whole page once, now with the final result
    text = md_escape(f"{job.action}: {job.status}")
    if job.status == "queued":
        text += " (waiting for a worker or for the jobs it depends on)"
    elif job.cancel_requested:
        text += " (cancel requested; it stops at its next check)"
    st.progress(min(max(job.progress, 0.0), 1.0), text=text)
    figure = progress_figure(executor.events(job_id, CHART_POINTS))
    if figure is not None:
        st.plotly_chart(figure, key=f"{key}-live", width="stretch")
    if can_cancel(job) and not job.cancel_requested:
        st.button(
            "Cancel",
            key=f"{key}-cancel",
            icon=":material/cancel:",
            on_click=_cancel,
            args=(job_id, key),
        )
    problem = st.session_state.pop(f"{key}-cancel-error", None)
    if problem:
        st.error(md_escape(problem))


@st.cache_resource(max_entries=256, show_spinner=False)
def finished_result(job_id: int, finished_at) -> ActionResult | None:
    """A finished job's result never changes: parse its JSON (data; its charts are drawn
    when shown) once."""
    job = executor.status(job_id)
    return ActionResult.from_json(job.result) if job is not None and job.result else None


def render_job(job_id: int, *, key: str, show_result: bool = True) -> None:
    """A job where it was started: live progress (a fragment that refreshes itself while
    the job runs, reading at most CHART_POINTS downsampled points), then its result or
    error. ``show_result=False`` keeps a finished job to its status line."""
    job = executor.status(job_id)
    if job is None:
        st.error(f"Job {job_id} no longer exists.")
        return
    if not job.terminal:
        st.fragment(run_every=LIVE_REFRESH_SECONDS)(_live_block)(job_id, key)
        return
    kept = job.status in ("succeeded", "budget_exhausted")  # a budget stop keeps its results
    if job.status == "budget_exhausted":
        st.warning(md_escape(job.error or "Stopped: the daily budget is spent."))
    if kept and job.result and show_result:
        render_result(finished_result(job.id, job.finished_at), key=key, action=job.action)
        points = executor.events(job_id, CHART_POINTS)
        figure = progress_figure(points)
        if figure is not None:
            with st.expander("Progress metrics"):
                st.plotly_chart(figure, key=f"{key}-progress", width="stretch")
    elif not kept:
        st.error(md_escape(job.error or f"The job ended as {job.status}."))
    st.caption(f"job {job.id} · {job.status}")
