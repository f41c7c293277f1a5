"""Trials: every evaluated configuration, filtered, sorted and paginated in the database;
one trial in detail (and re-run); up to 500 compared against a pinned baseline. The view
is in the URL (``?trial=12`` or ``?compare=12,15&baseline=15``) so it can be bookmarked
and shared."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.executor.views import running_jobs
from engine.feedback import overfitting
from engine.reports import trial_report_html
from engine.reproduce import rerun
from engine.trials import detail as trial_detail
from engine.trials import export, figures, query, summary
from engine.trials.query import MAX_COMPARE, PAGE_SIZES, SORT_LABELS, TrialQuery
from ui import summary_charts
from ui.jobs import LIVE_REFRESH_SECONDS, render_job
from ui.reproduce import bundle_button, notebook_button
from ui.run import run_action
from ui.session import has_role, require_user
from ui.text import md_escape
from ui.trials_compare import draw_compare as draw_trials_compare

user = require_user()
can_run = has_role(user, "analyst")
st.title("Trials")


def show(**view: str) -> None:
    """Switch the view (table, one trial, a comparison) through the URL."""
    st.query_params.clear()
    for name, value in view.items():
        st.query_params[name] = value
    st.rerun()


def chart(figure, key: str) -> None:
    if figure is not None:
        st.plotly_chart(figure, key=key, width="stretch")


# --- running jobs: live, in place ------------------------------------------------------
def draw_running() -> None:
    running = running_jobs(user, limit=3)
    if not running:
        return
    with st.expander(f"Running now ({len(running)})", expanded=True, icon=":material/sync:"):
        for job in running:
            st.caption(f"job {job.id} · {md_escape(job.action)}")
            render_job(job.id, key=f"trials-running-{job.id}")
        st.page_link("pages/jobs.py", label="All jobs", icon=":material/pending_actions:")


# --- the table -------------------------------------------------------------------------
def _optional_choice(column, label: str, options: list, key: str, format_func=str):
    return column.selectbox(
        label,
        [None, *options],
        format_func=lambda v: "any" if v is None else format_func(v),
        key=key,
    )


def read_filters() -> TrialQuery:
    """The filter widgets (a change reruns the page: table and charts)."""
    options = query.filter_options(user)
    with st.container(border=True):
        c1, c2, c3, c4, c5 = st.columns(5)
        goal_id = _optional_choice(
            c1, "Goal", list(options.goals), "tf_goal", lambda g: f"{options.goals[g]} (#{g})"
        )
        family = _optional_choice(c2, "Model family", options.families, "tf_family")
        action = _optional_choice(c3, "Action", options.actions, "tf_action")
        status = _optional_choice(c4, "Status", options.statuses, "tf_status")
        user_id = None
        if query.sees_everyone(user):
            user_id = _optional_choice(
                c5, "User", list(options.users), "tf_user", lambda u: options.users[u]
            )
        else:
            c5.text_input("User", value=user.username, disabled=True, key="tf_user_self")
        d1, d2, d3, d4, d5 = st.columns(5)
        created_from = d1.date_input("Created from", value=None, key="tf_from")
        created_to = d2.date_input("Created to", value=None, key="tf_to")
        metric_name = _optional_choice(d3, "Metric", options.metric_names, "tf_metric")
        metric_min = d4.number_input("Metric ≥", value=None, format="%.6g", key="tf_min")
        metric_max = d5.number_input("Metric ≤", value=None, format="%.6g", key="tf_max")
    return TrialQuery(
        goal_id=goal_id,
        family=family,
        action=action,
        status=status,
        user_id=user_id,
        created_from=created_from,
        created_to=created_to,
        metric_name=metric_name,
        metric_min=metric_min,
        metric_max=metric_max,
    )


def read_order(filters: TrialQuery) -> tuple[TrialQuery, int]:
    """Sort and page size (inside the table's fragment: a change reruns only the table)."""
    s1, s2, s3, _ = st.columns([2, 1, 1, 1])
    sort = s1.selectbox("Sort by", list(SORT_LABELS), format_func=SORT_LABELS.get, key="tf_sort")
    descending = s2.toggle("Descending", value=True, key="tf_desc")
    page_size = s3.selectbox("Rows per page", PAGE_SIZES, index=1, key="tf_size")
    trial_query = replace(filters, sort=sort, descending=descending)
    signature = repr((trial_query, page_size))
    if st.session_state.get("trials_signature") != signature:
        st.session_state["trials_signature"] = signature
        st.session_state["trials_page"] = 1  # new filters or order start on the first page
    return trial_query, page_size


def _step_page(delta: int, pages: int) -> None:
    current = st.session_state.get("trials_page", 1)
    st.session_state["trials_page"] = min(max(1, current + delta), pages)


def draw_table() -> None:
    """Filters, then the table (a fragment: sorting, paging and selecting rerun only
    it), then charts of everything the filters match (from the rollups)."""
    filters = read_filters()
    st.fragment(draw_page_of_trials)(filters)
    draw_summary(filters)


def draw_summary(filters: TrialQuery) -> None:
    summary_charts.draw(summary.summarise(user, filters), key="trials-summary")


def draw_page_of_trials(filters: TrialQuery) -> None:
    trial_query, page_size = read_order(filters)
    page = query.search(user, trial_query, st.session_state.get("trials_page", 1), page_size)
    st.session_state["trials_page"] = page.page
    if not page.total:
        st.info("No trials match these filters yet.")
    else:
        st.caption(f"Showing {page.first_row:,}–{page.last_row:,} of {page.total:,} trials")
    event = st.dataframe(
        page.frame,
        hide_index=True,
        width="stretch",
        key="trials_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={
            "trial": st.column_config.NumberColumn(format="%d"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "value": st.column_config.NumberColumn(format="%.4f"),
            "± std": st.column_config.NumberColumn(format="%.4f"),
            "holdout": st.column_config.NumberColumn(format="%.4f"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    selected = [int(page.frame.iloc[i]["trial"]) for i in rows if i < len(page.frame)]

    p1, p2, p3, p4, p5 = st.columns([1, 1, 2, 2, 2])
    p1.button(
        "Previous",
        key="trials_prev",
        disabled=page.page <= 1,
        on_click=_step_page,
        args=(-1, page.pages),
        icon=":material/chevron_left:",
    )
    p2.button(
        "Next",
        key="trials_next",
        disabled=page.page >= page.pages,
        on_click=_step_page,
        args=(1, page.pages),
        icon=":material/chevron_right:",
    )
    p3.caption(f"Page {page.page:,} of {page.pages:,}")
    if len(selected) == 1 and p4.button("Open selected", key="trials_open_selected"):
        show(trial=str(selected[0]))
    if 2 <= len(selected) <= MAX_COMPARE and p4.button(
        f"Compare {len(selected)} selected", key="trials_compare_selected"
    ):
        show(compare=",".join(map(str, selected)))
    if len(selected) > MAX_COMPARE:
        p4.caption(f"Select at most {MAX_COMPARE} trials to compare.")
    if (
        not selected
        and page.total >= 2
        and p4.button(
            f"Compare all {min(page.total, MAX_COMPARE):,} matching",
            key="trials_compare_matching",
            help=f"The first {MAX_COMPARE} trials of these filters in this order",
        )
    ):
        show(compare=",".join(map(str, query.matching_ids(user, trial_query, MAX_COMPARE))))
    p5.download_button(
        "Export filtered table (CSV)",
        data=partial(export.export_csv, user, trial_query),
        file_name="trials.csv",
        mime="text/csv",
        key="trials_csv",
        icon=":material/download:",
        disabled=not page.total,
    )


def draw_lookup() -> None:
    with st.expander("Open or compare by id", icon=":material/search:"):
        o1, o2 = st.columns(2)
        with o1.form("trials_open_form", border=False):
            trial_id = st.number_input("Trial id", min_value=1, step=1, value=None, key="open_id")
            if st.form_submit_button("Open") and trial_id:
                show(trial=str(int(trial_id)))
        with o2.form("trials_compare_form", border=False):
            text = st.text_input(
                f"Trial ids to compare (2–{MAX_COMPARE})",
                placeholder="12, 15, 18",
                key="compare_ids",
            )
            if st.form_submit_button("Compare"):
                try:
                    ids = query.parse_ids(text)
                except ActionError as error:
                    st.error(md_escape(error))
                else:
                    if 2 <= len(ids) <= MAX_COMPARE:
                        show(compare=",".join(map(str, ids)))
                    st.error(f"Give between 2 and {MAX_COMPARE} trial ids.")


# --- one trial -------------------------------------------------------------------------
def _live_progress(job_id: int) -> None:
    job = executor.status(job_id)
    if job is None or job.terminal:
        st.rerun()
    st.progress(min(max(job.progress, 0.0), 1.0), text=f"{job.status}")
    chart(
        figures.progress_figure(executor.events(job_id, trial_detail.DETAIL_POINTS)),
        f"trial-live-{job_id}",
    )


def draw_rerun(detail) -> None:
    trial = detail.trial
    state_key = f"rerun_job_{trial.id}"
    job_id = st.session_state.get(state_key)
    if job_id is None:
        return
    st.subheader("Re-run")
    job = executor.status(job_id)
    if job is None:
        st.session_state.pop(state_key, None)
        return
    if not job.terminal:
        render_job(job_id, key=f"rerun-{trial.id}")
        return
    again = query.trial_for_job(user, job_id)
    if job.status != "succeeded" or again is None:
        st.error(md_escape(job.error or f"The re-run ended as {job.status} without a trial."))
        return
    diff = rerun.trial_diff(trial, again)
    if diff.identical:
        st.success(f"Reproduced: trial {again.id} has the same metrics as trial {trial.id}.")
    else:
        st.warning(
            f"Trial {again.id} does not reproduce trial {trial.id}: "
            f"{len(diff.moved)} number(s) moved."
        )
    for reason in diff.reasons:
        st.caption(f"Why: {md_escape(reason)}")
    st.dataframe(diff.table, hide_index=True, width="stretch", key=f"rerun-table-{trial.id}")
    if st.button(f"Open trial {again.id}", key=f"rerun-open-{trial.id}"):
        show(trial=str(again.id))


def draw_detail(trial_id: int) -> None:
    try:
        detail = trial_detail.load_detail(user, trial_id)
    except ActionError as error:
        st.error(md_escape(error))
        return
    trial = detail.trial
    st.subheader(f"Trial {trial.id}")
    st.text(
        " · ".join(
            str(part)
            for part in (
                trial.action,
                trial.model_id,
                trial.family,
                trial.task,
                f"owner {detail.owner}",
                f"goal {detail.goal}" if detail.goal else None,
                f"created {trial.created_at:%Y-%m-%d %H:%M} UTC",
            )
            if part
        )
    )
    summary = trial_detail.metric_summary(detail)
    primary = summary[summary["metric"] == trial.metric_name] if trial.metric_name else summary[:0]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("status", trial.status)
    if len(primary):
        row = primary.iloc[0]
        m2.metric(trial.metric_name, row["mean ± std"])
        m3.metric("hold-out", "n/a" if row["holdout"] is None else f"{row['holdout']:.4f}")
    elif trial.metric_value is not None:
        m2.metric(trial.metric_name or "metric", f"{trial.metric_value:.4f}")
    m4.metric("seconds", "n/a" if trial.duration_s is None else f"{trial.duration_s:.1f}")
    if trial.error:
        st.error(md_escape(trial.error))

    b1, b2, b3 = st.columns(3)
    if can_run and b1.button("Re-run", key=f"rerun-{trial.id}-go", icon=":material/replay:"):
        action, params = trial_detail.rerun_call(detail)
        outcome = run_action(action, params)
        if outcome is not None:
            st.session_state[f"rerun_job_{trial.id}"] = outcome.job_id
    b2.download_button(
        "HTML report",
        data=partial(trial_report_html, detail, generated_by=user.username),
        file_name=f"trial_{trial.id}.html",
        mime="text/html",
        key=f"report-{trial.id}",
        icon=":material/description:",
    )
    artifact = trial_detail.artifact_file(trial)
    if artifact is not None:
        b3.download_button(
            "Model (skops)",
            data=artifact.read_bytes,
            file_name=artifact.name,
            mime="application/octet-stream",
            key=f"artifact-{trial.id}",
            icon=":material/download:",
        )
    else:
        b3.caption("No saved model for this trial.")
    b4, b5, _ = st.columns(3)
    bundle_button(user, "trial", trial.id, key=f"bundle-{trial.id}", where=b4)
    notebook_button(user, "trial", trial.id, key=f"notebook-{trial.id}", where=b5)
    draw_rerun(detail)

    metrics_tab, charts_tab, params_tab, provenance_tab, log_tab = st.tabs(
        ["Metrics", "Charts", "Parameters", "Provenance", "Log"]
    )
    with metrics_tab:
        st.dataframe(summary, hide_index=True, width="stretch", key="detail-summary")
        draw_overfitting(overfitting.report_for_trial(trial), "detail")
        folds = trial_detail.fold_table(detail)
        if not folds.empty:
            st.caption("Per split")
            st.dataframe(folds, width="stretch", key="detail-folds")
    with charts_tab:
        if detail.live:
            st.fragment(run_every=LIVE_REFRESH_SECONDS)(_live_progress)(detail.job.id)
        else:
            chart(figures.progress_figure(detail.points), "detail-progress")
        drawn = figures.result_figures(detail)
        for name, figure in drawn.items():
            chart(figure, f"detail-{name}")
        if not drawn and not detail.points:
            st.caption("No charts were stored with this trial.")
    with params_tab:
        st.dataframe(
            trial_detail.params_frame(trial.params),
            hide_index=True,
            width="stretch",
            key="detail-params",
        )
    with provenance_tab:
        st.json(trial_detail.provenance(detail), expanded=2)
    with log_tab:
        log = trial_detail.event_log(detail)
        if log.empty:
            st.caption("This trial has no job log.")
        else:
            st.dataframe(log, hide_index=True, width="stretch", key="detail-log")


def draw_overfitting(report: dict | None, key: str) -> None:
    """PBO and the deflated Sharpe ratio over the trials tried on the same data."""
    if report is None:
        return
    st.caption(f"Overfitting: {report['verdict']}")
    st.dataframe(
        overfitting.overfitting_table(report),
        hide_index=True,
        width="stretch",
        key=f"{key}-overfitting",
    )


# --- comparison ------------------------------------------------------------------------
def draw_compare(raw: str) -> None:
    draw_trials_compare(user, raw, show=show, draw_overfitting=draw_overfitting)


# --- page ------------------------------------------------------------------------------
draw_running()
view_trial = st.query_params.get("trial")
view_compare = st.query_params.get("compare")
if view_trial or view_compare:
    if st.button("All trials", key="trials_back", icon=":material/arrow_back:"):
        show()
if view_trial:
    if view_trial.isdigit():
        draw_detail(int(view_trial))
    else:
        st.error("The trial id in the address is not a number.")
elif view_compare:
    draw_compare(view_compare)
else:
    draw_table()
    draw_lookup()
