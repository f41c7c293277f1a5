"""Who is using this browser session, and page-level role gates.

Every page calls :func:`require_user` or :func:`require_role` first. This is not
redundant with the login gate in app.py: while a `pages/` folder exists beside
the entry point, Streamlit may run a page file directly (the first request after
a server start, and under AppTest), so each page validates the server-side
session itself instead of trusting the browser session's state.
"""

from __future__ import annotations

import streamlit as st

from engine import auth
from engine.actions.context import UserRef
from engine.auth import permissions

USER_KEY = "user"
SESSION_KEY = "mlt_session_key"


def current_user() -> UserRef | None:
    """The user of a live server session (role as stored now), else None. A browser
    session with no server session yet (a page run directly, as the first request after
    a server start is) re-attaches through the login cookie, as the login gate does."""
    session_key = st.session_state.get(SESSION_KEY)
    user = auth.validate_session(session_key)
    if user is None and not session_key:
        from ui.auth import resume_from_cookie  # ui.auth imports this module

        user = resume_from_cookie()
    if user is None:
        st.session_state.pop(USER_KEY, None)
        return None
    st.session_state[USER_KEY] = user
    return user


def require_user() -> UserRef:
    user = current_user()
    if user is None:
        st.warning("Please log in.")
        st.markdown("[Go to the login page](/)")
        st.stop()
    return user


def has_role(user: UserRef | None, min_role: str) -> bool:
    """Asks engine.auth.permissions (pages use this to decide what to draw)."""
    return permissions.has_role(user, min_role)


def require_role(min_role: str) -> UserRef:
    """Stop the page unless the user has at least ``min_role``. The action layer
    refuses such calls on its own as well; this keeps the page from drawing."""
    user = require_user()
    if not has_role(user, min_role):
        st.error(f"This page needs the '{min_role}' role; you are '{user.role}'.")
        st.stop()
    return user
