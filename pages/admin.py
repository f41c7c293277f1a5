"""Users: list, create, change roles, activate/deactivate, unlock (admins only)."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from engine.actions.base import ActionError
from engine.auth import service as auth_service
from engine.auth.permissions import ROLES
from engine.chat import conversations
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
