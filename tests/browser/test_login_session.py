"""Login survives a reload, logout ends it, in a real Chromium against `streamlit run`.

The cookie used to be set by a component drawn just before ``st.rerun()``: the rerun
removed it before the browser ran it, so no cookie was ever written and a reload (or a
new tab) logged the user out. Every step waits for a condition, never a fixed time.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import AUTH_COOKIE, HAS_COOKIE, start_server, stop_server
from tests.browser.test_app_flow import PASSWORD, expect, heading, log_in, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _logged_in(page) -> None:
    x = expect()
    x(page.get_by_role("button", name="Log out")).to_be_visible()
    x(page.get_by_role("button", name="Log in")).to_have_count(0)


def _logged_out(page) -> None:
    x = expect()
    x(page.get_by_role("button", name="Log in")).to_be_visible()
    x(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_a_reload_keeps_the_login_and_a_logout_ends_it(page, server):
    server.cli("create-user", "reloader", "--role", "analyst", stdin=PASSWORD + "\n")
    log_in(page, server, "reloader")
    page.wait_for_function(HAS_COOKIE)  # the browser ran the cookie writer
    cookie = next(c for c in page.context.cookies() if c["name"] == AUTH_COOKIE)
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0

    page.reload()
    _logged_in(page)
    settle(page)
    page.goto(server.url)  # a fresh load of the app, as a new tab would
    _logged_in(page)

    page.get_by_role("button", name="Log out").click()
    _logged_out(page)
    page.wait_for_function(f"!({HAS_COOKIE})")  # the browser dropped the cookie
    page.reload()
    _logged_out(page)

    # a copy of the cookie taken before the logout no longer logs anyone in
    page.context.add_cookies([cookie])
    page.reload()
    _logged_out(page)


def test_after_a_server_restart_a_page_link_still_finds_the_login(browser, tmp_path):
    """The first request after a start may run a pages/ file without app.py; that page
    re-attaches through the cookie too, instead of asking a logged-in user to log in."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    process, first = start_server(tmp_path)
    try:
        first.cli("create-user", "restarter", "--role", "analyst", stdin=PASSWORD + "\n")
        page = context.new_page()
        log_in(page, first, "restarter")
        page.wait_for_function(HAS_COOKIE)
        page.close()
    finally:
        stop_server(process)
    process, second = start_server(tmp_path)  # same data: same database and cookie key
    try:
        page = context.new_page()  # cookies belong to the host, whatever the port
        page.goto(f"{second.url}/trials")
        expect()(heading(page, "Trials")).to_be_visible()
        settle(page)
        expect()(page.get_by_text("Please log in.")).to_have_count(0)
    finally:
        stop_server(process)
        context.close()
