"""The login gate: first-run admin creation, login, cookie re-authentication, logout.

The password check, throttling and server-side sessions are engine.auth's. The browser
keeps a signed cookie (engine.auth.cookies) naming its server session, so a reload stays
logged in and a logout, which revokes the session, kills every copy of the cookie.

Streamlit talks to the browser over a websocket and cannot answer with Set-Cookie, so
the cookie is written by a tiny component (ui/cookie_writer) in the browser. It has to
be drawn and run before it can write anything: the app draws it on the runs after a
login or logout until the component reports the write back, never just before a rerun
that would remove it unseen (the bug that logged users out on reload).
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from engine import auth
from engine.actions.base import ActionError
from engine.auth import clients
from engine.auth.clients import parse_networks
from engine.auth.cookies import COOKIE_NAME
from engine.config import get_settings
from ui.session import SESSION_KEY, USER_KEY
from ui.text import md_escape

log = logging.getLogger("mltrainer.app")

_PENDING_COOKIE = "_mlt_cookie_pending"  # {"op", "value", "max_age"} until the browser confirms
_WRITER_KEY = "_mlt_cookie_writer"
_cookie_writer = components.declare_component(
    "mltrainer_cookie_writer", path=str(Path(__file__).resolve().parent / "cookie_writer")
)


def _queue_cookie(value: str | None, max_age: int) -> None:
    """Have the browser store ``value`` (None: delete the cookie) on the next runs."""
    st.session_state[_PENDING_COOKIE] = {
        "op": secrets.token_hex(8),
        "value": value,
        "max_age": max_age if value else 0,
    }


def _write_pending_cookie() -> None:
    pending = st.session_state.get(_PENDING_COOKIE)
    if not pending:
        return
    if st.session_state.get(_WRITER_KEY) == pending["op"]:  # the browser wrote it
        st.session_state.pop(_PENDING_COOKIE, None)
        return
    _cookie_writer(
        op=pending["op"],
        name=COOKIE_NAME,
        value=pending["value"],
        max_age=pending["max_age"],
        key=_WRITER_KEY,
        default=None,
    )


def client_address() -> str | None:
    """The remote address of this browser session (None: a local connection), through
    trusted proxies' X-Forwarded-For (engine.auth.clients)."""
    try:
        peer = st.context.ip_address
        forwarded = st.context.headers.get("X-Forwarded-For")
    except Exception:  # no client context (a bare script run)
        return None
    peer = peer if isinstance(peer, str) and peer else None  # AppTest: a mock
    forwarded = forwarded if isinstance(forwarded, str) else None
    trusted = parse_networks(get_settings().trusted_proxies)
    return clients.client_address(peer, forwarded, trusted)


def _first_admin_form() -> None:
    st.title("Welcome to mlTrainer")
    st.write("No account exists yet. Create the first administrator to get started.")
    with st.form("first_admin"):
        username = st.text_input("Username", key="first_admin_username")
        name = st.text_input("Full name", key="first_admin_name")
        password = st.text_input("Password", type="password", key="first_admin_password")
        repeat = st.text_input("Repeat password", type="password", key="first_admin_repeat")
        st.caption("10 to 128 characters with a letter and a digit.")
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


def _login_form() -> None:
    st.title("mlTrainer")
    # Kept (not popped) until the next login: a rerun (the cookie writer answering after
    # a logout) would otherwise swallow the message before it is seen.
    flash = st.session_state.get("flash")
    if flash:
        st.success(md_escape(flash))
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Log in")
    if not submitted:
        return
    outcome = auth.login(username, password, client=client_address())
    if not outcome.ok:
        st.error(md_escape(outcome.message))
        return
    settings = get_settings()
    session_key, cookie_value = auth.start_browser_session(
        outcome.user, settings.session_hours, settings.cookie_key
    )
    st.session_state.pop("flash", None)
    st.session_state[SESSION_KEY] = session_key
    st.session_state[USER_KEY] = outcome.user
    st.session_state["display_name"] = outcome.name
    # Written by the next run, which draws the app and nothing reruns away.
    _queue_cookie(cookie_value, int(settings.session_hours * 3600))
    st.rerun()


def resume_from_cookie():
    """Attach this browser session to the live server session its cookie names."""
    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no client context (a bare script run)
        return None
    if not isinstance(value, str):  # absent (or AppTest's stand-in context)
        return None
    resumed = auth.resume_session_from_cookie(value, get_settings().cookie_key)
    if resumed is None:
        return None
    st.session_state[SESSION_KEY] = resumed.session_key
    st.session_state[USER_KEY] = resumed.user
    st.session_state["display_name"] = resumed.name
    log.info("session resumed from cookie", extra={"username": resumed.user.username})
    return resumed.user


def _forget_login() -> None:
    for key in (SESSION_KEY, USER_KEY, "display_name"):
        st.session_state.pop(key, None)


def authenticate():
    """The logged-in user (from this session or a valid cookie), or None.

    Draws nothing but the invisible cookie writer while a cookie change is pending.
    """
    _write_pending_cookie()
    session_key = st.session_state.get(SESSION_KEY)
    if session_key:
        user = auth.validate_session(session_key)
        if user is not None:
            st.session_state[USER_KEY] = user  # the role as stored now, not at login
            return user
        _forget_login()
        st.session_state["flash"] = "Your session has ended. Please log in again."
        return None
    return resume_from_cookie()


def login_page() -> None:
    """The only page a visitor who is not logged in can reach."""
    if auth.first_run():
        _first_admin_form()
    else:
        _login_form()


def logout() -> None:
    auth.end_session(st.session_state.get(SESSION_KEY))
    user = st.session_state.get(USER_KEY)
    _forget_login()
    _queue_cookie(None, 0)  # the session is revoked already; this tidies the browser
    log.info("logout", extra={"username": getattr(user, "username", None)})
    st.session_state["flash"] = "You are logged out."
