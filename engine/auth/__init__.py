"""Accounts, passwords, login throttling, server-side sessions and role checks."""

from engine.auth.service import (
    AuthError,
    LoginOutcome,
    create_user,
    end_session,
    first_run,
    login,
    resume_session_from_cookie,
    start_browser_session,
    start_session,
    validate_password_rules,
    validate_session,
)

__all__ = [
    "AuthError",
    "LoginOutcome",
    "create_user",
    "end_session",
    "first_run",
    "login",
    "resume_session_from_cookie",
    "start_browser_session",
    "start_session",
    "validate_password_rules",
    "validate_session",
]
