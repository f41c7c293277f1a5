"""Users: list, create, change roles, activate/deactivate, unlock (admins only)."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from engine.actions import call
from engine.actions.base import ActionError
from engine.auth import service as auth_service
from engine.auth.permissions import ROLES
from engine.chat import conversations
from engine.usage.budgets import admin_overview
from ui.session import require_role
from ui.text import md_escape

admin = require_role("admin")
st.title("Users")

users = auth_service.list_accounts(admin)
now = datetime.now(UTC)
st.dataframe(
    pd.DataFrame(
        [
            {
                "username": u.username,
                "name": u.name,
                "role": u.role,
                "active": u.is_active,
                "locked": bool(u.locked_until and u.locked_until > now),
                "last login": u.last_login_at,
                "created": u.created_at,
            }
            for u in users
        ]
    ),
    hide_index=True,
    width="stretch",
)

left, right = st.columns(2)
with left, st.form("create_user", clear_on_submit=True):
    st.subheader("Create a user")
    username = st.text_input("Username", key="new_username")
    name = st.text_input("Full name", key="new_name")
    email = st.text_input("Email (optional)", key="new_email")
    role = st.selectbox("Role", ROLES, index=1, key="new_role")
    password = st.text_input("Initial password", type="password", key="new_password")
    if st.form_submit_button("Create user"):
        try:
            auth_service.create_user(username, name, password, role, email or None)
            st.success(f"User '{md_escape(username.strip().lower())}' created.")
            st.rerun()
        except ActionError as error:
            st.error(md_escape(error))

with right:
    st.subheader("Change a user")
    by_name = {u.username: u for u in users}
    chosen = st.selectbox("User", list(by_name), key="edit_user")
    if chosen:
        target = by_name[chosen]
        new_role = st.selectbox("Role", ROLES, index=ROLES.index(target.role), key="edit_role")
        c1, c2, c3 = st.columns(3)
        try:
            if c1.button("Save role", key="save_role"):
                auth_service.set_role(admin, target.id, new_role)
                st.rerun()
            label = "Deactivate" if target.is_active else "Activate"
            if c2.button(label, key="toggle_active"):
                auth_service.set_active(admin, target.id, not target.is_active)
                st.rerun()
            if c3.button("Unlock", key="unlock", disabled=not target.locked_until):
                auth_service.unlock(admin, target.id)
                st.rerun()
        except ActionError as error:
            st.error(md_escape(error))

st.subheader("Claude usage")
usage = conversations.usage_report(admin)
if usage:
    st.dataframe(
        pd.DataFrame(usage)[["user", "replies", "input_tokens", "output_tokens", "avg_latency_ms"]],
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No Claude replies yet (offline mode, or nobody has chatted).")

st.subheader("Budgets")
st.caption(
    "Daily limits (UTC days). The default applies to every user; a user's override replaces "
    "it limit by limit (an empty field keeps the default's); a goal's limits apply to its "
    "loop and trials as well. A run that would cross a limit asks for confirmation; a "
    "running one stops cleanly at the line (status budget_exhausted), keeping its results."
)
budgets, today_usage = admin_overview(admin)
if budgets:
    names = {u.id: u.username for u in users}
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "scope": "default"
                    if b.scope_key == "default"
                    else (f"user {names.get(b.user_id, b.user_id)}" if b.user_id else b.scope_key),
                    "CPU-minutes / day": b.max_cpu_minutes,
                    "tokens / day": b.max_tokens,
                    "dollars / day": b.max_dollars,
                    "updated": b.updated_at,
                }
                for b in budgets
            ]
        ),
        hide_index=True,
        width="stretch",
    )
with st.form("set_budget"):
    scope_col, who_col = st.columns(2)
    scope = scope_col.selectbox("Scope", ("default", "user", "goal"), key="budget_scope")
    who = who_col.selectbox("User (scope user)", [u.username for u in users], key="budget_user")
    goal_for = who_col.number_input("Goal id (scope goal)", min_value=1, step=1, key="budget_goal")
    c1, c2, c3 = st.columns(3)
    cpu = c1.number_input("CPU-minutes / day", min_value=0.0, value=None, key="budget_cpu")
    tokens = c2.number_input("Tokens / day", min_value=0, value=None, step=1000, key="budget_tok")
    dollars = c3.number_input("Dollars / day", min_value=0.0, value=None, key="budget_usd")
    save, clear = st.columns(2)
    saved = save.form_submit_button("Save budget")
    cleared = clear.form_submit_button("Remove this scope's limits")
if saved or cleared:
    request = {"scope": scope, "clear": bool(cleared)}
    if scope == "user":
        request["username"] = who
    if scope == "goal":
        request["goal_id"] = int(goal_for)
    if saved:
        request.update(max_cpu_minutes=cpu, max_tokens=tokens, max_dollars=dollars)
    try:
        # set_budget is admin-only in the action layer: the same check for every caller
        outcome = call("set_budget", request, admin)
        st.success(md_escape(outcome.result.summary if outcome.result else outcome.status))
        st.rerun()
    except ActionError as error:
        st.error(md_escape(error))

st.subheader("Usage today")
if today_usage:
    st.dataframe(
        pd.DataFrame(today_usage)[["user", "cpu_minutes", "tokens", "dollars"]],
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("Nothing recorded today.")
