"""Overview: what the platform can do for this user, and in which mode it runs."""

import pandas as pd
import streamlit as st

from engine.actions import all_actions
from engine.config import get_settings
from ui.session import require_user
from ui.text import md_escape

user = require_user()
settings = get_settings()
st.title("mlTrainer")

if settings.anthropic_api_key:
    from engine.llm.claude import check_connection

    # one free request (the Models API), its verdict cached for a few minutes
    claude = check_connection(settings)
    if claude is not None and claude.ok:
        st.success(md_escape(claude.message), icon=":material/smart_toy:")
    elif claude is not None and claude.state == "unreachable":
        st.warning(md_escape(claude.message), icon=":material/cloud_off:")
    elif claude is not None:
        st.error(md_escape(claude.message), icon=":material/key_off:")
else:
    st.info(
        "Offline mode: no ANTHROPIC_API_KEY is set, so chat requests are mapped to actions by "
        "the built-in planner. Set the key in the environment or .streamlit/secrets.toml.",
        icon=":material/cloud_off:",
    )

if user.id is not None:
    from engine.usage.budgets import usage_report

    report = usage_report(user.id)
    limits = report["limits"]
    st.subheader("Your usage")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "": label,
                    "CPU-minutes": report[period]["cpu_minutes"],
                    "Claude tokens": report[period]["tokens"],
                    "Claude dollars": report[period]["dollars"],
                }
                for label, period in (("today", "today"), ("this month", "month"))
            ]
            + [
                {
                    "": "daily budget",
                    "CPU-minutes": limits["max_cpu_minutes"],
                    "Claude tokens": limits["max_tokens"],
                    "Claude dollars": limits["max_dollars"],
                }
            ]
        ),
        hide_index=True,
        column_config={"Claude dollars": st.column_config.NumberColumn(format="$%.4f")},
    )
    st.caption(
        "CPU time is measured in the workers that ran your jobs; tokens come from Claude's "
        "replies. Budgets reset at midnight UTC; an empty budget is no limit."
    )

actions = all_actions()
st.subheader(f"{len(actions)} actions available")
st.dataframe(
    pd.DataFrame(
        [
            {
                "action": action.name,
                "category": action.category,
                "runs as": "background job" if action.long else "instant",
                "your role may run it": action.allows(user.role),
                "description": action.description,
            }
            for action in actions
        ]
    ),
    hide_index=True,
    width="stretch",
)
