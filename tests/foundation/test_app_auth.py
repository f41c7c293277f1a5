"""The login gate, throttling, logout and role-based pages, driven through AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from engine import auth
from engine.auth.service import LOGIN_FAILED as _LOGIN_FAILED
from tests.foundation.apptest_helpers import (
    PASSWORD,
    ROOT,
    errors,
    log_in,
    new_app,
    submit_form,
    titles,
)
from ui.text import md_escape

LOGIN_FAILED = md_escape(_LOGIN_FAILED)  # as the page shows it


@pytest.fixture
def admin_and_users(fresh_db, make_user):
    return make_user("root", "admin"), make_user("alice", "analyst"), make_user("vic", "viewer")


def test_first_run_creates_the_admin_then_logs_in(fresh_db):
    at = new_app()
    assert titles(at) == ["Welcome to mlTrainer"]
    submit_form(
        at,
        {
            "first_admin_username": "root",
            "first_admin_name": "Root Admin",
            "first_admin_password": PASSWORD,
            "first_admin_repeat": PASSWORD,
        },
    )
    assert at.success[0].value.startswith("Administrator created")
    log_in(at, "root")
    assert at.session_state["user"].role == "admin"
    assert "Log out" in [b.label for b in at.sidebar.button]


def test_first_run_rejects_a_weak_password(fresh_db):
    at = new_app()
    submit_form(
        at,
        {
            "first_admin_username": "root",
            "first_admin_name": "Root",
            "first_admin_password": "short",
            "first_admin_repeat": "short",
        },
    )
    assert "at least 10 characters" in errors(at)[0]
    assert auth.first_run()


def test_wrong_password_is_refused(admin_and_users):
    at = log_in(new_app(), "alice", "not-the-password-1")
    assert errors(at) == [LOGIN_FAILED]
    assert "user" not in at.session_state


def test_throttling_locks_after_five_failures_without_naming_the_account(admin_and_users):
    at = new_app()
    for _ in range(5):
        log_in(at, "alice", "not-the-password-1")
        log_in(at, "nobody", "not-the-password-1")
    log_in(at, "alice", PASSWORD)
    assert errors(at) == [LOGIN_FAILED]  # locked, but it reads like any refusal
    assert "user" not in at.session_state
    log_in(at, "nobody", PASSWORD)
    assert errors(at) == [LOGIN_FAILED]


def test_a_deactivated_account_is_not_announced(admin_and_users):
    _, alice, _ = admin_and_users
    from storage.repositories import users as user_repo

    user_repo.update_user(alice.id, is_active=False)
    at = log_in(new_app(), "alice")
    assert errors(at) == [LOGIN_FAILED]


def test_a_password_over_72_bytes_on_the_first_run_form(fresh_db):
    password = "Correct-h0rse-battery-staple " * 4  # 116 characters: bcrypt alone raised
    at = new_app()
    submit_form(
        at,
        {
            "first_admin_username": "root",
            "first_admin_name": "Root Admin",
            "first_admin_password": password,
            "first_admin_repeat": password,
        },
    )
    assert at.success[0].value.startswith("Administrator created")
    log_in(at, "root", password)
    assert at.session_state["user"].role == "admin"


def _cookie_writers(at):
    return [e for e in at.main if getattr(e, "type", None) == "component_instance"]


def test_login_draws_the_cookie_writer_on_the_page_that_stays(admin_and_users):
    """The cookie was set just before st.rerun(), so the browser never ran the code
    that writes it. Now the run after the login draws the writer and keeps drawing it
    until the browser reports the cookie written; that cookie resumes the session."""
    from engine.auth.cookies import COOKIE_NAME
    from engine.config import get_settings

    at = log_in(new_app(), "alice")
    pending = at.session_state["_mlt_cookie_pending"]
    assert pending["value"] and pending["max_age"] > 0
    writers = _cookie_writers(at)
    assert len(writers) == 1
    assert writers[0].proto.json_args and COOKIE_NAME in writers[0].proto.json_args
    # (that it is drawn until the browser answers, and the answer, are what the browser
    # test checks: AppTest's later runs execute the page file without app.py)
    resumed = auth.resume_session_from_cookie(pending["value"], get_settings().cookie_key)
    assert resumed.session_key == at.session_state["mlt_session_key"]
    assert resumed.user.username == "alice"


def test_logout_ends_the_server_session(admin_and_users):
    at = log_in(new_app(), "alice")
    session_key = at.session_state["mlt_session_key"]
    assert auth.validate_session(session_key) is not None
    cookie = at.session_state["_mlt_cookie_pending"]["value"]
    at.sidebar.button(key="logout_button").click().run()
    assert auth.validate_session(session_key) is None
    assert "user" not in at.session_state
    assert not at.sidebar.button  # no logged-in chrome any more
    from engine.config import get_settings

    assert auth.resume_session_from_cookie(cookie, get_settings().cookie_key) is None
    # and the browser is told to drop the cookie
    pending = at.session_state["_mlt_cookie_pending"]
    assert pending["value"] is None and pending["max_age"] == 0


def test_revoked_session_sends_the_user_back_to_login(admin_and_users):
    at = log_in(new_app(), "alice")
    auth.end_session(at.session_state["mlt_session_key"])
    at.run()
    assert "user" not in at.session_state
    assert [w.value for w in at.warning] == ["Please log in."]
    assert not at.dataframe


def _page_titles_after_switch(at, page: str) -> list[str]:
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return titles(at)


def test_admin_sees_the_users_page(admin_and_users):
    at = log_in(new_app(), "root")
    assert "Users" in _page_titles_after_switch(at, "pages/admin.py")
    assert len(at.dataframe) == 1


@pytest.mark.parametrize("username", ["vic", "alice"])
def test_non_admins_cannot_reach_the_users_page_by_url(admin_and_users, username):
    at = log_in(new_app(), username)
    # The page is not registered in their navigation, so a URL to it cannot resolve ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin.py")
    # ... and run directly (as Streamlit may do for a pages/ file) it refuses to draw.
    direct = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=30)
    direct.session_state["mlt_session_key"] = at.session_state["mlt_session_key"]
    direct.run()
    assert "needs the 'admin' role" in errors(direct)[0]
    assert not direct.dataframe


def test_pages_refuse_visitors_without_a_live_session(admin_and_users):
    from ui.navigation import PAGES

    for spec in PAGES:
        if not (ROOT / spec.path).exists():
            continue
        direct = AppTest.from_file(str(ROOT / spec.path), default_timeout=30)
        direct.session_state["mlt_session_key"] = "forged-or-expired"
        direct.run()
        assert not direct.exception, (spec.path, direct.exception)
        assert [w.value for w in direct.warning] == ["Please log in."], spec.path


def test_navigation_lists_only_pages_the_role_may_see(admin_and_users):
    from ui.navigation import visible_pages

    viewer_pages = {page.title for page in visible_pages("viewer")}
    admin_pages = {page.title for page in visible_pages("admin")}
    assert "Users" in admin_pages and "Users" not in viewer_pages


def test_admin_creates_a_user_through_the_form(admin_and_users):
    at = log_in(new_app(), "root")
    at.switch_page("pages/admin.py").run()
    at.text_input(key="new_username").input("newbie")
    at.text_input(key="new_name").input("New Analyst")
    at.text_input(key="new_password").input("Another-g00d-pass")
    at.button(key="FormSubmitter:create_user-Create user").click().run()
    assert not at.exception, at.exception
    assert auth.login("newbie", "Another-g00d-pass").ok
