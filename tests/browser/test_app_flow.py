"""The app in a real Chromium against a real `streamlit run app.py`: first run, login,
an offline chat request with its chart, a trained model on the Trials page, a goal
through the Goals form, logout; and a viewer kept away from the admin page.

Streamlit renders asynchronously: every step waits for a specific element, never a
fixed time. The happy path also refreshes docs/screenshots/<page>.png (README).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.conftest import HAS_COOKIE, SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN, PASSWORD = "root", "Correct-h0rse-1"
TRAIN_TIMEOUT_MS = 300_000  # a worker process starts, loads the catalogue, trains


def expect():
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=60_000)  # the first script run boots the app
    return playwright_expect


def heading(page, text: str):
    return page.locator("h1, h2, h3").filter(has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


def nav_link(page, title: str):
    return page.locator(f'a[data-testid="stSidebarNavLink"]:has(span[label="{title}"])')


def open_page(page, title: str, heading_text: str | None = None):
    nav_link(page, title).click()
    expect()(heading(page, heading_text or title)).to_be_visible()


def settle(page) -> None:
    """Wait until the script run that draws the page has finished: no "Running" icon, no
    skeleton placeholders, no stale (greyed) elements left from the previous run."""
    busy = page.locator(
        '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSkeleton"], [data-stale="true"]'
    )
    expect()(busy).to_have_count(0, timeout=120_000)


def screenshot(page, name: str, focus=None) -> None:
    settle(page)
    if focus is not None:
        focus.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def submit_login(page, username: str, password: str = PASSWORD) -> None:
    expect()(page.get_by_role("button", name="Create administrator")).to_have_count(0)
    settle(page)  # a rerun still drawing the page would drop what is typed now
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Log in"))
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Log in").click()
    expect()(page.get_by_role("button", name="Log out")).to_be_visible()


def log_in(page, server, username: str, password: str = PASSWORD) -> None:
    """Log in and wait until the browser holds the session cookie (a test that then
    opens another address would otherwise race the cookie writer)."""
    page.goto(server.url)
    submit_login(page, username, password)
    page.wait_for_function(HAS_COOKIE)


def chat(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def has_train_model(server) -> bool:
    listing = json.loads(server.cli("actions"))
    return any(action["name"] == "train_model" for action in listing["actions"])


def test_first_run_chat_trials_goal_and_logout(page, server):
    x = expect()
    page.goto(server.url)
    x(heading(page, "Welcome to mlTrainer")).to_be_visible()
    settle(page)  # a rerun still drawing the page would drop what is typed now
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Full name").fill("Root Admin")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    settle(page)
    page.get_by_role("button", name="Create administrator").click()
    # the page turns into the login form (its "Administrator created" note can be
    # replaced by a rerun before it is painted, so the form is what we wait for)
    x(page.get_by_role("button", name="Log in")).to_be_visible(timeout=180_000)
    submit_login(page, ADMIN)

    # chat, offline planner: a backtest and its equity chart
    x(page.get_by_text("Offline mode")).to_be_visible()
    chat(page, "Backtest a 20/50 SMA crossover on AAPL with 5 bps costs")
    # (the chat draws line charts as light static images, ui/svgchart.py; the backtest's
    # log-scale equity and filled drawdown are drawn by Plotly)
    x(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    x(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    screenshot(page, "chat", focus=page.get_by_test_id("stPlotlyChart").first)

    # a trial: trained through train_model from the chat when the ML actions exist
    trained = has_train_model(server)
    if trained:
        chat(page, "Train a logistic regression to predict SPX's 5-day direction")
        x(page.get_by_test_id("stMetricLabel").filter(has_text="trial id")).to_be_visible(
            timeout=TRAIN_TIMEOUT_MS
        )
    else:  # no ML pipeline in this checkout: one trial through the storage repository
        server.cli("action", "create_goal", "--params", "{}") if False else _seed_trial(server)

    open_page(page, "Trials")
    x(page.get_by_text("Showing 1–1 of 1 trials")).to_be_visible()
    screenshot(page, "trials")
    page.get_by_text("Open or compare by id").click()
    page.get_by_label("Trial id", exact=True).fill("1")
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Open").click()
    x(heading(page, "Trial 1")).to_be_visible()
    x(page.get_by_text("LogisticRegression" if trained else "RandomForest").first).to_be_visible()
    x(page.get_by_role("button", name="HTML report")).to_be_visible()
    page.get_by_role("tab", name="Charts").click()
    charts = page.get_by_role("tabpanel", name="Charts").locator(".js-plotly-plot .main-svg")
    x(charts.first).to_be_visible()  # progress curve, confusion matrix, importances

    for title in ("Data", "Finance", "Models"):
        open_page(page, title)
        screenshot(page, title.lower())

    # a goal through the form, then on the page
    open_page(page, "Goals")
    page.get_by_label("Name", exact=True).fill("Browser goal: SPX direction")
    page.get_by_role("button", name="Create goal").click()
    x(heading(page, "Browser goal: SPX direction")).to_be_visible()
    screenshot(page, "goals", focus=heading(page, "Browser goal: SPX direction"))

    page.get_by_role("button", name="Log out").click()
    x(page.get_by_role("button", name="Log in")).to_be_visible()
    x(page.get_by_role("button", name="Log out")).to_have_count(0)


def _seed_trial(server) -> None:
    import subprocess
    import sys

    from tests.browser.conftest import ROOT

    code = (
        "from engine.ml.recording import library_versions\n"
        "from engine.trials.record import Reproducibility\n"
        "from storage.repositories import trials\n"
        "trials.create_trial(action='train_model', model_id='RandomForest', family='ensemble',"
        " status='succeeded', metric_name='balanced_accuracy', metric_value=0.55,"
        " params={'model_id': 'RandomForest', 'symbols': ['SPX']}, user_id=1,"
        " reproducibility=Reproducibility(seed=0, versions=library_versions())"
        ".model_dump(mode='json', exclude_none=True))\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=server.env, check=True)


def test_viewer_cannot_open_the_admin_page(page, server):
    x = expect()
    users = server.cli("create-user", "vic", "--role", "viewer", stdin=PASSWORD + "\n")
    assert json.loads(users)["role"] == "viewer"
    log_in(page, server, "vic")
    nav = page.get_by_test_id("stSidebarNav")
    x(nav_link(page, "Trials")).to_be_visible()
    x(nav_link(page, "Users")).to_have_count(0)
    x(nav_link(page, "Audit")).to_have_count(0)
    page.goto(f"{server.url}/admin")
    x(
        page.get_by_role("button", name="Log out").or_(page.get_by_role("button", name="Log in"))
    ).to_be_visible()
    settle(page)
    x(heading(page, "Users")).to_have_count(0)
    x(page.get_by_text("Create user")).to_have_count(0)
    assert "Users" not in nav.inner_text() if nav.count() else True
