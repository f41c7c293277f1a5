"""Jobs: your recent and running background jobs (admins: everyone's), live progress and
metric charts, cancel, and why a job failed."""

from __future__ import annotations

import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.auth import permissions
from engine.executor.views import attempts_frame, jobs_frame, owner_names
from engine.reproduce import rerun
from ui.jobs import LIVE_REFRESH_SECONDS, render_job
from ui.reproduce import bundle_button, notebook_button
from ui.run import run_action
from ui.session import has_role, require_user
from ui.text import md_escape

STATUSES = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
    "budget_exhausted",
)
ACTIVE = ("queued", "running")
LIVE_JOBS = 10  # running jobs drawn with their own live chart

user = require_user()
is_admin = permissions.is_admin(user)
st.title("Jobs")

c1, c2, c3 = st.columns([1, 2, 1])
everyone = c1.toggle("Everyone's jobs", key="jobs_all") if is_admin else False
statuses = c2.multiselect("Status", STATUSES, key="jobs_status", placeholder="any status")
limit = c3.selectbox("Show", (20, 50, 100, 200), key="jobs_limit")

try:
    jobs = executor.list_recent(user, limit, all_users=everyone, statuses=tuple(statuses) or None)
except ActionError as error:
    st.error(md_escape(error))
    st.stop()
owners = owner_names(job.user_id for job in jobs)
active_ids = [job.id for job in jobs if job.status in ACTIVE]


def draw_overview() -> None:
    """The table; while jobs run it refreshes itself, and redraws the page once when the
    set of running jobs changed (one finished, so its live block must go)."""
    current = executor.list_recent(
        user, limit, all_users=everyone, statuses=tuple(statuses) or None
    )
    now_active = [job.id for job in current if job.status in ACTIVE]
    if now_active != active_ids:
        st.rerun()
    if not current:
        st.info("No background jobs yet. Long actions started from the chat or a page show here.")
        return
    st.dataframe(
        jobs_frame(current, owners),
        hide_index=True,
        width="stretch",
        key="jobs_table",
        column_config={
            "job": st.column_config.NumberColumn(format="%d"),
            "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )


st.fragment(run_every=LIVE_REFRESH_SECONDS * 2 if active_ids else None)(draw_overview)()


def owner_of(job) -> str:
    owner = owners.get(job.user_id, "system") if job.user_id is not None else "system"
    # A command-line submission names the OS account that ran it (--user impersonates).
    return f"{owner}, run by {job.actor} from the command line" if job.actor else owner


running = [job for job in jobs if job.status in ACTIVE][:LIVE_JOBS]
if running:
    st.subheader("Running and queued")
    for job in running:
        with st.container(border=True):
            st.text(f"Job {job.id} · {job.action} · {owner_of(job)}")
            render_job(job.id, key=f"jobs-live-{job.id}")

failed = [job for job in jobs if job.status in ("failed", "interrupted")]
if failed:
    st.subheader("Failed")
    for job in failed:
        st.error(
            f"Job {job.id} ({md_escape(job.action)}, {md_escape(owner_of(job))}) failed: "
            + md_escape(job.error or "no error message was recorded")
        )


def draw_rerun_diff(job_id: int) -> None:
    """The re-run started from this page: live while it runs, then its diff."""
    again_id = st.session_state.get(f"job_rerun_{job_id}")
    if again_id is None:
        return
    again = executor.status(again_id)
    if again is None:
        st.session_state.pop(f"job_rerun_{job_id}", None)
        return
    st.caption(f"Re-run: job {again_id}")
    if not again.terminal:
        render_job(again_id, key=f"jobs-rerun-live-{job_id}")
        return
    try:
        diff = rerun.job_diff(user, job_id, again_id)
    except ActionError as error:
        st.error(md_escape(error))
        return
    if diff.identical:
        st.success(f"Reproduced: job {again_id} gave the same numbers as job {job_id}.")
    else:
        st.warning(
            f"Job {again_id} does not reproduce job {job_id}: {len(diff.moved)} number(s) moved."
        )
    for reason in diff.reasons:
        st.caption(f"Why: {md_escape(reason)}")
    st.dataframe(diff.table, hide_index=True, width="stretch", key=f"jobs-rerun-table-{job_id}")


def draw_reproduce(job) -> None:
    """Re-run (analysts and admins), the reproduction bundle and the notebook."""
    r1, r2, r3 = st.columns(3)
    if has_role(user, "analyst") and r1.button(
        "Re-run", key=f"jobs-rerun-{job.id}", icon=":material/replay:"
    ):
        try:
            action, params = rerun.job_rerun_call(user, job.id)
        except ActionError as error:
            st.error(md_escape(error))
        else:
            outcome = run_action(action, params)
            if outcome is not None:
                st.session_state[f"job_rerun_{job.id}"] = outcome.job_id
    bundle_button(user, "job", job.id, key=f"jobs-bundle-{job.id}", where=r2)
    notebook_button(user, "job", job.id, key=f"jobs-notebook-{job.id}", where=r3)
    draw_rerun_diff(job.id)


if jobs:
    st.subheader("Inspect a job")
    by_id = {job.id: job for job in jobs}
    chosen = st.selectbox(
        "Job",
        list(by_id),
        format_func=lambda i: f"{i} · {by_id[i].action} · {by_id[i].status} · {owner_of(by_id[i])}",
        key="jobs_inspect",
    )
    if chosen is not None:
        job = by_id[chosen]
        with st.expander("Parameters", icon=":material/tune:"):
            st.json(job.params, expanded=2)
        earlier = attempts_frame(chosen)
        if not earlier.empty:
            with st.expander(
                f"Attempts that did not finish ({len(earlier)})", icon=":material/history:"
            ):
                st.dataframe(
                    earlier,
                    hide_index=True,
                    width="stretch",
                    key=f"jobs-attempts-{chosen}",
                    column_config={
                        "ended": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                        "counted": st.column_config.CheckboxColumn(
                            help="Whether it used up one of the job's attempts (a shutdown "
                            "does not)."
                        ),
                    },
                )
        render_job(chosen, key=f"jobs-inspect-{chosen}")
        if job.terminal:
            draw_reproduce(job)
