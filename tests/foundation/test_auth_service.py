"""Accounts, password rules, throttling and server-side sessions (engine.auth)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import auth
from engine.actions import PermissionDenied, UserRef
from engine.auth import service
from storage.models import utcnow
from storage.repositories import users as user_repo

GOOD = "Correct-h0rse-1"


def test_first_run_until_an_account_exists(fresh_db):
    assert auth.first_run()
    service.create_first_admin("root", "Root", GOOD)
    assert not auth.first_run()
    with pytest.raises(auth.AuthError, match="already exists"):
        service.create_first_admin("root2", "Root", GOOD)


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short1", "at least 10"),
        ("onlyletterslong", "letter and one digit"),
        ("alice-1234567", "username"),
    ],
)
def test_password_rules(fresh_db, password, problem):
    with pytest.raises(auth.AuthError, match=problem):
        auth.create_user("alice", "Alice", password, "analyst")


def test_passwords_are_bcrypt_hashed(fresh_db):
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    assert record.password_hash.startswith("$2") and GOOD not in record.password_hash


def test_login_success_and_failure(fresh_db):
    auth.create_user("alice", "Alice", GOOD, "analyst")
    assert auth.login("alice", GOOD).ok
    assert auth.login("ALICE ", GOOD).ok  # usernames are case-insensitive
    wrong = auth.login("alice", "wrong-password-1")
    assert not wrong.ok and "incorrect" in wrong.message
    assert not auth.login("nobody", GOOD).ok


def test_five_failures_lock_the_account_then_time_unlocks_it(fresh_db):
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    for _ in range(5):
        assert not auth.login("alice", "wrong-password-1").ok
    locked = auth.login("alice", GOOD)
    assert not locked.ok and "locked" in locked.message
    user_repo.update_user(record.id, locked_until=utcnow() - timedelta(seconds=1))
    assert auth.login("alice", GOOD).ok


def test_admin_unlocks_and_only_admins_manage_users(fresh_db):
    admin = service.create_first_admin("root", "Root", GOOD)
    admin_ref = UserRef(admin.id, admin.username, admin.role)
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    for _ in range(5):
        auth.login("alice", "wrong-password-1")
    alice = UserRef(record.id, "alice", "analyst")
    with pytest.raises(PermissionDenied):
        service.unlock(alice, record.id)
    service.unlock(admin_ref, record.id)
    assert auth.login("alice", GOOD).ok
    with pytest.raises(auth.AuthError):
        service.set_role(admin_ref, admin.id, "viewer")  # cannot demote yourself


def test_logout_revokes_the_server_session_and_its_cookie(fresh_db):
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    user = UserRef(record.id, "alice", "analyst")
    key = auth.start_session(user, hours=1, cookie_id="1700000000.5")
    assert auth.validate_session(key) == user
    assert auth.resume_session_from_cookie("alice", "1700000000.5")[0] == key
    auth.end_session(key)
    assert auth.validate_session(key) is None
    assert auth.resume_session_from_cookie("alice", "1700000000.5") is None


def test_deactivation_ends_sessions_and_role_changes_apply_at_once(fresh_db):
    admin = service.create_first_admin("root", "Root", GOOD)
    admin_ref = UserRef(admin.id, admin.username, admin.role)
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    key = auth.start_session(UserRef(record.id, "alice", "analyst"), hours=1)
    service.set_role(admin_ref, record.id, "viewer")
    assert auth.validate_session(key).role == "viewer"
    service.set_active(admin_ref, record.id, False)
    assert auth.validate_session(key) is None
    assert "deactivated" in auth.login("alice", GOOD).message
