"""Users, their server-side sessions and the login throttle."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from storage.db import session_scope
from storage.models import LoginThrottle, User, UserSession, utcnow

# pg_advisory_xact_lock key for "creating the first account" (a 64-bit integer).
_FIRST_USER_LOCK = zlib.crc32(b"mltrainer.first-user")


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    name: str
    email: str | None
    role: str
    is_active: bool
    failed_logins: int
    locked_until: datetime | None  # the latest lock any client has on this username
    created_at: datetime
    last_login_at: datetime | None
    password_hash: str


def _locked_until():
    """Correlated subquery: the latest ``locked_until`` of the username's throttle rows."""
    return (
        select(func.max(LoginThrottle.locked_until))
        .where(LoginThrottle.username == User.username)
        .correlate(User)
        .scalar_subquery()
    )


def _select_users():
    return select(User, _locked_until())


def _record(user: User, locked_until: datetime | None = None) -> UserRecord:
    return UserRecord(
        id=user.id,
        username=user.username,
        name=user.name,
        email=user.email,
        role=user.role,
        is_active=user.is_active,
        failed_logins=user.failed_logins,
        locked_until=locked_until,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        password_hash=user.password_hash,
    )


def count_users() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def create_user(
    username: str, name: str, password_hash: str, role: str, email: str | None = None
) -> UserRecord:
    with session_scope() as session:
        user = User(
            username=username, name=name, password_hash=password_hash, role=role, email=email
        )
        session.add(user)
        session.flush()
        return _record(user)


def create_first_user(
    username: str, name: str, password_hash: str, role: str, email: str | None = None
) -> UserRecord | None:
    """Create the account only while no account exists; None when one already does.

    The check and the insert are one transaction that holds a lock, so two visitors
    submitting the first-run form together cannot both get in: on PostgreSQL a
    transaction-scoped advisory lock, on SQLite ``BEGIN IMMEDIATE`` (the write lock,
    taken before the count). The second one waits, then sees the first one's row.
    """
    with session_scope() as session:
        _lock_account_creation(session)
        if session.scalar(select(func.count()).select_from(User)):
            return None
        user = User(
            username=username, name=name, password_hash=password_hash, role=role, email=email
        )
        session.add(user)
        session.flush()
        return _record(user)


def _lock_account_creation(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_USER_LOCK})
    elif dialect == "sqlite":
        # First statement of the transaction (pysqlite has not begun one: it starts them
        # lazily before a write), so this takes the database's write lock now.
        session.execute(text("BEGIN IMMEDIATE"))
    else:  # pragma: no cover - the project supports SQLite and PostgreSQL only
        raise RuntimeError(f"no account-creation lock for {dialect}")


def get_user(username: str) -> UserRecord | None:
    with session_scope() as session:
        row = session.execute(_select_users().where(User.username == username)).first()
        return _record(*row) if row else None


def get_user_by_id(user_id: int) -> UserRecord | None:
    with session_scope() as session:
        row = session.execute(_select_users().where(User.id == user_id)).first()
        return _record(*row) if row else None


def list_users() -> list[UserRecord]:
    with session_scope() as session:
        rows = session.execute(_select_users().order_by(User.username))
        return [_record(user, locked) for user, locked in rows]


def update_user(user_id: int, **fields) -> None:
    allowed = {
        "name",
        "email",
        "role",
        "is_active",
        "password_hash",
        "locked_until",
        "failed_logins",
        "last_login_at",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    with session_scope() as session:
        session.execute(update(User).where(User.id == user_id).values(**fields))


def throttle_locked_until(username: str, client: str) -> datetime | None:
    """Until when logins for ``username`` from ``client`` are refused (None: not locked)."""
    with session_scope() as session:
        return session.scalar(
            select(LoginThrottle.locked_until).where(
                LoginThrottle.username == username, LoginThrottle.client == client
            )
        )


def record_login_failure(
    username: str,
    client: str,
    lock_for: Callable[[int], timedelta | None],
    forget_after: timedelta = timedelta(days=1),
) -> tuple[int, datetime | None]:
    """Count one failed login for (username, client) and lock it for ``lock_for(failures)``.

    The count is an upsert incremented in SQL, so failures at the same moment all count.
    Rows quiet for ``forget_after`` (and not locked) are dropped first, so a client's
    count starts over after a quiet day and names sprayed at the form do not pile up.
    Returns the failures so far and the lock's end (None: not locked).
    """
    now = utcnow()
    with session_scope() as session:
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failure_at < now - forget_after,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        )
        insert = _dialect_insert(session)
        statement = (
            insert(LoginThrottle)
            .values(username=username, client=client, failures=1, last_failure_at=now)
            .on_conflict_do_update(
                index_elements=["username", "client"],
                set_={"failures": LoginThrottle.failures + 1, "last_failure_at": now},
            )
            .returning(LoginThrottle.id, LoginThrottle.failures)
        )
        row_id, failures = session.execute(statement).one()
        duration = lock_for(failures)
        locked_until = now + duration if duration is not None else None
        if locked_until is not None:
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.id == row_id)
                .values(locked_until=locked_until)
            )
        return failures, locked_until


def _dialect_insert(session: Session) -> Callable[[Any], Any]:
    """The dialect's INSERT (both have ON CONFLICT ... DO UPDATE)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def clear_login_failures(username: str, client: str | None = None) -> None:
    """Forget the failures of (username, client), or of every client when client is None."""
    with session_scope() as session:
        statement = delete(LoginThrottle).where(LoginThrottle.username == username)
        if client is not None:
            statement = statement.where(LoginThrottle.client == client)
        session.execute(statement)


def record_successful_login(user_id: int, password_hash: str | None = None) -> None:
    """Stamp the login; ``password_hash`` replaces the stored one (a hash upgrade)."""
    values: dict = {"failed_logins": 0, "locked_until": None, "last_login_at": utcnow()}
    if password_hash is not None:
        values["password_hash"] = password_hash
    with session_scope() as session:
        session.execute(update(User).where(User.id == user_id).values(**values))


def create_session(user_id: int, session_key: str, cookie_id: str | None, expires_at: datetime):
    with session_scope() as session:
        session.add(
            UserSession(
                user_id=user_id, session_key=session_key, cookie_id=cookie_id, expires_at=expires_at
            )
        )


def find_live_session(session_key: str) -> tuple[UserRecord, datetime] | None:
    """The session's user and expiry, if the session exists, is not revoked or expired."""
    with session_scope() as session:
        row = session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.session_key == session_key,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
        ).first()
        if row is None:
            return None
        user_session, user = row
        return _record(user), user_session.expires_at


def find_live_session_by_cookie(cookie_id: str) -> tuple[str, UserRecord] | None:
    """The key and user of the live session issued together with this browser cookie
    (``cookie_id`` is the stored digest of the cookie's secret)."""
    with session_scope() as session:
        row = session.execute(
            select(UserSession.session_key, User, _locked_until())
            .join(User, User.id == UserSession.user_id)
            .where(
                UserSession.cookie_id == cookie_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
        ).first()
        if row is None:
            return None
        session_key, user, locked = row
        return session_key, _record(user, locked)


def revoke_session(session_key: str) -> None:
    with session_scope() as session:
        session.execute(
            update(UserSession)
            .where(UserSession.session_key == session_key, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def revoke_user_sessions(user_id: int) -> None:
    with session_scope() as session:
        session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
