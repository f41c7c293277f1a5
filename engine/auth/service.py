"""Authentication service used by the login page, the admin page and the CLI.

Passwords are bcrypt hashes of an HMAC-SHA256 pre-hash (so the 10-128 character
policy holds past bcrypt's 72-byte limit); there is no default password anywhere.

Every refused login gets the same answer and costs one bcrypt check, whether the
username is unknown, the password wrong, the account deactivated or the client
locked out, so the login form reveals nothing about which accounts exist. Failures
are counted per (username, client address): after five, that client alone is locked
out of that username for a time that doubles with every further failure (1 min, 2,
4 ... at most an hour), so nobody can keep somebody else's account locked. The
``mltrainer_logins_total`` outcome and the log line say what really happened.

A login creates a server-side session row; logout revokes it, so a copied cookie
stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

import bcrypt

from engine.actions.base import ActionError
from engine.actions.context import UserRef
from engine.auth import cookies
from engine.auth.permissions import ROLES, is_admin, is_role, role_at_least
from storage.models import utcnow
from storage.repositories import users as user_repo

log = logging.getLogger("mltrainer.auth")

MAX_FAILED_LOGINS = 5  # failures from one client before that client is locked out
LOCKOUT = timedelta(minutes=1)  # the first lock; each further failure doubles it
MAX_LOCKOUT = timedelta(hours=1)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128
LOGIN_FAILED = (
    "Username or password is incorrect. After several failed attempts, logins from "
    "this browser pause for a few minutes."
)
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


# Hashes written since the pre-hash scheme: this prefix, then a bcrypt hash of the
# base64 HMAC-SHA256 of the password (44 bytes, no NUL: within bcrypt's 72). Older hashes
# are plain bcrypt of the password (at most 72 bytes); they still verify, and a
# successful login rewrites them in the new form.
PREHASH_PREFIX = "$bcrypt-sha256$"
_PREHASH_KEY = b"mltrainer.password.v1"


def _prehash(password: str) -> bytes:
    return base64.b64encode(hmac.new(_PREHASH_KEY, password.encode(), hashlib.sha256).digest())


def hash_password(password: str) -> str:
    salt = bcrypt.gensalt(rounds=_bcrypt_rounds())
    return PREHASH_PREFIX + bcrypt.hashpw(_prehash(password), salt).decode()


def needs_rehash(password_hash: str) -> bool:
    return not password_hash.startswith(PREHASH_PREFIX)


def check_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; always costs one bcrypt check."""
    try:
        if password_hash.startswith(PREHASH_PREFIX):
            stored = password_hash[len(PREHASH_PREFIX) :].encode()
            return bcrypt.checkpw(_prehash(password), stored)
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # a legacy hash and a password over 72 bytes, or a broken hash
        bcrypt.checkpw(_prehash(password), _DECOY_HASH[len(PREHASH_PREFIX) :].encode())
        return False


# A real hash to compare against for unknown users, so timing does not reveal them.
_DECOY_HASH = hash_password(secrets.token_urlsafe(16))


def validate_password_rules(password: str, username: str = "") -> list[str]:
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"at least {MIN_PASSWORD_LENGTH} characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("at least one letter and one digit")
    if username and username.lower() in password.lower():
        problems.append("must not contain the username")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"at most {MAX_PASSWORD_LENGTH} characters")
    return problems


def first_run() -> bool:
    """True while no account exists: the app then offers to create the first admin."""
    return user_repo.count_users() == 0


def create_user(
    username: str, name: str, password: str, role: str, email: str | None = None
) -> user_repo.UserRecord:
    username = _validated_account(username, name, password, role)
    if user_repo.get_user(username) is not None:
        raise AuthError(f"User '{username}' already exists.")
    record = user_repo.create_user(username, name.strip(), hash_password(password), role, email)
    log.info("user created", extra={"username": username, "role": role})
    return record


def _validated_account(username: str, name: str, password: str, role: str) -> str:
    """The normalised username, or AuthError naming what is wrong."""
    username = (username or "").strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise AuthError(
            "Username must be 3–32 characters: lowercase letters, digits, '.', '_' or '-'."
        )
    if not is_role(role):
        raise AuthError(f"Role must be one of {', '.join(ROLES)}.")
    if not name.strip():
        raise AuthError("Name is required.")
    problems = validate_password_rules(password, username)
    if problems:
        raise AuthError("Password needs " + "; ".join(problems) + ".")
    return username


FIRST_ADMIN_TAKEN = "An administrator already exists; ask them for an account."


def create_first_admin(username: str, name: str, password: str) -> user_repo.UserRecord:
    """Create the first administrator, exactly once even when several visitors submit
    the first-run form together: the password is hashed first (the slow part), then the
    "no account yet" check and the insert run in one locked transaction."""
    if not first_run():  # the common case answered without hashing
        raise AuthError(FIRST_ADMIN_TAKEN)
    username = _validated_account(username, name, password, "admin")
    record = user_repo.create_first_user(username, name.strip(), hash_password(password), "admin")
    if record is None:
        log.info("first administrator refused: one exists", extra={"username": username})
        raise AuthError(FIRST_ADMIN_TAKEN)
    log.info("user created", extra={"username": username, "role": "admin"})
    return record


def lockout_for(failures: int) -> timedelta | None:
    """How long a client is locked out of a username after ``failures`` in a row."""
    if failures < MAX_FAILED_LOGINS:
        return None
    return min(LOCKOUT * 2 ** min(failures - MAX_FAILED_LOGINS, 16), MAX_LOCKOUT)


def login(username: str, password: str, client: str | None = None) -> LoginOutcome:
    """Check a login from ``client`` (the remote address; None: a local connection).

    Refusals all read ``LOGIN_FAILED`` and cost one bcrypt check; the metric's outcome
    label (invalid, locked, inactive) and the log line tell operators which it was.
    """
    from engine.observability.metrics import LOGINS

    username = (username or "").strip().lower()[:64]
    client = (client or "local")[:64]
    password = password or ""
    now = utcnow()
    locked_until = user_repo.throttle_locked_until(username, client)
    user = user_repo.get_user(username) if username else None
    if locked_until is not None and locked_until > now:
        check_password(password, _DECOY_HASH)  # the same cost as any other answer
        outcome, reason = "locked", "client locked out"
    elif user is None:
        check_password(password, _DECOY_HASH)
        outcome, reason = "invalid", "unknown username"
    elif not check_password(password, user.password_hash):
        outcome, reason = "invalid", "wrong password"
    elif not user.is_active:
        outcome, reason = "inactive", "account deactivated"
    else:
        user_repo.clear_login_failures(username, client)
        rehashed = hash_password(password) if needs_rehash(user.password_hash) else None
        user_repo.record_successful_login(user.id, rehashed)
        LOGINS.labels("success").inc()
        log.info("login", extra={"username": username, "client": client})
        return LoginOutcome(True, "Welcome.", UserRef(user.id, user.username, user.role), user.name)
    failures = None
    if outcome != "locked":
        failures, locked_until = user_repo.record_login_failure(username, client, lockout_for)
    LOGINS.labels(outcome).inc()
    log.info(
        "login refused",
        extra={
            "username": username,
            "client": client,
            "reason": reason,
            "failures": failures,
            "locked_until": locked_until.isoformat() if locked_until else None,
        },
    )
    return LoginOutcome(False, LOGIN_FAILED)


def start_session(user: UserRef, hours: float, cookie_id: str | None = None) -> str:
    """Create a server-side session and return its key.

    The key lives only in the server-side Streamlit session state; the browser holds
    the signed re-authentication cookie, whose id is recorded here as ``cookie_id``.
    """
    if user.id is None:  # a UserRef for a system caller, not a stored account
        raise AuthError("Only a stored account can hold a session.")
    if user.id is None:
        raise ActionError("The built-in system user has no account to sign in to.")
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


class ResumedSession(NamedTuple):
    session_key: str
    user: UserRef
    name: str


def start_browser_session(user: UserRef, hours: float, cookie_key: str) -> tuple[str, str]:
    """A server-side session plus the signed cookie value that re-attaches a reloaded
    browser tab to it (see engine.auth.cookies). Returns (session key, cookie value)."""
    cookie_value, cookie_id = cookies.issue(cookie_key)
    return start_session(user, hours, cookie_id=cookie_id), cookie_value


def resume_session_from_cookie(cookie_value: str | None, cookie_key: str) -> ResumedSession | None:
    """Re-attach a browser cookie to its live server session (after a page reload).

    The cookie must carry a valid signature, and is honoured only while the session it
    was issued with is live, so a logout (which revokes that session) also kills every
    copy of the cookie.
    """
    cookie_id = cookies.verify(cookie_key, cookie_value)
    if cookie_id is None:
        return None
    found = user_repo.find_live_session_by_cookie(cookie_id)
    if found is None:
        return None
    session_key, user = found
    if not user.is_active:
        return None
    return ResumedSession(session_key, UserRef(user.id, user.username, user.role), user.name)


def end_session(session_key: str | None) -> None:
    if session_key:
        user_repo.revoke_session(session_key)


def set_role(actor: UserRef, user_id: int, role: str) -> None:
    _require_admin(actor)
    if not is_role(role):
        raise AuthError(f"Role must be one of {', '.join(ROLES)}.")
    if user_id == actor.id and not role_at_least(role, "admin"):
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
    """Lift every client's lock on this account."""
    _require_admin(actor)
    user = user_repo.get_user_by_id(user_id)
    if user is not None:
        user_repo.clear_login_failures(user.username)
    user_repo.update_user(user_id, locked_until=None, failed_logins=0)


def list_accounts(actor: UserRef) -> list[user_repo.UserRecord]:
    _require_admin(actor)
    return user_repo.list_users()


def _require_admin(actor: UserRef) -> None:
    from engine.actions.base import PermissionDenied

    if not is_admin(actor):
        raise PermissionDenied("Only administrators can manage users.")
