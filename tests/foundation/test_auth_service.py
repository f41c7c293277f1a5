"""Accounts, password rules, throttling and server-side sessions (engine.auth)."""

from __future__ import annotations

import threading
from datetime import timedelta

import bcrypt
import pytest

from engine import auth
from engine.actions import PermissionDenied, UserRef
from engine.auth import cookies, service
from engine.config import get_settings
from engine.observability.metrics import LOGINS
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
    stored = record.password_hash
    assert stored.startswith(service.PREHASH_PREFIX + "$2b$") and GOOD not in stored


@pytest.mark.parametrize(
    "password",
    ["A1" + "x" * 98, "A1" + "é" * 126, "Long-passphrase-9 " * 7],  # 100, 254 and 126 bytes
)
def test_passwords_longer_than_bcrypts_72_bytes_work_in_full(fresh_db, password):
    assert len(password.encode()) > 72 and len(password) <= service.MAX_PASSWORD_LENGTH
    auth.create_user("alice", "Alice", password, "analyst")  # bcrypt alone raises here
    assert auth.login("alice", password).ok
    # every character counts, not only bcrypt's first 72 bytes
    assert not auth.login("alice", password[:-1] + ("y" if password[-1] != "y" else "z")).ok


def test_a_first_admin_with_a_long_password(fresh_db):
    password = "Correct-h0rse-battery-staple " * 4  # 116 characters
    service.create_first_admin("root", "Root", password)
    assert auth.login("root", password).ok


def test_hashes_from_before_the_prehash_still_verify_and_are_upgraded(fresh_db):
    legacy = bcrypt.hashpw(GOOD.encode(), bcrypt.gensalt(rounds=4)).decode()
    user_repo.create_user("old", "Old Timer", legacy, "analyst")
    assert not auth.login("old", "x" * 100 + "1").ok  # over 72 bytes: refused, no crash
    assert auth.login("old", GOOD).ok
    upgraded = user_repo.get_user("old").password_hash
    assert upgraded.startswith(service.PREHASH_PREFIX)
    assert auth.login("old", GOOD).ok


def test_login_success_and_failure(fresh_db):
    auth.create_user("alice", "Alice", GOOD, "analyst")
    assert auth.login("alice", GOOD).ok
    assert auth.login("ALICE ", GOOD).ok  # usernames are case-insensitive
    wrong = auth.login("alice", "wrong-password-1")
    assert not wrong.ok and wrong.message == service.LOGIN_FAILED
    assert not auth.login("nobody", GOOD).ok


def _set_lock(username: str, client: str, until) -> None:
    from sqlalchemy import update

    from storage.db import session_scope
    from storage.models import LoginThrottle

    with session_scope() as session:
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.username == username, LoginThrottle.client == client)
            .values(locked_until=until)
        )


def test_five_failures_lock_the_client_then_time_unlocks_it(fresh_db):
    auth.create_user("alice", "Alice", GOOD, "analyst")
    for _ in range(5):
        assert not auth.login("alice", "wrong-password-1", client="203.0.113.7").ok
    assert not auth.login("alice", GOOD, client="203.0.113.7").ok  # locked out
    _set_lock("alice", "203.0.113.7", utcnow() - timedelta(seconds=1))
    assert auth.login("alice", GOOD, client="203.0.113.7").ok


def test_a_lock_stops_only_the_client_that_failed(fresh_db):
    """Anyone could keep a known account locked when the lock was per account."""
    auth.create_user("alice", "Alice", GOOD, "analyst")
    for _ in range(8):
        auth.login("alice", "wrong-password-1", client="198.51.100.66")  # the attacker
    assert not auth.login("alice", GOOD, client="198.51.100.66").ok
    assert auth.login("alice", GOOD, client="192.0.2.10").ok  # alice, elsewhere
    assert auth.login("alice", GOOD).ok  # and on a local connection


def test_the_lock_doubles_with_every_further_failure(fresh_db):
    assert service.lockout_for(4) is None
    assert [service.lockout_for(n) for n in (5, 6, 7, 8)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8)
    ]
    assert service.lockout_for(12) == service.lockout_for(500) == timedelta(hours=1)
    auth.create_user("alice", "Alice", GOOD, "analyst")
    client = "203.0.113.9"
    for _ in range(5):
        auth.login("alice", "wrong-password-1", client=client)
    first = user_repo.throttle_locked_until("alice", client) - utcnow()
    assert timedelta(seconds=50) < first <= timedelta(minutes=1)
    _set_lock("alice", client, utcnow() - timedelta(seconds=1))  # the minute has passed
    auth.login("alice", "wrong-password-1", client=client)  # the sixth failure
    second = user_repo.throttle_locked_until("alice", client) - utcnow()
    assert timedelta(seconds=110) < second <= timedelta(minutes=2)
    # attempts during a lock do not count (nor lengthen it)
    auth.login("alice", "wrong-password-1", client=client)
    assert user_repo.throttle_locked_until("alice", client) - utcnow() <= second


def _count(outcome: str) -> float:
    return LOGINS.labels(outcome)._value.get()


def test_every_refusal_looks_the_same_and_costs_one_bcrypt_check(fresh_db, monkeypatch):
    """Unknown name, wrong password, locked, deactivated: one message, one bcrypt check
    each, so neither the text nor the time tells which accounts exist. The metric's
    outcome label still tells operators what happened."""
    admin = service.create_first_admin("root", "Root", GOOD)
    admin_ref = UserRef(admin.id, admin.username, admin.role)
    bob = auth.create_user("bob", "Bob", GOOD, "analyst")
    service.set_active(admin_ref, bob.id, False)
    auth.create_user("alice", "Alice", GOOD, "analyst")
    checks = []
    real_checkpw = bcrypt.checkpw
    monkeypatch.setattr(
        service.bcrypt, "checkpw", lambda *args: checks.append(1) or real_checkpw(*args)
    )

    def attempt(username, password, outcome):
        checks.clear()
        before = _count(outcome)
        answer = auth.login(username, password, client="203.0.113.5")
        assert not answer.ok and answer.message == service.LOGIN_FAILED, username
        assert len(checks) == 1, (username, outcome)
        assert _count(outcome) == before + 1
        return answer

    attempt("nobody", GOOD, "invalid")  # unknown username
    attempt("alice", "wrong-password-1", "invalid")  # wrong password
    attempt("bob", GOOD, "inactive")  # deactivated, right password
    attempt("bob", "wrong-password-1", "invalid")  # deactivated, wrong password
    for _ in range(5):
        auth.login("alice", "wrong-password-1", client="203.0.113.5")
        auth.login("nobody", "wrong-password-1", client="203.0.113.5")
    attempt("alice", GOOD, "locked")  # an existing account, locked for this client
    attempt("nobody", GOOD, "locked")  # an unknown name locks the same way


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
    cookie_key = get_settings().cookie_key
    key, cookie = auth.start_browser_session(user, 1, cookie_key)
    assert auth.validate_session(key) == user
    resumed = auth.resume_session_from_cookie(cookie, cookie_key)
    assert resumed == (key, user, "Alice")
    auth.end_session(key)
    assert auth.validate_session(key) is None
    assert auth.resume_session_from_cookie(cookie, cookie_key) is None


def test_cookies_are_signed_and_name_no_user(fresh_db):
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    user = UserRef(record.id, "alice", "analyst")
    cookie_key = get_settings().cookie_key
    key, cookie = auth.start_browser_session(user, 1, cookie_key)
    assert "alice" not in cookie
    version, secret, signature = cookie.split(".")
    forged = f"{version}.{secret}.{signature[:-2]}AA"
    other_secret = f"{version}.{secret[:-1]}x.{signature}"
    for bad in (forged, other_secret, "", None, "v1..", cookie + ".extra"):
        assert auth.resume_session_from_cookie(bad, cookie_key) is None, bad
    assert auth.resume_session_from_cookie(cookie, "another-key-entirely") is None
    # the database holds a digest of the cookie's secret, not the cookie
    assert cookies.verify(cookie_key, cookie) == cookies.cookie_id(secret) != secret
    assert auth.resume_session_from_cookie(cookie, cookie_key).session_key == key


@pytest.fixture
def slow_bcrypt(monkeypatch):
    # A real hashing cost (tests otherwise use 4 rounds), so the race window is as wide
    # as it is in production: the old code counted accounts, hashed, then inserted.
    monkeypatch.setenv("MLTRAINER_BCRYPT_ROUNDS", "10")


@pytest.mark.parametrize("visitors", [2, 4])
def test_concurrent_first_run_forms_make_exactly_one_admin(any_db, slow_bcrypt, visitors):
    barrier = threading.Barrier(visitors)
    results: dict[str, object] = {}

    def submit(index: int) -> None:
        name = f"admin{index}"
        barrier.wait()
        try:
            results[name] = service.create_first_admin(name, name.title(), GOOD)
        except Exception as error:  # collected and checked below
            results[name] = error

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(visitors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    created = [r for r in results.values() if isinstance(r, user_repo.UserRecord)]
    refused = [r for r in results.values() if not isinstance(r, user_repo.UserRecord)]
    assert len(results) == visitors
    assert len(created) == 1, results
    assert all(isinstance(r, auth.AuthError) for r in refused), refused
    assert all(str(r) == service.FIRST_ADMIN_TAKEN for r in refused)
    assert user_repo.count_users() == 1
    assert [u.role for u in user_repo.list_users()] == ["admin"]


def test_deactivation_ends_sessions_and_role_changes_apply_at_once(fresh_db):
    admin = service.create_first_admin("root", "Root", GOOD)
    admin_ref = UserRef(admin.id, admin.username, admin.role)
    record = auth.create_user("alice", "Alice", GOOD, "analyst")
    key = auth.start_session(UserRef(record.id, "alice", "analyst"), hours=1)
    service.set_role(admin_ref, record.id, "viewer")
    assert auth.validate_session(key).role == "viewer"
    service.set_active(admin_ref, record.id, False)
    assert auth.validate_session(key) is None
    refused = auth.login("alice", GOOD)
    assert not refused.ok and refused.message == service.LOGIN_FAILED  # not "deactivated"


def test_the_client_behind_a_trusted_proxy_is_the_forwarded_address():
    from engine.auth.clients import client_address, parse_networks

    ingress = parse_networks("10.0.0.0/8, 127.0.0.1")
    # no trusted proxies configured: the header is anybody's to forge, so it is ignored
    assert client_address("203.0.113.4", "198.51.100.1", ()) == "203.0.113.4"
    assert client_address(None, "198.51.100.1", ()) is None
    # a direct client, not a proxy: its header is ignored too
    assert client_address("203.0.113.4", "198.51.100.1", ingress) == "203.0.113.4"
    # through the ingress: the right-most address that is not a trusted proxy
    assert client_address("10.1.2.3", "198.51.100.1", ingress) == "198.51.100.1"
    assert client_address("10.1.2.3", "6.6.6.6, 198.51.100.1, 10.9.9.9", ingress) == (
        "198.51.100.1"
    )
    assert client_address(None, "198.51.100.1", ingress) == "198.51.100.1"  # a local proxy
    # a malformed entry stops the walk; a header of proxies only leaves the peer
    assert client_address("10.1.2.3", "garbage, 10.2.2.2", ingress) == "10.1.2.3"
    assert client_address("10.1.2.3", None, ingress) == "10.1.2.3"


def test_trusted_proxies_setting_is_validated(monkeypatch):
    from engine.config import reset_settings

    monkeypatch.setenv("MLTRAINER_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address")
    reset_settings()
    try:
        with pytest.raises(ValueError, match="MLTRAINER_TRUSTED_PROXIES"):
            get_settings()
        monkeypatch.setenv("MLTRAINER_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
        reset_settings()
        assert get_settings().trusted_proxies == "10.0.0.0/8, ::1"
    finally:
        monkeypatch.delenv("MLTRAINER_TRUSTED_PROXIES")
        reset_settings()


def test_a_quiet_day_forgets_the_failures(fresh_db):
    from sqlalchemy import update

    from storage.db import session_scope
    from storage.models import LoginThrottle

    auth.create_user("alice", "Alice", GOOD, "analyst")
    for _ in range(7):
        auth.login("alice", "wrong-password-1", client="203.0.113.8")
    auth.login("sprayed-name", "wrong-password-1", client="203.0.113.9")
    with session_scope() as session:
        session.execute(
            update(LoginThrottle).values(
                last_failure_at=utcnow() - timedelta(days=2),
                locked_until=utcnow() - timedelta(days=2),
            )
        )
    failures, locked = user_repo.record_login_failure("alice", "203.0.113.8", service.lockout_for)
    assert (failures, locked) == (1, None)  # counted from scratch
    assert user_repo.throttle_locked_until("sprayed-name", "203.0.113.9") is None
    with session_scope() as session:
        assert session.query(LoginThrottle).count() == 1
