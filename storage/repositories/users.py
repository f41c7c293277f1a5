"""Users and their server-side sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from storage.db import session_scope
from storage.models import User, UserSession, utcnow


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    name: str
    email: str | None
    role: str
    is_active: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    password_hash: str


def _record(user: User) -> UserRecord:
    return UserRecord(
        id=user.id,
        username=user.username,
        name=user.name,
        email=user.email,
        role=user.role,
        is_active=user.is_active,
        failed_logins=user.failed_logins,
        locked_until=user.locked_until,
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


def get_user(username: str) -> UserRecord | None:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        return _record(user) if user else None


def get_user_by_id(user_id: int) -> UserRecord | None:
    with session_scope() as session:
        user = session.get(User, user_id)
        return _record(user) if user else None


def list_users() -> list[UserRecord]:
    with session_scope() as session:
        return [_record(u) for u in session.scalars(select(User).order_by(User.username))]


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


def record_failed_login(user_id: int, lock_after: int, lock_until: datetime) -> UserRecord:
    """Count a failure atomically; lock the account when the limit is reached."""
    with session_scope() as session:
        # Increment in SQL so two failures at the same moment both count.
        session.execute(
            update(User).where(User.id == user_id).values(failed_logins=User.failed_logins + 1)
        )
        user = session.get(User, user_id)
        session.refresh(user)
        if user.failed_logins >= lock_after:
            user.locked_until = lock_until
            user.failed_logins = 0
        session.flush()
        return _record(user)


def record_successful_login(user_id: int) -> None:
    with session_scope() as session:
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=0, locked_until=None, last_login_at=utcnow())
        )


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


def find_live_session_by_cookie(user_id: int, cookie_id: str) -> str | None:
    """Token hash of the live session issued together with this browser cookie."""
    with session_scope() as session:
        return session.scalar(
            select(UserSession.session_key).where(
                UserSession.user_id == user_id,
                UserSession.cookie_id == cookie_id,
                UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow(),
            )
        )


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
