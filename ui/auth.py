"""The login gate: first-run admin creation, login, cookie re-authentication, logout.

streamlit-authenticator provides the signed re-authentication cookie and the
session-state conventions; the password check, throttling and server-side
sessions are mlTrainer's own (engine.auth), so a revoked session also kills
every copy of its cookie.
"""

from __future__ import annotations

import logging

import streamlit as st
import streamlit_authenticator as stauth

from engine import auth
from engine.actions.base import ActionError
from engine.config import get_settings
from ui.session import SESSION_KEY, USER_KEY
from ui.text import md_escape

COOKIE_NAME = "mltrainer_auth"
log = logging.getLogger("mltrainer.app")


def _authenticator() -> stauth.Authenticate:
    settings = get_settings()
    return stauth.Authenticate(
        credentials={"usernames": auth.service.library_credentials()},
        cookie_name=COOKIE_NAME,
        cookie_key=settings.cookie_key,
        cookie_expiry_days=settings.session_hours / 24,
        auto_hash=False,
    )


def _first_admin_form() -> None:
    st.title("Welcome to mlTrainer")
    st.write("No account exists yet. Create the first administrator to get started.")
    with st.form("first_admin"):
        username = st.text_input("Username", key="first_admin_username")
        name = st.text_input("Full name", key="first_admin_name")
        password = st.text_input("Password", type="password", key="first_admin_password")
        repeat = st.text_input("Repeat password", type="password", key="first_admin_repeat")
        st.caption("At least 10 characters with a letter and a digit.")
        submitted = st.form_submit_button("Create administrator")
    if submitted:
        if password != repeat:
            st.error("The two passwords differ.")
            return
        try:
            auth.service.create_first_admin(username, name, password)
        except ActionError as error:
            st.error(md_escape(error))
            return
        st.session_state["flash"] = "Administrator created. Log in with your new account."
        st.rerun()


def _login_form(authenticator: stauth.Authenticate) -> None:
    st.title("mlTrainer")
    # Kept (not popped) until the next login: the cookie component triggers an extra rerun
    # on load, which would otherwise swallow the message before it is seen.
    flash = st.session_state.get("flash")
    if flash:
        st.success(md_escape(flash))
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    outcome = auth.login(username, password)
    if not outcome.ok:
        st.error(md_escape(outcome.message))
        return
    st.session_state["logout"] = None
    st.session_state.pop("flash", None)
    authenticator.authentication_controller.login(token={"username": outcome.user.username})
    authenticator.cookie_controller.set_cookie()
    cookie_id = authenticator.cookie_controller.cookie_model.exp_date
    st.session_state[SESSION_KEY] = auth.start_session(
        outcome.user,
        get_settings().session_hours,
        cookie_id=str(cookie_id) if cookie_id else None,
    )
    st.session_state[USER_KEY] = outcome.user
    st.session_state["display_name"] = outcome.name
    log.info("login", extra={"username": outcome.user.username})
    st.rerun()


def _resume_from_cookie(authenticator: stauth.Authenticate):
    token = authenticator.cookie_controller.get_cookie()
    if not token:
        return None
    resumed = auth.resume_session_from_cookie(token["username"], str(token["exp_date"]))
    if resumed is None:
        return None
    session_key, user = resumed
    authenticator.authentication_controller.login(token=token)
    st.session_state[SESSION_KEY] = session_key
    st.session_state[USER_KEY] = user
    st.session_state["display_name"] = st.session_state.get("name") or user.username
    return user


def _forget_login() -> None:
    for key in (SESSION_KEY, USER_KEY, "display_name"):
        st.session_state.pop(key, None)


def authenticate():
    """The logged-in user (from this session or a valid cookie), or None. Draws nothing."""
    authenticator = _authenticator()
    st.session_state["_authenticator"] = authenticator
    session_key = st.session_state.get(SESSION_KEY)
    if session_key:
        user = auth.validate_session(session_key)
        if user is not None:
            st.session_state[USER_KEY] = user  # the role as stored now, not at login
            return user
        _forget_login()
        st.session_state["flash"] = "Your session has ended. Please log in again."
        return None
    return _resume_from_cookie(authenticator)


def login_page() -> None:
    """The only page a visitor who is not logged in can reach."""
    if auth.first_run():
        _first_admin_form()
    else:
        _login_form(st.session_state["_authenticator"])


def logout() -> None:
    authenticator = st.session_state.get("_authenticator")
    auth.end_session(st.session_state.get(SESSION_KEY))
    user = st.session_state.get(USER_KEY)
    if authenticator is not None and st.session_state.get("authentication_status"):
        authenticator.logout(location="unrendered")
    _forget_login()
    log.info("logout", extra={"username": getattr(user, "username", None)})
    st.session_state["flash"] = "You are logged out."
