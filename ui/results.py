"""Render an ActionResult where the analyst reads: summary, numbers, charts, tables.

Results are data; the charts are drawn here, from that data, by the action's presenter
(``ui.presenters``), only when a page shows the result. Text from users, models or
actions is shown with st.text / st.dataframe / st.code, never as HTML.

Numbers are shown by their unit, which the result carries (``value_units`` for the
values, ``units`` for table columns): a fraction as a percentage (a total return of
6.4933 reads "649.33 %"), a date without a time, a count as a whole number, a ratio
with two decimals; a unit that is not self-evident (vega per vol point, theta per
calendar day) is named in the label.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

import pandas as pd
import streamlit as st

from engine.actions.base import ActionResult
from ui.presenters import figures_for
from ui.text import md_escape

MAX_METRIC_TILES = 8

# Values that say how a computation ran rather than what it found: never a headline tile
# (they stay under "All values").
BOOKKEEPING = {
    "count",
    "seed",
    "steps",
    "paths",
    "mc_paths",
    "iterations",
    "n_jobs",
    "random_state",
    "histogram_bin_width",
    "split_fingerprint",
    "fingerprint",
}
# Units the number's format already says (no label suffix needed).
SELF_EVIDENT = {
    "fraction",
    "ratio",
    "date",
    "count",
    "days",
    "seconds",
    "id",
    "correlation",
    "beta",
    "currency",
}
_ISO_DATE_TEXT = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)
_ISO_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00:00(?:\.0+)?(?:Z|[+-]00:00)?$")


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


def is_fraction(unit: str | None) -> bool:
    """Units that are fractions of something (shown as percentages)."""
    return bool(unit) and str(unit).startswith("fraction")


def is_date_unit(unit: str | None) -> bool:
    return unit == "date"


def format_date(value: Any) -> str:
    """A date or timestamp as YYYY-MM-DD (a time is kept only when it is not midnight)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, str):
        match = _ISO_DATETIME.match(value.strip())
        if match:
            return match.group(1)
        try:
            value = pd.Timestamp(value)
        except (ValueError, TypeError):
            return value
    if isinstance(value, (pd.Timestamp, datetime)):
        stamp = pd.Timestamp(value)
        if stamp.tz is None and stamp == stamp.normalize():
            return f"{stamp:%Y-%m-%d}"
        return f"{stamp:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_value(value: Any, unit: str | None = None) -> str:
    """One value as an analyst reads it, by its unit."""
    if is_date_unit(unit) or isinstance(value, (pd.Timestamp, datetime, date)):
        return format_date(value)
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else ("yes" if value else "no")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "n/a"
        if is_fraction(unit):
            return f"{value * 100:,.2f} %"
        if unit in ("count", "days"):
            return f"{round(value):,}"
        if unit == "id":
            return str(round(value))
        if unit in ("ratio", "beta") or (unit and unit.startswith("ratio")):
            return f"{value:,.2f}"
        if unit == "correlation":
            return f"{value:.3f}"
        return format_number(value)
    return str(value)


def value_label(name: str, unit: str | None = None) -> str:
    """A value's name in words, with its unit when the number alone does not say it."""
    label = name.replace("_", " ")
    if not unit or unit in SELF_EVIDENT:
        return label
    if unit == "fraction a year":
        return f"{label} (annual)"
    if is_fraction(unit):
        return f"{label} ({unit.removeprefix('fraction').strip()})"
    return f"{label} ({unit})"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bookkeeping(name: str) -> bool:
    return name in BOOKKEEPING or name.endswith(("_id", "_ids"))


def headline(result: ActionResult) -> dict[str, tuple[Any, str | None]]:
    """The numbers shown as tiles: those the result names in ``value_units`` (in its
    order), or else its numeric values that are not bookkeeping (count, seed, ids)."""
    values, units = result.values, result.value_units or {}
    if units:
        chosen = {
            name: (values[name], unit)
            for name, unit in units.items()
            if name in values and _is_number(values[name]) and not is_date_unit(unit)
        }
    else:
        chosen = {
            name: (value, None)
            for name, value in values.items()
            if _is_number(value) and not _bookkeeping(name)
        }
    return dict(list(chosen.items())[:MAX_METRIC_TILES])


def period_line(result: ActionResult) -> str:
    """The result's dated values (start, end, drawdown peak...) in one line."""
    units = result.value_units or {}
    parts = [
        f"{name.replace('_', ' ')} {format_date(result.values[name])}"
        for name, unit in units.items()
        if is_date_unit(unit) and result.values.get(name) is not None
    ]
    return " · ".join(parts)


def readable(value: Any) -> Any:
    """Values for the "All values" view: midnight timestamps as dates, recursively."""
    if isinstance(value, dict):
        return {k: readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [readable(v) for v in value]
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return format_date(value)
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return format_date(value)
    return value


def _date_like(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
        return False
    sample = column.dropna().head(20)
    return bool(len(sample)) and all(
        isinstance(v, str) and _ISO_DATE_TEXT.match(v.strip()) for v in sample
    )


def display_table(
    frame: pd.DataFrame, units: dict[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A table ready for st.dataframe: date columns (and a date index) as dates without
    times, fraction columns shown as percentages (the data is unchanged: the column
    format does it), every unit in its column's help."""
    units = units or {}
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    config: dict[str, Any] = {}
    shown = frame.copy()
    for column in shown.columns:
        name = str(column)
        unit = units.get(name)
        if _date_like(shown[column]) or is_date_unit(unit):
            dates = pd.to_datetime(shown[column], errors="coerce", utc=False)
            parsed = dates.dropna()
            complete = len(parsed) and len(parsed) == shown[column].notna().sum()
            if complete and (parsed == parsed.dt.normalize()).all():
                shown[column] = dates.dt.date
                config[name] = st.column_config.DateColumn(name, format="YYYY-MM-DD")
            continue
        if unit and pd.api.types.is_numeric_dtype(shown[column]):
            if is_fraction(unit):
                config[name] = st.column_config.NumberColumn(name, format="percent", help=unit)
            elif unit in ("count", "days"):
                config[name] = st.column_config.NumberColumn(name, format="%d", help=unit)
            else:
                config[name] = st.column_config.NumberColumn(name, help=unit)
    return shown, config


def show_figure(figure: Any, *, key: str, light: bool = False) -> None:
    """A Plotly figure; ``light``: as a static SVG image first (no chart library to load
    in the browser, see ``ui.svgchart``), the interactive chart on a toggle. Figures the
    SVG drawing does not cover are drawn by Plotly."""
    from ui.svgchart import figure_svg

    interactive_key = f"{key}-interactive"
    svg = figure_svg(figure) if light else None
    if svg is None or st.session_state.get(interactive_key):
        st.plotly_chart(figure, key=key, width="stretch")
    else:
        st.image(svg, width="stretch")
    if svg is not None:
        st.toggle("Interactive chart", key=interactive_key)


def render_result(
    result: ActionResult, *, key: str = "result", action: str | None = None, light: bool = False
) -> None:
    """Summary, headline numbers, the other values, the charts ``action``'s presenter
    draws from the result (any result's series are drawn as lines when the action has
    no presenter of its own) and the tables, with their columns' units. ``light`` draws
    the charts as static images first (the chat; see :func:`show_figure`)."""
    if result.summary:
        st.text(result.summary)
    tiles = headline(result)
    if tiles:
        columns = st.columns(min(len(tiles), 4))
        for index, (name, (value, unit)) in enumerate(tiles.items()):
            columns[index % len(columns)].metric(
                md_escape(value_label(name, unit)), format_value(value, unit)
            )
    period = period_line(result)
    if period:
        st.caption(md_escape(period))
    others = {k: v for k, v in result.values.items() if k not in tiles}
    if others:
        with st.expander("All values", expanded=False):
            st.json(readable(others), expanded=1)
    for name, figure in figures_for(action, result).items():
        show_figure(figure, key=f"{key}-fig-{name}", light=light)
    for name, table in result.tables.items():
        units = result.units.get(name)
        caption = name.replace("_", " ")
        if units:
            caption += " (" + "; ".join(f"{c}: {u}" for c, u in units.items()) + ")"
        st.caption(md_escape(caption))
        shown, config = display_table(table, units)
        st.dataframe(
            shown,
            key=f"{key}-table-{name}",
            width="stretch",
            hide_index=True,
            column_config=config or None,
        )
