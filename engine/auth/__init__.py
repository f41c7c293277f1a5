"""Accounts, passwords, login throttling, server-side sessions and role checks.

The service (bcrypt, its decoy hash) loads on first use of one of its names, so modules
that need only ``engine.auth.permissions`` (the action registry, every CLI call and
worker) do not pay for it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'engine.auth' has no attribute {name!r}")
    value = getattr(import_module("engine.auth.service"), name)
    globals()[name] = value
    return value
