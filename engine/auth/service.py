"""Authentication service used by the login page, the admin page and the CLI.

Passwords are bcrypt hashes; there is no default password anywhere. Five failed
logins lock an account for five minutes. A login creates a server-side session
row; logout revokes it, so a copied cookie stops working at once.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import bcrypt

from engine.actions.base import ROLES, ActionError
from engine.actions.context import UserRef
from storage.models import utcnow
from storage.repositories import users as user_repo

log = logging.getLogger("mltrainer.auth")

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
MIN_PASSWORD_LENGTH = 10
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")


class AuthError(ActionError):
    """A user-facing authentication or account error."""


@dataclass(frozen=True)
class LoginOutcome:
    ok: bool
    message: str
    user: UserRef | None = None
    name: str | None = None


def _bcrypt_rounds() -> int:
    # Tests lower the cost through the environment; production keeps bcrypt's 12.
    return max(4, int(os.environ.get("MLTRAINER_BCRYPT_ROUNDS", "12")))


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=_bcrypt_rounds())).decode()


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:
        return False


# A real hash to compare against for unknown users, so timing does not reveal them.
_DECOY_HASH = bcrypt.hashpw(
    b"not-a-real-password", bcrypt.gensalt(rounds=_bcrypt_rounds())
).decode()


def validate_password_rules(password: str, username: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("at least one letter and one digit")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if len(password) > 128:
        problems.append("at most 128 characters")
    return problems


def first_run() -> bool:
    """True while no account exists: the app then offers to create the first admin."""
    return user_repo.count_users() == 0


def create_user(
    username: str, name: str, password: str, role: str, email: str | None = None
) -> user_repo.UserRecord:
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AuthError(
            "Username must be 3–32 characters: lowercase letters, digits, '.', '_' or '-'."
        )
    if role not in ROLES:
        raise AuthError(f"Role must be one of {', '.join(ROLES)}.")
    if not name.strip():
        raise AuthError("Name is required.")
    problems = validate_password_rules(password, username)
    if problems:
        raise AuthError("Password needs " + "; ".join(problems) + ".")
    if user_repo.get_user(username) is not None:
        raise AuthError(f"User '{username}' already exists.")
    record = user_repo.create_user(username, name.strip(), hash_password(password), role, email)
    log.info("user created", extra={"username": username, "role": role})
    return record


def create_first_admin(username: str, name: str, password: str) -> user_repo.UserRecord:
    if not first_run():
        raise AuthError("An administrator already exists; ask them for an account.")
    return create_user(username, name, password, "admin")


def login(username: str, password: str) -> LoginOutcome:
    from engine.observability.metrics import LOGINS

    username = (username or "").strip().lower()
    user = user_repo.get_user(username) if username else None
    if user is None:
        check_password(password or "", _DECOY_HASH)
        LOGINS.labels("invalid").inc()
        return LoginOutcome(False, "Username or password is incorrect.")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, round((user.locked_until - now).total_seconds() / 60))
        LOGINS.labels("locked").inc()
        return LoginOutcome(
            False, f"Too many failed attempts: the account is locked for about {minutes} min."
        )
    if not user.is_active:
        LOGINS.labels("inactive").inc()
        return LoginOutcome(False, "This account is deactivated. Contact an administrator.")
    if not check_password(password or "", user.password_hash):
        updated = user_repo.record_failed_login(user.id, MAX_FAILED_LOGINS, now + LOCKOUT)
        LOGINS.labels("invalid").inc()
        log.info("failed login", extra={"username": username})
        if updated.locked_until is not None and updated.locked_until > now:
            return LoginOutcome(
                False, "Too many failed attempts: the account is locked for 5 minutes."
            )
        return LoginOutcome(False, "Username or password is incorrect.")
    user_repo.record_successful_login(user.id)
    LOGINS.labels("success").inc()
    return LoginOutcome(True, "Welcome.", UserRef(user.id, user.username, user.role), user.name)


def start_session(user: UserRef, hours: float, cookie_id: str | None = None) -> str:
    """Create a server-side session and return its key.

    The key lives only in the server-side Streamlit session state; the browser holds
    the signed re-authentication cookie, whose id is recorded here as ``cookie_id``.
    """
    session_key = secrets.token_hex(32)
    user_repo.create_session(user.id, session_key, cookie_id, utcnow() + timedelta(hours=hours))
    return session_key


def validate_session(session_key: str | None) -> UserRef | None:
    """The session's user with the role as stored now, or None if the session is over."""
    if not session_key:
        return None
    found = user_repo.find_live_session(session_key)
    if found is None or not found[0].is_active:
        return None
    user = found[0]
    return UserRef(user.id, user.username, user.role)


def resume_session_from_cookie(username: str, cookie_id: str) -> tuple[str, UserRef] | None:
    """Re-attach a browser cookie to its live server session (after a page reload).

    The cookie is honoured only while the session it was issued with is live, so a
    logout (which revokes that session) also kills every copy of the cookie.
    """
    user = user_repo.get_user(username)
    if user is None or not user.is_active:
        return None
    session_key = user_repo.find_live_session_by_cookie(user.id, cookie_id)
    if session_key is None:
        return None
    return session_key, UserRef(user.id, user.username, user.role)


def end_session(session_key: str | None) -> None:
    if session_key:
        user_repo.revoke_session(session_key)


def set_role(actor: UserRef, user_id: int, role: str) -> None:
    _require_admin(actor)
    if role not in ROLES:
        raise AuthError(f"Role must be one of {', '.join(ROLES)}.")
    if user_id == actor.id and role != "admin":
        raise AuthError("You cannot remove your own administrator role.")
    user_repo.update_user(user_id, role=role)


def set_active(actor: UserRef, user_id: int, active: bool) -> None:
    _require_admin(actor)
    if user_id == actor.id and not active:
        raise AuthError("You cannot deactivate your own account.")
    user_repo.update_user(user_id, is_active=active)
    if not active:
        user_repo.revoke_user_sessions(user_id)


def unlock(actor: UserRef, user_id: int) -> None:
    _require_admin(actor)
    user_repo.update_user(user_id, locked_until=None, failed_logins=0)


def list_accounts(actor: UserRef) -> list[user_repo.UserRecord]:
    _require_admin(actor)
    return user_repo.list_users()


def _require_admin(actor: UserRef) -> None:
    from engine.actions.base import PermissionDenied

    if actor.role != "admin":
        raise PermissionDenied("Only administrators can manage users.")


def library_credentials() -> dict[str, dict]:
    """Active accounts in the shape streamlit-authenticator expects (hashes, never passwords)."""
    return {
        user.username: {
            "name": user.name,
            "email": user.email,
            "password": user.password_hash,
            "roles": [user.role],
        }
        for user in user_repo.list_users()
        if user.is_active
    }
