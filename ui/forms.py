"""A form for any action, drawn from its pydantic parameter schema.

Numbers, booleans, enums/literals, strings, dates (a calendar) and lists of strings or
numbers get a proper widget; parameters analysts know by name get a picker: models
(the catalogue, searchable, grouped by family), metrics, portfolio weight bounds
(long-only and a weight cap as fields) and weights (``AAPL 40%, MSFT 60%``). Anything
more complex is entered as JSON. Validation is the action's own (pydantic, in the
action layer), so the form cannot drift from it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import streamlit as st

from engine.actions import get_action
from ui.text import md_escape

log = logging.getLogger("mltrainer.app")

SCALAR_TYPES = ("number", "integer", "string", "boolean")
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
DEFAULT_METRIC = "(default for the task)"


@st.cache_data(show_spinner=False)
def model_choices() -> dict[str, str]:
    """Catalogue id -> "family · name · task", grouped by family (then name)."""
    from engine.ml import catalogue_view

    frame = catalogue_view.catalogue_frame().sort_values(["family", "name", "id"])
    return {
        str(row.id): f"{row.family} · {row.name} · {row.task}"
        for row in frame.itertuples(index=False)
    }


def metric_choices() -> dict[str, str]:
    """Metric name -> its group, as the ML actions accept them."""
    from engine.ml.params import CLASSIFICATION_METRICS, FINANCIAL_METRICS, REGRESSION_METRICS

    groups = (
        (CLASSIFICATION_METRICS, "classification"),
        (REGRESSION_METRICS, "regression"),
        (FINANCIAL_METRICS, "trading, price data"),
    )
    return {metric: group for names, group in groups for metric in names}


def _model_id(default: Any) -> str | None:
    """A default given as a catalogue id or a name ("random forest") as a catalogue id."""
    if default is None:
        return None
    choices = model_choices()
    if default in choices:
        return str(default)
    try:
        from engine.ml.catalog import get_model

        return get_model(str(default)).id
    except Exception:  # noqa: BLE001 - an unknown default simply preselects nothing
        return None


def _model_picker(label: str, help_text: str | None, default: Any, key: str) -> Any:
    choices = model_choices()
    chosen = _model_id(default)
    return st.selectbox(
        label,
        list(choices),
        index=list(choices).index(chosen) if chosen in choices else None,
        format_func=lambda model: f"{choices[model]} — {model}",
        placeholder=f"Search {len(choices)} models by family, name or id",
        help=(help_text or "") + " Type to search; grouped by family.",
        key=key,
    )


def _models_picker(label: str, help_text: str | None, default: Any, key: str) -> Any:
    choices = model_choices()
    chosen = [m for m in (_model_id(d) for d in (default or [])) if m in choices]
    return st.multiselect(
        label,
        list(choices),
        default=chosen,
        format_func=lambda model: f"{choices[model]} — {model}",
        placeholder=f"Search {len(choices)} models by family, name or id",
        help=(help_text or "") + " Type to search; grouped by family.",
        key=key,
    )


def _metric_picker(label: str, help_text: str | None, default: Any, key: str) -> Any:
    groups = metric_choices()
    options = [DEFAULT_METRIC, *groups]
    chosen = st.selectbox(
        label,
        options,
        index=options.index(default) if default in options else 0,
        format_func=lambda m: m if m == DEFAULT_METRIC else f"{m} ({groups[m]})",
        help=help_text,
        key=key,
    )
    return None if chosen == DEFAULT_METRIC else chosen


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def _date_field(label: str, help_text: str | None, default: Any, key: str) -> str | None:
    value = st.date_input(
        label,
        value=_as_date(default),
        min_value=EARLIEST_DATE,
        max_value=LATEST_DATE,
        format="YYYY-MM-DD",
        help=help_text,
        key=key,
    )
    return value.isoformat() if isinstance(value, date) else None


def _weight_bounds(label: str, help_text: str | None, default: Any, key: str) -> list[float]:
    """Long-only and a weight cap as fields, and the floor that applies when shorting is
    allowed (all drawn at once: a form cannot show a field only after a box is ticked)."""
    low, high = (list(default) if default else [0.0, 1.0])[:2]
    long_only = st.checkbox(
        "Long-only (no short positions)", value=low >= 0, key=f"{key}-long_only"
    )
    cap = st.number_input(
        "Maximum weight per symbol",
        min_value=0.0,
        max_value=10.0,
        value=float(high),
        step=0.05,
        format="%.2f",
        help="A cap on each symbol's weight, e.g. 0.40 for 40 %; 1.00 means no cap.",
        key=f"{key}-max",
    )
    floor = st.number_input(
        "Minimum weight per symbol when shorting (long-only off)",
        min_value=-10.0,
        max_value=1.0,
        value=float(low) if low < 0 else -1.0,
        step=0.05,
        format="%.2f",
        help="Used only when long-only is off, e.g. -0.20 allows a 20 % short per symbol.",
        key=f"{key}-min",
    )
    return [0.0, float(cap)] if long_only else [float(floor), float(cap)]


# Matched against a stripped item, with one whitespace run between symbol and number
# ("\s*(?:=|:|\s)\s*" let a long run of spaces backtrack polynomially: 20,000 spaces
# cost 6 s of CPU).
_WEIGHT_ITEM = re.compile(r"([A-Za-z0-9^._:&-]+?)(?:\s*[=:]\s*|\s+)(-?\d+(?:\.\d+)?)\s*(%?)")


def parse_weights(text: str) -> dict[str, float] | str | None:
    """``AAPL 40%, MSFT 0.6`` (or ``AAPL=0.4``) as {symbol: weight}; empty: None; text
    that does not parse is returned as it is (the action's validation says why)."""
    if not text.strip():
        return None
    weights: dict[str, float] = {}
    for part in re.split(r"[,;\n]+", text):
        if not part.strip():
            continue
        match = _WEIGHT_ITEM.fullmatch(part.strip())
        if not match:
            return text
        symbol, number, percent = match.groups()
        if not math.isfinite(float(number)):
            return text
        if symbol.upper().startswith("MACRO:"):
            symbol = "MACRO:" + symbol.split(":", 1)[1].lower()
        symbol = symbol if symbol.startswith("MACRO:") else symbol.upper()
        if symbol in weights:  # named twice: not silently the last one
            return text
        weights[symbol] = float(number) / (100.0 if percent else 1.0)
    return weights


def _weights_field(label: str, help_text: str | None, default: Any, key: str) -> Any:
    shown = ", ".join(f"{s} {w:g}" for s, w in (default or {}).items())
    raw = st.text_input(
        label,
        value=shown,
        placeholder="e.g. AAPL 40%, MSFT 35%, XOM 25% (empty: equal weights)",
        help=(help_text or "") + " Symbol and weight pairs; percentages or decimals.",
        key=key,
    )
    return parse_weights(raw)


def _families_picker(label: str, help_text: str | None, default: Any, key: str) -> Any:
    from engine.ml import catalogue_view

    families = catalogue_view.families()
    chosen = st.multiselect(
        label,
        families,
        default=[f for f in (default or []) if f in families],
        placeholder="Any family",
        help=help_text,
        key=key,
    )
    return chosen or None


Picker = Callable[[str, str | None, Any, str], Any]
# Parameters known by name: the widget an analyst expects rather than the schema's type.
PICKERS: dict[str, Picker] = {
    "model_id": _model_picker,
    "final_model_id": _model_picker,
    "model_ids": _models_picker,
    "metric": _metric_picker,
    "families": _families_picker,
    "weight_bounds": _weight_bounds,
    "weights": _weights_field,
}


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return root.get("$defs", {}).get(name, {})
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        concrete = [_resolve(o, root) for o in options if o.get("type") != "null"]
        nullable = len(concrete) < len(options)
        # "a number or a list of numbers" and the like: the form offers the scalar form
        scalar = [o for o in concrete if o.get("type") in SCALAR_TYPES]
        chosen = scalar[0] if scalar else (concrete[0] if len(concrete) == 1 else None)
        if chosen is not None:
            merged = dict(chosen)
            merged["default"] = schema.get("default", chosen.get("default"))
            merged["nullable"] = nullable
            for key in ("title", "description"):
                if key in schema:
                    merged[key] = schema[key]
            return merged
    return schema


def _field(name: str, spec: dict[str, Any], default: Any, key: str) -> Any:
    label = spec.get("title") or name.replace("_", " ").capitalize()
    help_text = spec.get("description")
    kind = spec.get("type")
    if name in PICKERS:
        return PICKERS[name](label, help_text, default, key)
    if "enum" in spec:
        choices = spec["enum"]
        index = choices.index(default) if default in choices else 0
        return st.selectbox(label, choices, index=index, help=help_text, key=key)
    if kind == "boolean":
        return st.checkbox(label, value=bool(default), help=help_text, key=key)
    if kind == "integer":
        value = st.number_input(
            label,
            value=int(default) if default is not None else None,
            step=1,
            help=help_text,
            key=key,
        )
        return None if value is None else int(value)
    if kind == "number":
        value = st.number_input(
            label,
            value=float(default) if default is not None else None,
            format="%.6g",
            help=help_text,
            key=key,
        )
        return None if value is None else float(value)
    if kind == "string" and spec.get("format") == "date":
        return _date_field(label, help_text, default, key)
    if kind == "string":
        value = st.text_input(
            label, value="" if default is None else str(default), help=help_text, key=key
        )
        return value if value or not spec.get("nullable") else None
    if kind == "array" and spec.get("items", {}).get("type") in ("string", "number", "integer"):
        item_type = spec["items"]["type"]
        text = ", ".join(str(v) for v in (default or []))
        raw = st.text_input(
            label, value=text, help=(help_text or "") + " (comma-separated)", key=key
        )
        items = [part.strip() for part in raw.split(",") if part.strip()]
        if item_type == "string":
            return items
        try:
            return [float(part) if item_type == "number" else int(part) for part in items]
        except ValueError:
            return items  # the action's validation reports which entry is wrong
    raw = st.text_area(
        label,
        value=json.dumps(default) if default is not None else "",
        help=(help_text or "") + " (JSON)",
        key=key,
    )
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def action_form(
    action_name: str,
    *,
    defaults: dict[str, Any] | None = None,
    hidden: set[str] | None = None,
    key: str | None = None,
    submit_label: str = "Run",
) -> dict[str, Any] | None:
    """Draw the form; returns the entered parameters when submitted, else None."""
    action = get_action(action_name)
    schema = action.parameter_schema()
    defaults = defaults or {}
    hidden = hidden or set()
    form_key = key or f"form-{action_name}"
    values: dict[str, Any] = {}
    with st.form(form_key):
        for name, raw_spec in schema.get("properties", {}).items():
            if name in hidden:
                if name in defaults:
                    values[name] = defaults[name]
                continue
            spec = _resolve(raw_spec, schema)
            default = defaults.get(name, spec.get("default", raw_spec.get("default")))
            value = _field(name, spec, default, f"{form_key}-{name}")
            if value is not None and value != "":
                values[name] = value
        if not action.long:
            submitted = st.form_submit_button(submit_label)
            return values if submitted else None
        run_col, estimate_col, note_col = st.columns([1, 1, 4], vertical_alignment="center")
        submitted = run_col.form_submit_button(submit_label)
        if estimate_col.form_submit_button("Estimate", help="What it would cost; runs nothing"):
            note_col.caption(md_escape(estimate_text(action_name, values)))
    return values if submitted else None


def estimate_text(action_name: str, values: dict[str, Any]) -> str:
    """The run's estimate in one line (from the recorded history), or why there is none."""
    from engine.actions import ActionError
    from engine.usage.estimate import estimate_for
    from ui.session import require_user

    try:
        estimate = estimate_for(action_name, values, require_user())
    except ActionError as error:
        return f"No estimate: {error}"
    except Exception:  # noqa: BLE001 - an estimate must never break the form
        log.exception("estimate of %s failed", action_name)
        return "No estimate (see the server log)."
    return f"Estimate: {estimate.describe()}. Based on {estimate.basis}."
