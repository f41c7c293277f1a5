"""Dynamic actions: browse versions and source, test-run in the sandbox, create drafts
from templates or code, and (admins) approve or retire them.

The page only draws. Every run and change goes through the actions
(``test_dynamic_action``, ``create_dynamic_from_template``, ``propose_dynamic_action``,
``approve_dynamic_action``, ``retire_dynamic_action``), which check roles and ownership
on the server whatever the page shows. Pressing a run button is the user's confirmation.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from engine import executor
from engine.actions import ActionError
from engine.data.bundled import catalog
from engine.sandbox import service, templates, validator
from ui.jobs import render_job
from ui.run import run_action
from ui.session import has_role, require_role
from ui.text import md_escape

user = require_role("analyst")
is_admin = has_role(user, "admin")
st.title("Dynamic actions")
st.caption(
    "Functions `run(data, **params)` over a prices frame (dates x symbols), written by "
    "analysts or Claude, or generated from templates. Every run happens in the sandbox. "
    "Drafts run for their author; approved versions are actions everyone can call by name."
)

sandbox = service.sandbox_status()
if not sandbox["runs"]:
    st.error(
        "Generated code cannot run on this server: the sandbox lacks "
        + md_escape(", ".join(sandbox["refusing"]))
        + ". Runs are refused (fail closed) until an administrator grants the missing "
        "layers or waives them with `" + sandbox["variable"] + "` (see *Sandbox layers* below)."
    )
elif sandbox["waived_and_missing"]:
    st.warning(
        "The sandbox runs WITHOUT "
        + md_escape(", ".join(sandbox["waived_and_missing"]))
        + ": an administrator waived "
        + ("it" if len(sandbox["waived_and_missing"]) == 1 else "them")
        + " with `"
        + sandbox["variable"]
        + "`. Generated code is less contained than designed."
    )
with st.expander("Sandbox layers", expanded=not sandbox["runs"]):
    st.dataframe(pd.DataFrame(sandbox["layers"]), hide_index=True, width="stretch")
    waived = ", ".join(sandbox["waived"]) or "none"
    st.caption(
        f"Required: every layer unless waived by `{sandbox['variable']}` (now: "
        + md_escape(waived)
        + "). "
        + (
            "Unknown names in it (ignored): " + md_escape(", ".join(sandbox["unknown"])) + ". "
            if sandbox["unknown"]
            else ""
        )
        + "docs/sandbox.md explains each layer and how to grant it."
    )

SYMBOLS = [symbol for symbol in catalog() if not symbol.startswith("MACRO:")]
STATUS_ICON = {"approved": "✅", "draft": "📝", "retired": "🗄️"}


def summary_table(records) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for record in records:  # newest version first within a name
        row = rows.setdefault(
            record.name,
            {
                "name": record.name,
                "latest": record.version,
                "status": record.status,
                "approved version": None,
                "versions": 0,
                "author": record.author,
                "updated": record.created_at,
            },
        )
        row["versions"] += 1
        if record.status == "approved" and row["approved version"] is None:
            row["approved version"] = record.version
    return pd.DataFrame(list(rows.values()))


def params_inputs(schema: dict[str, Any], key: str) -> dict[str, Any]:
    """One widget per declared parameter, pre-filled with its default."""
    values: dict[str, Any] = {}
    properties = (schema or {}).get("properties", {})
    if not properties:
        st.caption("This action declares no parameters.")
        return values
    columns = st.columns(min(len(properties), 4))
    for index, (name, spec) in enumerate(properties.items()):
        column = columns[index % len(columns)]
        kind, default = spec.get("type"), spec.get("default")
        widget_key = f"{key}-{name}"
        if kind == "boolean":
            values[name] = column.checkbox(name, value=bool(default), key=widget_key)
        elif kind == "integer":
            values[name] = int(
                column.number_input(name, value=int(default or 0), step=1, key=widget_key)
            )
        elif kind == "number":
            values[name] = float(
                column.number_input(name, value=float(default or 0.0), key=widget_key)
            )
        elif kind == "array":
            text = column.text_input(name, value=", ".join(map(str, default or [])), key=widget_key)
            items = [item.strip() for item in text.split(",") if item.strip()]
            numeric = (spec.get("items") or {}).get("type") != "string"
            try:
                values[name] = [float(item) for item in items] if numeric else items
            except ValueError:
                column.error(f"{name}: numbers separated by commas")
        else:
            values[name] = column.text_input(name, value=str(default or ""), key=widget_key)
    return values


def show_job(state_key: str, *, show_source: bool = False) -> None:
    """The job started from this page under ``state_key``: live, then its result."""
    job_id = st.session_state.get(state_key)
    if not job_id:
        return
    job = executor.status(job_id)
    if job is None:
        st.session_state.pop(state_key, None)
        return
    if show_source and job.terminal and job.status == "succeeded" and job.result:
        values = job.result.get("values", {})
        if values.get("source"):
            state = values.get("status")
            version = values.get("version")
            st.caption(
                md_escape(f"{values.get('name')} · {state}" + (f" v{version}" if version else ""))
            )
            st.code(values["source"], language="python")
    render_job(job_id, key=f"{state_key}-{job_id}")


def start(action: str, params: dict[str, Any], state_key: str) -> None:
    outcome = run_action(action, params, confirmed=True)
    if outcome is not None:
        st.session_state[state_key] = outcome.job_id


# ----------------------------------------------------------------------------- browse

records = service.listing(user)
STARTER_SOURCE = (
    "import pandas as pd\n\n\ndef run(data, window: int = 20):\n"
    "    returns = data.pct_change()\n"
    "    return returns.rolling(window).std() * 252 ** 0.5\n"
)
CODE_EDITOR_STYLE = (
    "<style>.st-key-dyn-code-source textarea {font-family: ui-monospace, SFMono-Regular, "
    "Menlo, Consolas, monospace; font-size: 0.85rem; line-height: 1.4; tab-size: 4;}</style>"
)


class SourceCheck:
    """What the validator says about the source being edited (no code runs)."""

    def __init__(self, ok: bool, message: str):
        self.ok, self.message = ok, message


def source_check(source: str) -> SourceCheck:
    try:
        report = validator.inspect_source(source)
    except validator.ValidationFailed as failed:
        violation = failed.violation
        where = f"line {violation.line}: " if violation.line else ""
        return SourceCheck(False, f"{where}{violation.message} (rule {violation.rule})")
    parameters = ", ".join(
        f"{p.name}: {p.type}" + ("" if p.required else f" = {p.default!r}")
        for p in report.parameters
    )
    return SourceCheck(True, f"Valid: run(data{', ' + parameters if parameters else ''}).")


tab_browse, tab_template, tab_code = st.tabs(["Actions", "New from template", "New from code"])

with tab_browse:
    if not records:
        st.info("No dynamic actions yet. Create one from a template or from code.")
    else:
        st.dataframe(summary_table(records), hide_index=True, key="dyn-list", width="stretch")
        names = sorted({record.name for record in records})
        chosen = st.selectbox("Action", names, key="dyn-name")
        versions = [r for r in records if r.name == chosen]
        labels = {f"v{r.version} · {STATUS_ICON.get(r.status, '')} {r.status}": r for r in versions}
        record = labels[st.selectbox("Version", list(labels), key="dyn-version")]
        st.markdown(f"**{md_escape(record.name)}** v{record.version} — {md_escape(record.status)}")
        st.text(record.description)
        meta = f"by {record.author or 'unknown'} · {record.created_at:%Y-%m-%d %H:%M}"
        if record.approver:
            meta += f" · approved by {record.approver}"
            if record.approved_at:
                meta += f" on {record.approved_at:%Y-%m-%d}"
        st.caption(md_escape(meta + f" · sha256 {record.source_hash[:12]}"))
        st.code(record.source, language="python", line_numbers=True)

        st.subheader("Test run")
        runnable = record.status == "approved" or (
            record.status == "draft" and (is_admin or record.author_id == user.id)
        )
        runnable = runnable or (record.status == "retired" and is_admin)
        if not runnable:
            st.caption("Only its author or an admin can run this version.")
        else:
            with st.form(f"dyn-test-{record.id}"):
                symbols = st.multiselect(
                    "Symbols", SYMBOLS, default=["AAPL", "MSFT"], key=f"dyn-test-sym-{record.id}"
                )
                params = params_inputs(record.parameters, f"dyn-test-p-{record.id}")
                submitted = st.form_submit_button(
                    "Run in the sandbox", icon=":material/play_arrow:"
                )
            if submitted:
                start(
                    "test_dynamic_action",
                    {
                        "name": record.name,
                        "version": record.version,
                        "symbols": symbols,
                        "params": params,
                    },
                    "dyn-test-job",
                )
        show_job("dyn-test-job")

        if is_admin:
            st.subheader("Admin")
            left, right = st.columns(2)
            if record.status != "approved" and left.button(
                f"Approve v{record.version}", key=f"dyn-approve-{record.id}", type="primary"
            ):
                params = {"name": record.name, "version": record.version}
                if run_action("approve_dynamic_action", params, confirmed=True):
                    st.rerun()
            if record.status != "retired" and right.button(
                f"Retire v{record.version}", key=f"dyn-retire-{record.id}"
            ):
                params = {"name": record.name, "version": record.version}
                if run_action("retire_dynamic_action", params, confirmed=True):
                    st.rerun()

        st.subheader("Run history")
        history = service.run_history(user, record.name)
        if not history:
            st.caption("No runs yet.")
        else:
            st.dataframe(pd.DataFrame(history), hide_index=True, key="dyn-history", width="stretch")

# ---------------------------------------------------------------------------- create

with tab_template:
    template = st.selectbox(
        "Template",
        templates.TEMPLATES,
        format_func=lambda name: f"{name} — {templates.TEMPLATE_HELP[name].split('(')[0]}",
        key="dyn-template",
    )
    options: dict[str, Any] = {}
    if template == "rolling_stat":
        left, middle, right = st.columns(3)
        options["stat"] = left.selectbox(
            "Statistic", ["zscore", "mean", "std", "quantile", "median", "min", "max"]
        )
        options["window"] = int(middle.number_input("Window (days)", 2, 2520, 20))
        options["on"] = right.selectbox("On", ["price", "returns", "log_returns"])
        if options["stat"] == "quantile":
            options["q"] = st.slider("Quantile", 0.01, 0.99, 0.5)
    elif template == "formula":
        options["formula"] = st.text_input(
            "Formula",
            "(AAPL - mean(AAPL, 20)) / std(AAPL, 20)",
            help=templates.TEMPLATE_HELP["formula"],
        )
    elif template == "pair":
        left, middle, right = st.columns(3)
        options["symbol_a"] = left.selectbox("First symbol", SYMBOLS, index=SYMBOLS.index("KO"))
        options["symbol_b"] = middle.selectbox("Second symbol", SYMBOLS, index=SYMBOLS.index("PEP"))
        options["mode"] = right.selectbox("Mode", ["ratio", "spread", "log_spread"])
        left, right = st.columns(2)
        options["hedge_ratio"] = left.number_input("Hedge ratio", -100.0, 100.0, 1.0)
        options["zscore_window"] = int(right.number_input("Z-score window (0 = none)", 0, 2520, 60))
    elif template == "ensemble":
        signals = []
        for kind, weight, window in (
            ("momentum", 0.5, 60),
            ("mean_reversion", 0.3, 20),
            ("ma_cross", 0.2, 20),
            ("rsi", 0.0, 14),
        ):
            left, right = st.columns(2)
            chosen_weight = left.number_input(f"{kind} weight", -10.0, 10.0, weight)
            chosen_window = int(right.number_input(f"{kind} window", 2, 500, window))
            if chosen_weight:
                signals.append({"signal": kind, "weight": chosen_weight, "window": chosen_window})
        options["signals"] = signals
    else:
        left, middle, right = st.columns(3)
        options["measure"] = left.selectbox(
            "Measure",
            ["volatility", "var", "cvar", "max_drawdown", "downside_deviation", "drawdown"],
        )
        options["window"] = int(middle.number_input("Window (days)", 5, 2520, 63))
        options["confidence"] = right.slider("Confidence", 0.8, 0.995, 0.95)
    try:
        generated = templates.render(template, options)
    except ActionError as error:
        generated = None
        st.error(md_escape(error))
    if generated is not None:
        name = st.text_input("Name", generated.name, key="dyn-template-name")
        description = st.text_input(
            "Description", generated.description, key="dyn-template-description"
        )
        test_symbols = st.multiselect(
            "Test on", SYMBOLS, default=generated.test_symbols[:10], key="dyn-template-symbols"
        )
        st.code(generated.source, language="python", line_numbers=True)
        params = {
            "template": template,
            "options": options,
            "name": name,
            "description": description,
            "symbols": test_symbols,
        }
        left, right = st.columns(2)
        if left.button("Test run (not saved)", key="dyn-template-preview"):
            start("create_dynamic_from_template", {**params, "save": False}, "dyn-create-job")
        if right.button("Save as draft", key="dyn-template-save", type="primary"):
            start("create_dynamic_from_template", {**params, "save": True}, "dyn-create-job")
    show_job("dyn-create-job", show_source=False)

with tab_code:
    st.caption(
        "Imports only from: " + ", ".join(sorted(validator.ALLOWED_MODULES)) + ". "
        "The code is validated as you edit (leave the editor or press Ctrl+Enter), then "
        "test-run in the sandbox before it is saved."
    )
    # A monospace editor (a constant style for this one widget; no user text is HTML).
    st.html(CODE_EDITOR_STYLE)
    source = st.text_area(
        "Source (Python)",
        STARTER_SOURCE,
        height=300,
        key="dyn-code-source",
        help="Tab moves focus; indent with spaces. The highlighted, numbered copy below is "
        "what will be validated and run.",
    )
    check = source_check(source)
    if check.ok:
        st.success(md_escape(check.message), icon=":material/check:")
    else:
        st.error(md_escape(check.message))
    st.code(source, language="python", line_numbers=True)
    with st.form("dyn-code"):
        code_name = st.text_input("Name", "my_indicator")
        code_description = st.text_input("Description", "")
        code_symbols = st.multiselect("Test on", SYMBOLS, default=["AAPL", "MSFT"])
        raw_params = st.text_input("Test parameters (JSON)", "{}")
        left, right = st.columns(2)
        preview = left.form_submit_button("Check and test run")
        save = right.form_submit_button("Save as draft", type="primary")
    if preview or save:
        try:
            test_params = json.loads(raw_params or "{}")
        except json.JSONDecodeError as error:
            st.error(f"Test parameters are not valid JSON: {error.msg}")
        else:
            start(
                "propose_dynamic_action",
                {
                    "name": code_name,
                    "description": code_description or code_name,
                    "source": source,
                    "symbols": code_symbols,
                    "params": test_params,
                    "save": bool(save),
                },
                "dyn-code-job",
            )
    show_job("dyn-code-job", show_source=True)
