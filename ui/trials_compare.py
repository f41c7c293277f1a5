"""The Trials page's comparison of up to 500 trials: a pinned baseline, the parameters
that differ, metric deltas, curves, parallel coordinates, parameter importance, and the
comparison as CSV or LaTeX. The data comes from :mod:`engine.trials.compare`; the
figures from :mod:`ui.presenters.compare`.

The baseline is pinned in the address (``?compare=12,15,18&baseline=15``): it survives a
reload and a shared link; the session also remembers it for the same set of trials.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st

from engine.actions import ActionError
from engine.actions.context import UserRef
from engine.trials import compare, query
from ui.presenters import compare as draw
from ui.text import md_escape

PINNED = "compare_pinned"  # session: frozenset of compared ids -> pinned baseline id


def _chart(figure: Any, key: str) -> None:
    if figure is not None:
        st.plotly_chart(figure, key=key, width="stretch")


def _baseline_asked(ids: list[int]) -> int | None:
    raw = st.query_params.get("baseline")
    if raw and raw.isdigit() and int(raw) in ids:
        return int(raw)
    pinned = st.session_state.get(PINNED, {}).get(frozenset(ids))
    return pinned if pinned in ids else None


def _pin(ids: list[int], trial_id: int) -> None:
    st.session_state.setdefault(PINNED, {})[frozenset(ids)] = trial_id
    st.query_params["baseline"] = str(trial_id)


def _importance(comparison: compare.Comparison) -> compare.Importance:
    """Computed once per set of trials, metric and session (the trials do not change)."""
    key = (tuple(comparison.ids), comparison.metric)
    cache = st.session_state.setdefault("compare_importance", {})
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        cache[key] = compare.importance(comparison)
    return cache[key]


def _label(comparison: compare.Comparison) -> Callable[[int], str]:
    by_id = {t.id: t for t in comparison.trials}

    def text(trial_id: int) -> str:
        t = by_id[trial_id]
        value = comparison.primary(t)
        shown = f" · {value:.4f}" if value is not None else ""
        return f"trial {t.id} · {t.model_id or t.action}{shown}"

    return text


def draw_compare(
    user: UserRef,
    raw: str,
    *,
    show: Callable[..., None],
    draw_overfitting: Callable[[dict | None, str], None],
) -> None:
    try:
        ids = query.parse_ids(raw)
        comparison = compare.build(user, ids, _baseline_asked(ids))
    except ActionError as error:
        st.error(md_escape(error))
        return
    ids = comparison.ids
    base = comparison.baseline
    st.subheader(f"Comparing {len(ids)} trials")
    if comparison.metric:
        direction = "higher" if comparison.greater_is_better else "lower"
        st.caption(
            f"Metric: {md_escape(comparison.metric)} ({direction} is better). "
            f"Baseline: trial {base.id}."
        )

    b1, b2 = st.columns([3, 1])
    label = _label(comparison)
    chosen = b1.selectbox(
        "Baseline", ids, index=ids.index(base.id), format_func=label, key="compare_baseline"
    )
    if b2.button("Pin as baseline", key="compare_pin", icon=":material/push_pin:"):
        _pin(ids, int(chosen))
        st.rerun()

    overview = comparison.overview()
    st.dataframe(
        overview,
        hide_index=True,
        width="stretch",
        key="compare-overview",
        column_config={
            "trial": st.column_config.NumberColumn(format="%d"),
            "baseline": st.column_config.CheckboxColumn("baseline"),
            "value": st.column_config.NumberColumn(format="%.4f"),
            "Δ vs baseline": st.column_config.NumberColumn(format="%+.4f"),
            "seconds": st.column_config.NumberColumn(format="%.1f"),
        },
    )
    best = comparison.best()
    if best is not None and comparison.metric:
        value = comparison.primary(best)
        st.caption(
            f"Best: trial {best.id} ({md_escape(best.model_id or best.action)}), "
            f"{md_escape(comparison.metric)} {value:.4f}"
            + (
                f", {value - comparison.primary(base):+.4f} against the baseline."
                if value is not None and comparison.primary(base) is not None
                else "."
            )
        )
    draw_overfitting(_overfitting(comparison), "compare")

    params_tab, metrics_tab, curves_tab, parallel_tab, importance_tab, export_tab = st.tabs(
        ["Parameters", "Metric deltas", "Curves", "Parallel coordinates", "Importance", "Export"]
    )
    with params_tab:
        diff_only = st.toggle("Only parameters that differ", value=True, key="compare_diff_only")
        st.caption(
            f"{len(comparison.differing)} of {len(comparison.names)} parameters differ "
            "between these trials."
        )
        st.dataframe(
            comparison.params_table(diff_only),
            hide_index=True,
            width="stretch",
            key="compare-params",
        )
    with metrics_tab:
        st.caption(f"Every metric and its change against baseline trial {base.id}.")
        st.dataframe(
            comparison.metrics_table(), hide_index=True, width="stretch", key="compare-metrics"
        )
    with curves_tab:
        shown = compare.curves(user, comparison)
        st.caption(
            f"The baseline and the best trials, at most {compare.MAX_CURVES} curves of "
            f"at most {compare.CURVE_POINTS} points each."
        )
        _chart(draw.curves_figure(shown, "progress"), "compare-progress")
        _chart(draw.curves_figure(shown, "equity"), "compare-equity")
        if not shown:
            st.caption("No learning or equity curves are stored for these trials.")
    with parallel_tab:
        # Plotly draws parallel coordinates with WebGL: seconds in a browser without a
        # GPU (software rendering), so only on request.
        if st.toggle("Draw parallel coordinates", key="compare_parallel"):
            importance = _importance(comparison)
            axes = compare.parallel_axes(comparison, importance.ranked)
            if axes is None or not axes[0]:
                st.caption("No parameter varies among trials with a value of the metric.")
            else:
                _chart(draw.parallel_figure(*axes), "compare-parallel")
    with importance_tab:
        importance = _importance(comparison)
        if importance.note:
            st.caption(md_escape(importance.note))
        if not importance.table.empty:
            _chart(draw.importance_figure(importance), "compare-importance")
            st.dataframe(
                importance.table, hide_index=True, width="stretch", key="compare-importance-table"
            )
    with export_tab:
        st.caption(
            "One row per trial: the parameters"
            + (" that differ" if diff_only else "")
            + ", the metric and its delta, every metric and its delta."
        )
        e1, e2 = st.columns(2)
        e1.download_button(
            "Comparison (CSV)",
            data=partial(compare.export_csv, comparison, diff_only),
            file_name=f"comparison_{len(ids)}_trials.csv",
            mime="text/csv",
            key="compare-csv",
            icon=":material/download:",
        )
        e2.download_button(
            "Comparison (LaTeX)",
            data=partial(compare.export_latex, comparison, diff_only),
            file_name=f"comparison_{len(ids)}_trials.tex",
            mime="application/x-tex",
            key="compare-latex",
            icon=":material/download:",
        )

    c1, c2 = st.columns([3, 1])
    opened = c1.selectbox("Open one", ids, format_func=label, key="cmp_open")
    if c2.button("Open", key="cmp_open_btn"):
        show(trial=str(opened))


def _overfitting(comparison: compare.Comparison) -> dict | None:
    from engine.feedback import overfitting

    return overfitting.report_for_trials(comparison.trials)
