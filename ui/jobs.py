"""A job as the analyst sees it: status, live progress and metrics, then the result."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.actions.base import ActionResult
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.executor import views as executor_views
from ui.results import render_result, show_figure
from ui.session import current_user
from ui.text import md_escape

LIVE_REFRESH_SECONDS = 1.0
WATCH_SECONDS = 2.0  # how often the pages look for the user's jobs that ended
CHART_POINTS = 500


def split_progress(points: list[dict]) -> tuple[str | None, list[str]]:
    """The counter the job reported (if any) and its metrics, from its progress points."""
    from engine.trials.figures import COUNTERS

    names = sorted({k for p in points for k in p if k not in ("elapsed_s", "fraction")})
    counter = next((c for c in sorted(COUNTERS) if c in names), None)
    return counter, [name for name in names if name not in COUNTERS]


def progress_line(job, points: list[dict]) -> str:
    """The progress bar's text: action, status, the step reached and the latest metrics."""
    text = f"{job.action}: {job.status} · {job.progress:.0%}"
    counter, metrics = split_progress(points)
    if counter is not None:
        reached = [p[counter] for p in points if p.get(counter) is not None]
        if reached:
            text += f" · {counter} {int(max(reached)) + 1} done"
    for name in metrics:
        values = [p[name] for p in points if p.get(name) is not None]
        if values:
            text += f" · {name} {values[-1]:.4g}"
    return text


def progress_figure(points: list[dict]) -> go.Figure | None:
    """Each metric the job reported against elapsed seconds, a step counter (fold, trial)
    on its own right-hand axis (``engine.trials.figures.progress_figure``)."""
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


def _live_block(job_id: int, key: str, light: bool = False) -> None:
    job = executor.status(job_id)
    if job is None or job.terminal:
        st.rerun()  # redraw the whole page once, now with the final result
    points = executor.events(job_id, CHART_POINTS)
    text = md_escape(progress_line(job, points))
    if job.status == "queued":
        text += " (waiting for a worker or for the jobs it depends on)"
    elif job.cancel_requested:
        text += " (cancel requested; it stops at its next check)"
    st.progress(min(max(job.progress, 0.0), 1.0), text=text)
    figure = progress_figure(points)
    if figure is not None:
        show_figure(figure, key=f"{key}-live", light=light)
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


def render_job(job_id: int, *, key: str, show_result: bool = True, light: bool = False) -> None:
    """A job where it was started: live progress (a fragment that refreshes itself while
    the job runs, reading at most CHART_POINTS downsampled points), then its result or
    error. ``show_result=False`` keeps a finished job to its status line. ``light`` draws
    charts as static images first (``ui.results.show_figure``)."""
    job = executor.status(job_id)
    if job is None:
        st.error(f"Job {job_id} no longer exists.")
        return
    if not job.terminal:
        st.fragment(run_every=LIVE_REFRESH_SECONDS)(_live_block)(job_id, key, light)
        return
    kept = job.status in ("succeeded", "budget_exhausted")  # a budget stop keeps its results
    if job.status == "budget_exhausted":
        st.warning(md_escape(job.error or "Stopped: the daily budget is spent."))
    if kept and job.result and show_result:
        render_result(
            finished_result(job.id, job.finished_at), key=key, action=job.action, light=light
        )
        points = executor.events(job_id, CHART_POINTS)
        figure = progress_figure(points)
        if figure is not None:
            with st.expander("Progress metrics"):
                show_figure(figure, key=f"{key}-progress", light=light)
    elif job.status == "cancelled":
        # a cancellation someone asked for is an outcome, not an error
        st.info(md_escape(cancel_note(job)), icon=":material/cancel:")
    elif not kept:
        st.error(md_escape(job.error or f"The job ended as {job.status}."))
    st.caption(f"job {job.id} · {job.status}")


def cancel_note(job) -> str:
    """What a cancelled job says: at whose request, and how far it got."""
    reached = f" after {job.progress:.0%} of the work" if job.progress else ""
    if job.cancel_requested:
        return f"Cancelled on request{reached}."
    return (job.error or "Cancelled.") + (f" (stopped{reached})" if reached else "")


# --------------------------------------------------------------------------- notices


def _notice_text(job_id: int, action: str, status: str) -> tuple[str, str]:
    icons = {
        "succeeded": ":material/check_circle:",
        "failed": ":material/error:",
        "cancelled": ":material/cancel:",
        "budget_exhausted": ":material/hourglass_disabled:",
    }
    return f"Job {job_id} ({action}) {status}.", icons.get(status, ":material/info:")


def _watch_block(user_id: int | None) -> None:
    watched: dict[int, str] = st.session_state.get("watched_jobs", {})
    if not watched:
        return
    states = executor_views.job_statuses(list(watched))
    ended = [(job_id, states.get(job_id, "gone")) for job_id in watched]
    ended = [(job_id, state) for job_id, state in ended if state not in ("queued", "running")]
    if not ended:
        return
    notices = st.session_state.setdefault("job_notices", [])
    for job_id, state in ended:
        notices.append(_notice_text(job_id, watched.pop(job_id), state))
    # The page redraws once with the jobs' final state; the notices are shown by that run.
    st.rerun(scope="app")


def watch_jobs(user: UserRef | None) -> None:
    """Notices (toasts) when a background job of ``user`` ends, on whichever page they are.

    Shows the notices a previous check queued, then, only while the user has queued or
    running jobs, a fragment that looks every ``WATCH_SECONDS`` (one small query) and
    reruns the page when one of them ended, so tool messages and tables show the final
    status. With no job running nothing refreshes."""
    if user is None:
        return
    active = executor_views.running_jobs(user, limit=20)
    watched: dict[int, str] = st.session_state.setdefault("watched_jobs", {})
    active_ids = {job.id for job in active}
    gone = [job_id for job_id in watched if job_id not in active_ids]
    if gone:  # ended since the last look (this run came before the fragment saw it)
        states = executor_views.job_statuses(gone)
        notices = st.session_state.setdefault("job_notices", [])
        for job_id in gone:
            notices.append(_notice_text(job_id, watched.pop(job_id), states.get(job_id, "gone")))
    for text, icon in st.session_state.pop("job_notices", []):
        st.toast(text, icon=icon)
    watched.update({job.id: job.action for job in active})
    if watched:
        st.fragment(run_every=WATCH_SECONDS)(_watch_block)(user.id)
