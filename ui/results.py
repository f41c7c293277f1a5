"""Render an ActionResult where the analyst reads: summary, numbers, charts, tables.

Results are data; the charts are drawn here, from that data, by the action's presenter
(``ui.presenters``), only when a page shows the result. Text from users, models or
actions is shown with st.text / st.dataframe / st.code, never as HTML.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import streamlit as st

from engine.actions.base import ActionResult
from ui.presenters import figures_for
from ui.text import md_escape

MAX_METRIC_TILES = 8


def format_number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        magnitude = abs(value)
        if magnitude != 0 and (magnitude >= 1e6 or magnitude < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if magnitude < 1000 else f"{value:,.2f}"
    return str(value)


def _scalar_values(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def render_result(result: ActionResult, *, key: str = "result", action: str | None = None) -> None:
    """Summary, headline numbers, the other values, the charts ``action``'s presenter
    draws from the result (any result's series are drawn as lines when the action has
    no presenter of its own) and the tables, with their columns' units."""
    if result.summary:
        st.text(result.summary)
    scalars = _scalar_values(result.values)
    headline = dict(list(scalars.items())[:MAX_METRIC_TILES])
    if headline:
        columns = st.columns(min(len(headline), 4))
        for index, (name, value) in enumerate(headline.items()):
            columns[index % len(columns)].metric(
                md_escape(name.replace("_", " ")), format_number(value)
            )
    others = {k: v for k, v in result.values.items() if k not in headline}
    if others:
        with st.expander("All values", expanded=False):
            st.json(others, expanded=1)
    for name, figure in figures_for(action, result).items():
        st.plotly_chart(figure, key=f"{key}-fig-{name}", width="stretch")
    for name, table in result.tables.items():
        units = result.units.get(name)
        caption = name.replace("_", " ")
        if units:
            caption += " (" + "; ".join(f"{c}: {u}" for c, u in units.items()) + ")"
        st.caption(md_escape(caption))
        st.dataframe(
            table if isinstance(table, pd.DataFrame) else pd.DataFrame(table),
            key=f"{key}-table-{name}",
            width="stretch",
        )
