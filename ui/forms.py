"""A form for any action, drawn from its pydantic parameter schema.

Numbers, booleans, enums/literals, strings, dates and lists of strings or numbers
get a proper widget; anything more complex is entered as JSON. Validation is the
action's own (pydantic, in the action layer), so the form cannot drift from it.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import streamlit as st

from engine.actions import get_action

SCALAR_TYPES = ("number", "integer", "string", "boolean")


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
        value = st.text_input(
            label, value=str(default or ""), help=help_text or "YYYY-MM-DD", key=key
        )
        return value or None
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
            if isinstance(default, date):
                default = default.isoformat()
            value = _field(name, spec, default, f"{form_key}-{name}")
            if value is not None and value != "":
                values[name] = value
        submitted = st.form_submit_button(submit_label)
    return values if submitted else None
